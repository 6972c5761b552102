"""The console's frame: who opens which area (others get 404), sign-in and back, the error
pages, and the checks every page gets in a real browser."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import expect

from luodi.auth.actor import Actor
from luodi.auth.permissions import CONSOLE_AREAS
from luodi.web.assets import asset_url
from tests.web.browser import check_page, sign_in
from tests.web.conftest import PASSWORD


def page_client(client: TestClient, username: str) -> TestClient:
    """The client signed in through the login form (session cookie), as a browser is."""
    client.cookies.clear()
    client.get("/login")
    answer = client.post(
        "/login",
        data={
            "username": username,
            "password": PASSWORD,
            "csrf_token": client.cookies.get("luodi_csrf"),
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return client


def test_a_visitor_is_sent_to_sign_in_and_back(client: TestClient) -> None:
    client.cookies.clear()
    answer = client.get("/console/cycles?status=pending", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/console/cycles%3Fstatus%3Dpending"


def test_staff_land_on_the_console_and_residents_on_their_page(
    client: TestClient, accounts: dict[str, Actor]
) -> None:
    client.cookies.clear()
    client.get("/login")
    for username, landing in (("operator", "/console"), ("resident", "/my")):
        client.cookies.clear()
        client.get("/login")
        answer = client.post(
            "/login",
            data={
                "username": username,
                "password": PASSWORD,
                "csrf_token": client.cookies.get("luodi_csrf"),
            },
            follow_redirects=False,
        )
        assert answer.headers["location"] == landing


@pytest.mark.parametrize("username", ["resident", "edu", "town", "auditor"])
def test_an_area_outside_the_role_is_not_there(
    client: TestClient, accounts: dict[str, Actor], username: str
) -> None:
    page_client(client, username)
    role = accounts[username].role
    for area, roles in CONSOLE_AREAS.items():
        path = "/console" if area == "home" else f"/console/{area}"
        answer = client.get(path)
        if role in roles:
            assert answer.status_code != 404 or area not in ("home",), (area, answer.status_code)
        else:
            assert answer.status_code == 404, (username, area)
            assert "没有这个页面" in answer.text
    client.cookies.clear()


def test_the_nav_shows_only_the_roles_areas(client: TestClient, accounts: dict[str, Actor]) -> None:
    page_client(client, "town")
    answer = client.get("/console")
    assert answer.headers["cache-control"] == "no-store"  # staff pages carry personal data
    html = answer.text
    assert 'href="/console/residents"' in html
    assert 'href="/console/users"' not in html and 'href="/console/audit"' not in html
    client.cookies.clear()


def test_assets_are_served_under_their_hash_and_kept(client: TestClient) -> None:
    url = asset_url("vendor/htmx.min.js")
    assert url.startswith("/static/vendor/htmx.min.") and url.endswith(".js")
    answer = client.get(url)
    assert answer.status_code == 200 and "immutable" in answer.headers["cache-control"]
    assert client.get("/static/vendor/htmx.min.0000000000.js").status_code == 404


def test_the_console_in_a_browser(
    pages_on_one_database: None, server: str, browser: Any, accounts: dict[str, Actor]
) -> None:
    page = browser.new_page()
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.goto(f"{server}/console")
    assert "/login" in page.url
    sign_in(page, server, "operator", PASSWORD)
    page.goto(f"{server}/console")
    assert page.get_by_role("heading", level=1).inner_text().startswith("工作台")
    check_page(page, "console-home")
    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("^Workspace"))
    assert page.locator("html").get_attribute("lang") == "en"
    page.get_by_role("link", name="中文").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("^工作台"))
    page.get_by_test_id("large-text").click()
    expect(page.locator("body")).to_have_class(re.compile("large-text"))
    check_page(page, "console-home-larger-text")
    page.get_by_test_id("large-text").click()
    expect(page.locator("body")).not_to_have_class(re.compile("large-text"))
    page.goto(f"{server}/console/no-such-area")
    expect(page.get_by_test_id("error")).to_be_visible()
    check_page(page, "console-not-found")
    assert not failed, failed
    page.close()
