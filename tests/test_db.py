"""A database address the CLI cannot use, or a database it cannot migrate, is one bilingual
line and exit 1 (never "internal error" with a driver's exception name)."""

from __future__ import annotations

import uuid

import pytest
from typer.testing import CliRunner

from luodi.cli import app
from tests.conftest import POSTGRES_URL


@pytest.fixture(autouse=True)
def fresh_settings() -> None:
    from luodi.db import dispose_engines
    from luodi.settings import get_settings

    get_settings.cache_clear()
    dispose_engines()


def run(monkeypatch: pytest.MonkeyPatch, url: str, *arguments: str) -> tuple[int, str]:
    monkeypatch.setenv("LUODI_DATABASE_URL", url)
    result = CliRunner().invoke(app, list(arguments))
    return result.exit_code, result.output


@pytest.mark.parametrize("url", ["mysql://x@localhost/db", "not a url", "oracle://a/b"])
def test_an_unsupported_database_url_is_one_line(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    code, output = run(monkeypatch, url, "town", "list")
    assert code == 1
    assert "LUODI_DATABASE_URL" in output and "Traceback" not in output
    assert "ModuleNotFoundError" not in output and "内部错误" not in output


@pytest.mark.postgres
def test_a_database_that_cannot_be_migrated_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import postgres_available, require_or_skip

    problem = postgres_available()
    if problem:
        require_or_skip("LUODI_REQUIRE_POSTGRES", problem)
    missing = f"missing_{uuid.uuid4().hex[:8]}"
    separator = "&" if "?" in POSTGRES_URL else "?"
    url = f"{POSTGRES_URL}{separator}options=-csearch_path%3D{missing}"
    code, output = run(monkeypatch, url, "db", "upgrade")
    assert code == 1
    assert "cannot migrate the database" in output and "内部错误" not in output
