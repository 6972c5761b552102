from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from luodi.app import create_app
from luodi.auth.actor import SYSTEM_ACTOR
from luodi.db import session_scope
from luodi.registry.loading import load_city
from tests.conftest import migrated_engine, temporary_schema


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def loaded_engine(
    request: pytest.FixtureRequest, small_city: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """A database holding the small synthetic city, committed (the app opens its own sessions)."""
    if request.param == "sqlite":
        engine = migrated_engine(f"sqlite:///{tmp_path_factory.mktemp('web') / 'web.db'}")
        with session_scope(engine) as session:
            load_city(SYSTEM_ACTOR, session, small_city)
        yield engine
        engine.dispose()
        return
    with temporary_schema() as url:
        engine = migrated_engine(url)
        with session_scope(engine) as session:
            load_city(SYSTEM_ACTOR, session, small_city)
        yield engine
        engine.dispose()


@pytest.fixture(scope="module")
def client(loaded_engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(loaded_engine)) as test_client:
        yield test_client
