"""Migration 0009 on SQLite and PostgreSQL: recent failed sign-ins become throttle counts (an
upgrade during an attack hands out no fresh attempts), and a downgrade gives them back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from luodi import migrate
from luodi.db import create_db_engine


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Engine:
    if request.param == "sqlite":
        return create_db_engine(f"sqlite:///{tmp_path / 'throttle.db'}")
    return create_db_engine(request.getfixturevalue("empty_postgres_url"))


def test_recent_failures_are_carried_over_both_ways(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine, "0008")
    now = datetime.now(UTC)
    failures = [("bob", "192.0.2.1", now - timedelta(minutes=m)) for m in range(6)]
    failures += [("carol", "192.0.2.1", now), ("bob", "192.0.2.2", now - timedelta(hours=1))]
    with empty_engine.begin() as connection:
        for username, client, at in failures:
            connection.execute(
                text("INSERT INTO login_failures (username, client, at) VALUES (:u, :c, :at)"),
                {"u": username, "c": client, "at": at},
            )
    migrate.upgrade(empty_engine, "0009")
    with empty_engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT username, client, attempts, next_try_at IS NOT NULL, checking_until "
                "FROM sign_in_throttles ORDER BY username, client"
            )
        ).all()
    # bob from .1 is past the free attempts and waits; the hour-old failure is forgotten.
    assert [tuple(row) for row in rows] == [
        ("", "192.0.2.1", 7, False, None),
        ("bob", "192.0.2.1", 6, True, None),
        ("carol", "192.0.2.1", 1, False, None),
    ]
    migrate.downgrade(empty_engine, "0008")
    with empty_engine.connect() as connection:
        back = connection.execute(
            text("SELECT username, count(*) FROM login_failures GROUP BY username ORDER BY 1")
        ).all()
    assert [tuple(row) for row in back] == [("bob", 6), ("carol", 1)]
    migrate.upgrade(empty_engine)
    migrate.downgrade(empty_engine, "base")
