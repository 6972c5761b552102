"""The console's school-place forecast: what the page makes of a forecast (built here from
frames with known numbers), who opens it, and a form with bad values answered with its error
summary (never a 500)."""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import expect
from sqlalchemy import Engine

from luodi.auth.actor import SYSTEM_ACTOR, Actor
from luodi.forecast import service
from luodi.forecast.service import Scenario, SchoolForecast, WarningChange
from luodi.kernels.forecast import BACKTEST_COLUMNS, FORECAST_COLUMNS
from luodi.web.console.forecast import forecast_context, parse_query
from tests.conftest import rolled_back_session
from tests.web.browser import check_page
from tests.web.browser import sign_in as sign_in_page
from tests.web.conftest import PASSWORD, past_accounts
from tests.web.console.pages import table_rows
from tests.web.console.test_shell import page_client

TODAY = date(2026, 11, 30)


def _rows(*rows: tuple[Any, ...]) -> pl.DataFrame:
    """Forecast rows: (town, school, year, grade, expected, low, high, seats, method); the
    utilisation and the warning as the kernel's rule makes them."""
    frame = pl.DataFrame(
        rows,
        schema={
            "town_code": pl.String,
            "school_id": pl.String,
            "school_year": pl.Int32,
            "grade": pl.Int8,
            "expected": pl.Float64,
            "low": pl.Float64,
            "high": pl.Float64,
            "seats": pl.Int64,
            "method": pl.String,
        },
        orient="row",
    )
    from luodi.kernels.forecast import warning_expr

    names = {"": None, "S1": "城东小学", "S2": "城东二小", "S3": "新港小学", "M1": "城东中学"}
    return (
        frame.with_columns(utilisation=pl.col("expected") / pl.col("seats"))
        .with_columns(warning=warning_expr(pl.col("utilisation")))
        .with_columns(
            town_name=pl.col("town_code").replace_strict(
                {"330001": "城东街道", "330002": "新港镇", "330003": "山里乡"}
            ),
            school_name=pl.col("school_id").replace_strict(names, default=None),
        )
        .select(*FORECAST_COLUMNS, "town_name", "school_name", "method")
    )


def built_forecast() -> SchoolForecast:
    """城东 (cohort): its catchment green then yellow; 城东小学 red in 2028, 城东二小 yellow in
    2027. 新港 (trend): seats of grade 1 none planned. 山里: no history at all."""
    rows = _rows(
        ("330001", "", 2027, 1, 455.4, 420.0, 490.0, 500, "cohort"),
        ("330001", "", 2028, 1, 470.0, 430.0, 515.0, 500, "cohort"),
        ("330001", "", 2029, 1, 480.0, 431.0, 530.0, 600, "cohort"),
        ("330001", "", 2027, 7, 300.0, 280.0, 320.0, 400, "cohort"),
        ("330001", "", 2028, 7, 310.0, 290.0, 330.0, 400, "cohort"),
        ("330001", "", 2029, 7, 320.0, 300.0, 340.0, 400, "cohort"),
        ("330001", "S1", 2027, 1, 200.0, 180.0, 220.0, 250, "cohort"),
        ("330001", "S1", 2028, 1, 262.6, 240.0, 285.0, 250, "cohort"),
        ("330001", "S2", 2027, 1, 230.0, 210.0, 250.0, 250, "cohort"),
        ("330001", "M1", 2027, 7, 300.0, 280.0, 320.0, 400, "cohort"),
        ("330002", "", 2027, 1, 80.0, 70.0, 90.0, 0, "trend"),
        ("330002", "", 2028, 1, 82.0, 71.0, 93.0, 0, "trend"),
        ("330002", "S3", 2027, 1, 80.0, 70.0, 90.0, 0, "trend"),
    )
    backtest = pl.DataFrame(
        [
            ("330001", "cohort", 1, 2.5),
            ("330001", "cohort", 3, 4.25),
            ("330001", "cohort", 5, 7.0),
            ("330001", "trend", 1, 3.0),
            ("330001", "trend", 3, 6.0),
            ("330002", "trend", 1, 9.5),
        ],
        schema=dict(
            zip(BACKTEST_COLUMNS, (pl.String, pl.String, pl.Int32, pl.Float64), strict=True)
        ),
        orient="row",
    )
    unplaced = pl.DataFrame(
        [("330001", 2027, 1, 0.0), ("330001", 2028, 1, 12.6), ("330002", 2027, 1, 80.0)],
        schema={
            "town_code": pl.String,
            "school_year": pl.Int32,
            "grade": pl.Int8,
            "expected_unplaced": pl.Float64,
        },
        orient="row",
    )
    return SchoolForecast(
        as_of=date(2026, 9, 1),
        horizon=3,
        method="auto",
        scenario=Scenario(),
        rows=rows,
        backtest=backtest,
        unplaced=unplaced,
        changes=[
            WarningChange(
                "330001", "S1", 2028, 1, "red", "新建小区交付后仍为红色", "red even after…"
            ),
            WarningChange(
                "330001", "S1", 2028, 1, "yellow", "学区调整可降为黄色", "a boundary change…"
            ),
        ],
        towns={"330001": "城东街道", "330002": "新港镇", "330003": "山里乡"},
    )


def test_the_warning_list_is_red_first_then_yellow_with_words_and_what_changes_it() -> None:
    context = forecast_context(built_forecast(), "zh")
    listed = [
        (row["warning"], row["town"], row["school"], row["school_year"], row["grade_word"])
        for row in context["warnings"]
    ]
    assert listed == [
        ("red", "城东街道", "城东小学", 2028, "小学一年级"),
        ("red", "新港镇", "全镇街学区合计", 2027, "小学一年级"),
        ("red", "新港镇", "全镇街学区合计", 2028, "小学一年级"),
        ("red", "新港镇", "新港小学", 2027, "小学一年级"),
        ("yellow", "城东街道", "全镇街学区合计", 2027, "小学一年级"),
        ("yellow", "城东街道", "全镇街学区合计", 2028, "小学一年级"),
        ("yellow", "城东街道", "城东二小", 2027, "小学一年级"),
    ]
    first = context["warnings"][0]
    assert (first["warning_word"], first["mark"]) == ("红色预警", "‼")
    assert (first["expected"], first["low"], first["high"], first["seats"]) == (
        "263",
        "240",
        "285",
        "250",
    )
    assert first["utilisation"] == "105.0%"
    assert first["changes"] == "新建小区交付后仍为红色；学区调整可降为黄色"
    assert context["warnings"][1]["utilisation"] == "无学位"
    assert context["warnings"][-1]["warning_word"] == "黄色预警"
    # Schools by their worst year: S1 and S3 red, S2 yellow, M1 green.
    assert context["counts"] == {"red": 2, "yellow": 1, "schools": 4}
    assert context["summary"].startswith("2 所学校红色预警，1 所黄色预警，1 所学位充足")
    english = forecast_context(built_forecast(), "en")
    assert english["warnings"][0]["warning_word"] == "Red warning"
    assert english["warnings"][0]["changes"] == "red even after…; a boundary change…"
    assert english["summary"].startswith("2 schools red, 1 yellow, 1 with enough places")


def test_each_town_shows_the_frame_s_numbers_its_backtest_and_children_without_a_seat() -> None:
    forecast = built_forecast()
    towns = {town["code"]: town for town in forecast_context(forecast, "zh")["towns"]}
    assert list(towns) == ["330001", "330002", "330003"]
    east = towns["330001"]
    grade_one = east["grades"][0]
    expected_rows = forecast.rows.filter(
        (pl.col("town_code") == "330001") & (pl.col("school_id") == "") & (pl.col("grade") == 1)
    ).sort("school_year")
    assert [
        (row["school_year"], row["expected"], row["low"], row["high"], row["seats"])
        for row in grade_one["rows"]
    ] == [
        (year, f"{round(expected):,}", f"{round(low):,}", f"{round(high):,}", f"{seats:,}")
        for year, expected, low, high, seats in expected_rows.select(
            "school_year", "expected", "low", "high", "seats"
        ).iter_rows()
    ]
    assert [row["warning_word"] for row in grade_one["rows"]] == ["黄色预警", "黄色预警", "绿色"]
    chart = grade_one["chart"]
    expected_series = next(s for s in chart["series"] if s["name"] == "预计申请人数")
    assert [point["value"] for point in expected_series["data"]] == [455.4, 470.0, 480.0]
    assert [point["symbol"] for point in expected_series["data"]] == [
        "diamond",
        "diamond",
        "circle",
    ]
    seats_series = next(s for s in chart["series"] if s["name"] == "计划学位")
    assert seats_series["data"] == [500, 500, 600]
    base, band, low, high = chart["series"][:4]
    assert base["data"] == low["data"] == [420.0, 430.0, 431.0]
    assert [b + w for b, w in zip(base["data"], band["data"], strict=True)] == high["data"]
    assert chart["xAxis"]["data"] == ["2027", "2028", "2029"]
    assert grade_one["missing"] is None and east["grades"][1]["missing"] is None
    assert east["method_word"] == "队列递推"
    assert [(m["method"], m["used"], m["mape"]) for m in east["backtest"]] == [
        ("cohort", True, ["2.5%", "4.2%", "7.0%"]),
        ("trend", False, ["3.0%", "6.0%", "—"]),
    ]
    assert east["unplaced"] == [{"school_year": 2028, "grade_word": "小学一年级", "count": "13"}]
    # No seats planned: a sentence says so; the expected band is drawn without a seats line.
    harbour = towns["330002"]["grades"][0]
    assert "没有登记这一学段的计划学位" in harbour["missing"]
    assert [s["name"] for s in harbour["chart"]["series"]] == [
        "80% 预测区间",
        "80% 预测区间",
        "区间下限",
        "区间上限",
        "预计申请人数",
    ]
    assert {row["warning_word"] for row in harbour["rows"]} == {"—"}
    assert [row["expected"] for row in harbour["rows"]] == ["80", "82"]
    assert towns["330002"]["grades"][1]["missing"] == "没有这一学段的历史数据，无法预测。"
    # No history: sentences, no chart, no table.
    hills = towns["330003"]
    assert [grade["chart"] for grade in hills["grades"]] == [None, None]
    assert all(grade["rows"] == [] and grade["missing"] for grade in hills["grades"])
    assert hills["backtest"] == [] and hills["unplaced"] == []


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"as_of": "2026-02-30"}, "as_of"),
        ({"as_of": "2027-01-01"}, "as_of"),
        ({"horizon": "6"}, "horizon"),
        ({"horizon": "two"}, "horizon"),
        ({"method": "magic"}, "method"),
        ({"inflow_growth": "abc"}, "inflow_growth"),
        ({"inflow_growth": "nan"}, "inflow_growth"),
        ({"capture_rate": "0"}, "capture_rate"),
        ({"capture_rate": "120"}, "capture_rate"),
    ],
)
def test_a_bad_value_names_its_field(given: dict[str, str], field: str) -> None:
    query, errors, summary = parse_query(given, TODAY)
    assert query is None and list(errors) == [field]
    assert summary[0][0] == field


def test_the_defaults_and_a_scenario_in_per_cent() -> None:
    query, errors, _summary = parse_query({}, TODAY)
    assert errors == {} and query is not None
    assert (query.as_of, query.horizon, query.method) == (TODAY, 3, "auto")
    assert query.scenario == Scenario(0.0, None)
    query, errors, _summary = parse_query(
        {
            "as_of": "2026-03-01",
            "horizon": "5",
            "method": "trend",
            "inflow_growth": "-2.5",
            "capture_rate": "80",
        },
        TODAY,
    )
    assert query is not None and query.scenario == Scenario(-0.025, 0.8)
    assert query.params() == {
        "as_of": "2026-03-01",
        "horizon": "5",
        "method": "trend",
        "inflow_growth": "-2.5",
        "capture_rate": "80",
    }


# ------------------------------------------------------------------------------ the routes
# On a synthetic city with a past (``past_city``) loaded through the real loader, as
# tests/web/test_forecast_api.py: the web fixtures' accounts bind to its residents.

AS_OF = date(2025, 11, 15)
PRESSED = {"as_of": "2025-11-15", "horizon": "2", "inflow_growth": "100", "capture_rate": "100"}


@pytest.fixture(scope="module")
def loaded_engine(past_engine: Engine) -> Engine:
    """The worker's loaded city with a past (read only here)."""
    return past_engine


@pytest.fixture(scope="module")
def accounts(request: pytest.FixtureRequest, past_engine: Engine) -> dict[str, Actor]:
    """``tests.web.conftest``'s accounts, bound to the city with a past, added once with it."""
    return past_accounts(request, past_engine)


@pytest.fixture(scope="module")
def pressed(loaded_engine: Engine) -> SchoolForecast:
    """The service's own forecast on the same database: inflow doubled, every child applying,
    so that the loaded city (more seats than children) has red rows (made once per database:
    the page's test and the browser's compare with it)."""
    with rolled_back_session(loaded_engine) as session:
        return service.forecast_schools(
            SYSTEM_ACTOR, session, AS_OF, 2, scenario=Scenario(inflow_growth=1.0, capture_rate=1.0)
        )


def _utilisation(expected: float, seats: int) -> str:
    return f"{expected / seats * 100:.1f}%" if seats else "无学位"


@pytest.mark.parametrize("username", ["operator", "edu", "auditor"])
def test_the_centre_reviewers_and_auditors_read_the_forecast(
    client: TestClient, accounts: dict[str, Actor], username: str
) -> None:
    answer = page_client(client, username).get(
        "/console/forecast", params={"as_of": "2025-11-15", "horizon": "2"}
    )
    assert answer.status_code == 200, answer.text
    assert 'data-testid="forecast-summary"' in answer.text
    assert 'href="/console/forecast" aria-current="page"' in answer.text
    client.cookies.clear()


def test_a_town_desk_has_no_forecast_area(client: TestClient, accounts: dict[str, Actor]) -> None:
    assert page_client(client, "town").get("/console/forecast").status_code == 404
    assert page_client(client, "town").get("/console/forecast/schools.csv").status_code == 404
    client.cookies.clear()


def test_bad_values_come_back_with_the_summary_and_what_was_typed(
    client: TestClient, accounts: dict[str, Actor]
) -> None:
    answer = page_client(client, "operator").get(
        "/console/forecast",
        params={"as_of": "2026-13-01", "horizon": "9", "inflow_growth": "x<y"},
    )
    assert answer.status_code == 422
    assert 'data-testid="error-summary"' in answer.text
    for field in ("as_of", "horizon", "inflow_growth"):
        assert f'href="#{field}"' in answer.text
    assert 'value="2026-13-01"' in answer.text and 'value="9"' in answer.text
    assert 'value="x&lt;y"' in answer.text
    assert 'data-testid="forecast-summary"' not in answer.text
    export = client.get("/console/forecast/schools.xlsx", params={"horizon": "0"})
    assert export.status_code == 422 and 'href="#horizon"' in export.text
    client.cookies.clear()


def test_the_page_shows_the_forecast_the_service_gives(
    client: TestClient, accounts: dict[str, Actor], pressed: SchoolForecast
) -> None:
    """The page on the loaded city under a pressed scenario: its tables carry the service's
    numbers for the same query, the exports its rows in the contract's columns."""
    direct = pressed
    rows = direct.rows
    answer = page_client(client, "edu").get("/console/forecast", params=PRESSED)
    assert answer.status_code == 200, answer.text
    red = rows.filter(pl.col("warning") == "red")
    yellow = rows.filter(pl.col("warning") == "yellow")
    assert red.height > 0
    warnings = table_rows(answer.text, "forecast-warnings")
    assert [row[0] for row in warnings] == ["‼ 红色预警"] * red.height + ["! 黄色预警"] * (
        yellow.height
    )
    listed = sorted((row[1], row[3], row[5], row[6], row[7]) for row in warnings)
    wanted = sorted(
        (
            direct.towns[r["town_code"]],
            str(r["school_year"]),
            f"{round(r['expected']):,} [{round(r['low']):,}–{round(r['high']):,}]",
            f"{r['seats']:,}",
            _utilisation(r["expected"], r["seats"]),
        )
        for r in pl.concat([red, yellow]).iter_rows(named=True)
    )
    assert listed == wanted
    towns = rows.filter(pl.col("school_id") == "")
    for (town, grade), group in towns.group_by(["town_code", "grade"]):
        table = table_rows(answer.text, f"forecast-{town}-g{grade}-table")
        assert [row[:6] for row in table] == [
            [
                str(r["school_year"]),
                f"{round(r['expected']):,}",
                f"{round(r['low']):,}",
                f"{round(r['high']):,}",
                f"{r['seats']:,}",
                _utilisation(r["expected"], r["seats"]),
            ]
            for r in group.sort("school_year").iter_rows(named=True)
        ]
    for town in direct.backtest["town_code"].unique():
        assert table_rows(answer.text, f"forecast-backtest-{town}")
    link = (
        "/console/forecast/schools.csv?as_of=2025-11-15&amp;horizon=2&amp;method=auto"
        "&amp;inflow_growth=100&amp;capture_rate=100"
    )
    assert link in answer.text
    strings = {"town_code": pl.String, "school_id": pl.String}
    csv = client.get(link.replace("&amp;", "&"))
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    frame = pl.read_csv(csv.content, schema_overrides=strings)
    assert frame.columns == list(FORECAST_COLUMNS) and frame.height == rows.height
    assert frame["expected"].sum() == pytest.approx(rows["expected"].sum(), abs=0.01 * rows.height)
    xlsx = client.get(link.replace("&amp;", "&").replace(".csv", ".xlsx"))
    assert xlsx.status_code == 200
    sheet = pl.read_excel(xlsx.content, schema_overrides=strings)
    assert sheet.columns == list(FORECAST_COLUMNS) and sheet.height == rows.height
    client.cookies.set("luodi_lang", "en")
    english = client.get("/console/forecast", params=PRESSED)
    assert "schools red" in english.text and "红色预警" not in english.text
    client.cookies.clear()


@pytest.mark.browser
def test_the_page_in_the_browser(
    pages_on_one_database: None,
    server: str,
    browser: Any,
    accounts: dict[str, Actor],
    pressed: SchoolForecast,
) -> None:
    """The service's forecast on the loaded city with its charts drawn in Chromium at 1280 and
    390 px (axe-core clean, nothing wider than a phone: the tables scroll in their own boxes);
    the form sent again with a bad value comes back with its summary, the value kept."""
    town = sorted(pressed.rows["town_code"].unique())[0]
    screen = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in_page(screen, server, "operator", PASSWORD)
    query = "&".join(f"{key}={value}" for key, value in PRESSED.items())
    screen.goto(f"{server}/console/forecast?{query}")
    expect(screen.get_by_test_id("forecast-summary")).to_contain_text("所学校红色预警")
    expect(screen.locator(f"#forecast-{town}-g1 svg")).to_be_visible()
    expect(screen.locator(f"#forecast-{town}-g7 svg")).to_be_visible()
    check_page(screen, "console-forecast")
    screen.set_viewport_size({"width": 390, "height": 844})
    width = screen.locator(f"#forecast-{town}-g1 svg").bounding_box()
    assert width is not None and width["width"] <= 390
    screen.get_by_label("预测年数").fill("8")
    screen.get_by_role("button", name="预测", exact=True).click()
    summary = screen.get_by_test_id("error-summary")
    expect(summary).to_be_focused()
    expect(summary.get_by_role("link")).to_have_attribute("href", "#horizon")
    expect(screen.get_by_label("预测年数")).to_have_value("8")
    check_page(screen, "console-forecast-error")
    screen.close()
