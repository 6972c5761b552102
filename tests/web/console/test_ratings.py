"""The console's ratings area: the centre (admin, operator, auditor) reads the counts per
level, per program and month and the latest comments; other roles have no such area; the API
takes a resident's rating (once) and gives staff the summary."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import expect
from sqlalchemy import Engine

from luodi.auth.actor import SYSTEM_ACTOR, Actor
from luodi.auth.service import add_user
from luodi.db import session_scope
from tests.conftest import city_engine
from tests.ratings.cases import close_cases
from tests.web.browser import check_page
from tests.web.browser import sign_in as sign_in_page
from tests.web.conftest import PASSWORD, sign_in
from tests.web.console.pages import table_rows
from tests.web.console.test_shell import page_client


@pytest.fixture(scope="module")
def loaded_engine(small_city: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """SQLite only: the pages and the API render what ``ratings.service`` read, and its tests (tests/ratings) run on both databases."""
    with city_engine("sqlite", small_city, tmp_path_factory.mktemp("web")) as engine:
        yield engine


@pytest.fixture(scope="module")
def rated(
    loaded_engine: Engine, client: TestClient, accounts: dict[str, Actor], cycle: dict[str, Any]
) -> dict[str, Any]:
    """The resident's application and objection closed and rated through the API."""
    made = close_cases(
        loaded_engine, cycle["run"], cycle["mine"], accounts["resident"], accounts["health"]
    )
    client.cookies.clear()
    headers = sign_in(client, "resident")
    for kind, case_id, level, comment in (
        ("application", cycle["mine"], 5, None),
        ("objection", made["objection"], 1, "复核意见看不懂"),
    ):
        answer = client.post(
            "/api/v1/ratings",
            json={"case_kind": kind, "case_id": case_id, "level": level, "comment": comment},
            headers=headers,
        )
        assert answer.status_code == 201, answer.text
    again = client.post(
        "/api/v1/ratings",
        json={"case_kind": "application", "case_id": cycle["mine"], "level": 1},
        headers=headers,
    )
    assert again.status_code == 409
    return {**made, "headers": headers}


@pytest.mark.parametrize("username", ["operator", "auditor"])
def test_the_centre_reads_the_summary(
    client: TestClient, rated: dict[str, Any], username: str
) -> None:
    page = page_client(client, username).get("/console/ratings")
    assert page.status_code == 200
    assert 'data-testid="rating-total">2<' in page.text
    rows = table_rows(page.text, "rating-table")
    assert len(rows) == 1 and rows[0][2:] == ["1", "0", "0", "0", "1", "2"]
    assert table_rows(page.text, "rating-levels-table") == [
        ["非常满意", "1"],
        ["满意", "0"],
        ["基本满意", "0"],
        ["不满意", "0"],
        ["非常不满意", "1"],
    ]
    comments = table_rows(page.text, "rating-comments")
    assert [row[2:] for row in comments] == [["非常不满意", "复核意见看不懂"]]
    assert 'href="/console/ratings" aria-current="page"' in page.text
    client.cookies.clear()


@pytest.mark.parametrize("username", ["edu", "town", "resident"])
def test_no_other_role_has_the_area(
    client: TestClient, rated: dict[str, Any], username: str
) -> None:
    assert page_client(client, username).get("/console/ratings").status_code == 404
    client.cookies.clear()


def test_the_api_gives_staff_the_summary_and_residents_nothing(
    client: TestClient, rated: dict[str, Any]
) -> None:
    client.cookies.clear()
    summary = client.get("/api/v1/ratings/summary", headers=sign_in(client, "operator")).json()
    assert summary["total"] == 2 and summary["by_level"] == {"5": 1, "4": 0, "3": 0, "2": 0, "1": 1}
    assert [c["comment"] for c in summary["latest_comments"]] == ["复核意见看不懂"]
    assert client.get("/api/v1/ratings/summary", headers=rated["headers"]).status_code == 403
    assert client.get("/api/v1/ratings/pending", headers=rated["headers"]).json() == []
    # The comment is staff's only: no public page shows it.
    assert "复核意见看不懂" not in client.get(f"/notices/{rated['notice']}").text


@pytest.mark.browser
def test_the_prompt_and_the_summary_in_the_browser(
    server: str, browser: Any, rated: dict[str, Any], loaded_engine: Engine, cycle: dict[str, Any]
) -> None:
    """Another applicant rates on a phone (five levels as large targets; axe-core clean, no
    sideways scroll at 390 px); the centre's summary counts it, its charts drawn."""
    with session_scope(loaded_engine) as session:
        add_user(
            SYSTEM_ACTOR, session, "rater", "resident", PASSWORD, id_number=cycle["numbers"][1]
        )
    page = browser.new_page(viewport={"width": 390, "height": 844})
    sign_in_page(page, server, "rater", PASSWORD)
    page.goto(f"{server}/my/ratings")
    form = page.get_by_test_id(f"rating-application-{cycle['other']}")
    expect(form).to_be_visible()
    check_page(page, "portal-rating-prompt")
    form.get_by_label("满意", exact=True).check()
    form.get_by_label("意见（选填，最多300字，仅工作人员可见）").fill("窗口很耐心")
    form.get_by_role("button", name="提交评价").click()
    page.wait_for_url(f"{server}/my")
    expect(page.get_by_test_id("flash")).to_have_text("感谢您的评价")
    page.context.clear_cookies()
    sign_in_page(page, server, "operator", PASSWORD)
    page.goto(f"{server}/console/ratings")
    expect(page.get_by_test_id("rating-total")).to_have_text("3")
    expect(page.locator("#rating-levels svg")).to_be_visible()
    check_page(page, "console-ratings")
    page.close()
