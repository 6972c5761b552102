"""The home page in a real browser: Debian's Chromium driven by Playwright, a real server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import Engine

from luodi.auth.actor import SYSTEM_ACTOR, Actor
from luodi.db import session_scope
from luodi.notices import service as notices
from tests.conftest import SMALL_CITY_RESIDENTS
from tests.web.browser import check_page
from tests.web.conftest import PASSWORD

pytestmark = pytest.mark.browser


def test_home_page_shows_towns_with_bars(
    server: str, browser: object, small_city: Path, tmp_path: Path
) -> None:
    page = browser.new_page()  # type: ignore[attr-defined]
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.goto(server + "/")
    assert page.title().startswith("落地")
    assert page.get_by_test_id("total-residents").inner_text() == f"{SMALL_CITY_RESIDENTS:,}"
    rows = page.locator("table.towns tbody tr")
    assert rows.count() == 19
    zhouxiang = page.locator('tr[data-town="330282114"]')
    assert "周巷镇" in zhouxiang.inner_text()
    # The bars are drawn, each as long as its town's residents relative to the largest town.
    widths = page.locator("td.bar-col .bar").evaluate_all(
        "bars => bars.map(bar => bar.getBoundingClientRect().width)"
    )
    counts = [
        int(text.replace(",", "")) for text in page.locator("td.bar-col .count").all_inner_texts()
    ]
    assert max(widths) > 100
    for width, residents in zip(widths, counts, strict=True):
        assert abs(width / max(widths) - residents / max(counts)) < 0.01
    # Each count sits on the line of its bar (nothing wraps).
    heights = page.locator("td.bar-col").evaluate_all(
        "cells => cells.map(c => c.getBoundingClientRect().height)"
    )
    assert max(heights) < 2 * min(heights)
    assert not failed, f"requests failed (a CDN?): {failed}"
    check_page(page, "home")
    page.close()


def test_a_resident_signs_in_and_objects_on_the_notice_page(
    server: str,
    browser: object,
    loaded_engine: Engine,
    accounts: dict[str, Actor],
    cycle: dict[str, Any],
) -> None:
    """The web flow with a session cookie and CSRF-protected forms, in a real browser."""
    with session_scope(loaded_engine) as session:
        notice = notices.publish(SYSTEM_ACTOR, session, allocation_run_id=cycle["run"])
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(f"{server}/notices")
    check_page(page, "notices")
    page.get_by_role("link", name=notice.title).click()
    assert page.get_by_test_id("notice-title").inner_text() == notice.title
    rows = page.locator("table.notice-rows tbody tr")
    assert rows.count() == 12
    assert "*" in rows.first.inner_text()
    assert page.locator("section.objection").count() == 0  # only for a signed-in resident
    page.goto(f"{server}/login")
    check_page(page, "login")
    page.get_by_label("用户名").fill("resident")
    page.get_by_label("密码").fill("wrong password!")
    page.get_by_role("button", name="登录").click()
    assert "用户名或密码错误" in page.get_by_test_id("login-error").inner_text()
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{server}/my")
    assert page.get_by_test_id("me").inner_text() == "我的服务"
    page.goto(f"{server}/notices/{notice.id}")
    # The objection is made from the resident's own row (no free 编号 field).
    own = page.get_by_test_id(f"own-row-{cycle['mine']}")
    own.get_by_text("对此条提出异议").click()
    expect(own.get_by_label("理由")).to_be_visible()
    check_page(page, "notice-with-objection-form")
    own.get_by_label("理由").fill("<b>社保</b> 月数有误")
    own.get_by_role("button", name="提交异议").click()
    page.wait_for_url(f"{server}/my*")
    objections = page.get_by_test_id("objections").inner_text()
    assert "<b>社保</b> 月数有误" in objections  # shown as text, not as markup
    assert page.locator("[data-testid=objections] b").count() == 0
    page.close()
