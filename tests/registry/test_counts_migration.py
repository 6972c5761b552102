"""Migration 0010 on SQLite and PostgreSQL: the per-town counts are backfilled from the rows
already stored, and a downgrade removes them."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text

from luodi import migrate
from luodi.auth.actor import SYSTEM_ACTOR
from luodi.db import create_db_engine, session_scope
from luodi.registry import service
from tests import factories


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Engine:
    if request.param == "sqlite":
        return create_db_engine(f"sqlite:///{tmp_path / 'counts.db'}")
    return create_db_engine(request.getfixturevalue("empty_postgres_url"))


def test_counts_are_backfilled_and_dropped(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine, "0009")
    rows = [
        "INSERT INTO towns (id, code, name, kind) VALUES (1, '330282114', '周巷镇', 'town')",
        "INSERT INTO towns (id, code, name, kind) VALUES (2, '330282101', '观海卫镇', 'town')",
        "INSERT INTO towns (id, code, name, kind) VALUES (3, '330282001', '白沙路街道', 'subdistrict')",
        "INSERT INTO households (id, household_number, town_id) VALUES (1, 'H1', 2)",
    ]
    for n, town in enumerate([1, 1, 1, 2], start=1):
        number = factories.id_number(sequence=500 + n)
        rows.append(
            "INSERT INTO residents (id, id_number, name, sex, birth_date, origin_region_code, "
            f"origin_province, town_id, household_id) VALUES ({n}, '{number}', '张三', 'male', "
            f"'1990-05-17', '341522', '安徽', {town}, {1 if town == 2 else 'NULL'})"
        )
    for n in (1, 2):
        number = factories.id_number("330282", date(2019, 1, n), 60)
        rows.append(
            "INSERT INTO children (id, household_id, id_number, name, sex, birth_date, "
            f"vaccination_certificate, school_name, grade) VALUES ({n}, 1, '{number}', '小明', "
            "'male', '2019-01-01', false, NULL, NULL)"
        )
    permits = [
        (1, "2030-01-01", "valid"),
        (1, "2000-06-01", "valid"),
        (1, "2030-01-01", "cancelled"),
    ]
    permits += [(2, "2030-01-01", "valid")]
    for n, (town, expiry, status) in enumerate(permits, start=1):
        rows.append(
            "INSERT INTO residence_permits (id, permit_number, resident_id, town_id, issue_date, "
            f"expiry_date, status) VALUES ({n}, 'P{n}', {n}, {town}, '1999-01-01', '{expiry}', "
            f"'{status}')"
        )
    with empty_engine.begin() as connection:
        for statement in rows:
            connection.execute(text(statement))
    migrate.upgrade(empty_engine, "0010")
    with session_scope(empty_engine) as session:
        counted = {
            town.code: (town.residents, town.valid_permits, town.children)
            for town in service.list_towns(SYSTEM_ACTOR, session, date(2026, 1, 1))
        }
        earlier = {
            town.code: town.valid_permits
            for town in service.list_towns(SYSTEM_ACTOR, session, date(2000, 1, 1))
        }
    assert counted == {
        "330282001": (0, 0, 0),
        "330282101": (1, 1, 2),
        "330282114": (3, 1, 0),
    }
    assert earlier == {"330282001": 0, "330282101": 1, "330282114": 2}
    migrate.downgrade(empty_engine, "0009")
    tables = set(inspect(empty_engine).get_table_names())
    assert "town_counts" not in tables and "town_permit_counts" not in tables
    migrate.upgrade(empty_engine)
    migrate.downgrade(empty_engine, "base")
