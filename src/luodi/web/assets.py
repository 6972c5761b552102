"""Static files under names that carry a hash of their content (``htmx.min.3f9a0c2b1d.js``):
a browser may keep them for a year, and a new release of a file is a new name, so nobody runs
yesterday's script against today's page. Everything is served from the app itself (government
networks are closed: no CDN)."""

from __future__ import annotations

import hashlib
import re
from functools import cache
from pathlib import Path

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC = Path(__file__).parent / "static"
HASHED = re.compile(r"^(?P<stem>.+)\.(?P<digest>[0-9a-f]{10})(?P<suffix>\.[A-Za-z0-9]+)$")
FOREVER = "public, max-age=31536000, immutable"


@cache
def _hashed_names() -> dict[str, str]:
    """Relative name → hashed name, for every file under ``static/`` (read once)."""
    names: dict[str, str] = {}
    for path in sorted(STATIC.rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(STATIC).as_posix()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:10]
        stem, dot, suffix = relative.rpartition(".")
        names[relative] = f"{stem}.{digest}.{suffix}" if dot else f"{relative}.{digest}"
    return names


@cache
def _originals() -> dict[str, str]:
    return {hashed: original for original, hashed in _hashed_names().items()}


def asset_url(name: str) -> str:
    """The URL of ``static/<name>`` under its hashed name (a KeyError names a missing file)."""
    return f"/static/{_hashed_names()[name]}"


class HashedStaticFiles(StaticFiles):
    """Serves ``static/`` under the hashed names (cached for a year) and the plain names."""

    def __init__(self) -> None:
        super().__init__(directory=STATIC)

    async def get_response(self, path: str, scope: Scope) -> Response:
        original = _originals().get(path)
        response = await super().get_response(original or path, scope)
        if original is not None and response.status_code == 200:
            response.headers["cache-control"] = FOREVER
        return response
