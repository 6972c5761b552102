from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from luodi.registry import city_files
from tests.conftest import city_engine, rolled_back_session


@pytest.fixture(scope="session")
def registry_only(small_city: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small city's registry files without its feed files."""
    folder = tmp_path_factory.mktemp("registry")
    for name in city_files.REGISTRY_FILES:
        shutil.copy(small_city / name, folder / name)
    return folder


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def registry_engine(
    request: pytest.FixtureRequest, registry_only: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """A database holding the small city's registry (no facts yet), committed."""
    with city_engine(request.param, registry_only, tmp_path_factory.mktemp("feeds")) as engine:
        yield engine


@pytest.fixture
def db(registry_engine: Engine) -> Iterator[Session]:
    """A session on the loaded registry inside a transaction rolled back after the test."""
    with rolled_back_session(registry_engine) as session:
        yield session
