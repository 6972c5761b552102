"""The console's allocation runs: the cycle's runs as a fragment or a page, starting a run as
a job, the run's page (charts whose tables are the stored results counted again here, the
masked list a page at a time, the difference to the previous run), publishing and finalising
behind their confirmation pages, and who may see and do what."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from html.parser import HTMLParser
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from luodi.allocation import service as allocation
from luodi.allocation.models import AllocationResult
from luodi.auth.actor import SYSTEM_ACTOR, Actor
from luodi.db import session_scope
from luodi.jobs import worker
from luodi.notices import service as notices
from luodi.notices.models import Notice
from luodi.programs import intake
from luodi.programs import service as programs
from luodi.programs.models import Application
from luodi.registry.models import Resident, Town
from luodi.web.console import runs
from tests.web.browser import check_page, serve, sign_in
from tests.web.conftest import PASSWORD
from tests.web.console.test_shell import page_client

HX = {"HX-Request": "true"}


class Tables(HTMLParser):
    """Every table with a ``data-testid``: its body rows as cell texts, with each row's
    attributes."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.row_attributes: dict[str, list[dict[str, str]]] = {}
        self._table: str | None = None
        self._in_body = False
        self._cell: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = {key: value or "" for key, value in attrs}
        if tag == "table" and "data-testid" in named:
            self._table = named["data-testid"]
            self.tables[self._table] = []
            self.row_attributes[self._table] = []
        elif self._table and tag == "tbody":
            self._in_body = True
        elif self._table and self._in_body and tag == "tr":
            self.tables[self._table].append([])
            self.row_attributes[self._table].append(named)
        elif self._table and self._in_body and tag == "td":
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None and self._table:
            self.tables[self._table][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tbody":
            self._in_body = False
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def chart_option(html: str, chart: str) -> dict[str, Any]:
    """A chart's ECharts option as the page's script reads it (the JSON text, unescaped)."""
    start = html.index(f'<script type="application/json" id="{chart}-option">')
    text = html[html.index(">", start) + 1 : html.index("</script>", start)]
    option: dict[str, Any] = json.loads(text)
    return option


def count(text: str) -> int:
    return int(text.replace(",", ""))


def fresh_cycle(
    engine: Engine,
    accounts: dict[str, Actor],
    city: pl.DataFrame,
    offset: int,
    allocate: bool,
    unverified: int = 0,
) -> dict[str, Any]:
    """A health-check cycle of its own (4 places, 10 applications from ``offset`` in the
    city, the last ``unverified`` of them filed after 总工会 verified the others), allocated
    once when asked."""
    today = date.today()
    numbers = city["id_number"].slice(offset, 10).to_list()
    records = [{"id_number": number} for number in numbers]
    with session_scope(engine) as session:
        cycle = programs.open_cycle(
            SYSTEM_ACTOR,
            session,
            "health-check",
            f"runs-{offset}",
            today - timedelta(days=1),
            today + timedelta(days=1),
            date(2026, 3, 1),
            places=4,
        )
        first = records[: len(records) - unverified]
        ids = intake.submit_applications(SYSTEM_ACTOR, session, cycle.id, first)
        intake.verify_all(accounts["health"], session, cycle.id)
        if unverified:
            ids += intake.submit_applications(
                SYSTEM_ACTOR, session, cycle.id, records[len(first) :]
            )
        run = (
            allocation.allocate_cycle(SYSTEM_ACTOR, session, cycle.id, "seed") if allocate else None
        )
        return {"cycle": cycle.id, "run": run.id if run else None, "applications": ids}


@pytest.fixture
def operator(client: TestClient, accounts: dict[str, Actor]) -> Iterator[TestClient]:
    yield page_client(client, "operator")
    client.cookies.clear()


def form_token(client: TestClient) -> str:
    token = client.cookies.get("luodi_csrf")
    assert token
    return token


def test_the_cycles_runs_are_a_fragment_for_htmx_and_a_page_otherwise(
    operator: TestClient, cycle: dict[str, Any]
) -> None:
    fragment = operator.get(f"/console/cycles/{cycle['cycle']}/runs", headers=HX)
    assert fragment.status_code == 200
    assert "<html" not in fragment.text and 'data-testid="cycle-runs"' in fragment.text
    assert f'href="/console/runs/{cycle["run"]}"' in fragment.text
    assert fragment.headers["vary"] == "HX-Request"
    page = operator.get(f"/console/cycles/{cycle['cycle']}/runs")
    assert page.status_code == 200
    assert page.text.lstrip().startswith("<!doctype html>")
    assert '<nav class="console"' in page.text and 'data-testid="cycle-runs"' in page.text
    assert f'href="/console/runs/{cycle["run"]}"' in page.text
    # The seed field has a default the operator may keep, with its label.
    assert '<label for="seed">' in page.text and 'name="seed" type="text" value="20' in page.text


def test_the_charts_tables_are_the_stored_results(
    operator: TestClient, cycle: dict[str, Any], loaded_engine: Engine
) -> None:
    html = operator.get(f"/console/runs/{cycle['run']}").text
    tables = Tables(html).tables
    # Counted again here, from the tables themselves.
    with loaded_engine.connect() as connection:
        stored = pl.read_database(
            select(AllocationResult.outcome, AllocationResult.choice_rank, Town.name.label("town"))
            .join(Application, Application.id == AllocationResult.application_id)
            .join(Resident, Resident.id == Application.resident_id)
            .join(Town, Town.id == Resident.town_id)
            .where(AllocationResult.run_id == cycle["run"]),
            connection,
        )
    words = {"placed": "核准", "unplaced": "未安排（名额已满）", "ineligible": "不符合条件"}
    expected = {words[outcome]: n for outcome, n in stored.group_by("outcome").len().iter_rows()}
    shown = {row[0]: count(row[1]) for row in tables["chart-outcome-table"]}
    assert shown == expected and sum(shown.values()) == 12
    # The health check is a list, not choices: every place is "not by choice".
    assert tables["chart-rank-table"] == [["不按志愿（名单）", str(expected["核准"])]]
    by_town = stored.group_by("town").len()
    shown_towns = {row[0]: count(row[-1]) for row in tables["chart-town-table"]}
    assert shown_towns == dict(by_town.iter_rows())
    placed_by_town = dict(
        stored.filter(pl.col("outcome") == "placed").group_by("town").len().iter_rows()
    )
    assert {row[0]: count(row[1]) for row in tables["chart-town-table"]} == {
        town: placed_by_town.get(town, 0) for town in shown_towns
    }
    # The charts draw the same numbers (their ECharts options, read as the page's script does).
    pie = chart_option(html, "chart-outcome")["series"][0]["data"]
    assert {item["name"]: item["value"] for item in pie} == expected
    bars = chart_option(html, "chart-town")
    assert dict(zip(bars["yAxis"]["data"], bars["series"][0]["data"], strict=True)) == {
        town: placed_by_town.get(town, 0) for town in shown_towns
    }


def test_the_masked_list_is_paged_in_the_notices_order(
    operator: TestClient, cycle: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runs, "PAGE_ROWS", 5)
    pages = []
    for page in (1, 2, 3):
        html = operator.get(f"/console/runs/{cycle['run']}?page={page}").text
        pages.append(Tables(html).tables["masked-list"])
    assert [len(rows) for rows in pages] == [5, 5, 2]
    listed = [row for rows in pages for row in rows]
    refs = [int(row[0].split()[0]) for row in listed]
    with session_scope(operator.app.state.engine) as session:  # type: ignore[attr-defined]
        results = allocation.run_results(SYSTEM_ACTOR, session, cycle["run"], masked=False)
    ordered = results.sort("rank", "application_id", nulls_last=True)
    assert refs == ordered["application_id"].to_list()
    full_names = set(results["name"].to_list())
    full_numbers = set(results["id_number"].to_list())
    for row in listed:
        assert row[1] not in full_names and "*" in row[1] + row[2]
        assert row[2] not in full_numbers and len(row[2]) == 18
    # Past the last page: the last page.
    html = operator.get(f"/console/runs/{cycle['run']}?page=99").text
    assert len(Tables(html).tables["masked-list"]) == 2


def test_a_run_started_as_a_job_and_a_second_one_shows_what_changed(
    operator: TestClient,
    loaded_engine: Engine,
    accounts: dict[str, Actor],
    city: pl.DataFrame,
    cycle: dict[str, Any],  # the city scored
) -> None:
    fresh = fresh_cycle(loaded_engine, accounts, city, 100, allocate=False, unverified=1)
    runs_url = f"/console/cycles/{fresh['cycle']}/runs"
    operator.get(runs_url)
    answer = operator.post(
        runs_url, data={"seed": "first", "csrf_token": form_token(operator)}, follow_redirects=False
    )
    assert answer.status_code == 303
    job_url = answer.headers["location"]
    assert job_url.startswith("/console/runs/jobs/")
    # Queued: the bar, on its page, in the fragment it polls, and on the cycle's runs.
    waiting = operator.get(job_url)
    assert 'data-state="queued"' in waiting.text and f'hx-get="{job_url}"' in waiting.text
    assert "<html" not in operator.get(job_url, headers=HX).text
    assert f'hx-get="{job_url}"' in operator.get(runs_url, headers=HX).text
    assert worker.run_pending(loaded_engine) == 1
    assert operator.get(job_url, headers=HX).headers["hx-redirect"].startswith("/console/runs/")
    first = operator.get(job_url, follow_redirects=False).headers["location"]
    first_html = operator.get(first).text
    assert 'data-testid="no-diff"' in first_html and "首次分配" in first_html

    # The last application, verified only now, is new in the second run.
    added = fresh["applications"][-1]
    with session_scope(loaded_engine) as session:
        intake.verify_all(accounts["health"], session, fresh["cycle"])
    operator.get(runs_url)
    answer = operator.post(
        runs_url,
        data={"seed": "second", "csrf_token": form_token(operator)},
        follow_redirects=False,
    )
    assert worker.run_pending(loaded_engine) == 1
    second = operator.get(answer.headers["location"], follow_redirects=False).headers["location"]
    assert second != first
    html = operator.get(second).text
    parsed = Tables(html)
    diff = parsed.tables["diff-table"]
    with session_scope(loaded_engine) as session:
        changed = allocation.run_diff(SYSTEM_ACTOR, session, int(second.rsplit("/", 1)[1]))
    assert sorted(int(row[0]) for row in diff) == sorted(changed["application_id"].to_list())
    new_row = next(row for row in diff if int(row[0]) == added)
    assert new_row[2] == "（不在该批次）" and new_row[3] in (
        "核准",
        "未安排（名额已满）",
        "不符合条件",
    )
    assert all(
        attributes["class"] == "changed" for attributes in parsed.row_attributes["diff-table"]
    )
    # The list highlights the same rows (in words too, not by colour alone).
    highlighted = {
        int(attributes["data-ref"])
        for attributes in parsed.row_attributes["masked-list"]
        if attributes.get("class") == "changed"
    }
    assert highlighted == set(changed["application_id"].to_list())
    assert "有变化" in html


def test_a_seed_left_empty_is_named_and_a_long_one_kept(
    operator: TestClient, cycle: dict[str, Any]
) -> None:
    url = f"/console/cycles/{cycle['cycle']}/runs"
    operator.get(url)
    answer = operator.post(url, data={"seed": "  ", "csrf_token": form_token(operator)})
    assert answer.status_code == 422
    assert 'data-testid="error-summary"' in answer.text and 'href="#seed"' in answer.text
    assert "请填写摇号种子" in answer.text
    long_seed = "x" * 101
    answer = operator.post(url, data={"seed": long_seed, "csrf_token": form_token(operator)})
    assert answer.status_code == 422 and f'value="{long_seed}"' in answer.text
    assert "最多 100 个字符" in answer.text


def test_publish_states_what_becomes_public_and_finalising_waits_for_the_period(
    operator: TestClient,
    loaded_engine: Engine,
    accounts: dict[str, Actor],
    city: pl.DataFrame,
    cycle: dict[str, Any],  # the city scored
) -> None:
    fresh = fresh_cycle(loaded_engine, accounts, city, 200, allocate=True)
    run_url = f"/console/runs/{fresh['run']}"
    assert 'data-testid="publish-link"' in operator.get(run_url).text
    confirm = operator.get(f"{run_url}/publish")
    assert confirm.status_code == 200
    facts = confirm.text
    today = date.today()
    with session_scope(loaded_engine) as session:
        cycles = programs.list_cycles(SYSTEM_ACTOR, session)
        days = next(c.notice_days for c in cycles if c.id == fresh["cycle"])
    ends = notices.working_days_end(today, days)
    assert 'data-testid="publish-rows">10<' in facts
    assert f"{today.isoformat()} – {ends.isoformat()}" in facts
    assert "（runs-200）核准名单公示" in facts and "不能撤回" in facts
    with session_scope(loaded_engine) as session:
        assert notices.cycle_notices(SYSTEM_ACTOR, session, fresh["cycle"]) == []

    answer = operator.post(
        f"{run_url}/publish", data={"csrf_token": form_token(operator)}, follow_redirects=False
    )
    assert answer.status_code == 303 and answer.headers["location"] == run_url
    page = operator.get(run_url)
    assert 'data-testid="flash"' in page.text and "已发布公示" in page.text
    with session_scope(loaded_engine) as session:
        (notice,) = notices.cycle_notices(SYSTEM_ACTOR, session, fresh["cycle"])
        assert notice.row_count == 10 and notice.ends_on == ends
        notice_id = notice.id
    assert f'href="/notices/{notice_id}"' in page.text
    assert operator.get(f"/notices/{notice_id}").status_code == 200
    # Published: no second notice is offered, and a second try is refused in words; a new
    # run is not offered either (during the period, re-runs follow upheld objections).
    assert 'data-testid="publish-link"' not in page.text
    runs_now = operator.get(f"/console/cycles/{fresh['cycle']}/runs", headers=HX).text
    assert "rerun-through-objections" in runs_now and "start-run" not in runs_now
    again = operator.get(f"{run_url}/publish")
    assert again.status_code == 409 and "已有公示" in again.text

    confirm = operator.get(f"{run_url}/finalize")
    assert confirm.status_code == 200 and 'data-testid="confirm-finalize"' in confirm.text
    assert "尚未结束" in confirm.text
    refused = operator.post(f"{run_url}/finalize", data={"csrf_token": form_token(operator)})
    assert refused.status_code == 409
    assert 'data-testid="error"' in refused.text
    assert f"公示期至 {notice.ends_on} 结束，之后才能确定" in refused.text
    with session_scope(loaded_engine) as session:
        stored = session.get(Notice, notice_id)
        assert stored is not None and stored.status == "open"
        assert not allocation.get_run(SYSTEM_ACTOR, session, fresh["run"]).final


def test_a_reviewer_reads_the_own_departments_runs_and_does_nothing_with_them(
    client: TestClient, cycle: dict[str, Any]
) -> None:
    page_client(client, "edu")
    for path in (
        f"/console/runs/{cycle['run']}",
        f"/console/cycles/{cycle['cycle']}/runs",
        f"/console/runs/{cycle['run']}/publish",
        f"/console/runs/{cycle['run']}/finalize",
    ):
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert "没有这个页面" in answer.text
    page_client(client, "health")
    page = client.get(f"/console/runs/{cycle['run']}")
    assert page.status_code == 200
    assert "publish-link" not in page.text and "start-run" not in page.text
    assert "start-run" not in client.get(f"/console/cycles/{cycle['cycle']}/runs").text
    token = form_token(client)
    assert client.get(f"/console/runs/{cycle['run']}/publish").status_code == 403
    assert client.get(f"/console/runs/{cycle['run']}/finalize").status_code == 403
    for path, data in (
        (f"/console/cycles/{cycle['cycle']}/runs", {"seed": "x"}),
        (f"/console/runs/{cycle['run']}/publish", {}),
        (f"/console/runs/{cycle['run']}/finalize", {}),
    ):
        answer = client.post(path, data={**data, "csrf_token": token})
        assert answer.status_code == 403, path
        assert "无权执行此操作" in answer.text
    client.cookies.clear()


def test_town_staff_see_that_results_come_through_the_notice(
    client: TestClient, cycle: dict[str, Any]
) -> None:
    page_client(client, "town")
    fragment = client.get(f"/console/cycles/{cycle['cycle']}/runs", headers=HX)
    assert fragment.status_code == 200 and 'href="/notices"' in fragment.text
    assert client.get(f"/console/runs/{cycle['run']}").status_code == 403
    client.cookies.clear()


def test_the_run_page_in_english(operator: TestClient, cycle: dict[str, Any]) -> None:
    html = operator.get(f"/console/runs/{cycle['run']}", cookies={"luodi_lang": "en"}).text
    assert f"Allocation run {cycle['run']}" in html and "By outcome" in html
    assert "Approved" in html and "Masked list" in html
    for chinese in ("分配批次", "按结果", "核准", "名单", "志愿", "公示与定案"):
        assert chinese not in html, chinese


@pytest.fixture(scope="module")
def server(loaded_engine: Engine) -> Iterator[str]:
    """A server without its job worker: the test runs the queued job itself, so that the job's
    page is seen (and checked) while the job waits, before the run page replaces it."""
    yield from serve(loaded_engine)


def test_the_run_and_its_confirmations_in_a_browser(
    pages_on_one_database: None,
    server: str,
    browser: Any,
    loaded_engine: Engine,
    accounts: dict[str, Actor],
    city: pl.DataFrame,
    cycle: dict[str, Any],  # the city scored
) -> None:
    fresh = fresh_cycle(loaded_engine, accounts, city, 300, allocate=True)
    page = browser.new_page()
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    sign_in(page, server, "operator", PASSWORD)
    # Allocated again from the cycle's runs: the job's bar, then (the worker done) the run.
    page.goto(f"{server}/console/cycles/{fresh['cycle']}/runs")
    check_page(page, "runs-cycle")
    page.get_by_role("button", name="开始分配").click()
    assert page.get_by_test_id("job").get_attribute("data-state") == "queued"
    check_page(page, "runs-job")
    assert worker.run_pending(loaded_engine) == 1
    page.wait_for_url(f"{server}/console/runs/*", timeout=10_000)
    assert int(page.url.rsplit("/", 1)[1]) > fresh["run"]
    page.wait_for_selector("#chart-outcome svg")
    check_page(page, "runs-run")
    page.get_by_test_id("publish-link").click()
    assert page.get_by_test_id("publish-rows").inner_text() == "10"
    check_page(page, "runs-publish")
    page.get_by_test_id("confirm-publish").click()
    assert "已发布公示" in page.get_by_test_id("flash").inner_text()
    page.get_by_test_id("finalize-link").click()
    check_page(page, "runs-finalize")
    page.get_by_test_id("confirm-finalize").click()
    assert "之后才能确定" in page.get_by_test_id("error").inner_text()
    assert not failed, failed
    page.close()
