"""Review deadlines over the API and the CLI, on SQLite and PostgreSQL: an application shows
its department's review deadline (10 working days after submission by the legal calendar),
``GET /api/v1/overdue`` and ``luodi program overdue`` list what is past it, each actor only
within its scope (a department its own applications, a town its applicants)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from luodi import workdays
from luodi.auth.actor import SYSTEM_ACTOR, Actor
from luodi.db import session_scope
from luodi.programs import intake
from luodi.programs import service as programs
from luodi.programs.models import Application
from luodi.registry.models import Resident, Town
from tests.test_cli import run_luodi
from tests.web.conftest import AS_OF, sign_in

SUBMITTED = datetime(2026, 9, 24, 2, 0, tzinfo=UTC)
"""Thursday 24 September 2026, 10:00 in China: the department's ten working days run over
中秋 (25 September), the 国庆 break (1–7 October 2026) and its 调休 working Saturday
(10 October)."""


def monday_to_friday_end(start: date, working_days: int) -> date:
    day, counted = start, 0
    while True:
        counted += day.weekday() < 5
        if counted == working_days:
            return day
        day += timedelta(days=1)


@pytest.fixture(scope="module")
def pending(
    loaded_engine: Engine, accounts: dict[str, Actor], city: pl.DataFrame
) -> dict[str, Any]:
    """A health-check cycle (总工会) with six applications submitted on ``SUBMITTED`` and
    not yet verified; one of them corrected today (its period starts again)."""
    today = workdays.today()
    numbers = city["id_number"].head(6).to_list()
    with session_scope(loaded_engine) as session:
        cycle = programs.open_cycle(
            SYSTEM_ACTOR,
            session,
            "health-check",
            "deadlines",
            today - timedelta(days=1),
            today + timedelta(days=1),
            AS_OF,
            places=3,
        )
        ids = intake.submit_applications(
            SYSTEM_ACTOR, session, cycle.id, [{"id_number": n} for n in numbers]
        )
        session.execute(
            update(Application).where(Application.id.in_(ids)).values(submitted_at=SUBMITTED)
        )
        intake.correct(SYSTEM_ACTOR, session, ids[-1], fields={})
        towns = dict(
            session.execute(
                select(Application.id, Town.code)
                .join(Resident, Resident.id == Application.resident_id)
                .join(Town, Town.id == Resident.town_id)
                .where(Application.id.in_(ids))
            ).all()
        )
    return {"cycle": cycle.id, "ids": ids, "towns": towns}


def overdue_ids(client: TestClient, headers: dict[str, str], **params: Any) -> list[int]:
    response = client.get("/api/v1/overdue", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"] if item["kind"] == "application"]


def test_the_review_deadline_counts_working_days_after_submission() -> None:
    # Submitted late on 24 September UTC is 25 September in China.
    assert workdays.local_day(datetime(2026, 9, 24, 20, 0, tzinfo=UTC)) == date(2026, 9, 25)
    due = workdays.deadline(date(2026, 9, 24), 10)
    calendar = workdays.current()
    # The submission day does not count; the ten days skip the break and count 10 October.
    assert calendar.working_days_between(date(2026, 9, 25), due) == 10
    assert calendar.is_working_day(due)
    assert due > monday_to_friday_end(date(2026, 9, 25), 10)
    assert calendar.is_working_day(date(2026, 10, 10))
    # One working day after Thursday 24 September is Monday 28: Friday 25 is 中秋.
    assert calendar.day_off_name(date(2026, 9, 25)) == "中秋节"
    assert workdays.deadline(date(2026, 9, 24), 1) == date(2026, 9, 28)


def test_an_application_shows_its_deadline(
    client: TestClient, accounts: dict[str, Actor], pending: dict[str, Any]
) -> None:
    headers = sign_in(client, "health")
    due = workdays.deadline(SUBMITTED.date(), 10)
    shown = client.get(f"/api/v1/applications/{pending['ids'][0]}", headers=headers).json()
    assert shown["review_due_on"] == due.isoformat()
    assert shown["review_overdue"] is True
    # Corrected today: ten working days from tomorrow.
    corrected = client.get(f"/api/v1/applications/{pending['ids'][-1]}", headers=headers).json()
    assert corrected["review_due_on"] == workdays.deadline(workdays.today(), 10).isoformat()
    assert corrected["review_overdue"] is False


def test_overdue_is_listed_within_each_scope(
    client: TestClient, accounts: dict[str, Actor], pending: dict[str, Any]
) -> None:
    ids, cycle = pending["ids"], pending["cycle"]
    due = workdays.deadline(SUBMITTED.date(), 10)
    health = sign_in(client, "health")
    response = client.get("/api/v1/overdue", headers=health, params={"cycle": cycle}).json()
    items = {item["id"]: item for item in response["items"]}
    assert set(items) == set(ids[:-1])  # the corrected one is not yet due
    first = items[ids[0]]
    assert first["kind_label"] == "申请审核" and first["department"] == "总工会"
    assert first["due_on"] == due.isoformat() and first["program_id"] == "health-check"
    assert first["working_days_late"] == workdays.current().working_days_between(
        due + timedelta(days=1), workdays.today()
    )
    # As of the deadline itself nothing is late yet; the day after, all five are.
    assert overdue_ids(client, health, cycle=cycle, as_of=due.isoformat()) == []
    after = (due + timedelta(days=1)).isoformat()
    assert sorted(overdue_ids(client, health, cycle=cycle, as_of=after)) == sorted(ids[:-1])
    # Another department's reviewer sees none of them; a town its own applicants only.
    assert overdue_ids(client, sign_in(client, "edu"), cycle=cycle) == []
    town = accounts["town"].town_code
    mine = {i for i in ids[:-1] if pending["towns"][i] == town}
    assert set(overdue_ids(client, sign_in(client, "town"), cycle=cycle)) == mine
    assert len(mine) < len(ids) - 1
    resident = client.get("/api/v1/overdue", headers=sign_in(client, "resident"))
    assert resident.status_code == 403
    assert client.get("/api/v1/overdue").status_code == 401
    bad = client.get("/api/v1/overdue", headers=health, params={"as_of": "2026-02-30"})
    assert bad.status_code == 422
    # A date years away is a typing error, answered as one (it was a 500).
    far = client.get("/api/v1/overdue", headers=health, params={"as_of": "2040-01-01"})
    assert far.status_code == 422 and "as_of" in far.text


def test_a_verified_application_is_no_longer_overdue(
    loaded_engine: Engine, client: TestClient, accounts: dict[str, Actor], pending: dict[str, Any]
) -> None:
    health = sign_in(client, "health")
    decided = pending["ids"][1]
    assert decided in overdue_ids(client, health, cycle=pending["cycle"])
    response = client.post(
        f"/api/v1/applications/{decided}/verification", headers=health, json={"approve": True}
    )
    assert response.status_code == 200, response.text
    assert decided not in overdue_ids(client, health, cycle=pending["cycle"])


def test_the_cli_lists_the_same_in_chinese_and_as_json(
    loaded_engine: Engine, client: TestClient, accounts: dict[str, Actor], pending: dict[str, Any]
) -> None:
    env = {"LUODI_DATABASE_URL": loaded_engine.url.render_as_string(hide_password=False)}
    cycle = str(pending["cycle"])
    expected = overdue_ids(client, sign_in(client, "health"), cycle=pending["cycle"])
    listed = run_luodi("program", "overdue", "--cycle", cycle, "--json", "--as", "health", env=env)
    assert listed.returncode == 0, listed.stderr
    items = json.loads(listed.stdout)["items"]
    assert sorted(item["id"] for item in items) == sorted(expected)
    table = run_luodi("program", "overdue", "--cycle", cycle, env=env)
    assert table.returncode == 0, table.stderr
    assert "逾期未办" in table.stdout and "申请审核" in table.stdout
    assert str(workdays.deadline(SUBMITTED.date(), 10)) in table.stdout
    other = run_luodi("program", "overdue", "--cycle", cycle, "--json", "--as", "edu", env=env)
    assert json.loads(other.stdout)["items"] == []
    shown = run_luodi("program", "application", str(pending["ids"][0]), "--as", "health", env=env)
    assert shown.returncode == 0, shown.stderr
    assert f"审核期限 review due {workdays.deadline(SUBMITTED.date(), 10)}（已逾期" in shown.stdout
    hidden = run_luodi("program", "application", str(pending["ids"][0]), "--as", "edu", env=env)
    assert hidden.returncode == 1 and "没有申请" in hidden.stderr
    bad = run_luodi("program", "overdue", "--as-of", "2026-13-01", env=env)
    assert bad.returncode == 1 and "--as-of" in bad.stderr
