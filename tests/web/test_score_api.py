"""GET /api/v1/residents/{id}/score on both databases."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from luodi.auth.actor import SYSTEM_ACTOR
from luodi.db import session_scope
from luodi.policy.service import find_policy
from luodi.scoring import service
from luodi.scoring.models import ResidentScore


@pytest.fixture(scope="module")
def runs(loaded_engine: Engine) -> tuple[int, int]:
    ids = []
    for on in (date(2025, 6, 30), date(2026, 3, 1)):
        with session_scope(loaded_engine) as session:
            ids.append(
                service.score_registry(SYSTEM_ACTOR, session, find_policy("zj-cixi", on), on).run.id
            )
    return ids[0], ids[1]


def test_latest_score_with_explanation(
    admin_client: TestClient, loaded_engine: Engine, runs: tuple[int, int]
) -> None:
    with session_scope(loaded_engine) as session:
        score = session.scalars(
            select(ResidentScore).where(ResidentScore.run_id == runs[1]).limit(1)
        ).one()
        resident_id, total = score.resident_id, score.total
    response = admin_client.get(f"/api/v1/residents/{resident_id}/score")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["run"]["id"] == runs[1] and body["run"]["policy_version"] == "2026.1"
    assert body["total"] == total == body["explanation"]["total"]
    lines = body["explanation"]["lines"]
    assert lines[0]["label_zh"] == "年龄" and lines[0]["evidence"]
    assert sum(line["points"] for line in lines) == pytest.approx(
        body["explanation"]["sum_of_lines"]
    )
    assert "****" in str(lines[0]["inputs"]["birth_date"])
    # Every fact-fed input names the feed, batch, file and row it came from.
    by_indicator = {line["indicator"]: line for line in lines}
    education = by_indicator["education"]["sources"]["education"]
    assert len(education) == 1 and education[0]["feed"] == "education"
    assert education[0]["file"] == "education.csv" and education[0]["row"] >= 2
    assert education[0]["value"] == by_indicator["education"]["inputs"]["education"]
    assert "registry" in by_indicator["age"]["sources"]["birth_date"][0]

    older = admin_client.get(f"/api/v1/residents/{resident_id}/score", params={"run": runs[0]})
    if older.status_code == 200:
        assert older.json()["run"]["policy_version"] == "2023.1"
    else:  # the resident had no valid permit on the older date
        assert older.status_code == 404 and "not in scoring run" in older.json()["message_en"]


def test_score_errors(admin_client: TestClient, runs: tuple[int, int]) -> None:
    assert admin_client.get("/api/v1/residents/999999999/score").status_code == 404
    response = admin_client.get("/api/v1/residents/1/score", params={"run": 987654})
    assert response.status_code == 404 and response.json()["message_zh"]
    assert admin_client.get("/api/v1/residents/abc/score").status_code == 422
    runs_listed = admin_client.get("/api/v1/scoring-runs").json()
    assert [run["id"] for run in runs_listed][:2] == [runs[1], runs[0]]
