"""Nobody applies in another's name: an application is built from the signed-in account and the
registry; the record is the program's model with undeclared keys refused (422 naming the key);
a resident files one record, for self or own child; bulk is the service centre's. Both databases.
"""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from luodi.auth import service as auth_service
from luodi.auth.actor import SYSTEM_ACTOR, Actor
from luodi.db import session_scope
from luodi.programs import service as programs
from luodi.programs import targets as program_targets
from luodi.programs.models import Application
from luodi.registry.models import Resident
from tests.factories import id_number
from tests.web.conftest import PASSWORD, sign_in


@pytest.fixture(scope="module")
def families(small_city: Path) -> dict[str, str]:
    """A parent with their child (the children feed's ``id_number``), a child of another
    household, and an adult of the child's household who is not its parent (an uncle)."""
    residents = pl.read_csv(small_city / "residents.csv", infer_schema=False)
    children = pl.read_csv(small_city / "children.csv", infer_schema=False)
    parents = pl.concat_list("id_number", pl.col("second_parent_id_number").fill_null(""))
    uncles = (
        children.join(
            residents.select(adult="id_number", household_number="household_number"),
            on="household_number",
        )
        .filter(~pl.col("adult").is_in(parents))
        .sort("child_id_number")
    )
    parent = uncles.row(0, named=True)
    stranger = children.filter(pl.col("household_number") != parent["household_number"]).row(
        0, named=True
    )
    return {
        "parent": parent["id_number"],
        "own_child": parent["child_id_number"],
        "other_child": stranger["child_id_number"],
        "other_adult": residents.filter(pl.col("id_number") != parent["id_number"])["id_number"][0],
        "uncle": parent["adult"],
    }


@pytest.fixture(scope="module")
def open_cycles(
    loaded_engine: Engine, accounts: dict[str, Actor], families: dict[str, str], small_city: Path
) -> dict[str, int]:
    today = date.today()
    with session_scope(loaded_engine) as session:
        auth_service.add_user(
            SYSTEM_ACTOR, session, "parent", "resident", PASSWORD, id_number=families["parent"]
        )
        auth_service.add_user(
            SYSTEM_ACTOR, session, "uncle", "resident", PASSWORD, id_number=families["uncle"]
        )
        window = (today - timedelta(days=1), today + timedelta(days=5), date(2026, 3, 1))
        school = programs.open_cycle(
            SYSTEM_ACTOR,
            session,
            "school-entry",
            "hole",
            *window,
            targets_file=small_city / "schools.csv",
            entry_grade=1,
        )
        check = programs.open_cycle(
            SYSTEM_ACTOR, session, "health-check", "hole", *window, places=3
        )
        return {"school": school.id, "check": check.id}


def applications_of(engine: Engine, cycle_id: int) -> list[tuple[int, int | None]]:
    with session_scope(engine) as session:
        return list(
            session.execute(
                select(Application.resident_id, Application.child_id).where(
                    Application.cycle_id == cycle_id
                )
            ).tuples()
        )


def post(client: TestClient, cycle_id: int, records: Any, auth: dict[str, str]) -> Any:
    return client.post(
        f"/api/v1/program-cycles/{cycle_id}/applications", json={"records": records}, headers=auth
    )


def test_identity_keys_are_refused_and_nothing_is_filed(
    client: TestClient, loaded_engine: Engine, open_cycles: dict[str, int], families: dict[str, str]
) -> None:
    auth = sign_in(client, "parent")
    school = open_cycles["school"]
    own = {"child_id_number": families["own_child"], "choices": []}
    for forged in (
        {"resident_id": 1},
        {"id_number": families["other_adult"]},
        {"household_size": 9},
        {"points": 165},
        {"route": "talent"},  # set by 教育局, never by the applicant
        {"group": 0},
    ):
        refused = post(client, school, [{**own, **forged}], auth)
        assert refused.status_code == 422, (forged, refused.text)
        fields = [problem["field"] for problem in refused.json()["details"]]
        assert next(iter(forged)) in fields, (forged, fields)
    assert applications_of(loaded_engine, school) == []


def test_a_resident_files_one_record_for_self_or_own_child(
    client: TestClient, loaded_engine: Engine, open_cycles: dict[str, int], families: dict[str, str]
) -> None:
    auth = sign_in(client, "parent")
    school, check = open_cycles["school"], open_cycles["check"]
    schools = programs_schools(loaded_engine, school)
    # Somebody else's child: refused, naming the child's column.
    stranger = post(
        client, school, [{"child_id_number": families["other_child"], "choices": schools}], auth
    )
    assert stranger.status_code == 422
    assert stranger.json()["details"][0]["field"] == "child_id_number"
    # A number no child of the city has gets the same answer: a resident cannot probe
    # which children are registered.
    nobody = post(
        client, school, [{"child_id_number": id_number(sequence=998), "choices": schools}], auth
    )
    assert nobody.status_code == 422
    assert nobody.json()["details"][0]["reason_en"] == stranger.json()["details"][0]["reason_en"]
    # An adult of the child's household who is not its parent (an uncle): refused, and the
    # parent can still file (an uncle's application locked the parents out of the cycle).
    uncle = post(
        client,
        school,
        [{"child_id_number": families["own_child"], "choices": schools}],
        sign_in(client, "uncle"),
    )
    assert uncle.status_code == 422
    assert uncle.json()["details"][0]["field"] == "child_id_number"
    assert "not a registered parent" in uncle.json()["details"][0]["reason_en"]
    assert applications_of(loaded_engine, school) == []
    # A thousand records at once: a resident files one per request.
    many = [{}] * 1000
    assert post(client, check, many, auth).status_code == 422
    assert applications_of(loaded_engine, check) == []
    # Own child: taken, in the parent's own name from the registry.
    taken = post(
        client, school, [{"child_id_number": families["own_child"], "choices": schools}], auth
    )
    assert taken.status_code == 200, taken.text
    ((resident_id, child_id),) = applications_of(loaded_engine, school)
    assert child_id is not None
    mine = client.get("/api/v1/my/applications", headers=auth).json()
    assert [a["id"] for a in mine] == taken.json()["application_ids"]
    # Self, for the health check: no id_number needed (nor allowed).
    assert post(client, check, [{}], auth).status_code == 200
    assert applications_of(loaded_engine, check) == [(resident_id, None)]
    # Twice: 409, not a second application.
    assert post(client, check, [{}], auth).status_code == 409
    assert len(applications_of(loaded_engine, check)) == 1


def programs_schools(engine: Engine, cycle_id: int) -> list[str]:
    with session_scope(engine) as session:
        targets = program_targets.cycle_targets(session, cycle_id)
    return [targets[0].group_id or ""]


@pytest.mark.parametrize(
    "records",
    [
        [{}],  # no id_number
        [{"id_number": None}],
        [{"id_number": 123}],
        [{"id_number": "1" * 5000}],
        [42],
        [{"id_number": {"$ne": ""}}],
    ],
)
def test_malformed_bulk_records_are_422_never_500(
    admin_client: TestClient, open_cycles: dict[str, int], records: list[Any]
) -> None:
    response = admin_client.post(
        f"/api/v1/program-cycles/{open_cycles['check']}/applications", json={"records": records}
    )
    assert response.status_code == 422, response.text
    assert len(response.text) < 3000  # a short excerpt of the value, never the whole input


def test_concurrent_duplicates_one_succeeds_the_others_409(
    admin_client: TestClient, loaded_engine: Engine, open_cycles: dict[str, int], city: pl.DataFrame
) -> None:
    number = city["id_number"][-1]
    url = f"/api/v1/program-cycles/{open_cycles['check']}/applications"

    def submit(_: int) -> int:
        return admin_client.post(url, json={"records": [{"id_number": number}]}).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = sorted(pool.map(submit, range(6)))
    assert statuses == [200, 409, 409, 409, 409, 409], statuses
    with session_scope(loaded_engine) as session:
        resident = session.scalar(select(Resident.id).where(Resident.id_number == number))
        count = session.scalar(
            select(func.count())
            .select_from(Application)
            .where(
                Application.cycle_id == open_cycles["check"], Application.resident_id == resident
            )
        )
    assert count == 1


def test_a_busy_sqlite_database_answers_503(
    admin_client: TestClient, loaded_engine: Engine, open_cycles: dict[str, int], city: pl.DataFrame
) -> None:
    if loaded_engine.dialect.name != "sqlite":
        pytest.skip("SQLite's single writer")
    database = loaded_engine.url.database
    assert database
    holder = sqlite3.connect(database, timeout=1)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock past the busy timeout
    try:
        response = admin_client.post(
            f"/api/v1/program-cycles/{open_cycles['check']}/applications",
            json={"records": [{"id_number": city["id_number"][-2]}]},
        )
    finally:
        holder.rollback()
        holder.close()
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"]
    assert "x-content-type-options" in response.headers
    # Nothing was written; once the lock is gone the same request is taken.
    retried = admin_client.post(
        f"/api/v1/program-cycles/{open_cycles['check']}/applications",
        json={"records": [{"id_number": city["id_number"][-2]}]},
    )
    assert retried.status_code == 200, retried.text


def test_a_returned_application_is_corrected_not_filed_again(
    client: TestClient, loaded_engine: Engine, accounts: dict[str, Actor]
) -> None:
    today = date.today()
    with session_scope(loaded_engine) as session:
        cycle = programs.open_cycle(
            SYSTEM_ACTOR, session, "health-check", "returned", today, today + timedelta(days=3),
            places=2,
        )  # fmt: skip
    parent = sign_in(client, "parent")
    health = sign_in(client, "health")
    filed = post(client, cycle.id, [{}], parent)
    assert filed.status_code == 200, filed.text
    (application,) = filed.json()["application_ids"]
    returned = client.post(
        f"/api/v1/applications/{application}/verification",
        json={"approve": False, "reason": "体检表缺页"},
        headers=health,
    )
    assert returned.json()["status"] == "returned"
    again = post(client, cycle.id, [{}], parent)
    assert again.status_code == 409
    assert "PATCH /api/v1/applications/" in again.json()["message_en"]
    url = f"/api/v1/applications/{application}"
    assert client.patch(url, json={}, headers=sign_in(client, "resident")).status_code == 404
    assert client.patch(url, json={"resident_id": 1}, headers=parent).status_code == 422
    corrected = client.patch(url, json={}, headers=parent)
    assert corrected.status_code == 200, corrected.text
    assert corrected.json()["status"] == "submitted"
    verified = client.post(
        f"/api/v1/applications/{application}/verification", json={"approve": True}, headers=health
    )
    assert verified.json()["status"] == "verified"
    assert client.patch(url, json={}, headers=parent).status_code == 409  # the department's now


def test_both_parents_read_their_childs_one_application(
    client: TestClient,
    loaded_engine: Engine,
    open_cycles: dict[str, int],
    small_city: Path,
    accounts: dict[str, Actor],
) -> None:
    """One application per child: when one parent has filed, the other (a registered second
    parent) reads it and is pointed to it, not locked out; nobody else reads it."""
    residents = pl.read_csv(small_city / "residents.csv", infer_schema=False)
    children = pl.read_csv(small_city / "children.csv", infer_schema=False)
    family = (
        children.filter(pl.col("second_parent_id_number").is_in(residents["id_number"].implode()))
        .sort("child_id_number", descending=True)
        .row(0, named=True)
    )
    with session_scope(loaded_engine) as session:
        for name, number in (
            ("first-parent", family["id_number"]),
            ("second-parent", family["second_parent_id_number"]),
        ):
            auth_service.add_user(
                SYSTEM_ACTOR, session, name, "resident", PASSWORD, id_number=number
            )
    school = open_cycles["school"]
    schools = programs_schools(loaded_engine, school)
    record = [{"child_id_number": family["child_id_number"], "choices": schools}]
    first, second = sign_in(client, "first-parent"), sign_in(client, "second-parent")
    filed = post(client, school, record, first)
    assert filed.status_code == 200, filed.text
    (application_id,) = filed.json()["application_ids"]
    again = post(client, school, record, second)
    assert again.status_code == 409 and "PATCH" in again.json()["message_en"]
    seen = client.get("/api/v1/my/applications", headers=second).json()
    assert application_id in [item["id"] for item in seen]
    assert client.get(f"/api/v1/applications/{application_id}", headers=second).status_code == 200
    stranger = sign_in(client, "uncle")
    assert client.get(f"/api/v1/applications/{application_id}", headers=stranger).status_code == 404
