"""The feeds API over HTTP on SQLite and PostgreSQL: departments reach their own batches only,
and bad files and records are answered 422 naming the row, never 500."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from luodi.app import create_app
from luodi.auth import service as auth_service
from luodi.auth.actor import SYSTEM_ACTOR
from luodi.db import session_scope
from tests.test_tabular import CELL, write_xlsx


@pytest.fixture(scope="module")
def client(registry_engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(registry_engine)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def tokens(registry_engine: Engine) -> dict[str, dict[str, str]]:
    """Bearer headers of two departments' machine tokens."""
    with session_scope(registry_engine) as session:
        issued = {
            department: auth_service.add_department_token(SYSTEM_ACTOR, session, department)
            for department in ("人社局", "文明办")
        }
    return {
        department: {"Authorization": f"Bearer {token.token}"}
        for department, token in issued.items()
    }


@pytest.fixture(scope="module")
def people(small_city: Path) -> list[str]:
    return pl.read_csv(small_city / "residents.csv", infer_schema=False)["id_number"][:5].to_list()


def test_a_department_reads_its_own_batches_only(
    client: TestClient, tokens: dict[str, dict[str, str]], people: list[str]
) -> None:
    hr, civility = tokens["人社局"], tokens["文明办"]
    pushed = client.post(
        "/api/v1/feeds/social_insurance/records",
        json={"records": [{"id_number": people[0], "period": "2023", "months_paid": "12"}]},
        headers=hr,
    )
    assert pushed.status_code == 200, pushed.text
    batch = pushed.json()["batch_id"]
    own = client.get(f"/api/v1/feeds/batches/{batch}", headers=hr)
    assert own.status_code == 200 and own.json()["department"] == "人社局"
    assert client.get(f"/api/v1/feeds/batches/{batch}", headers=civility).status_code == 404
    listed = client.get("/api/v1/feeds/batches", headers=civility).json()
    assert batch not in [item["id"] for item in listed]
    assert all(item["department"] == "文明办" for item in listed)
    assert batch in [item["id"] for item in client.get("/api/v1/feeds/batches", headers=hr).json()]
    other = client.post(
        "/api/v1/feeds/social_insurance/records",
        json={"records": [{"id_number": people[1], "period": "2023", "months_paid": "12"}]},
        headers=civility,
    )
    assert other.status_code == 403
    assert client.get(f"/api/v1/feeds/batches/{batch}").status_code == 401


def test_a_wide_row_in_an_upload_is_422_naming_file_and_row(
    client: TestClient, tokens: dict[str, dict[str, str]], people: list[str]
) -> None:
    data = "公民身份号码,缴费年度,缴费月数\n" + f"{people[0]},2022,12\n{people[1]},2022,12,7\n"
    response = client.post(
        "/api/v1/feeds/social_insurance/files",
        files={"file": ("社保.csv", data.encode("utf-8"), "text/csv")},
        headers=tokens["人社局"],
    )
    assert response.status_code == 422
    body = response.json()
    assert "file 社保.csv row 3: has 4 fields, more than the header's 3" in body["message_en"]
    assert body["details"][0]["row"] == 3


def test_an_unterminated_quote_in_an_upload_is_422(
    client: TestClient, tokens: dict[str, dict[str, str]], people: list[str]
) -> None:
    data = "公民身份号码,缴费年度,缴费月数\n" + f'{people[0]},"2022,12\n'
    response = client.post(
        "/api/v1/feeds/social_insurance/files",
        files={"file": ("q.csv", data.encode("utf-8"), "text/csv")},
        headers=tokens["人社局"],
    )
    assert response.status_code == 422
    assert response.json()["details"][0]["row"] == 2


def test_an_xlsx_bomb_upload_is_422(
    client: TestClient, tokens: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    path = write_xlsx(
        tmp_path / "bomb.xlsx",
        [
            CELL.format(row=1, ref="A1", text="x"),
            CELL.format(row=1048576, ref="XFD1048576", text="x"),
        ],
    )
    response = client.post(
        "/api/v1/feeds/social_insurance/files",
        files={"file": ("bomb.xlsx", path.read_bytes(), "application/octet-stream")},
        headers=tokens["人社局"],
    )
    assert response.status_code == 422
    assert "workbook too large" in response.json()["message_en"]


def test_dates_out_of_range_in_records_are_422_naming_row_and_column(
    client: TestClient, tokens: dict[str, dict[str, str]], people: list[str]
) -> None:
    records = [
        {
            "record_number": f"RANGE-{index}",
            "id_number": people[index],
            "kind": "volunteer",
            "record_date": day,
            "hours": "1",
        }
        for index, day in enumerate(["2025-01-01", "0000-01-01", "99999-12-31"])
    ]
    response = client.post(
        "/api/v1/feeds/volunteering_honours/records",
        json={"records": records},
        headers=tokens["文明办"],
    )
    assert response.status_code == 422
    assert [(item["row"], item["column"]) for item in response.json()["rejections"]] == [
        (2, "record_date"),
        (3, "record_date"),
    ]
