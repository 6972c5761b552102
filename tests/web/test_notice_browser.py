"""A notice on a phone, in a real browser (SQLite): the school notice's fifteen columns become
one card per row at 390 px — nothing wider than the screen — and the search form finds a row
by its application number."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import Engine

from luodi.allocation import service as allocation
from luodi.auth.actor import SYSTEM_ACTOR
from luodi.db import session_scope
from luodi.notices import service as notices
from luodi.policy.service import find_policy
from luodi.programs import demo, intake
from luodi.programs import service as programs
from luodi.scoring import service as scoring
from tests.conftest import city_engine
from tests.web.browser import check_page
from tests.web.conftest import AS_OF

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def loaded_engine(small_city: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """SQLite only: pages in the browser run on one database (``browser.pages_on_one_database``); overriding the engine spares loading the city into PostgreSQL only to skip."""
    with city_engine("sqlite", small_city, tmp_path_factory.mktemp("web")) as engine:
        yield engine


@pytest.fixture(scope="module")
def school_notice(loaded_engine: Engine, small_city: Path) -> int:
    today = date.today()
    with session_scope(loaded_engine) as session:
        run_id = scoring.score_registry(
            SYSTEM_ACTOR, session, find_policy("zj-cixi", AS_OF), AS_OF
        ).run.id
        cycle = programs.open_cycle(
            SYSTEM_ACTOR,
            session,
            "school-entry",
            "手机",
            today - timedelta(days=1),
            today + timedelta(days=1),
            AS_OF,
            targets_file=small_city / "schools.csv",
            entry_grade=1,
        )
        records = demo.school_applications(small_city, AS_OF.year).to_dicts()
        intake.submit_applications(SYSTEM_ACTOR, session, cycle.id, records)
        intake.verify_all(SYSTEM_ACTOR, session, cycle.id)
        run = allocation.allocate_cycle(SYSTEM_ACTOR, session, cycle.id, "phone", run_id)
        return notices.publish(SYSTEM_ACTOR, session, allocation_run_id=run.id).id


def test_a_notice_is_cards_on_a_phone_and_searchable(
    server: str, browser: Any, school_notice: int
) -> None:
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(f"{server}/notices/{school_notice}")
    rows = page.locator("table.notice-rows tbody tr")
    expect(rows.first).to_be_visible()
    # Each row is a card as wide as the screen allows, its cells labelled by their column.
    box = rows.first.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    label = rows.first.locator("td").first.evaluate(
        "cell => getComputedStyle(cell, '::before').content"
    )
    assert "申请编号" in label
    check_page(page, "notice-phone")
    ref = rows.nth(2).locator("td").first.inner_text().strip()
    page.get_by_label("查找名单").fill(ref)
    page.get_by_role("button", name="查找", exact=True).click()
    expect(page.get_by_test_id("search-count")).to_contain_text("1")
    expect(rows).to_have_count(1)
    assert rows.first.locator("td").first.inner_text().strip() == ref
    page.close()
