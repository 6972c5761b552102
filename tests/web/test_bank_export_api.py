"""The approved 新市民贷 list for the bank over HTTP (docs/programs.md, "loan"): full ID
numbers, to the admin and the program's own department only, from a final run, audited."""

from __future__ import annotations

import io
from datetime import date, timedelta
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from luodi.allocation import service as allocation
from luodi.audit.models import AuditEntry
from luodi.auth import service as auth_service
from luodi.auth.actor import SYSTEM_ACTOR, Actor
from luodi.db import session_scope
from luodi.policy.service import find_policy
from luodi.programs import intake
from luodi.programs import service as programs
from luodi.scoring import service as scoring_service
from tests.web.conftest import AS_OF, PASSWORD, sign_in


@pytest.fixture(scope="module")
def loan_run(
    loaded_engine: Engine, accounts: dict[str, Actor], city: pl.DataFrame
) -> dict[str, Any]:
    """A loan cycle of 150 residents, allocated; its run, not yet final."""
    today = date.today()
    with session_scope(loaded_engine) as session:
        auth_service.add_user(
            SYSTEM_ACTOR, session, "rsj", "reviewer", PASSWORD, department="人社局"
        )
        scoring_service.score_registry(SYSTEM_ACTOR, session, find_policy("zj-cixi", AS_OF), AS_OF)
        cycle = programs.open_cycle(
            SYSTEM_ACTOR,
            session,
            "loan",
            "bank",
            today - timedelta(days=1),
            today + timedelta(days=1),
            AS_OF,
        )
        records = [
            {"id_number": number, "requested_term_months": 6, "bank_consent": True}
            for number in city["id_number"].head(150)
        ]
        intake.submit_applications(SYSTEM_ACTOR, session, cycle.id, records)
        intake.verify_all(SYSTEM_ACTOR, session, cycle.id)
        run = allocation.allocate_cycle(SYSTEM_ACTOR, session, cycle.id, "bank-seed")
        results = allocation.run_results(SYSTEM_ACTOR, session, run.id, masked=False)
        placed = results.filter(pl.col("outcome") == "placed").sort("application_id")
        return {"cycle": cycle.id, "run": run.id, "numbers": placed["id_number"].to_list()}


def test_the_owning_department_exports_the_approved_list_in_full(
    client: TestClient, loaded_engine: Engine, loan_run: dict[str, Any]
) -> None:
    url = f"/api/v1/allocation-runs/{loan_run['run']}/bank-export"
    owner = sign_in(client, "rsj")
    # Not before the list is final.
    assert client.get(url, headers=owner).status_code == 409
    with session_scope(loaded_engine) as session:
        programs.finalize(SYSTEM_ACTOR, session, loan_run["cycle"])
    response = client.get(url, params={"format": "csv"}, headers=owner)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["cache-control"] == "no-store"
    read = pl.read_csv(io.BytesIO(response.content), infer_schema=False)
    assert loan_run["numbers"], "the city has approved loans"
    assert read["身份证号码"].to_list() == loan_run["numbers"]
    assert set(read["期限（月）"]) == {"6"} and set(read["年利率（%）"]) == {"4.8"}
    xlsx = client.get(url, headers=sign_in(client, "admin"))  # XLSX unless asked
    assert xlsx.status_code == 200
    sheet = pl.read_excel(io.BytesIO(xlsx.content), has_header=False, infer_schema_length=0)
    ids = sheet.get_column(sheet.columns[2]).to_list()
    assert ids[ids.index("身份证号码") + 1 :] == loan_run["numbers"]
    # Other departments do not reach the run; the operator and the auditor may not export;
    # nobody anonymous; the format is csv or xlsx.
    assert client.get(url, headers=sign_in(client, "health")).status_code == 404
    assert client.get(url, headers=sign_in(client, "operator")).status_code == 403
    assert client.get(url, headers=sign_in(client, "auditor")).status_code == 403
    assert client.get(url).status_code == 401
    assert client.get(url, params={"format": "pdf"}, headers=owner).status_code == 422
    with session_scope(loaded_engine) as session:
        exported = session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "allocation.bank_export",
                AuditEntry.object_id == str(loan_run["run"]),
            )
        ).all()
        assert [entry.actor for entry in exported] == ["rsj", "admin"]
