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


def test_the_version_files_head_is_alembics_and_a_stamp_below_it_is_refused(
    empty_engine: Engine,
) -> None:
    """The check before every command reads the head from the files' text (no Alembic):
    it must be Alembic's head, and a database one revision behind still refused."""
    head = migrate.head_revision(empty_engine)
    assert head is not None and migrate.files_head() == head
    migrate.upgrade(empty_engine)
    migrate.require_current_schema(empty_engine)
    migrate.downgrade(empty_engine, "-1")
    with pytest.raises(migrate.SchemaNotReady, match="not migrated"):
        migrate.require_current_schema(empty_engine)
    migrate.downgrade(empty_engine, "base")


def test_sqlite_runs_in_wal_mode_with_foreign_keys(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_populated_database_goes_down_and_up_again(
    kind: str, small_city: Path, tmp_path: Path
) -> None:
    """A city with facts, a cycle and its applications: this round's migrations (which
    rebuild tables other rows point at, on SQLite) go down to 0005 and back up with every row
    kept, every reference intact, and the backfilled columns filled again."""
    from datetime import date, timedelta

    from luodi.auth.actor import SYSTEM_ACTOR
    from luodi.db import session_scope
    from luodi.programs import intake
    from luodi.programs import service as programs
    from tests.conftest import city_engine

    counted = ("residents", "facts", "feed_batches", "program_cycles", "applications")
    with city_engine(kind, small_city, tmp_path) as engine:
        with session_scope(engine) as session:
            today = date.today()
            cycle = programs.open_cycle(
                SYSTEM_ACTOR, session, "health-check", "m", today, today + timedelta(days=3),
                places=2,
            )  # fmt: skip
            numbers = session.scalars(text("SELECT id_number FROM residents LIMIT 5")).all()
            intake.submit_applications(
                SYSTEM_ACTOR, session, cycle.id, [{"id_number": n} for n in numbers]
            )

        def counts() -> dict[str, int]:
            with engine.connect() as connection:
                return {
                    table: int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar())
                    for table in counted
                }

        before = counts()
        assert before["applications"] == 5 and before["facts"] > 0
        migrate.downgrade(engine, "0005")
        assert migrate.current_revision(engine) == "0005"
        migrate.upgrade(engine)
        assert counts() == before
        with engine.connect() as connection:
            departments = connection.execute(
                text("SELECT DISTINCT department FROM program_cycles")
            ).scalars()
            assert list(departments) == ["总工会"]
            assert (
                connection.execute(
                    text("SELECT count(*) FROM feed_batches WHERE department IS NULL")
                ).scalar()
                == 0
            )
            if kind == "sqlite":
                assert connection.exec_driver_sql("PRAGMA foreign_key_check").all() == []
                assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
                tables = connection.exec_driver_sql(
                    "SELECT name FROM sqlite_master WHERE name LIKE '_alembic_tmp%'"
                ).all()
                assert tables == []
