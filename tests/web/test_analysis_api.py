"""``GET /api/v1/analysis/points``: every table as JSON or the files, masked batch lists whose
export is audit-logged, who may ask, and bad parameters (422) or runs (404)."""

from __future__ import annotations

import io

import polars as pl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from luodi.audit.models import AuditEntry
from luodi.auth.actor import SYSTEM_ACTOR, Actor
from luodi.db import session_scope
from luodi.policy.service import find_policy
from luodi.scoring import service as scoring_service
from tests.web.conftest import AS_OF, sign_in

URL = "/api/v1/analysis/points"


@pytest.fixture(scope="module")
def run_id(loaded_engine: Engine, accounts: dict[str, Actor]) -> int:
    with session_scope(loaded_engine) as session:
        return scoring_service.score_registry(
            SYSTEM_ACTOR, session, find_policy("zj-cixi", AS_OF), AS_OF
        ).run.id


def batch_exports(engine: Engine) -> int:
    with session_scope(engine) as session:
        return int(
            session.scalar(select(func.count()).where(AuditEntry.action == "analysis.batch_list"))
            or 0
        )


def test_every_table_as_json_and_the_batch_list_audited(
    client: TestClient, loaded_engine: Engine, accounts: dict[str, Actor], run_id: int
) -> None:
    headers = sign_in(client, "operator")
    before = batch_exports(loaded_engine)
    plain = client.get(URL, params={"run": run_id, "thresholds": "60,90"}, headers=headers)
    assert plain.status_code == 200, plain.text
    body = plain.json()
    assert body["thresholds"] == [60.0, 90.0] and body["run"]["id"] == run_id
    tables = body["tables"]
    assert {"histogram", "by_town", "by_age_band", "indicators", "layers"} <= set(tables)
    assert "batch_one" not in tables
    assert sum(row["residents"] for row in tables["by_sector"]) == body["residents"]
    assert tables["by_town"][0].keys() >= {"at_least_60", "at_least_90"}
    assert batch_exports(loaded_engine) == before  # nobody named: nothing to record

    listed = client.get(URL, params={"run": run_id, "quota": 7}, headers=headers).json()
    batch = listed["tables"]["batch_one"]
    assert len(batch) == 7 and [row["rank"] for row in batch] == list(range(1, 8))
    assert all("*" in row["name"] and row["id_number"].count("*") == 13 for row in batch)
    assert batch_exports(loaded_engine) == before + 1
    with session_scope(loaded_engine) as session:
        entry = session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).one()
        assert (entry.action, entry.actor, entry.object_id) == (
            "analysis.batch_list",
            "operator",
            str(run_id),
        )


def test_the_files(client: TestClient, accounts: dict[str, Actor], run_id: int) -> None:
    headers = sign_in(client, "edu")  # a department's reviewer (发改局, 教育局 plan with it)
    workbook = client.get(URL, params={"run": run_id, "format": "xlsx"}, headers=headers)
    assert workbook.status_code == 200, workbook.text
    assert workbook.content.startswith(b"PK")
    assert workbook.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert f"run-{run_id}.xlsx" in workbook.headers["content-disposition"]
    assert workbook.headers["cache-control"] == "no-store"
    document = client.get(URL, params={"run": run_id, "format": "pdf"}, headers=headers)
    assert document.status_code == 200 and document.content.startswith(b"%PDF-")


def test_a_reviewer_never_gets_who_is_in_a_batch(
    client: TestClient, loaded_engine: Engine, accounts: dict[str, Actor], run_id: int
) -> None:
    """The batch-1 list names people (masked): a department's reviewer reads the counts, on
    the API as on the page, in JSON as in the workbook; nothing leaves, nothing is recorded."""
    headers = sign_in(client, "edu")
    before = batch_exports(loaded_engine)
    listed = client.get(URL, params={"run": run_id, "quota": 7}, headers=headers)
    assert listed.status_code == 200, listed.text
    tables = listed.json()["tables"]
    assert "batch_one" not in tables and any(row["residents"] for row in tables["layers"])
    workbook = client.get(
        URL, params={"run": run_id, "quota": 7, "format": "xlsx"}, headers=headers
    )
    sheets = pl.read_excel(io.BytesIO(workbook.content), sheet_id=0)
    assert not any("名单" in name for name in sheets), list(sheets)
    assert "分批 batches" in sheets  # the counts per batch are there
    assert batch_exports(loaded_engine) == before


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"thresholds": "90,60"}, 422),
        ({"thresholds": "60,x"}, 422),
        ({"thresholds": "0"}, 422),
        ({"format": "csv"}, 422),
        ({"quota": 0}, 422),
        ({"batches": 99}, 422),
        ({"class_thresholds": "school95"}, 422),
        ({"class_thresholds": "palace:95"}, 422),
        ({"run": 0}, 422),
        ({"run": 2_000_000_000}, 404),
    ],
)
def test_bad_parameters(
    client: TestClient,
    accounts: dict[str, Actor],
    run_id: int,
    params: dict[str, object],
    status: int,
) -> None:
    response = client.get(URL, params={"run": run_id, **params}, headers=sign_in(client, "auditor"))
    assert response.status_code == status, response.text
    assert response.json()["message_zh"] and response.json()["message_en"]


def test_who_may_ask(client: TestClient, accounts: dict[str, Actor], run_id: int) -> None:
    for name in ("town", "resident"):
        response = client.get(URL, params={"run": run_id}, headers=sign_in(client, name))
        assert response.status_code in (403, 404), name
    assert client.get(URL, params={"run": run_id}).status_code == 401
    assert (
        client.get(URL, params={"run": run_id}, headers=sign_in(client, "admin")).status_code == 200
    )
