"""The console's scoring area: the runs, starting one (a job; the form refuses a date that is
not a date or that the chosen version does not cover, keeping what was typed), a run's
distribution (numbers checked against the stored totals, computed here apart), its notice
published after a confirmation; who may do what; the English page; a browser."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import expect
from sqlalchemy import Engine, text

from luodi.auth.actor import SYSTEM_ACTOR, Actor
from luodi.db import session_scope
from luodi.jobs.worker import run_pending
from luodi.policy.service import find_policy
from luodi.scoring import service as scoring_service
from luodi.workdays import today
from tests.web.browser import check_page, sign_in
from tests.web.conftest import AS_OF, PASSWORD
from tests.web.console.pages import table_rows
from tests.web.console.test_shell import page_client

CURRENT = "zj-cixi|2026.1"
OLD = "zj-cixi|2023.1"


@pytest.fixture(scope="module")
def run_id(loaded_engine: Engine, accounts: dict[str, Actor]) -> int:
    """A run of the shipped policy as of AS_OF, stored as ``luodi score`` stores it."""
    with session_scope(loaded_engine) as session:
        result = scoring_service.score_registry(
            SYSTEM_ACTOR, session, find_policy("zj-cixi", AS_OF), AS_OF
        )
        return result.run.id


def stored_totals(engine: Engine, run: int) -> pl.DataFrame:
    """The run's totals with each resident's town name, read straight from the tables."""
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT s.resident_id, s.total, t.name FROM resident_scores s "
                "JOIN residents r ON r.id = s.resident_id JOIN towns t ON t.id = r.town_id "
                "WHERE s.run_id = :run"
            ),
            {"run": run},
        ).all()
    return pl.DataFrame(
        [tuple(row) for row in rows],
        schema={"resident_id": pl.Int64, "total": pl.Float64, "town": pl.String},
        orient="row",
    )


def form_error(html: str) -> list[str]:
    """The links of the error summary: (href, text)."""
    summary = html.split('data-testid="error-summary"', 1)[1].split("</div>", 1)[0]
    return re.findall(r'<a href="(#[a-z_]+)">([^<]+)</a>', summary)


def test_the_runs_are_listed(
    client: TestClient, accounts: dict[str, Actor], loaded_engine: Engine, run_id: int
) -> None:
    page_client(client, "operator")
    html = client.get("/console/scoring").text
    rows = {row[0]: row for row in table_rows(html, "runs")}
    row = rows[f"计分批次 {run_id}"]
    with session_scope(loaded_engine) as session:
        run = scoring_service.get_run(SYSTEM_ACTOR, session, run_id)
    assert row[1:8] == [
        "2026-03-01",
        "慈溪市新市民量化积分 2026.1",
        f"{run.residents_scored:,}",
        f"{run.residents_skipped:,}",
        f"{run.mean_total:,.2f}".rstrip("0").rstrip("."),
        "system",
        row[7],
    ]
    assert row[8] == "未公示"
    assert 'data-testid="start-run"' in html
    client.cookies.clear()


def test_an_auditor_reads_the_runs_but_starts_none(
    client: TestClient, accounts: dict[str, Actor], run_id: int
) -> None:
    page_client(client, "auditor")
    html = client.get("/console/scoring").text
    assert f"计分批次 {run_id}" in html and 'data-testid="start-run"' not in html
    assert client.get(f"/console/scoring/{run_id}").status_code == 200
    token = client.cookies.get("luodi_csrf")
    answer = client.post(
        "/console/scoring/runs",
        data={"as_of": "2026-03-01", "policy": CURRENT, "csrf_token": token},
    )
    assert answer.status_code == 403
    assert client.get(f"/console/scoring/{run_id}/publish").status_code == 403
    client.cookies.clear()


@pytest.mark.parametrize("username", ["town", "edu", "resident"])
def test_other_roles_have_no_scoring_area(
    client: TestClient, accounts: dict[str, Actor], run_id: int, username: str
) -> None:
    page_client(client, username)
    for path in ("/console/scoring", f"/console/scoring/{run_id}"):
        assert client.get(path).status_code == 404
    client.cookies.clear()


@pytest.mark.parametrize(
    ("as_of", "policy", "expected"),
    [
        ("2026-02-30", CURRENT, [("#as_of", "计分日期：不是真实存在的日期（YYYY-MM-DD）")]),
        ("1 March", CURRENT, [("#as_of", "计分日期：日期格式应为 YYYY-MM-DD")]),
        ("", CURRENT, [("#as_of", "请填写计分日期")]),
        ("2026-03-01", "zj-cixi|1999.1", [("#policy", "请选择一个已发布的策略版本")]),
        (
            "2020-01-01",
            CURRENT,
            [
                (
                    "#as_of",
                    "慈溪市新市民量化积分 2026.1 版（2026-01-01 起施行） 不适用于计分日 "
                    "2020-01-01：没有哪个已发布的版本在该日施行",
                )
            ],
        ),
        (
            "2024-05-01",
            CURRENT,
            [
                (
                    "#as_of",
                    "慈溪市新市民量化积分 2026.1 版（2026-01-01 起施行） 不适用于计分日 "
                    "2024-05-01：该日施行的是 慈溪市新市民量化积分 2023.1 版（2023-07-01 至 "
                    "2025-12-31 施行）",
                )
            ],
        ),
    ],
)
def test_the_form_refuses_what_cannot_be_scored_and_keeps_the_input(
    client: TestClient,
    accounts: dict[str, Actor],
    as_of: str,
    policy: str,
    expected: list[tuple[str, str]],
) -> None:
    page_client(client, "operator")
    client.get("/console/scoring")
    answer = client.post(
        "/console/scoring/runs",
        data={"as_of": as_of, "policy": policy, "csrf_token": client.cookies.get("luodi_csrf")},
    )
    assert answer.status_code == 422
    assert form_error(answer.text) == expected
    assert f'id="as_of" name="as_of" type="text" value="{as_of}"' in answer.text
    if policy in (CURRENT, OLD):
        assert f'<option value="{policy}" selected>' in answer.text
    assert 'aria-invalid="true"' in answer.text
    client.cookies.clear()


def test_a_form_without_its_token_is_refused(
    client: TestClient, accounts: dict[str, Actor]
) -> None:
    page_client(client, "operator")
    answer = client.post("/console/scoring/runs", data={"as_of": "2026-03-01", "policy": CURRENT})
    assert answer.status_code == 403
    client.cookies.clear()


def test_a_run_is_started_as_a_job_and_its_progress_survives_a_reload(
    client: TestClient, accounts: dict[str, Actor], loaded_engine: Engine
) -> None:
    page_client(client, "operator")
    client.get("/console/scoring")
    answer = client.post(
        "/console/scoring/runs",
        data={
            "as_of": "2026-03-02",
            "policy": CURRENT,
            "csrf_token": client.cookies.get("luodi_csrf"),
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303
    location = answer.headers["location"]
    job_id = int(location.rsplit("/", 1)[1])
    assert location == f"/console/scoring/jobs/{job_id}"
    queued = client.get(location).text
    assert 'data-state="queued"' in queued and "计分任务已提交，正在排队" in queued
    assert f'hx-get="/console/scoring/jobs/{job_id}"' in queued  # it polls itself
    # A reload of the area shows the job waiting too.
    assert f'id="job-{job_id}"' in client.get("/console/scoring").text
    assert run_pending(loaded_engine) == 1
    fragment = client.get(location, headers={"HX-Request": "true"}).text
    assert "<html" not in fragment and 'data-state="done"' in fragment
    assert "hx-get" not in fragment  # done: no more polling
    run = int(re.search(r'href="/console/scoring/(\d+)" data-testid="job-run"', fragment)[1])  # type: ignore[index]
    html = client.get("/console/scoring").text
    assert f'id="job-{job_id}"' not in html  # a finished job leaves the list of jobs
    row = next(row for row in table_rows(html, "runs") if row[0] == f"计分批次 {run}")
    assert row[1] == "2026-03-02" and row[6] == "operator"
    client.cookies.clear()


def test_another_kind_of_job_is_not_shown_here(
    client: TestClient, accounts: dict[str, Actor]
) -> None:
    page_client(client, "operator")
    assert client.get("/console/scoring/jobs/999999").status_code == 404
    client.cookies.clear()


def test_the_distribution_is_the_stored_totals(
    client: TestClient, accounts: dict[str, Actor], loaded_engine: Engine, run_id: int
) -> None:
    page_client(client, "operator")
    html = client.get(f"/console/scoring/{run_id}").text
    stored = stored_totals(loaded_engine, run_id)
    assert stored.height > 500
    # Bars of 20 points, from the lowest to the highest, empty ones included.
    starts = (stored["total"] // 20 * 20).cast(pl.Int64)
    counts = starts.value_counts().sort("total")
    by_start = dict(zip(counts["total"].to_list(), counts["count"].to_list(), strict=True))
    expected = [
        [f"{start}–{start + 20}", f"{by_start.get(start, 0):,}"]
        for start in range(min(by_start), max(by_start) + 1, 20)
    ]
    assert table_rows(html, "histogram-table") == expected
    assert sum(by_start.values()) == stored.height
    assert f'<dd data-testid="scored">{stored.height:,}</dd>' in html
    # By town: the towns' names, their residents and mean.
    towns = stored.group_by("town").agg(pl.len().alias("n"), pl.col("total").mean().alias("mean"))
    shown = {row[0]: row for row in table_rows(html, "towns")}
    assert set(shown) == set(towns["town"].to_list())
    for town, n, mean in towns.iter_rows():
        assert shown[town][1] == f"{n:,}"
        assert abs(float(shown[town][2].replace(",", "")) - mean) < 0.006
    assert not any(re.fullmatch(r"\d{6,}", name) for name in shown)  # names, not codes
    chart = re.search(r'<script type="application/json" id="histogram-option">(.*?)</script>', html)
    assert chart is not None  # JSON as the script reads it (not HTML-escaped)
    assert json.loads(chart[1])["series"][0]["data"] == [
        int(row[1].replace(",", "")) for row in expected
    ]
    client.cookies.clear()


def test_a_notice_is_published_after_its_confirmation(
    client: TestClient, accounts: dict[str, Actor], run_id: int
) -> None:
    page_client(client, "operator")
    run_page = client.get(f"/console/scoring/{run_id}").text
    assert f'href="/console/scoring/{run_id}/publish"' in run_page
    confirm = client.get(f"/console/scoring/{run_id}/publish").text
    assert "发布后不能撤回" in confirm
    assert "<dd>慈溪市新市民量化积分 2026.1 版（2026-01-01 起施行）</dd>" in confirm
    token = client.cookies.get("luodi_csrf")
    form = {"title": "  ", "starts_on": "2026-13-01", "working_days": "0", "csrf_token": token}
    refused = client.post(f"/console/scoring/{run_id}/publish", data=form)
    assert refused.status_code == 422
    assert [href for href, _text in form_error(refused.text)] == [
        "#title",
        "#starts_on",
        "#working_days",
    ]
    assert 'value="2026-13-01"' in refused.text
    yesterday = (today() - timedelta(days=1)).isoformat()
    form |= {"title": "积分排名公示（测试）", "starts_on": yesterday, "working_days": "5"}
    refused = client.post(f"/console/scoring/{run_id}/publish", data=form)
    assert refused.status_code == 422
    assert form_error(refused.text) == [("#starts_on", "公示不能早于今天开始")]
    assert 'value="积分排名公示（测试）"' in refused.text
    assert "积分排名公示（测试）" not in client.get(f"/console/scoring/{run_id}").text
    form["starts_on"] = today().isoformat()
    published = client.post(f"/console/scoring/{run_id}/publish", data=form, follow_redirects=False)
    assert published.status_code == 303
    assert published.headers["location"] == f"/console/scoring/{run_id}"
    page = client.get(published.headers["location"]).text
    notice_id = int(re.search(r"积分排名公示已发布（公示 (\d+)）", page)[1])  # type: ignore[index]
    notice_part = page.split('data-testid="run-notice"', 1)[1]
    assert f'<a href="/notices/{notice_id}">积分排名公示（测试）</a>' in notice_part
    assert "公示中" in notice_part and "/publish" not in notice_part
    public = client.get(f"/notices/{notice_id}")
    assert public.status_code == 200 and "积分排名公示（测试）" in public.text
    listed = {row[0]: row for row in table_rows(client.get("/console/scoring").text, "runs")}
    assert listed[f"计分批次 {run_id}"][8] == f"公示 {notice_id}"
    client.cookies.clear()


def test_the_english_pages(client: TestClient, accounts: dict[str, Actor], run_id: int) -> None:
    page_client(client, "operator")
    client.cookies.set("luodi_lang", "en")
    index = client.get("/console/scoring").text
    assert "Scoring runs" in index and "Start scoring" in index
    assert "Cixi new-citizen points, version 2026.1 (in force from 2026-01-01)" in index
    run = client.get(f"/console/scoring/{run_id}").text
    assert "Distribution of totals" in run and "Mean and median total by town" in run
    refused = client.post(
        "/console/scoring/runs",
        data={
            "as_of": "2020-01-01",
            "policy": CURRENT,
            "csrf_token": client.cookies.get("luodi_csrf"),
        },
    )
    assert form_error(refused.text) == [
        (
            "#as_of",
            "Cixi new-citizen points, version 2026.1 (in force from 2026-01-01) does not apply "
            "on the scoring date 2020-01-01: no published version is in force that day",
        )
    ]
    for html in (index, run, refused.text):
        for word in ("计分批次", "开始计分", "计分日期", "平均分", "总分分布"):
            assert word not in html, word
    client.cookies.clear()


def test_scoring_in_a_browser(
    pages_on_one_database: None,
    server: str,
    browser: Any,
    accounts: dict[str, Actor],
    loaded_engine: Engine,
) -> None:
    page = browser.new_page()
    sign_in(page, server, "operator", PASSWORD)
    page.goto(f"{server}/console/scoring")
    check_page(page, "scoring-index")
    page.get_by_label("计分日期").fill("2026-02-30")
    page.get_by_role("button", name="开始计分").click()
    expect(page.get_by_test_id("error-summary")).to_be_visible()
    assert page.get_by_label("计分日期").input_value() == "2026-02-30"
    check_page(page, "scoring-form-error")
    page.get_by_label("计分日期").fill(date(2026, 3, 3).isoformat())
    page.get_by_label("策略版本").select_option(CURRENT)
    page.get_by_role("button", name="开始计分").click()
    assert page.get_by_test_id("job").get_attribute("data-state") in ("queued", "running", "done")
    check_page(page, "scoring-job")
    run_pending(loaded_engine)
    page.get_by_test_id("job-run").click(timeout=10_000)  # the bar polls itself to the end
    assert page.get_by_role("heading", level=1).inner_text().startswith("计分批次")
    page.wait_for_selector("#histogram svg")
    check_page(page, "scoring-run")
    page.get_by_role("link", name="发布积分排名公示").click()
    check_page(page, "scoring-publish")
    page.get_by_role("button", name="确认发布").click()
    assert "积分排名公示已发布" in page.get_by_test_id("flash").inner_text()
    page.close()
