"""Jobs over HTTP: 202 and the job to follow, its progress and result, 404 out of scope, 422
naming the parameter, 403 for a role that may not; and the worker the app runs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from luodi.app import create_app
from luodi.auth.actor import Actor
from luodi.jobs import worker
from tests.web.conftest import AS_OF, sign_in


@pytest.fixture(scope="module")
def as_user(client: TestClient, accounts: dict[str, Actor]) -> dict[str, dict[str, str]]:
    """Bearer headers of each account."""
    return {name: sign_in(client, name) for name in accounts}


def test_submit_then_follow_a_job(
    client: TestClient,
    loaded_engine: Engine,
    as_user: dict[str, dict[str, str]],
    cycle: dict[str, Any],
) -> None:
    response = client.post(
        "/api/v1/jobs",
        json={"kind": "allocate", "params": {"cycle_id": cycle["cycle"], "seed": "api"}},
        headers=as_user["operator"],
    )
    assert response.status_code == 202, response.text
    job = response.json()
    assert (job["state"], job["kind"], job["created_by"], job["finished"]) == (
        "queued", "allocate", "operator", False,
    )  # fmt: skip
    assert job["params"] == {"cycle_id": cycle["cycle"], "seed": "api", "scoring_run_id": None}
    worker.run_pending(loaded_engine)
    done = client.get(f"/api/v1/jobs/{job['id']}", headers=as_user["operator"]).json()
    assert (done["state"], done["phase_zh"], done["phase_en"], done["percent"]) == (
        "done", "完成", "done", 100,
    )  # fmt: skip
    assert done["result"]["run_id"] > cycle["run"]
    # The cycle's department reads it; another department's reviewer finds nothing.
    assert client.get(f"/api/v1/jobs/{job['id']}", headers=as_user["health"]).status_code == 200
    hidden = client.get(f"/api/v1/jobs/{job['id']}", headers=as_user["edu"])
    assert hidden.status_code == 404 and hidden.json()["message_en"] == f"no job {job['id']}"
    listed = client.get("/api/v1/jobs", params={"kind": "allocate"}, headers=as_user["edu"])
    assert listed.status_code == 200 and job["id"] not in [item["id"] for item in listed.json()]
    mine = client.get("/api/v1/jobs", headers=as_user["operator"]).json()
    assert mine[0]["id"] == job["id"]


def test_refusals(client: TestClient, as_user: dict[str, dict[str, str]]) -> None:
    bad = client.post(
        "/api/v1/jobs",
        json={"kind": "allocate", "params": {"cycle_id": "first", "seed": ""}},
        headers=as_user["operator"],
    )
    assert bad.status_code == 422
    assert {item["field"] for item in bad.json()["details"]} == {"params.cycle_id", "params.seed"}
    unknown = client.post(
        "/api/v1/jobs", json={"kind": "mine bitcoin", "params": {}}, headers=as_user["admin"]
    )
    assert unknown.status_code == 422 and unknown.json()["details"][0]["field"] == "kind"
    missing = client.post(
        "/api/v1/jobs",
        json={"kind": "allocate", "params": {"cycle_id": 999_999, "seed": "x"}},
        headers=as_user["operator"],
    )
    assert missing.status_code == 404
    resident = client.post(
        "/api/v1/jobs", json={"kind": "score", "params": {}}, headers=as_user["resident"]
    )
    assert resident.status_code == 403
    auditor = client.post(
        "/api/v1/jobs",
        json={"kind": "score", "params": {"policy_id": "zj-cixi"}},
        headers=as_user["auditor"],
    )
    assert auditor.status_code == 403
    assert client.get("/api/v1/jobs/999999", headers=as_user["admin"]).status_code == 404
    assert client.get("/api/v1/jobs/0", headers=as_user["admin"]).status_code == 404
    assert client.get("/api/v1/jobs").status_code == 401


@pytest.fixture(scope="module")
def working_client(loaded_engine: Engine) -> Iterator[TestClient]:
    """The app with its worker, as ``luodi serve`` runs it."""
    with TestClient(create_app(loaded_engine, worker=True)) as test_client:
        yield test_client


def test_the_app_s_worker_runs_a_job(
    working_client: TestClient,
    accounts: dict[str, Actor],  # the operator's account
) -> None:
    headers = sign_in(working_client, "operator")
    job = working_client.post(
        "/api/v1/jobs",
        json={"kind": "score", "params": {"policy_id": "zj-cixi", "as_of": AS_OF.isoformat()}},
        headers=headers,
    ).json()
    deadline = time.monotonic() + 60
    seen = job
    while not seen["finished"] and time.monotonic() < deadline:
        time.sleep(0.1)
        seen = working_client.get(f"/api/v1/jobs/{job['id']}", headers=headers).json()
    assert seen["state"] == "done", seen
    assert seen["result"]["residents_scored"] > 0
