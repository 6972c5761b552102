"""GET /api/v1/residents/{id}/score on both databases."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from luodi.auth.actor import SYSTEM_ACTOR, Actor
from luodi.db import session_scope
from luodi.policy.service import find_policy
from luodi.registry.models import Resident
from luodi.scoring import service
from luodi.scoring.models import ResidentScore
from tests.web.conftest import sign_in


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
    for bad in ("abc", "0", str(2**31)):
        assert admin_client.get(f"/api/v1/residents/{bad}/score").status_code == 404
    for run in ("abc", "0", str(2**31), str(2**63)):  # a query parameter out of bounds: 422
        response = admin_client.get("/api/v1/residents/1/score", params={"run": run})
        assert response.status_code == 422, run
    runs_listed = admin_client.get("/api/v1/scoring-runs").json()
    assert [run["id"] for run in runs_listed][:2] == [runs[1], runs[0]]


def test_scoring_runs_are_for_staff_only(
    client: TestClient, accounts: dict[str, Actor], runs: tuple[int, int]
) -> None:
    """Anonymous: 401; a resident or a department's token: 403; staff: the runs."""
    response = client.get("/api/v1/scoring-runs")
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
    assert (
        client.get("/api/v1/scoring-runs", headers=sign_in(client, "resident")).status_code == 403
    )
    for staff in ("admin", "operator", "auditor", "edu", "town"):
        listed = client.get("/api/v1/scoring-runs", headers=sign_in(client, staff))
        assert listed.status_code == 200, staff
        assert {run["id"] for run in listed.json()} >= set(runs), staff


def test_a_resident_reads_only_their_own_score(
    client: TestClient, loaded_engine: Engine, accounts: dict[str, Actor], runs: tuple[int, int]
) -> None:
    mine_number = accounts["resident"].id_number
    with session_scope(loaded_engine) as session:
        scored = dict(
            session.execute(
                select(Resident.id_number, Resident.id)
                .join(ResidentScore, ResidentScore.resident_id == Resident.id)
                .where(ResidentScore.run_id == runs[1])
                .limit(50)
            ).all()
        )
        mine = session.scalars(select(Resident.id).where(Resident.id_number == mine_number)).one()
    other = next(rid for number, rid in scored.items() if number != mine_number)
    resident = sign_in(client, "resident")
    own = client.get(f"/api/v1/residents/{mine}/score", headers=resident)
    if own.status_code == 200:
        assert own.json()["resident_id"] == mine
    else:  # this resident held no valid permit on the scoring day
        assert own.status_code == 404 and "not" in own.json()["message_en"]
    assert client.get(f"/api/v1/residents/{other}/score", headers=resident).status_code == 404
    assert client.get(f"/api/v1/residents/{other}/score").status_code == 404
    assert (
        client.get(
            f"/api/v1/residents/{other}/score", headers=sign_in(client, "auditor")
        ).status_code
        == 200
    )


def test_a_resident_left_out_of_the_newest_run_is_told_why(
    admin_client: TestClient, loaded_engine: Engine, runs: tuple[int, int]
) -> None:
    """Not the older run's total: the newest run left them out (a permit that lapsed, was
    cancelled or suspended since), and the answer says so with the permit on its date."""
    with session_scope(loaded_engine) as session:
        newer = select(ResidentScore.resident_id).where(ResidentScore.run_id == runs[1])
        left_out = session.scalars(
            select(ResidentScore.resident_id)
            .where(ResidentScore.run_id == runs[0], ResidentScore.resident_id.not_in(newer))
            .limit(1)
        ).one()
    response = admin_client.get(f"/api/v1/residents/{left_out}/score")
    assert response.status_code == 404
    message = response.json()["message_en"]
    assert f"not scored in the newest scoring run {runs[1]} (as of 2026-03-01)" in message
    assert any(word in message for word in ("expired", "cancelled", "suspended", "no permit"))
    # The older run is still there when asked for by number.
    older = admin_client.get(f"/api/v1/residents/{left_out}/score", params={"run": runs[0]})
    assert older.status_code == 200 and older.json()["run"]["id"] == runs[0]
    # Asked for by number, the newer run says why it does not hold them.
    named = admin_client.get(f"/api/v1/residents/{left_out}/score", params={"run": runs[1]})
    assert named.status_code == 404
    assert f"is not in scoring run {runs[1]} (as of 2026-03-01: " in named.json()["message_en"]


def test_a_malformed_query_is_refused_in_both_languages(admin_client: TestClient) -> None:
    """Pydantic's messages are English only: the Chinese half says it in Chinese."""
    for value, zh, en in (
        ("abc", "应为整数", "must be a whole number"),
        ("0", "不能小于 1", "must be at least 1"),
    ):
        response = admin_client.get("/api/v1/residents/1/score", params={"run": value})
        assert response.status_code == 422, response.text
        body = response.json()
        assert zh in body["message_zh"] and en in body["message_en"]
        assert "Input should" not in body["message_zh"]
        # Each message in its own language: where, the value and the reason.
        assert "column" not in body["message_zh"] and "列 run" in body["message_zh"]
        assert zh not in body["message_en"] and "column run" in body["message_en"]
