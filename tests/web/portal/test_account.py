"""The account pages in-process (TestClient), on SQLite and PostgreSQL: a resident activates
with a code texted to the registered phone and lands on /my signed in; a forgotten password
reset the same way ends the other sessions; errors re-render the form with its error
summary; the public answer is the same for anybody; CSRF; the console's activation code of
a resident. One real-browser test of /activate (SQLite)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import expect
from sqlalchemy import Engine, select

from luodi.auth.actor import Actor
from luodi.auth.codes import FileSender
from luodi.db import session_scope
from luodi.registry.models import Resident
from luodi.settings import get_settings
from tests.auth.outbox import read_last_code
from tests.web.browser import check_page, sign_in
from tests.web.conftest import PASSWORD

NEW_PASSWORD = "a brand new password"


@pytest.fixture(scope="module")
def outbox(client: TestClient, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The app's code sender writes to this file (the development SMS gateway)."""
    path = tmp_path_factory.mktemp("outbox") / "outbox.txt"
    client.app.state.code_sender = FileSender(path)  # type: ignore[attr-defined]
    return path


@pytest.fixture(scope="module")
def people(city: pl.DataFrame, accounts: dict[str, Actor]) -> list[dict[str, str]]:
    """Residents of the first town (the ``town`` account's) who have no account yet."""
    first_town = city["town_code"][0]
    taken = {accounts["resident"].id_number}
    rows = city.filter(pl.col("town_code") == first_town, pl.col("phone").is_not_null())
    return [row for row in rows.to_dicts() if row["id_number"] not in taken][:4]


def fresh(client: TestClient) -> str:
    """A visitor with no session: the CSRF token a page gave them."""
    client.cookies.clear()
    client.get("/login")
    token = client.cookies.get("luodi_csrf")
    assert token
    return token


def ask_for_code(client: TestClient, path: str, id_number: str, suffix: str) -> Any:
    return client.post(
        f"{path}/code",
        data={"id_number": id_number, "phone_suffix": suffix, "csrf_token": fresh(client)},
        follow_redirects=False,
    )


def set_password(
    client: TestClient, path: str, id_number: str, code: str, password: str, again: str
) -> Any:
    return client.post(
        path,
        data={
            "id_number": id_number,
            "code": code,
            "password": password,
            "password_confirm": again,
            "csrf_token": client.cookies.get("luodi_csrf") or fresh(client),
        },
        follow_redirects=False,
    )


def test_a_resident_activates_with_a_texted_code_and_lands_signed_in(
    client: TestClient, outbox: Path, people: list[dict[str, str]]
) -> None:
    person = people[0]
    page = client.get("/activate")
    assert page.status_code == 200 and 'action="/activate"' in page.text
    answer = ask_for_code(client, "/activate", person["id_number"], person["phone"][-4:])
    assert answer.status_code == 303 and answer.headers["location"] == "/activate"
    code = read_last_code(outbox, person["phone"])
    assert len(code) == 6

    mismatch = set_password(
        client, "/activate", person["id_number"], code, NEW_PASSWORD, NEW_PASSWORD + "x"
    )
    assert mismatch.status_code == 422
    assert (
        'data-testid="error-summary"' in mismatch.text
        and 'href="#password_confirm"' in mismatch.text
    )
    assert person["id_number"] in mismatch.text and NEW_PASSWORD not in mismatch.text
    wrong = "000000" if code != "000000" else "111111"
    refused = set_password(
        client, "/activate", person["id_number"], wrong, NEW_PASSWORD, NEW_PASSWORD
    )
    assert refused.status_code == 401 and 'href="#code"' in refused.text

    done = set_password(client, "/activate", person["id_number"], code, NEW_PASSWORD, NEW_PASSWORD)
    assert done.status_code == 303 and done.headers["location"] == "/my"
    assert client.cookies.get("luodi_session")
    mine = client.get("/my")
    assert mine.status_code == 200 and "账户已激活" in mine.text
    # From now on the ID number and the new password sign in.
    client.cookies.clear()
    client.get("/login")
    signed = client.post(
        "/login",
        data={
            "username": person["id_number"],
            "password": NEW_PASSWORD,
            "csrf_token": client.cookies.get("luodi_csrf"),
        },
        follow_redirects=False,
    )
    assert signed.status_code == 303 and signed.headers["location"] == "/my"


def test_the_answer_is_the_same_for_anybody(
    client: TestClient, outbox: Path, people: list[dict[str, str]], city: pl.DataFrame
) -> None:
    person = people[1]
    before = outbox.read_text(encoding="utf-8") if outbox.exists() else ""
    answers = [
        ask_for_code(client, "/activate", number, suffix)
        for number, suffix in (
            ("110101199003070038", "1234"),  # nobody of the registry
            (person["id_number"], "0000" if person["phone"][-4:] != "0000" else "1111"),
            (person["id_number"], person["phone"][-4:]),  # the only one that sends
        )
    ]
    assert {
        (a.status_code, a.headers["location"], a.cookies.get("luodi_flash")) for a in answers
    } == {(303, "/activate", answers[0].cookies.get("luodi_flash"))}
    after = outbox.read_text(encoding="utf-8")
    assert after.count("\n") - before.count("\n") == 1 and person["phone"] in after
    malformed = ask_for_code(client, "/activate", "12345", "12")
    assert malformed.status_code == 422 and 'href="#id_number"' in malformed.text
    assert 'value="12345"' in malformed.text  # what was typed is kept


def test_a_forgotten_password_is_reset_and_other_sessions_end(
    client: TestClient, outbox: Path, accounts: dict[str, Actor], city: pl.DataFrame
) -> None:
    number = accounts["resident"].id_number
    assert number
    phone = city.filter(pl.col("id_number") == number)["phone"][0]
    fresh(client)
    client.post(
        "/login",
        data={
            "username": "resident",
            "password": PASSWORD,
            "csrf_token": client.cookies.get("luodi_csrf"),
        },
    )
    old_session = client.cookies.get("luodi_session")
    assert old_session and client.get("/my").status_code == 200
    assert ask_for_code(client, "/reset-password", number, phone[-4:]).status_code == 303
    code = read_last_code(outbox, phone)
    page = client.get("/reset-password")
    assert page.status_code == 200 and 'action="/reset-password"' in page.text
    done = set_password(client, "/reset-password", number, code, NEW_PASSWORD, NEW_PASSWORD)
    assert done.status_code == 303 and done.headers["location"] == "/my"
    assert client.get("/my").status_code == 200
    client.cookies.clear()
    client.cookies.set("luodi_session", old_session)
    stale = client.get("/my", follow_redirects=False)
    assert stale.status_code == 303 and stale.headers["location"].startswith("/login")
    # A second text within a minute is not sent (the answer is the same all the same).
    assert ask_for_code(client, "/reset-password", number, phone[-4:]).status_code == 303
    assert read_last_code(outbox, phone) == code


def test_forms_need_their_csrf_token(client: TestClient, people: list[dict[str, str]]) -> None:
    fresh(client)
    for path, data in (
        ("/activate", {"id_number": people[2]["id_number"], "code": "123456"}),
        ("/activate/code", {"id_number": people[2]["id_number"], "phone_suffix": "1234"}),
        ("/reset-password", {"id_number": people[2]["id_number"], "code": "123456"}),
    ):
        assert client.post(path, data=data, follow_redirects=False).status_code == 403
        forged = client.post(path, data={**data, "csrf_token": "forged"}, follow_redirects=False)
        assert forged.status_code == 403


def test_the_sign_in_page_links_to_activation_and_reset(client: TestClient) -> None:
    page = client.get("/login")
    assert 'href="/activate"' in page.text and 'href="/reset-password"' in page.text
    client.cookies.set("luodi_lang", "en")
    english = client.get("/activate").text
    client.cookies.delete("luodi_lang")
    assert "Activate my account" in english and "激活账户" not in english


def resident_id(engine: Engine, id_number: str) -> int:
    with session_scope(engine) as session:
        return int(
            session.scalars(select(Resident.id).where(Resident.id_number == id_number)).one()
        )


def test_staff_issue_a_code_at_the_counter(
    client: TestClient,
    loaded_engine: Engine,
    outbox: Path,
    people: list[dict[str, str]],
    accounts: dict[str, Actor],
) -> None:
    person = people[2]
    target = resident_id(loaded_engine, person["id_number"])
    for username, shown in (("town", True), ("town2", False), ("auditor", False)):
        csrf = fresh(client)
        client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": csrf})
        page = client.get(f"/console/residents/{target}")
        assert ('data-testid="issue-code"' in page.text) == shown, username
        issued = client.post(
            f"/console/residents/{target}/activation-code",
            data={"csrf_token": client.cookies.get("luodi_csrf")},
            follow_redirects=False,
        )
        if not shown:
            assert issued.status_code in (403, 404), (username, issued.status_code)
            continue
        assert issued.status_code == 200
        found = re.search(r"<kbd>([0-9]{8})</kbd>", issued.text)
        assert found, issued.text[:500]
        assert client.get(f"/console/residents/{target}").text.count(found.group(1)) == 0
        sent = client.post(
            f"/console/residents/{target}/activation-code",
            data={"csrf_token": client.cookies.get("luodi_csrf"), "send": "1"},
            follow_redirects=False,
        )
        assert sent.status_code == 303
        texted = read_last_code(outbox, person["phone"])
        # A text does not void the counter's code (a phone request by anybody would then
        # cancel it); either works, and the first one used ends the other.
        fresh(client)
        assert (
            set_password(
                client, "/activate", person["id_number"], texted, NEW_PASSWORD, NEW_PASSWORD
            ).status_code
            == 303
        )
        fresh(client)
        assert (
            set_password(
                client, "/activate", person["id_number"], found.group(1), NEW_PASSWORD, NEW_PASSWORD
            ).status_code
            == 401
        )


def test_activation_in_a_browser(
    pages_on_one_database: None,
    server: str,
    browser: Any,
    people: list[dict[str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The phone's whole way: the sign-in page's link, a code to the registered phone (read
    from the file sender's outbox), the new password, signed in on /my."""
    outbox = tmp_path / "outbox.txt"
    monkeypatch.setenv("LUODI_CODE_SENDER", "file")
    monkeypatch.setenv("LUODI_CODE_OUTBOX", str(outbox))
    get_settings.cache_clear()
    person = people[3]
    page = browser.new_page(viewport={"width": 390, "height": 844})
    try:
        page.goto(f"{server}/login")
        page.get_by_test_id("activate-link").click()
        expect(page.get_by_role("heading", name="激活账户")).to_be_visible()
        check_page(page, "portal-activate")
        page.get_by_test_id("ask-code").click()
        page.get_by_label("身份证号").fill(person["id_number"])
        page.get_by_label("登记手机号码后4位").fill(person["phone"][-4:])
        check_page(page, "portal-activate-code")
        page.get_by_role("button", name="发送验证码").click()
        expect(page.get_by_test_id("flash")).to_contain_text("验证码已发送")
        page.get_by_label("身份证号").fill(person["id_number"])
        page.get_by_label("验证码").fill("999999")
        page.get_by_label("新密码", exact=True).fill(NEW_PASSWORD)
        page.get_by_label("再次输入新密码").fill(NEW_PASSWORD)
        page.get_by_role("button", name="激活并登录").click()
        expect(page.get_by_test_id("error-summary")).to_be_visible()
        check_page(page, "portal-activate-error")
        page.get_by_label("验证码").fill(read_last_code(outbox, person["phone"]))
        page.get_by_label("新密码", exact=True).fill(NEW_PASSWORD)
        page.get_by_label("再次输入新密码").fill(NEW_PASSWORD)
        page.get_by_role("button", name="激活并登录").click()
        expect(page.get_by_test_id("flash")).to_contain_text("账户已激活")
        assert page.url.endswith("/my")
        page.get_by_role("button", name="退出").click()
        sign_in(page, server, person["id_number"], NEW_PASSWORD)
        expect(page.get_by_role("heading", name="我的服务")).to_be_visible()
    finally:
        page.close()
        get_settings.cache_clear()
