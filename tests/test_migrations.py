"""The same migrations on SQLite and PostgreSQL: up, down, up again, and they match the models."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from luodi import migrate
from luodi.all_models import Base
from luodi.db import create_db_engine

EXPECTED_TABLES = {
    "towns",
    "residents",
    "residence_permits",
    "households",
    "children",
    "employers",
    "employments",
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Engine:
    if request.param == "sqlite":
        return create_db_engine(f"sqlite:///{tmp_path / 'migrate.db'}")
    return create_db_engine(request.getfixturevalue("empty_postgres_url"))


def test_upgrade_downgrade_upgrade(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine)
    assert migrate.current_revision(empty_engine) == migrate.head_revision(empty_engine)
    assert set(inspect(empty_engine).get_table_names()) >= EXPECTED_TABLES
    migrate.downgrade(empty_engine, "base")
    assert not EXPECTED_TABLES & set(inspect(empty_engine).get_table_names())
    migrate.upgrade(empty_engine)
    with empty_engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == [], f"models and migrations disagree: {diff}"
    migrate.upgrade(empty_engine)  # idempotent
    migrate.downgrade(empty_engine, "base")


def test_sqlite_runs_in_wal_mode_with_foreign_keys(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
