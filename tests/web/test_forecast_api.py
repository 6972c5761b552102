"""GET /api/v1/forecast/schools and /backtest on both databases (the history: the kernel
tests' small city, ``tests.forecast.conftest``)."""

from __future__ import annotations

import io
from collections.abc import Iterator

import polars as pl
import pytest
from fastapi.testclient import TestClient

from luodi.auth.actor import Actor
from luodi.forecast import repository
from luodi.kernels.forecast import BACKTEST_COLUMNS, FORECAST_COLUMNS
from tests.forecast.conftest import city_history
from tests.web.conftest import sign_in

PARAMS = {"as_of": "2025-11-15", "horizon": 2}


@pytest.fixture(scope="module", autouse=True)
def kernel_history() -> Iterator[None]:
    history = city_history()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(repository, "history", lambda _session, _actor: history)
        yield


def test_forecast_json_with_names_backtest_unplaced_and_changes(admin_client: TestClient) -> None:
    response = admin_client.get("/api/v1/forecast/schools", params=PARAMS)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["as_of"], body["horizon"], body["method"]) == ("2025-11-15", 2, "auto")
    rows = body["rows"]
    assert set(FORECAST_COLUMNS) | {"town_name", "school_name", "method"} <= set(rows[0])
    assert rows[0]["school_id"] == "" and rows[0]["town_name"] == "一镇"
    assert {row["school_year"] for row in rows} == {2026, 2027}
    assert {row["method"] for row in rows} <= {"cohort", "trend"}
    assert {(row["town_code"], row["method"], row["horizon"]) for row in body["backtest"]} >= {
        ("T1", "cohort", 1),
        ("T3", "trend", 5),
    }
    flagged = {
        (row["town_code"], row["school_id"], row["school_year"], row["grade"])
        for row in rows
        if row["warning"] != "green"
    }
    assert flagged and flagged == {
        (c["town_code"], c["school_id"], c["school_year"], c["grade"]) for c in body["changes"]
    }
    assert all(c["text_zh"] and c["text_en"] for c in body["changes"])
    towns = [row for row in rows if row["school_id"] == ""]
    unplaced = {
        (u["town_code"], u["school_year"], u["grade"]): u["expected_unplaced"]
        for u in body["unplaced"]
    }
    for row in towns:
        key = (row["town_code"], row["school_year"], row["grade"])
        assert unplaced[key] == max(0, round(row["expected"]) - row["seats"])


def test_forecast_files_and_backtest(admin_client: TestClient) -> None:
    csv = admin_client.get("/api/v1/forecast/schools", params={**PARAMS, "format": "csv"})
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    frame = pl.read_csv(io.BytesIO(csv.content))
    assert tuple(frame.columns) == FORECAST_COLUMNS and frame.height > 0
    xlsx = admin_client.get(
        "/api/v1/forecast/schools", params={**PARAMS, "format": "xlsx", "method": "trend"}
    )
    assert xlsx.status_code == 200
    sheet = pl.read_excel(io.BytesIO(xlsx.content), sheet_name="forecast")
    assert tuple(sheet.columns) == FORECAST_COLUMNS and sheet.height == frame.height
    tested = admin_client.get("/api/v1/forecast/backtest", params={"as_of": "2025-11-15"})
    assert tested.status_code == 200
    assert set(tested.json()["rows"][0]) == set(BACKTEST_COLUMNS)
    as_csv = admin_client.get(
        "/api/v1/forecast/backtest", params={"as_of": "2025-11-15", "format": "csv"}
    )
    assert tuple(pl.read_csv(io.BytesIO(as_csv.content)).columns) == BACKTEST_COLUMNS


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"as_of": "2025-02-30"}, "as_of"),
        ({"horizon": 6}, "horizon"),
        ({"method": "guess"}, "method"),
        ({"capture_rate": 0}, "capture_rate"),
        ({"inflow_growth": 3}, "inflow_growth"),
        ({"format": "pdf"}, "format"),
        ({"as_of": "2001-09-01"}, "as_of"),
    ],
)
def test_bad_parameters_are_422_in_the_project_shape(
    admin_client: TestClient, params: dict[str, object], field: str
) -> None:
    response = admin_client.get("/api/v1/forecast/schools", params={**PARAMS, **params})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "Invalid" and body["message_zh"] and body["message_en"]
    assert field in {problem["field"] for problem in body["details"]}


def test_only_the_forecast_area_roles(client: TestClient, accounts: dict[str, Actor]) -> None:
    assert client.get("/api/v1/forecast/schools", params=PARAMS).status_code == 401
    for name in ("town", "resident"):
        response = client.get(
            "/api/v1/forecast/backtest", headers=sign_in(client, name), params=PARAMS
        )
        assert response.status_code == 403, name
    for name in ("operator", "edu", "auditor"):
        response = client.get(
            "/api/v1/forecast/schools", headers=sign_in(client, name), params=PARAMS
        )
        assert response.status_code == 200, name
