"""The web tests' city (both databases, committed), its accounts and allocated cycle, shared
by the package's modules (one city per database, not one per module), and a data directory
(where uploads wait for their job) of the package's own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from luodi.settings import get_settings
from tests.web import conftest as web


def _package_scoped(fixture: Any, **options: Any) -> Any:
    return pytest.fixture(scope="package", **options)(fixture.__wrapped__)


loaded_engine = _package_scoped(
    web.loaded_engine, params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
accounts = _package_scoped(web.accounts)
city = _package_scoped(web.city)
cycle = _package_scoped(web.cycle)
client = _package_scoped(web.client)


@pytest.fixture(scope="package", autouse=True)
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LUODI_DATA_DIR", str(folder))
        get_settings.cache_clear()
        yield folder
    get_settings.cache_clear()
