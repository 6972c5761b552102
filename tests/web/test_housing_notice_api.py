"""Public rental's qualified list over HTTP (住建部令第11号: 资格公示 before 配租), on SQLite
and PostgreSQL: the 配租 notice is refused (409, saying why) until the qualification notice,
published with ``qualification: true``, is final."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from luodi.allocation import service as allocation
from luodi.auth.actor import SYSTEM_ACTOR, Actor
from luodi.db import session_scope
from luodi.notices import service as notices
from luodi.policy.service import find_policy
from luodi.programs import demo, intake
from luodi.programs import service as programs
from luodi.scoring import service as scoring_service
from tests.web.conftest import AS_OF, sign_in


def test_the_qualified_list_comes_first_over_http(
    client: TestClient, accounts: dict[str, Actor], small_city: Path
) -> None:
    engine = client.app.state.engine
    today = date.today()
    with session_scope(engine) as session:
        scoring_service.score_registry(SYSTEM_ACTOR, session, find_policy("zj-cixi", AS_OF), AS_OF)
        cycle = programs.open_cycle(
            SYSTEM_ACTOR,
            session,
            "public-rental",
            "接口",
            today - timedelta(days=1),
            today + timedelta(days=1),
            AS_OF,
            targets_file=small_city / "housing_units.csv",
        )
        records = demo.housing_applications(small_city, share=0.03).to_dicts()
        intake.submit_applications(SYSTEM_ACTOR, session, cycle.id, records)
        intake.verify_all(SYSTEM_ACTOR, session, cycle.id)
        run_id = allocation.allocate_cycle(SYSTEM_ACTOR, session, cycle.id, "api").id
    headers = sign_in(client, "operator")
    refused = client.post("/api/v1/notices", json={"allocation_run_id": run_id}, headers=headers)
    assert refused.status_code == 409, refused.text
    assert "资格审核结果" in refused.text
    published = client.post(
        "/api/v1/notices",
        json={"allocation_run_id": run_id, "qualification": True},
        headers=headers,
    )
    assert published.status_code == 200, published.text
    body = published.json()
    assert body["kind"] == "qualification" and body["layout"] == "qualification"
    page = client.get(f"/api/v1/notices/{body['id']}", params={"limit": 500}).json()
    outcomes = {row["outcome"] for row in page["results"]}
    assert outcomes <= {"资格审核通过", "资格审核未通过"} and "资格审核通过" in outcomes
    assert not any(row.get("target_name") or row.get("unit") for row in page["results"])
    # Still open: the 配租 notice waits.
    again = client.post("/api/v1/notices", json={"allocation_run_id": run_id}, headers=headers)
    assert again.status_code == 409
    with session_scope(engine) as session:
        notice = notices.get_notice(SYSTEM_ACTOR, session, body["id"])
        notices.finalize(SYSTEM_ACTOR, session, notice.id, today=notice.ends_on + timedelta(days=1))
    let = client.post("/api/v1/notices", json={"allocation_run_id": run_id}, headers=headers)
    assert let.status_code == 200, let.text
    assert let.json()["layout"] == "public_housing"
