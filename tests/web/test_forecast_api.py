"""GET /api/v1/forecast/schools and /backtest on a synthetic city with a past
(``past_city``) loaded through the real loader into each database (``past_engine``: once per
test worker, read only); the numbers agree with the forecast service on the same database."""

from __future__ import annotations

import io
from datetime import date

import polars as pl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from luodi.auth.actor import SYSTEM_ACTOR, Actor
from luodi.forecast import service
from luodi.kernels.forecast import BACKTEST_COLUMNS, FORECAST_COLUMNS
from luodi.kernels.forecast.model import Scenario
from tests.conftest import rolled_back_session
from tests.web.conftest import past_accounts, sign_in

PARAMS = {"as_of": "2025-11-15", "horizon": 2}
AS_OF = date(2025, 11, 15)


@pytest.fixture(scope="module")
def loaded_engine(past_engine: Engine) -> Engine:
    """The worker's loaded city with a past (read only here)."""
    return past_engine


@pytest.fixture(scope="module")
def accounts(request: pytest.FixtureRequest, past_engine: Engine) -> dict[str, Actor]:
    """``tests.web.conftest``'s accounts, bound to the city with a past, added once with it."""
    return past_accounts(request, past_engine)


def test_forecast_json_with_names_backtest_unplaced_and_changes(
    admin_client: TestClient, loaded_engine: Engine
) -> None:
    # The loaded city's seats outnumber its children; a doubling inflow with every child
    # applying turns some rows red, so the warning list has something to list.
    pressed = {**PARAMS, "inflow_growth": 1.0, "capture_rate": 1.0}
    response = admin_client.get("/api/v1/forecast/schools", params=pressed)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["as_of"], body["horizon"], body["method"]) == ("2025-11-15", 2, "auto")
    rows = body["rows"]
    assert set(FORECAST_COLUMNS) | {"town_name", "school_name", "method"} <= set(rows[0])
    with rolled_back_session(loaded_engine) as session:
        direct = service.forecast_schools(
            SYSTEM_ACTOR, session, AS_OF, 2, scenario=Scenario(inflow_growth=1.0, capture_rate=1.0)
        )
        mape = service.backtest(SYSTEM_ACTOR, session, AS_OF)
    assert len(rows) == direct.rows.height > 0
    wanted = {
        (r["town_code"], r["school_id"] or "", r["school_year"], r["grade"]): r
        for r in direct.rows.iter_rows(named=True)
    }
    for row in rows:
        twin = wanted[(row["town_code"], row["school_id"], row["school_year"], row["grade"])]
        assert row["expected"] == pytest.approx(twin["expected"], abs=0.01)
        assert (row["seats"], row["warning"]) == (twin["seats"], twin["warning"])
        assert row["town_name"] == direct.towns[row["town_code"]]
    assert {row["school_year"] for row in rows} == {2026, 2027}
    assert {row["method"] for row in rows} <= {"cohort", "trend"}
    assert {(row["town_code"], row["method"], row["horizon"]) for row in body["backtest"]} == {
        (town, method, horizon)
        for town, method, horizon in mape.select("town_code", "method", "horizon").iter_rows()
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


def test_forecast_files_and_backtest(admin_client: TestClient, loaded_engine: Engine) -> None:
    csv = admin_client.get("/api/v1/forecast/schools", params={**PARAMS, "format": "csv"})
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    strings = {"town_code": pl.String, "school_id": pl.String}
    frame = pl.read_csv(io.BytesIO(csv.content), schema_overrides=strings)
    assert tuple(frame.columns) == FORECAST_COLUMNS and frame.height > 0
    xlsx = admin_client.get(
        "/api/v1/forecast/schools", params={**PARAMS, "format": "xlsx", "method": "trend"}
    )
    assert xlsx.status_code == 200
    sheet = pl.read_excel(io.BytesIO(xlsx.content), sheet_name="forecast", schema_overrides=strings)
    assert tuple(sheet.columns) == FORECAST_COLUMNS and sheet.height == frame.height
    tested = admin_client.get("/api/v1/forecast/backtest", params={"as_of": "2025-11-15"})
    assert tested.status_code == 200
    assert set(tested.json()["rows"][0]) == set(BACKTEST_COLUMNS)
    as_csv = admin_client.get(
        "/api/v1/forecast/backtest", params={"as_of": "2025-11-15", "format": "csv"}
    )
    tested_csv = pl.read_csv(io.BytesIO(as_csv.content), schema_overrides=strings)
    assert tuple(tested_csv.columns) == BACKTEST_COLUMNS
    with rolled_back_session(loaded_engine) as session:
        mape = service.backtest(SYSTEM_ACTOR, session, AS_OF)
        trend = service.forecast_schools(SYSTEM_ACTOR, session, AS_OF, 2, method="trend")
    joined = tested_csv.join(mape, on=["town_code", "method", "horizon"], suffix="_direct")
    assert joined.height == tested_csv.height == mape.height > 0
    for got, wanted in joined.select("mape", "mape_direct").iter_rows():
        assert got == pytest.approx(wanted, abs=0.006)
    assert sheet["expected"].sum() == pytest.approx(
        trend.rows["expected"].sum(), abs=0.01 * sheet.height
    )


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
