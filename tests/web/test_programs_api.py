"""Programs over HTTP on both databases: apply, verify, allocate, the masked list, finalise."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from luodi.auth.actor import SYSTEM_ACTOR
from luodi.db import session_scope
from luodi.notices import service as notices
from luodi.policy.service import find_policy
from luodi.programs import service
from luodi.programs.catalog import find_program
from luodi.scoring import service as scoring_service
from tests.city_facts import current_employers
from tests.web.conftest import sign_in

AS_OF = date(2026, 3, 1)


def test_a_quota_cycle_over_http(
    admin_client: TestClient, loaded_engine: Engine, small_city: Path
) -> None:
    today = date.today()
    with session_scope(loaded_engine) as session:
        scoring_service.score_registry(SYSTEM_ACTOR, session, find_policy("zj-cixi", AS_OF), AS_OF)
        cycle_id = service.open_cycle(
            SYSTEM_ACTOR,
            session,
            "health-check",
            "API",
            today - timedelta(days=1),
            today + timedelta(days=1),
            AS_OF,
            places=3,
        ).id
    assert "health-check" in {
        program["id"] for program in admin_client.get("/api/v1/programs").json()
    }
    people = pl.read_csv(small_city / "residents.csv", infer_schema=False)["id_number"]
    refused = admin_client.post(
        f"/api/v1/program-cycles/{cycle_id}/applications",
        json={"records": [{"id_number": people[0]}, {"id_number": "110105194912310021"}]},
    )
    assert refused.status_code == 422
    assert refused.json()["details"][0]["row"] == 2
    # Ten workers the health check is for (frontline, unionised, in its ten towns) and two
    # residents at random: more applicants than places.
    towns = find_program("health-check")[0].settings["towns"]
    workers = current_employers(small_city).filter(
        pl.col("frontline") & pl.col("union") & pl.col("employer_town").is_in(towns)
    )["id_number"]
    numbers = [*workers.head(10), *people.filter(~people.is_in(workers)).head(2)]
    taken = admin_client.post(
        f"/api/v1/program-cycles/{cycle_id}/applications",
        json={"records": [{"id_number": number} for number in numbers]},
    )
    assert taken.status_code == 200, taken.text
    ids = taken.json()["application_ids"]
    assert len(ids) == 12
    returned = admin_client.post(
        f"/api/v1/applications/{ids[0]}/verification", json={"approve": False}
    )
    assert returned.status_code == 422  # a return needs a reason
    for application_id in ids:
        verified = admin_client.post(
            f"/api/v1/applications/{application_id}/verification", json={"approve": True}
        )
        assert verified.json()["status"] == "verified"
    run = admin_client.post(f"/api/v1/program-cycles/{cycle_id}/runs", json={"seed": "api"}).json()
    listed = admin_client.get(f"/api/v1/allocation-runs/{run['id']}").json()
    placed = [row for row in listed["results"] if row["outcome"] == "placed"]
    assert len(placed) == 3
    assert all("*" in row["id_number"] and "*" in row["name"] for row in listed["results"])
    assert admin_client.get(f"/api/v1/allocation-runs/{run['id']}/diff").json() == []
    # Final only through a notice whose window has ended with no open objection.
    unpublished = admin_client.post(f"/api/v1/program-cycles/{cycle_id}/finalize")
    assert unpublished.status_code == 409
    notice = admin_client.post("/api/v1/notices", json={"allocation_run_id": run["id"]}).json()
    early = admin_client.post(f"/api/v1/program-cycles/{cycle_id}/finalize")
    assert early.status_code == 409
    with session_scope(loaded_engine) as session:
        notices.finalize(
            SYSTEM_ACTOR,
            session,
            notice["id"],
            date.fromisoformat(notice["ends_on"]) + timedelta(1),
        )
    assert admin_client.get(f"/api/v1/allocation-runs/{run['id']}").json()["final"] is True
    again = admin_client.post(f"/api/v1/program-cycles/{cycle_id}/runs", json={"seed": "api"})
    assert again.status_code == 409


def test_public_rental_takes_one_application_per_household_over_http(
    admin_client: TestClient, loaded_engine: Engine, small_city: Path
) -> None:
    today = date.today()
    with session_scope(loaded_engine) as session:
        cycle_id = service.open_cycle(
            SYSTEM_ACTOR,
            session,
            "public-rental",
            "按户",
            today - timedelta(days=1),
            today + timedelta(days=1),
            AS_OF,
            targets_file=small_city / "housing_units.csv",
        ).id
    residents = pl.read_csv(small_city / "residents.csv", infer_schema=False)
    shared = (
        residents.filter(pl.col("household_number").is_not_null())
        .group_by("household_number")
        .agg(pl.col("id_number").sort())
        .filter(pl.col("id_number").list.len() >= 2)
        .sort("household_number")
    )
    first, second = shared["id_number"][0].to_list()[:2]
    path = f"/api/v1/program-cycles/{cycle_id}/applications"
    both = admin_client.post(
        path,
        json={"records": [{"id_number": n, "choices": ["P001"]} for n in (first, second)]},
    )
    assert both.status_code == 422, both.text
    assert [problem["row"] for problem in both.json()["details"]] == [1, 2]
    taken = admin_client.post(path, json={"records": [{"id_number": first, "choices": ["P001"]}]})
    assert taken.status_code == 200, taken.text
    again = admin_client.post(path, json={"records": [{"id_number": second, "choices": ["P001"]}]})
    assert again.status_code == 409, again.text
    assert "一户只能申请一次" in again.text and "one application per household" in again.text


def test_a_school_cycle_publishes_its_hot_schools(
    client: TestClient,
    accounts: dict[str, object],
    loaded_engine: Engine,
    small_city: Path,
    tmp_path: Path,
) -> None:
    """学位紧张 is public from the opening: whoever reads the cycle sees which schools are hot
    and why, before anybody applies."""
    schools = pl.read_csv(small_city / "schools.csv", infer_schema=False)
    grade_one = schools.filter(pl.col("entry_grade") == "1")["school_id"].to_list()
    listed = tmp_path / "schools.csv"
    schools.with_columns(
        hot=pl.when(pl.col("school_id") == grade_one[-1]).then(pl.lit("是")).otherwise(pl.lit("否"))
    ).write_csv(listed)
    today = date.today()
    with session_scope(loaded_engine) as session:
        cycle_id = service.open_cycle(
            SYSTEM_ACTOR,
            session,
            "school-entry",
            "学位紧张",
            today - timedelta(days=1),
            today + timedelta(days=5),
            AS_OF,
            targets_file=listed,
            entry_grade=1,
        ).id
    resident = sign_in(client, "resident")
    published = client.get(f"/api/v1/program-cycles/{cycle_id}/targets", headers=resident)
    assert published.status_code == 200, published.text
    hot = {row["target_id"]: (row["hot"], row["hot_source"]) for row in published.json()}
    assert set(hot) == set(grade_one)
    assert hot[grade_one[-1]] == (True, "listed")
    assert {value for school, value in hot.items() if school != grade_one[-1]} == {
        (False, "listed")
    }
    cycles = {
        row["id"]: row for row in client.get("/api/v1/program-cycles", headers=resident).json()
    }
    assert cycles[cycle_id]["hot_schools"] == [grade_one[-1]]
    missing = client.get("/api/v1/program-cycles/999999/targets", headers=resident)
    assert missing.status_code == 404
