"""企业统一申请 on SQLite and PostgreSQL: an employer account files, all or none, the school
applications of its employees' children — only employees with an employment in force with
its credit code (the employment feed), only their own registered children, never a field
the department sets — through the service, the API and the CLI, audited."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, and_, func, or_, select
from sqlalchemy.orm import Session

from luodi.audit.models import AuditEntry
from luodi.auth import service as auth_service
from luodi.auth.actor import SYSTEM_ACTOR, Actor, Role
from luodi.db import session_scope
from luodi.errors import Forbidden, Invalid
from luodi.programs import intake
from luodi.programs import service as programs
from luodi.programs.models import Application
from luodi.registry.models import Child, Employer, Employment, Resident
from tests.conftest import rolled_back_session
from tests.factories import id_number
from tests.test_cli import run_luodi
from tests.web.conftest import AS_OF, PASSWORD, sign_in


def in_force(today: date) -> Any:
    return and_(
        Employment.start_date <= today,
        or_(Employment.end_date.is_(None), Employment.end_date >= today),
    )


@pytest.fixture(scope="module")
def firm(loaded_engine: Engine, accounts: dict[str, Actor], small_city: Path) -> dict[str, Any]:
    """The employer with the most employees in force who are registered parents, its account
    ``firm``, three of those (employee, child) pairs, a parent employed elsewhere, and a
    school cycle and a health-check cycle open today."""
    today = date.today()
    with session_scope(loaded_engine) as session:
        parent_of = or_(
            Child.parent_id == Employment.resident_id,
            Child.second_parent_id == Employment.resident_id,
        )
        pairs = session.execute(
            select(Employer.credit_code, Resident.id_number, Child.id_number)
            .join(Employment, Employment.employer_id == Employer.id)
            .join(Resident, Resident.id == Employment.resident_id)
            .join(Child, parent_of)
            .where(in_force(today))
            .order_by(Employer.credit_code, Child.id)
        ).all()
        counts: dict[str, int] = {}
        for code, _, _ in pairs:
            counts[code] = counts.get(code, 0) + 1
        code = max(counts, key=lambda c: (counts[c], c))
        mine = [(parent, child) for c, parent, child in pairs if c == code]
        staff = {parent for parent, _ in mine}
        outsider = next(
            (parent, child) for c, parent, child in pairs if c != code and parent not in staff
        )
        user = auth_service.add_user(
            SYSTEM_ACTOR, session, "firm", "employer", PASSWORD, credit_code=code.lower()
        )
        window = (today - timedelta(days=1), today + timedelta(days=1), AS_OF)
        school = programs.open_cycle(
            SYSTEM_ACTOR,
            session,
            "school-entry",
            "企业统一申请",
            *window,
            targets_file=small_city / "schools.csv",
            entry_grade=1,
        )
        check = programs.open_cycle(
            SYSTEM_ACTOR, session, "health-check", "企业", *window, places=3
        )
        return {
            "code": code,
            "actor": auth_service.actor_of(user),
            "mine": mine[:3],
            "outsider": outsider,
            "school": school.id,
            "check": check.id,
        }


def first_school(small_city: Path) -> str:
    lines = (small_city / "schools.csv").read_text(encoding="utf-8").splitlines()
    return next(line.split(",")[0] for line in lines[1:] if line.split(",")[4] == "1")


@pytest.fixture
def db(loaded_engine: Engine) -> Iterator[Session]:
    with rolled_back_session(loaded_engine) as session:
        yield session


def record(parent: str, child: str, school: str, **more: Any) -> dict[str, Any]:
    return {"id_number": parent, "child_id_number": child, "choices": [school], **more}


def test_an_employer_account_is_bound_to_a_registered_employer(
    db: Session, firm: dict[str, Any]
) -> None:
    assert firm["actor"].credit_code == firm["code"]  # stored upper-case, as registered
    with pytest.raises(Invalid) as raised:
        auth_service.add_user(SYSTEM_ACTOR, db, "firm2", "employer", PASSWORD)
    assert raised.value.details[0].field == "credit_code"
    with pytest.raises(Invalid) as raised:
        auth_service.add_user(
            SYSTEM_ACTOR, db, "firm3", "employer", PASSWORD, credit_code="91330282MA2XXXXX0X"
        )
    assert raised.value.details[0].field == "credit_code"
    with pytest.raises(Invalid):
        auth_service.add_user(
            SYSTEM_ACTOR,
            db,
            "firm4",
            "reviewer",
            PASSWORD,
            department="教育局",
            credit_code=firm["code"],
        )


def test_the_batch_is_refused_whole_naming_row_column_and_reason(
    db: Session, firm: dict[str, Any], small_city: Path
) -> None:
    school = first_school(small_city)
    (parent, child), (other_parent, _), _ = firm["mine"]
    outsider_parent, outsider_child = firm["outsider"]
    before = db.scalar(select(func.count()).select_from(Application))
    batch = [
        record(parent, child, school),
        record(outsider_parent, outsider_child, school),  # employed elsewhere
        record(other_parent, outsider_child, school),  # an employee, not this child's parent
    ]
    with pytest.raises(Invalid) as raised:
        intake.submit_employer_batch(firm["actor"], db, firm["school"], batch)
    found = {(p.row, p.field) for p in raised.value.details}
    assert found == {(2, "id_number")}
    assert "不是本单位的在职职工" in raised.value.message_zh
    # With the outsider gone, the child of another family is named on its row.
    with pytest.raises(Invalid) as raised:
        intake.submit_employer_batch(firm["actor"], db, firm["school"], [batch[0], batch[2]])
    assert {(p.row, p.field) for p in raised.value.details} == {(2, "child_id_number")}
    another_family = raised.value.details[0].reason_zh
    # A child number nobody registered is answered the same: an employer cannot probe the
    # registry for which children are registered.
    unregistered = id_number("330282", date(2020, 5, 5), 919)
    with pytest.raises(Invalid) as raised:
        intake.submit_employer_batch(
            firm["actor"], db, firm["school"], [record(parent, unregistered, school)]
        )
    assert [p.reason_zh for p in raised.value.details] == [another_family]
    assert "登记在册" not in raised.value.message_zh
    # Nor does the general filing take an employer (it would skip the employee and route
    # checks of the batch).
    with pytest.raises(Forbidden):
        intake.submit_applications(firm["actor"], db, firm["school"], batch[:1])
    # The route is the department's to certify, not the employer's.
    with pytest.raises(Invalid) as raised:
        intake.submit_employer_batch(
            firm["actor"], db, firm["school"], [record(parent, child, school, route="talent")]
        )
    assert [(p.row, p.field) for p in raised.value.details] == [(1, "route")]
    # A key no filing has: the keys an employer may write are named, never the route.
    with pytest.raises(Invalid) as raised:
        intake.submit_employer_batch(
            firm["actor"], db, firm["school"], [{**record(parent, child, school), "points": 99}]
        )
    (problem,) = raised.value.details
    assert (problem.row, problem.field) == (1, "points")
    assert "child_id_number" in problem.reason_zh and "route" not in problem.reason_zh
    # Only school places; only employers.
    with pytest.raises(Invalid):
        intake.submit_employer_batch(firm["actor"], db, firm["check"], [{"id_number": parent}])
    with pytest.raises(Forbidden):
        intake.submit_employer_batch(
            Actor("op", Role.OPERATOR),
            db,
            firm["school"],
            batch[:1],
        )
    assert db.scalar(select(func.count()).select_from(Application)) == before


def test_an_employee_whose_employment_ended_is_refused(
    db: Session, firm: dict[str, Any], small_city: Path
) -> None:
    (parent, child), *_ = firm["mine"]
    resident_id = db.scalar(select(Resident.id).where(Resident.id_number == parent))
    db.execute(
        Employment.__table__.update()
        .where(Employment.resident_id == resident_id)
        .values(end_date=date.today() - timedelta(days=1))
    )
    with pytest.raises(Invalid) as raised:
        intake.submit_employer_batch(
            firm["actor"], db, firm["school"], [record(parent, child, first_school(small_city))]
        )
    assert [(p.row, p.field) for p in raised.value.details] == [(1, "id_number")]


def test_the_api_and_the_cli_file_the_batch_audited(
    loaded_engine: Engine, client: TestClient, firm: dict[str, Any], small_city: Path
) -> None:
    school = first_school(small_city)
    (parent, child), (second, second_child), (third, third_child) = firm["mine"]
    headers = sign_in(client, "firm")
    # The generic route is not the employer's: refused before the body is read.
    refused = client.post(
        f"/api/v1/program-cycles/{firm['school']}/applications",
        headers=headers,
        json={"records": [record(parent, child, school)]},
    )
    assert refused.status_code == 403
    response = client.post(
        f"/api/v1/program-cycles/{firm['school']}/employer-applications",
        headers=headers,
        json={"records": [record(parent, child, school), record(second, second_child, school)]},
    )
    assert response.status_code == 200, response.text
    ids = response.json()["application_ids"]
    assert len(ids) == 2
    # A bad batch is a 422 listing its rows, never a 500; a resident may not file one.
    bad = client.post(
        f"/api/v1/program-cycles/{firm['school']}/employer-applications",
        headers=headers,
        json={"records": [record(firm["outsider"][0], firm["outsider"][1], school)]},
    )
    assert bad.status_code == 422
    assert bad.json()["details"][0]["row"] == 1
    resident = client.post(
        f"/api/v1/program-cycles/{firm['school']}/employer-applications",
        headers=sign_in(client, "resident"),
        json={"records": [record(parent, child, school)]},
    )
    assert resident.status_code == 403
    # An employer names its employees in a filing and reads no resident's record.
    with session_scope(loaded_engine) as session:
        employee_id = session.scalar(select(Resident.id).where(Resident.id_number == parent))
    assert client.get(f"/api/v1/residents/{employee_id}", headers=headers).status_code in (
        403,
        404,
    )

    csv = small_city.parent / "employer-batch.csv"
    csv.write_text(f"id_number,child_id_number,choices\n{third},{third_child},{school}\n")
    env = {"LUODI_DATABASE_URL": loaded_engine.url.render_as_string(hide_password=False)}
    filed = run_luodi(
        "program", "employer-apply", str(firm["school"]), str(csv), "--as", "firm", env=env
    )
    assert filed.returncode == 0, filed.stderr
    assert "已受理企业统一申请 1 份" in filed.stdout
    with session_scope(loaded_engine) as session:
        filed_by = session.execute(
            select(Application.id, Application.submitted_by).where(
                Application.cycle_id == firm["school"]
            )
        ).all()
        batches = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "applications.employer_batch")
        ).all()
    assert {by for _, by in filed_by} == {"firm"} and len(filed_by) == 3
    assert len(batches) == 2 and {entry.actor for entry in batches} == {"firm"}
    assert all(firm["code"] in (entry.detail or "") for entry in batches)
