from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from luodi.auth.actor import SYSTEM_ACTOR
from luodi.db import session_scope
from luodi.registry import city_files
from luodi.registry.loading import load_city
from tests.conftest import migrated_engine, temporary_schema


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
    if request.param == "sqlite":
        engine = migrated_engine(f"sqlite:///{tmp_path_factory.mktemp('feeds') / 'feeds.db'}")
        with session_scope(engine) as session:
            load_city(SYSTEM_ACTOR, session, registry_only)
        yield engine
        engine.dispose()
        return
    with temporary_schema() as url:
        engine = migrated_engine(url)
        with session_scope(engine) as session:
            load_city(SYSTEM_ACTOR, session, registry_only)
        yield engine
        engine.dispose()


@pytest.fixture
def db(registry_engine: Engine) -> Iterator[Session]:
    """A session on the loaded registry inside a transaction rolled back after the test."""
    connection = registry_engine.connect()
    transaction = connection.begin()
    session = Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    try:
        yield session
    finally:
        session.close()
        transaction.rollback()
        connection.close()
