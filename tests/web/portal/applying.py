"""What the application pages' tests share: a parent resident with an account (and another
parent's child), a school cycle open today, and a client signed in through the login form."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from luodi.auth import service as auth_service
from luodi.auth.actor import SYSTEM_ACTOR
from luodi.db import session_scope
from luodi.programs import service as programs
from luodi.registry.models import Child, Resident
from tests.web.conftest import PASSWORD
from tests.web.console.test_shell import page_client as signed_in  # noqa: F401 - shared


def parents(
    engine: Engine, born: tuple[date, date] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two residents who are each a registered parent of a child the other is not (born
    between the two days of ``born`` when given): their ids, ID numbers and the child's."""
    statement = (
        select(Resident.id, Resident.id_number, Child.id, Child.name, Child.id_number)
        .join(Child, Child.parent_id == Resident.id)
        .order_by(Child.id)
    )
    if born is not None:
        statement = statement.where(Child.birth_date.between(*born))
    with session_scope(engine) as session:
        rows = session.execute(statement).all()
    first = rows[0]
    second = next(row for row in rows if row[0] != first[0])
    return tuple(  # type: ignore[return-value]
        {
            "resident_id": row[0],
            "id_number": row[1],
            "child_id": row[2],
            "child_name": row[3],
            "child_id_number": row[4],
        }
        for row in (first, second)
    )


def add_resident_account(engine: Engine, username: str, id_number: str) -> None:
    with session_scope(engine) as session:
        auth_service.add_user(
            SYSTEM_ACTOR, session, username, "resident", PASSWORD, id_number=id_number
        )


def open_school_cycle(engine: Engine, city: Path, name: str, opens: date, closes: date) -> int:
    with session_scope(engine) as session:
        cycle = programs.open_cycle(
            SYSTEM_ACTOR,
            session,
            "school-entry",
            name,
            opens,
            closes,
            date.today() - timedelta(days=30),
            targets_file=city / "schools.csv",
            entry_grade=1,
        )
        return cycle.id


def first_schools(city: Path, count: int = 2) -> list[str]:
    schools = pl.read_csv(city / "schools.csv", infer_schema=False)
    return schools.filter(pl.col("entry_grade") == "1")["school_id"].head(count).to_list()


def csrf(client: TestClient) -> str:
    token = client.cookies.get("luodi_csrf")
    assert token
    return token
