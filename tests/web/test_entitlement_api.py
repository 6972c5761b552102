"""An entitlement's list over HTTP on both databases (0–6 medical insurance): the service
centre produces it from the registry — every registered child aged 0–6, not only applicants —
a resident may not, and the masked list says 核准 or why not."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from luodi.auth.actor import SYSTEM_ACTOR
from luodi.db import session_scope
from luodi.kernels.policy.expressions import years_between
from luodi.policy.service import find_policy
from luodi.programs import service
from luodi.scoring import service as scoring_service
from tests.web.conftest import sign_in

AS_OF = date(2026, 3, 1)


def test_the_centre_produces_the_list_of_every_child_aged_0_to_6(
    admin_client: TestClient,
    client: TestClient,
    loaded_engine: Engine,
    small_city: Path,
    accounts: object,
) -> None:
    today = date.today()
    with session_scope(loaded_engine) as session:
        scoring_service.score_registry(SYSTEM_ACTOR, session, find_policy("zj-cixi", AS_OF), AS_OF)
        cycle_id = service.open_cycle(
            SYSTEM_ACTOR,
            session,
            "child-medical-insurance",
            "API",
            today - timedelta(days=1),
            today + timedelta(days=1),
            AS_OF,
        ).id
    path = f"/api/v1/program-cycles/{cycle_id}/entitlement-list"
    # A resident neither applies for it nor produces it.
    resident = sign_in(client, "resident")
    assert client.post(path, json={}, headers=resident).status_code == 403
    applied = client.post(
        f"/api/v1/program-cycles/{cycle_id}/applications",
        json={"records": [{}]},
        headers=resident,
    )
    assert applied.status_code == 409, applied.text

    produced = admin_client.post(path, json={})
    assert produced.status_code == 200, produced.text
    run = produced.json()
    assert run["method"] == "entitlement"
    listed = admin_client.get(f"/api/v1/allocation-runs/{run['id']}").json()["results"]

    children = pl.read_csv(small_city / "children.csv", infer_schema=False)
    in_range = {
        row["child_id_number"]
        for row in children.iter_rows(named=True)
        if 0 <= years_between(date.fromisoformat(row["birth_date"]), AS_OF) <= 6
    }
    assert in_range, "the synthetic city has young children"
    assert run["enrolment"]["added"] + run["enrolment"]["without_parent"] == len(in_range)
    assert len(listed) == run["enrolment"]["added"]
    # Every child of the range, masked as published (first 6 and last 3 of the number kept
    # where the city's format does: compare on what the mask keeps).
    kept = {(number[:2], number[-3:]) for number in in_range}
    assert all((row["child_id_number"][:2], row["child_id_number"][-3:]) in kept for row in listed)
    assert all("*" in row["child_id_number"] and "*" in row["id_number"] for row in listed)
    outcomes = {row["outcome"] for row in listed}
    assert outcomes <= {"placed", "ineligible"}
    for row in listed:
        if row["outcome"] == "ineligible":
            assert row["reason_zh"].startswith("不符合条件："), row
        else:
            assert row["reason_zh"] is None and row["target_id"] is None
