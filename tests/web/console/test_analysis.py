"""The console's 积分制总量分析: the page's context on an analysis made by hand (its tables are
the frames' numbers, its summary says them in words), who opens the page, a bad form answered
with the error summary and the typed values (never a 500), the page on a real run on both
databases, and one browser check (axe, 1280 and 390 px)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from html import unescape as html_unescape
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from luodi.analysis.service import PointsAnalysis
from luodi.auth.actor import SYSTEM_ACTOR, Actor
from luodi.db import session_scope
from luodi.kernels.analysis.points import threshold_column
from luodi.policy.service import find_policy
from luodi.scoring import service as scoring_service
from luodi.scoring.schemas import RunRead
from luodi.web.console.analysis import analysis_context, first_batch_context, parse_thresholds
from luodi.web.i18n import speaking
from tests.web.browser import check_page, sign_in
from tests.web.conftest import AS_OF, PASSWORD
from tests.web.console.pages import table_rows
from tests.web.console.test_scoring import form_error, stored_totals
from tests.web.console.test_shell import page_client

TOTALS = {
    # resident → (town, total now, total in the previous run)
    1: ("A", 40.0, 38.0),
    2: ("A", 55.0, 61.0),
    3: ("A", 62.0, 50.0),
    4: ("A", 70.0, 70.0),
    5: ("A", 88.0, 92.0),
    6: ("B", 91.0, 85.0),
    7: ("B", 95.0, 80.0),
    8: ("B", 120.0, 121.0),
    9: ("B", 130.0, 125.0),
    10: ("B", 155.0, 150.0),
}
THRESHOLDS = (60.0, 90.0, 120.0)


def a_run(run_id: int, as_of: date) -> RunRead:
    return RunRead(
        id=run_id,
        policy_id="zj-cixi",
        policy_version="2026.1",
        policy_digest="0" * 64,
        as_of=as_of,
        created_at=datetime(2026, 3, 2, tzinfo=UTC),
        created_by="system",
        residents_scored=len(TOTALS),
        residents_skipped=0,
        mean_total=0.0,
        defaulted_inputs="",
        frame_digest="0" * 64,
    )


def reached(column: int, threshold: float) -> int:
    return sum(1 for item in TOTALS.values() if item[column] >= threshold)


def constructed() -> PointsAnalysis:
    """An analysis of ten residents in two towns, its frames computed here from ``TOTALS``
    (the shapes of ``analysis.service``'s contract)."""
    now = pl.DataFrame(
        {
            "resident_id": list(TOTALS),
            "town": [item[0] for item in TOTALS.values()],
            "total": [item[1] for item in TOTALS.values()],
        }
    )
    histogram = (
        now.with_columns(start=(pl.col("total") // 20 * 20))
        .group_by("start")
        .agg(residents=pl.len())
    )
    histogram = (
        pl.DataFrame({"start": [40.0 + 20 * step for step in range(7)]})
        .join(histogram, on="start", how="left")
        .with_columns(pl.col("residents").fill_null(0).cast(pl.Int64))
    )
    by_town = (
        now.group_by("town")
        .agg(
            residents=pl.len(),
            mean=pl.col("total").mean(),
            median=pl.col("total").median(),
            p90=pl.col("total").quantile(0.9, "linear"),
            **{threshold_column(value): (pl.col("total") >= value).sum() for value in THRESHOLDS},
        )
        .sort("town")
        .with_columns(group=pl.col("town"), label=pl.concat_str(pl.lit("镇"), pl.col("town")))
        .select(
            "group",
            "label",
            "residents",
            "mean",
            "median",
            "p90",
            *(threshold_column(value) for value in THRESHOLDS),
        )
    )
    over = pl.DataFrame(
        {
            "run_id": [3] * 3 + [5] * 3,
            "as_of": [date(2025, 3, 1)] * 3 + [date(2026, 3, 1)] * 3,
            "threshold": list(THRESHOLDS) * 2,
            "residents": [reached(2, value) for value in THRESHOLDS]
            + [reached(1, value) for value in THRESHOLDS],
        }
    )
    movement = pl.DataFrame(
        {
            "threshold": [60.0, 60.0, 90.0, 90.0, 120.0],
            "crossed_up": [1, 0, 2, 0, 0],
            "crossed_down": [0, 1, 0, 1, 0],
            "indicator": ["social_insurance", "education", "social_insurance", "education", "x"],
            "residents": [1, 1, 2, 1, 0],
        }
    )
    indicators = pl.DataFrame(
        {
            "indicator": ["education", "social_insurance"],
            "label": ["学历", "社保缴纳"],
            "residents_with_points": [10, 8],
            "mean": [60.0, 41.75],
            "total_points": [600.0, 334.0],
            "share_of_points": [600 / 934, 334 / 934],
        }
    )
    layers = pl.DataFrame(
        {
            "class": ["settlement", "school", "school", "school"],
            "threshold": [120.0, 90.0, 90.0, 90.0],
            "layer": ["≥120", "90–120", "90–120", "90–120"],
            "residents": [3, 3, 3, 3],
            "batch": [1, 1, 2, None],
            "admitted": [3, 1, 1, 1],
        }
    )
    classes = pl.DataFrame(
        {
            "class": ["settlement", "school"],
            "label_zh": ["落户条件", "积分入学"],
            "label_en": ["settlement conditions", "school places"],
            "threshold": [120.0, 90.0],
        }
    )
    batch_one = pl.DataFrame(
        {
            "rank": [1, 2],
            "name": ["张**", "李*"],
            "id_number": ["33*************12X", "33*************345"],
            "total": [155.0, 130.0],
            "town": ["B", "B"],
            "town_name": ["镇B", "镇B"],
            "classes": ["settlement,school", "settlement"],
        }
    )
    totals = now["total"]
    return PointsAnalysis(
        run=a_run(5, date(2026, 3, 1)),
        thresholds=THRESHOLDS,
        residents=now.height,
        summary={
            "mean": float(totals.mean() or 0),  # type: ignore[arg-type]
            "p10": float(totals.quantile(0.1) or 0),
            "median": float(totals.median() or 0),  # type: ignore[arg-type]
            "p90": float(totals.quantile(0.9) or 0),
            "highest": float(totals.max() or 0),  # type: ignore[arg-type]
        },
        histogram=histogram,
        by_dimension={"town": by_town},
        indicators=indicators,
        indicators_by_town=pl.DataFrame(),
        thresholds_over_runs=over,
        movement=movement,
        layers=layers,
        previous_run_id=3,
        classes=classes,
        quota=1,
        batch_one=batch_one,
    )


def test_the_context_shows_the_frames_numbers() -> None:
    analysis = constructed()
    context = analysis_context(analysis, "zh")
    assert context["histogram_rows"] == [
        ["40–60", "2"],
        ["60–80", "2"],
        ["80–100", "3"],
        ["100–120", "0"],
        ["120–140", "2"],
        ["140–160", "1"],
        ["160–180", "0"],
    ]
    marks = context["histogram"]["series"][0]["markLine"]["data"]
    assert [mark["xAxis"] for mark in marks] == ["60–80", "80–100", "120–140"]
    # Over the runs: the previous run (3) then this one (5), counted from TOTALS.
    assert context["over_rows"] == [
        ["批次 3（2025-03-01）", "8", "4", "3"],
        ["批次 5（2026-03-01）", "8", "5", "3"],
    ]
    town = context["dimensions"]["town"]
    assert town["rows"] == [
        ["镇A", "5", "63", "62", "80.8", "3", "0", "0"],
        ["镇B", "5", "118.2", "120", "145", "5", "5", "3"],
    ]
    assert [series["data"] for series in town["chart"]["series"]] == [[3, 5], [0, 5], [0, 3]]
    assert context["indicator_rows"] == [
        ["学历", "10", "60", "600", "64.2%"],
        ["社保缴纳", "8", "41.75", "334", "35.8%"],
    ]
    assert context["movement_totals"] == [
        ["60 分", "1", "1"],
        ["90 分", "2", "1"],
        ["120 分", "0", "0"],
    ]
    assert context["movement_rows"][:2] == [
        ["60 分", "社保缴纳", "1", "0"],
        ["60 分", "学历", "0", "1"],
    ]
    assert context["layer_rows"] == [
        ["≥120", "落户条件", "120 分", "3", "第 1 批", "3"],
        ["90–120", "积分入学", "90 分", "3", "第 1 批", "1"],
        ["90–120", "积分入学", "90 分", "3", "第 2 批", "1"],
        ["90–120", "积分入学", "90 分", "3", "不在各批次内", "1"],
    ]
    assert [series["data"] for series in context["layer_chart"]["series"]] == [[3, 0], [1, 1]]
    assert context["has_earlier"] and context["previous"] == 3


def test_the_summary_says_it_in_words() -> None:
    context = analysis_context(constructed(), "zh")
    assert context["summary"] == [
        "本批次 10 人，平均 90.6 分，中位数 89.5 分，最高 155 分。",
        "达到 60 分 8 人（80.0%），与上一批次持平。",
        "达到 90 分 5 人（50.0%），比上一批次多 1 人，主要因为 社保缴纳。",
        "达到 120 分 3 人（30.0%），与上一批次持平。",
        "与计分批次 3 比较。",
    ]
    english = analysis_context(constructed(), "en")["summary"]
    assert (
        english[2]
        == "90 points reached by 5 residents (50.0%), 1 more than in the previous run, mainly through 社保缴纳."
    )


def test_a_run_with_no_earlier_run_says_so() -> None:
    analysis = constructed()
    alone = PointsAnalysis(
        **{
            **analysis.__dict__,
            "thresholds_over_runs": analysis.thresholds_over_runs.filter(pl.col("run_id") == 5),
            "movement": analysis.movement.clear(),
            "previous_run_id": None,
        }
    )
    context = analysis_context(alone, "zh")
    assert not context["has_earlier"]
    assert context["summary"][-1] == "没有更早的计分批次可比较。"
    assert context["summary"][2] == "达到 90 分 5 人（50.0%）。"


def test_the_first_batch_is_shown_masked() -> None:
    analysis = constructed()
    unmasked = analysis.batch_one.with_columns(
        name=pl.Series(["张三丰", "李四"]), id_number=pl.Series(["330282199001011234", "x" * 18])
    )
    shown = first_batch_context(
        PointsAnalysis(**{**analysis.__dict__, "batch_one": unmasked}), "zh"
    )
    assert shown is not None
    assert shown["headers"] == ["名次", "姓名", "证件号", "总分", "镇街", "类别"]
    assert shown["rows"] == [
        ["1", "张**", "33*************234", "155", "镇B", "落户条件、积分入学"],
        ["2", "李*", "xx*************xxx", "130", "镇B", "落户条件"],
    ]


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("", (60.0, 90.0, 120.0, 150.0)),
        ("120，60、90 90", (60.0, 90.0, 120.0)),
        ("60,abc", "“abc”不是数字；请写成用逗号分隔的分数，如 60,90,120"),
        ("-5", "“-5”不在 0（不含）到 10,000 分之间"),
        ("nan", "“nan”不在 0（不含）到 10,000 分之间"),
        (",".join(str(value) for value in range(10, 100, 10)), "最多 8 个门槛分"),
    ],
)
def test_thresholds_are_read_or_refused(typed: str, expected: Any) -> None:
    with speaking("zh"):
        chosen, problem = parse_thresholds(typed)
    assert (problem if isinstance(expected, str) else chosen) == expected


# ----------------------------------------------------------------------------- the page


@pytest.fixture(scope="module")
def run_id(loaded_engine: Engine, accounts: dict[str, Actor]) -> int:
    with session_scope(loaded_engine) as session:
        return scoring_service.score_registry(
            SYSTEM_ACTOR, session, find_policy("zj-cixi", AS_OF), AS_OF
        ).run.id


@pytest.mark.parametrize("username", ["operator", "edu", "auditor"])
def test_the_page_opens_for_the_analysts(
    client: TestClient, accounts: dict[str, Actor], run_id: int, username: str
) -> None:
    page_client(client, username)
    answer = client.get("/console/analysis")
    assert answer.status_code == 200, answer.text
    assert f'<option value="{run_id}" selected>' in answer.text
    assert 'data-testid="summary"' in answer.text
    assert (
        f"/api/v1/analysis/points?run={run_id}&amp;thresholds=60%2C90%2C120%2C150&amp;format=xlsx"
        in answer.text
    )
    client.cookies.clear()


@pytest.mark.parametrize("username", ["town", "resident"])
def test_other_roles_have_no_analysis_area(
    client: TestClient, accounts: dict[str, Actor], username: str
) -> None:
    page_client(client, username)
    assert client.get("/console/analysis").status_code == 404
    client.cookies.clear()


def test_a_bad_form_comes_back_with_its_errors(
    client: TestClient, accounts: dict[str, Actor], run_id: int
) -> None:
    page_client(client, "operator")
    answer = client.get(
        "/console/analysis",
        params={"run": "99999", "thresholds": "60,九十", "dimension": "shoe"},
    )
    assert answer.status_code == 422
    assert form_error(answer.text) == [
        ("#run", "请从列表中选择一个计分批次"),
        ("#thresholds", "门槛分：“九十”不是数字；请写成用逗号分隔的分数，如 60,90,120"),
        ("#dimension", "请从列表中选择一个分组"),
    ]
    assert 'value="60,九十"' in answer.text
    assert 'data-testid="summary"' not in answer.text
    client.cookies.clear()


def test_the_page_shows_the_run_by_the_chosen_dimension(
    client: TestClient, accounts: dict[str, Actor], run_id: int
) -> None:
    page_client(client, "operator")
    html = client.get(
        "/console/analysis", params={"run": run_id, "thresholds": "30,60", "dimension": "town"}
    ).text
    rows = table_rows(html, "dimension-table")
    assert rows and all(len(row) == 7 for row in rows)
    assert 'data-testid="no-earlier"' in html  # the only run of its policy
    assert 'data-testid="no-quota"' in html
    client.cookies.set("luodi_lang", "en")
    english = client.get("/console/analysis", params={"run": run_id}).text
    assert "No earlier run to compare with." in english and "积分制总量分析" not in english
    client.cookies.clear()


@pytest.mark.parametrize(("username", "shown"), [("operator", True), ("edu", False)])
def test_the_first_batch_is_listed_masked_for_the_register_roles_only(
    client: TestClient, accounts: dict[str, Actor], run_id: int, username: str, shown: bool
) -> None:
    page_client(client, username)
    html = client.get("/console/analysis", params={"run": run_id, "quota": "20"}).text
    assert 'data-testid="no-quota"' not in html
    assert ("quota=20" in html) and ('id="layers"' in html)
    rows = table_rows(html, "first-batch")
    assert bool(rows) == shown
    if shown:
        assert 0 < len(rows) <= 20
        assert all(re.fullmatch(r".\*+", row[1]) for row in rows), rows[:3]
        assert all(re.fullmatch(r"[0-9A-Za-z]{2}\*+[0-9A-Za-z]{3}", row[2]) for row in rows)
        assert [int(row[0]) for row in rows] == sorted(int(row[0]) for row in rows)
        # The export link is the API's, signed in by the page's own session cookie.
        found = re.search(r'href="([^"]+)" data-testid="export-xlsx"', html)
        assert found is not None
        answer = client.get(html_unescape(found.group(1)))
        assert answer.status_code == 200, answer.text[:300]
        assert answer.headers["content-type"].startswith("application/vnd.openxmlformats")
        assert answer.content[:2] == b"PK"
    client.cookies.clear()


def test_a_later_run_is_compared_with_the_earlier_one(
    client: TestClient, accounts: dict[str, Actor], loaded_engine: Engine, run_id: int
) -> None:
    """A second run of the policy (a month later: permits and ages move on): the page
    compares it with the first, its movement's totals are the counts' difference."""
    later = AS_OF + timedelta(days=30)
    with session_scope(loaded_engine) as session:
        second = scoring_service.score_registry(
            SYSTEM_ACTOR, session, find_policy("zj-cixi", later), later
        ).run.id
    page_client(client, "auditor")
    html = client.get("/console/analysis", params={"thresholds": "60,90"}).text
    assert f'<option value="{second}" selected>' in html  # the newest by default
    summary = html.split('data-testid="summary"', 1)[1].split("</ul>", 1)[0]
    assert f"与计分批次 {run_id} 比较。" in summary
    over = table_rows(html, "over-runs-table")
    assert [row[0] for row in over] == [
        f"批次 {run_id}（{AS_OF.isoformat()}）",
        f"批次 {second}（{later.isoformat()}）",
    ]
    # Who crossed, counted here from the stored totals of those scored in both runs.
    both = stored_totals(loaded_engine, run_id).join(
        stored_totals(loaded_engine, second), on="resident_id", suffix="_now"
    )
    expected = [
        [
            f"{value} 分",
            f"{both.filter((pl.col('total') < value) & (pl.col('total_now') >= value)).height:,}",
            f"{both.filter((pl.col('total') >= value) & (pl.col('total_now') < value)).height:,}",
        ]
        for value in (60, 90)
    ]
    assert table_rows(html, "movement-table") == expected
    assert f"两批次都计分的 {both.height:,} 人中" in html
    client.cookies.clear()


def test_analysis_in_a_browser(
    pages_on_one_database: None,
    server: str,
    browser: Any,
    accounts: dict[str, Actor],
    run_id: int,
) -> None:
    page = browser.new_page()
    sign_in(page, server, "operator", PASSWORD)
    page.goto(f"{server}/console/analysis")
    page.wait_for_selector("#histogram svg")
    check_page(page, "analysis")
    page.get_by_role("textbox", name="门槛分").fill("60,abc")
    page.get_by_role("button", name="分析").click()
    assert page.get_by_test_id("error-summary").is_visible()
    assert page.get_by_role("textbox", name="门槛分").input_value() == "60,abc"
    check_page(page, "analysis-error")
    page.get_by_role("textbox", name="门槛分").fill("60,90")
    page.get_by_role("textbox", name="每年名额（可不填）").fill("30")
    page.get_by_role("button", name="分析").click()
    page.wait_for_selector("#layers svg")
    assert page.get_by_test_id("first-batch").is_visible()
    check_page(page, "analysis-batches")
    page.close()
