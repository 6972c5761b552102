"""The ``policy_whatif`` job over HTTP: submitted by the analysis roles, run by the worker as
its submitter, its result (summary and tables) kept with it and audited; a town's desk may
not; a draft that does not compile is refused before it is queued, naming its line."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from luodi.audit.models import AuditEntry
from luodi.auth.actor import Actor
from luodi.db import session_scope
from luodi.jobs import worker
from luodi.kernels.policy import CompiledPolicy
from luodi.kernels.policy.whatif import BANDS
from tests.policy.test_whatif import AS_OF, draft_text
from tests.web.conftest import sign_in


def submit(client: TestClient, headers: dict[str, str], params: dict[str, Any]) -> Any:
    return client.post(
        "/api/v1/jobs", json={"kind": "policy_whatif", "params": params}, headers=headers
    )


def test_a_what_if_job_keeps_its_result_and_is_audited(
    client: TestClient, loaded_engine: Engine, accounts: dict[str, Actor]
) -> None:
    text = draft_text()
    params = {"draft_text": text, "as_of": AS_OF.isoformat(), "thresholds": [90]}
    desk = submit(client, sign_in(client, "town"), params)
    assert desk.status_code == 403
    reviewer = sign_in(client, "edu")
    response = submit(client, reviewer, params)
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    worker.run_pending(loaded_engine)
    job = client.get(f"/api/v1/jobs/{job_id}", headers=reviewer).json()
    assert job["state"] == "done", job
    result = job["result"]
    assert result["residents"] == sum(result["bands"][band] for band in BANDS) > 0
    assert result["thresholds"] == [90.0] and result["crossings"][0]["threshold"] == 90.0
    assert result["summary"]["zh"][0].startswith(f"计分日 {AS_OF.isoformat()}")
    assert len(result["summary"]["zh"]) == len(result["summary"]["en"])
    with session_scope(loaded_engine) as session:
        entry = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "policy.whatif")
            .order_by(AuditEntry.seq.desc())
        ).first()
        assert entry is not None and entry.actor == "edu"
        detail = json.loads(entry.detail or "{}")
    assert detail["draft_digest"] == CompiledPolicy.from_text(text, "d").policy.digest


def test_a_draft_that_does_not_compile_is_refused_before_it_is_queued(
    client: TestClient, accounts: dict[str, Actor]
) -> None:
    text = draft_text().replace("kind: basic", "kind: basik", 1)
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "basik" in row)
    answer = submit(client, sign_in(client, "operator"), {"draft_text": text})
    assert answer.status_code == 422
    body = answer.json()
    assert body["details"][0]["row"] == line and body["details"][0]["field"].startswith("params.")
    listed = client.get(
        "/api/v1/jobs", params={"kind": "policy_whatif"}, headers=sign_in(client, "operator")
    )
    assert all(item["params"].get("draft_text") != text for item in listed.json())
