"""/my and /my/points in a real browser (SQLite): axe-core, no sideways scroll at 390 px, and
长辈版 (larger text, secondary detail hidden)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.web.browser import check_page, sign_in
from tests.web.conftest import PASSWORD
from tests.web.portal.scored import USERNAME, scored_fixture  # noqa: F401 - fixture

pytestmark = pytest.mark.browser


def test_my_pages_on_a_phone_and_in_large_text(
    pages_on_one_database: None, scored: dict[str, Any], server: str, browser: Any
) -> None:
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
