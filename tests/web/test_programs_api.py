"""Programs over HTTP on both databases: apply, verify, allocate, the masked list, finalise."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from luodi.auth.actor import SYSTEM_ACTOR
from luodi.db import session_scope
from luodi.policy.service import find_policy
from luodi.programs import service
from luodi.scoring import service as scoring_service

AS_OF = date(2026, 3, 1)


def test_a_quota_cycle_over_http(
    client: TestClient, loaded_engine: Engine, small_city: Path
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
    assert "health-check" in {program["id"] for program in client.get("/api/v1/programs").json()}
    people = pl.read_csv(small_city / "residents.csv", infer_schema=False)["id_number"]
    refused = client.post(
        f"/api/v1/program-cycles/{cycle_id}/applications",
        json={"records": [{"id_number": people[0]}, {"id_number": "110105194912310021"}]},
    )
    assert refused.status_code == 422
    assert refused.json()["details"][0]["row"] == 2
    taken = client.post(
        f"/api/v1/program-cycles/{cycle_id}/applications",
        json={"records": [{"id_number": number} for number in people[:12]]},
    )
    assert taken.status_code == 200, taken.text
    ids = taken.json()["application_ids"]
    assert len(ids) == 12
    returned = client.post(f"/api/v1/applications/{ids[0]}/verification", json={"approve": False})
    assert returned.status_code == 422  # a return needs a reason
    for application_id in ids:
        verified = client.post(
            f"/api/v1/applications/{application_id}/verification", json={"approve": True}
        )
        assert verified.json()["status"] == "verified"
    run = client.post(f"/api/v1/program-cycles/{cycle_id}/runs", json={"seed": "api"}).json()
    listed = client.get(f"/api/v1/allocation-runs/{run['id']}").json()
    placed = [row for row in listed["results"] if row["outcome"] == "placed"]
    assert len(placed) == 3
    assert all("*" in row["id_number"] and "*" in row["name"] for row in listed["results"])
    assert client.get(f"/api/v1/allocation-runs/{run['id']}/diff").json() == []
    final = client.post(f"/api/v1/program-cycles/{cycle_id}/finalize")
    assert final.json()["final"] is True
    again = client.post(f"/api/v1/program-cycles/{cycle_id}/runs", json={"seed": "api"})
    assert again.status_code == 409
