"""/my/points: every line of my points in words, what changed since the previous run and why,
and how I could get more — for the signed-in resident only (staff 404, public → sign in); the
portal's one browser test (/my and /my/points at 390 px and in 长辈版, SQLite)."""

from __future__ import annotations

import re
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import expect
from sqlalchemy import Engine

from luodi.auth.actor import Actor
from luodi.db import session_scope
from luodi.kernels.policy import KEY
from luodi.kernels.policy.advice import advise
from luodi.scoring import service as scoring
from tests.web.browser import check_page, sign_in
from tests.web.conftest import PASSWORD
from tests.web.console.test_shell import page_client
from tests.web.portal.scored import USERNAME, scored_fixture  # noqa: F401 - fixture


def test_a_visitor_signs_in_first_and_staff_find_no_page(
    client: TestClient, accounts: dict[str, Actor]
) -> None:
    client.cookies.clear()
    answer = client.get("/my/points", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    assert page_client(client, "operator").get("/my/points").status_code == 404
    # A resident never scored (no permit) is told so, not shown an empty page.
    unscored = page_client(client, "resident").get("/my/points")
    assert unscored.status_code == 200 and 'data-testid="no-score"' in unscored.text
    assert "还没有积分" in unscored.text


def test_every_line_in_words_with_its_source(
    client: TestClient, accounts: dict[str, Actor], scored: dict[str, Any], loaded_engine: Engine
) -> None:
    page = page_client(client, USERNAME).get("/my/points")
    assert page.status_code == 200, page.text
    with session_scope(loaded_engine) as session:
        score = scoring.resident_score(scored["actor"], session, scored["resident_id"])
    assert score.run.id == scored["second"]
    total = re.search(r'data-testid="total">([^<]+)<', page.text)
    assert total and float(total.group(1).replace(",", "")) == pytest.approx(score.total)
    for line in score.explanation["lines"]:
        assert f'data-indicator="{line["indicator"]}"' in page.text
    # The rule in words, not the formula; the department and batch of a fact.
    assert "在浙累计缴纳社保月数 × 0.5，最多 30 分" in page.text
    assert "0.5 * social_insurance_months" not in page.text
    assert "第 " in page.text and "记录日期" in page.text
    # The parts: provincial and county layers with their caps, as a chart with its table.
    assert 'data-part="province"' in page.text and 'data-part="county"' in page.text
    assert 'data-testid="parts-chart-table"' in page.text


def test_what_changed_since_the_previous_run_and_why(
    client: TestClient, scored: dict[str, Any], accounts: dict[str, Actor], loaded_engine: Engine
) -> None:
    page = page_client(client, USERNAME).get("/my/points").text
    changes = page.split('data-testid="changes"')[1].split("</section>")[0]
    assert f"第 {scored['first']} 批" in changes
    # Residence: three months more between the two scoring dates.
    assert "居住时间" in changes and "计分日由 2026-03-01 变为 2026-06-01" in changes
    with session_scope(loaded_engine) as session:
        before = scoring.resident_score(
            scored["actor"], session, scored["resident_id"], scored["first"]
        )
    volunteering = before.points["volunteering"]
    if volunteering < 30:  # the 60 hours recorded between the runs
        assert "志愿服务" in changes and "近五年志愿服务小时数" in changes


def test_how_to_get_more_is_what_the_policy_computes(
    client: TestClient, scored: dict[str, Any], accounts: dict[str, Actor], loaded_engine: Engine
) -> None:
    page = page_client(client, USERNAME).get("/my/points").text
    advice = page.split('data-testid="advice"')[1].split("</section>")[0]
    with session_scope(loaded_engine) as session:
        stored = scoring.stored_scores(
            scored["actor"], session, [scored["resident_id"]], run_id=scored["second"]
        )
    row = stored.frame.filter(pl.col(KEY) == scored["resident_id"]).drop("points")
    suggestions = advise(stored.compiled, row, stored.run.as_of)
    assert suggestions, "someone in the small city can always get more"
    best = max(suggestions, key=lambda item: item.gain)
    gain = f"+{best.gain:g} 分"
    assert gain in advice
    items = re.findall(r"<li>([^<]+)</li>", advice)
    assert len(items) == min(6, len(suggestions))
    assert all("+" in item and "分" in item for item in items)


def test_english(client: TestClient, scored: dict[str, Any]) -> None:
    resident = page_client(client, USERNAME)
    resident.cookies.set("luodi_lang", "en")
    page = resident.get("/my/points").text
    resident.cookies.delete("luodi_lang")
    assert "How to get more points" in page and "怎样多得分" not in page


@pytest.mark.browser
def test_my_pages_on_a_phone_and_in_large_text(
    pages_on_one_database: None, scored: dict[str, Any], server: str, browser: Any
) -> None:
    """/my and /my/points in a real browser (SQLite): axe-core and no sideways scroll at 390
    px, then 长辈版 (larger text, the rules' wording and sources hidden)."""
    page = browser.new_page(viewport={"width": 390, "height": 844})
    sign_in(page, server, USERNAME, PASSWORD)
    page.goto(f"{server}/my")
    expect(page.get_by_test_id("home-total")).to_be_visible()
    check_page(page, "portal-home")
    page.get_by_role("link", name="查看积分明细与加分建议").click()
    expect(page.get_by_test_id("total")).to_be_visible()
    expect(page.get_by_test_id("advice").locator("li").first).to_contain_text("分")
    check_page(page, "portal-points")
    page.get_by_test_id("large-text").click()
    expect(page.locator("body.large-text")).to_have_count(1)
    expect(page.locator(".line .rule").first).to_be_hidden()
    check_page(page, "portal-points-large")
    page.goto(f"{server}/my")
    check_page(page, "portal-home-large")
    page.close()
