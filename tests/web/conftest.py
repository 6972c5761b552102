from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from luodi.app import create_app
from tests.conftest import city_engine


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def loaded_engine(
    request: pytest.FixtureRequest, small_city: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """A database holding the small synthetic city, committed (the app opens its own sessions)."""
    with city_engine(request.param, small_city, tmp_path_factory.mktemp("web")) as engine:
        yield engine


@pytest.fixture(scope="module")
def client(loaded_engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(loaded_engine)) as test_client:
        yield test_client
