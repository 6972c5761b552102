"""The console's home (what needs me now, by role and scope), accounts (administrators only)
and audit (auditors and administrators) pages, on both databases, and each page in a real
browser."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import expect
from sqlalchemy import Engine, select, text, update

from luodi.audit import service as audit
from luodi.audit.models import AuditEntry
from luodi.auth.actor import SYSTEM_ACTOR, Actor
from luodi.db import session_scope
from luodi.jobs import worker
from luodi.policy.service import find_policy
from luodi.programs import intake
from luodi.programs import service as programs
from luodi.programs.models import Application
from luodi.scoring import service as scoring_service
from luodi.web.console import audit as console_audit
from luodi.web.console.audit import PAGE_SIZE
from tests.web.browser import check_page, sign_in
from tests.web.conftest import AS_OF, PASSWORD
from tests.web.console.test_shell import page_client


@pytest.fixture(scope="module")
def waiting(
    loaded_engine: Engine, accounts: dict[str, Actor], city: pl.DataFrame
) -> dict[str, Any]:
    """A health-check cycle (总工会) closing in three days with six applications waiting for
    the department: three of the first town's residents, three of the second's; the first
    one's review deadline long past (submitted 40 days ago)."""
    towns = city["town_code"].unique(maintain_order=True).to_list()
    mine = accounts["resident"].id_number
    first = city.filter(pl.col("town_code") == towns[0], pl.col("id_number") != mine)
    second = city.filter(pl.col("town_code") == towns[1])
    numbers = [*first["id_number"].tail(3).to_list(), *second["id_number"].tail(3).to_list()]
    today = date.today()
    with session_scope(loaded_engine) as session:
        scoring_service.score_registry(SYSTEM_ACTOR, session, find_policy("zj-cixi", AS_OF), AS_OF)
        cycle = programs.open_cycle(
            SYSTEM_ACTOR,
            session,
            "health-check",
            "dashboard",
            today - timedelta(days=1),
            today + timedelta(days=3),
            AS_OF,
            places=4,
        )
        ids = intake.submit_applications(
            SYSTEM_ACTOR, session, cycle.id, [{"id_number": number} for number in numbers]
        )
        session.execute(
            update(Application)
            .where(Application.id == ids[0])
            .values(submitted_at=datetime.now(UTC) - timedelta(days=40))
        )
        return {"cycle": cycle.id, "first_town": ids[:3], "second_town": ids[3:]}


def _application_links(html: str) -> set[int]:
    return {int(found) for found in re.findall(r'href="/console/applications/(\d+)"', html)}


def _section(html: str, testid: str) -> str:
    """The HTML of one section of the page (``data-testid``), or '' when it is not there."""
    found = re.search(rf'<section[^>]*data-testid="{testid}".*?</section>', html, re.S)
    return found.group(0) if found else ""


# --- /console -----------------------------------------------------------------------------


def test_a_reviewer_sees_their_departments_waiting_applications_only(
    client: TestClient, waiting: dict[str, Any]
) -> None:
    everyone = {*waiting["first_town"], *waiting["second_town"]}
    html = page_client(client, "health").get("/console").text
    assert everyone <= _application_links(_section(html, "waiting"))
    assert f'href="/console/cycles/{waiting["cycle"]}"' in _section(html, "cycles")
    # The one submitted forty days ago is past its deadline: overdue, and said so.
    assert f'href="/console/applications/{waiting["first_town"][0]}"' in _section(html, "overdue")
    assert _section(html, "objections")  # reviewers decide objections
    other = page_client(client, "edu").get("/console").text
    assert not everyone & _application_links(other)
    assert "没有等待审核的申请" in _section(other, "waiting")
    client.cookies.clear()


def test_town_staff_see_their_towns_applications_and_residents(
    client: TestClient, waiting: dict[str, Any]
) -> None:
    html = page_client(client, "town").get("/console").text
    shown = _application_links(_section(html, "waiting"))
    assert set(waiting["first_town"]) <= shown
    assert not set(waiting["second_town"]) & shown
    residents = _section(html, "residents")
    assert residents and "/console/residents/" in residents
    # No area of theirs has imports, objections, scoring or the audit chain.
    for absent in ("imports", "objections", "scoring", "verification"):
        assert not _section(html, absent), absent
    second = page_client(client, "town2").get("/console").text
    assert set(waiting["second_town"]) <= _application_links(second)
    assert not set(waiting["first_town"]) & _application_links(second)
    client.cookies.clear()


def test_the_service_centre_sees_everything_waiting_and_the_last_runs(
    client: TestClient, waiting: dict[str, Any]
) -> None:
    html = page_client(client, "operator").get("/console").text
    assert {*waiting["first_town"], *waiting["second_town"]} <= _application_links(html)
    assert _section(html, "imports") and _section(html, "scoring")
    assert re.search(r'href="/console/scoring/\d+"', _section(html, "scoring"))
    assert not _section(html, "verification")  # the audit chain is the auditor's
    cards = re.search(r'data-testid="cards".*?</ul>', html, re.S)
    assert cards and "待审核申请" in cards.group(0) and "逾期未办" in cards.group(0)
    client.cookies.clear()


# --- /console/users -----------------------------------------------------------------------


@pytest.mark.parametrize("username", ["operator", "auditor", "edu", "town"])
def test_accounts_are_the_administrators_only(
    client: TestClient, accounts: dict[str, Actor], username: str
) -> None:
    page_client(client, username)
    for path in ("/console/users", "/console/users/new", "/console/users/tokens"):
        assert client.get(path).status_code == 404, path
    client.cookies.clear()


def _form(client: TestClient, path: str, **fields: str) -> Any:
    return client.post(
        path,
        data={**fields, "csrf_token": client.cookies.get("luodi_csrf") or ""},
        follow_redirects=False,
    )


def test_an_account_refused_keeps_what_was_typed_but_the_password(
    client: TestClient, accounts: dict[str, Actor]
) -> None:
    page_client(client, "admin")
    client.get("/console/users/new")
    answer = _form(
        client,
        "/console/users/new",
        username="new.town.staff",
        role="town_staff",
        password="a secret never shown",
    )
    assert answer.status_code == 422
    html = answer.text
    assert 'data-testid="error-summary"' in html and 'href="#town"' in html
    assert "镇街工作人员账号必须绑定镇街" in html
    assert 'value="new.town.staff"' in html
    assert "a secret never shown" not in html
    # A username already taken is marked on its field.
    taken = _form(client, "/console/users/new", username="edu", role="operator", password="x" * 12)
    assert taken.status_code == 422 and 'href="#username"' in taken.text
    client.cookies.clear()


def test_add_then_disable_an_account_and_it_cannot_sign_in(
    client: TestClient, accounts: dict[str, Actor], city: pl.DataFrame
) -> None:
    page_client(client, "admin")
    client.get("/console/users/new")
    town = city["town_code"][0]
    added = _form(
        client,
        "/console/users/new",
        username="leaver.console",
        role="town_staff",
        town=town,
        password=PASSWORD,
    )
    assert added.status_code == 303, added.text
    user_page = added.headers["location"]
    assert re.fullmatch(r"/console/users/\d+", user_page)
    listing = client.get("/console/users", params={"name": "leaver"}).text
    assert "leaver.console" in listing and "镇街工作人员" in listing and "镇街：" in listing
    assert town not in listing.split('data-testid="users"')[1]  # the town's name, not its code
    # The account signs in, then the administrator disables it after a confirmation.
    token = client.post(
        "/api/v1/auth/token", data={"username": "leaver.console", "password": PASSWORD}
    ).json()["access_token"]
    assert "确认停用" in client.get(f"{user_page}/disable").text
    disabled = _form(client, f"{user_page}/disable")
    assert disabled.status_code == 303
    shown = client.get(user_page)
    assert "已停用" in shown.text and "停用</span>" in shown.text
    refused = client.post(
        "/api/v1/auth/token", data={"username": "leaver.console", "password": PASSWORD}
    )
    assert refused.status_code == 401
    assert (
        client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code
        == 401
    )
    # Enabled again, it signs in anew (its old token stays revoked).
    assert _form(client, f"{user_page}/enable").status_code == 303
    again = client.post(
        "/api/v1/auth/token", data={"username": "leaver.console", "password": PASSWORD}
    )
    assert again.status_code == 200
    assert (
        client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code
        == 401
    )
    # A password reset: the new one works, the old one no longer.
    client.get(f"{user_page}/password")
    differ = _form(client, f"{user_page}/password", password="n" * 12, confirm="m" * 12)
    assert differ.status_code == 422 and 'href="#confirm"' in differ.text
    reset = _form(client, f"{user_page}/password", password="n" * 12, confirm="n" * 12)
    assert reset.status_code == 303
    assert (
        client.post(
            "/api/v1/auth/token", data={"username": "leaver.console", "password": PASSWORD}
        ).status_code
        == 401
    )
    history = client.get(
        "/console/audit", params={"object_type": "user", "object_id": "leaver.console"}
    ).text
    for action in ("user.add", "user.disable", "user.enable", "user.password"):
        assert action in history, action
    client.cookies.clear()


def test_an_administrator_cannot_disable_their_own_account(
    client: TestClient, accounts: dict[str, Actor], loaded_engine: Engine
) -> None:
    page_client(client, "admin")
    with session_scope(loaded_engine) as session:
        from luodi.auth.models import User

        admin_id = session.scalar(select(User.id).where(User.username == "admin"))
    page = client.get(f"/console/users/{admin_id}").text
    assert f"/console/users/{admin_id}/disable" not in page
    answer = _form(client, f"/console/users/{admin_id}/disable")
    assert answer.status_code == 409 and "不能停用自己的账号" in answer.text
    client.cookies.clear()


def test_a_department_token_is_shown_once_then_listed_masked_and_revoked(
    client: TestClient, accounts: dict[str, Actor]
) -> None:
    page_client(client, "admin")
    client.get("/console/users/tokens")
    refused = _form(client, "/console/users/tokens", department="教育局", days="5000")
    assert refused.status_code == 422 and 'href="#days"' in refused.text
    assert 'value="教育局"' in refused.text
    issued = _form(client, "/console/users/tokens", department="教育局", days="30")
    assert issued.status_code == 200 and issued.headers["cache-control"] == "no-store"
    token = re.search(r'data-testid="token">([^<]+)<', issued.text)
    assert token is not None
    secret = token.group(1)
    assert "只显示这一次" in issued.text
    bearer = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/feeds/batches", headers=bearer).status_code == 200
    listing = client.get("/console/users/tokens").text
    assert secret not in listing
    token_id = int(re.findall(r'data-token="(\d+)"', listing)[0])  # newest first
    assert "撤销令牌" in listing and "••••" in listing
    assert "确认撤销" in client.get(f"/console/users/tokens/{token_id}/revoke").text
    revoked = _form(client, f"/console/users/tokens/{token_id}/revoke")
    assert revoked.status_code == 303
    row = re.search(
        rf'<tr data-token="{token_id}">.*?</tr>', client.get(revoked.headers["location"]).text, re.S
    )
    assert row and "已撤销" in row.group(0)
    assert client.get("/api/v1/feeds/batches", headers=bearer).status_code == 401
    assert _form(client, f"/console/users/tokens/{token_id}/revoke").status_code == 409
    # A web session is not a department token: this page does not revoke it.
    session_token = client.get("/console/users/tokens/1/revoke")
    assert session_token.status_code == 404
    assert client.get("/console/users/tokens/2147483648/revoke").status_code == 404
    history = client.get(
        "/console/audit", params={"object_type": "token", "object_id": str(token_id)}
    ).text
    assert "token.add" in history and "token.revoke" in history
    assert secret not in history
    client.cookies.clear()


# --- /console/audit -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def paging_entries(loaded_engine: Engine) -> list[int]:
    """PAGE_SIZE + 7 entries about one kind of object, by one actor: the seqs, in order."""
    with session_scope(loaded_engine) as session:
        return [
            audit.record(session, SYSTEM_ACTOR, "test.page", "paging_probe", n).seq
            for n in range(PAGE_SIZE + 7)
        ]


def test_audit_entries_by_object_actor_and_time_in_pages(
    client: TestClient, accounts: dict[str, Actor], paging_entries: list[int]
) -> None:
    page_client(client, "auditor")
    first = client.get("/console/audit", params={"object_type": "paging_probe"}).text
    seqs = [int(seq) for seq in re.findall(r'<tr data-seq="(\d+)">', first)]
    assert seqs == sorted(paging_entries, reverse=True)[:PAGE_SIZE]
    assert f"共 {PAGE_SIZE + 7} 条记录" in first and 'rel="next"' in first
    second = client.get("/console/audit", params={"object_type": "paging_probe", "page": 2}).text
    assert [int(s) for s in re.findall(r'<tr data-seq="(\d+)">', second)] == sorted(
        paging_entries, reverse=True
    )[PAGE_SIZE:]
    one = client.get(
        "/console/audit", params={"object_type": "paging_probe", "object_id": "3"}
    ).text
    assert re.findall(r'<tr data-seq="(\d+)">', one) == [str(paging_entries[3])]
    by_system = client.get("/console/audit", params={"by": "system"}).text
    by_nobody = client.get("/console/audit", params={"by": "nobody-at-all"}).text
    assert "test.page" in by_system and "没有符合条件的记录" in by_nobody
    today = date.today()
    within = client.get(
        "/console/audit",
        params={
            "object_type": "paging_probe",
            "since": (today - timedelta(days=1)).isoformat(),
            "until": (today + timedelta(days=1)).isoformat(),
        },
    ).text
    later = client.get(
        "/console/audit",
        params={"object_type": "paging_probe", "since": (today + timedelta(days=2)).isoformat()},
    ).text
    assert f"共 {PAGE_SIZE + 7} 条记录" in within and "共 0 条记录" in later
    backwards = client.get(
        "/console/audit",
        params={"since": today.isoformat(), "until": (today - timedelta(days=3)).isoformat()},
    )
    assert backwards.status_code == 422 and 'href="#until"' in backwards.text
    wrong = client.get("/console/audit", params={"since": "2026-13-40"})
    assert wrong.status_code == 422 and 'href="#since"' in wrong.text
    client.cookies.clear()


def test_the_audit_log_is_for_auditors_and_administrators(
    client: TestClient, accounts: dict[str, Actor]
) -> None:
    for username in ("operator", "edu", "town"):
        assert page_client(client, username).get("/console/audit").status_code == 404
    assert page_client(client, "admin").get("/console/audit").status_code == 200
    client.cookies.clear()


def test_a_long_chain_is_verified_by_a_job_with_its_progress(
    client: TestClient,
    accounts: dict[str, Actor],
    loaded_engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(console_audit, "INLINE_ENTRIES", 0)
    page_client(client, "auditor")
    client.get("/console/audit")
    answer = _form(client, "/console/audit/verify")
    assert answer.status_code == 303
    found = re.fullmatch(r"/console/audit\?job=(\d+)#verify", answer.headers["location"])
    assert found is not None
    job_id = int(found.group(1))
    page = client.get(answer.headers["location"]).text
    assert "校验已开始" in page and 'data-testid="job"' in page
    worker.run_pending(loaded_engine)
    fragment = client.get(f"/console/audit/jobs/{job_id}").text
    assert 'data-state="done"' in fragment and "校验完成，查看结果" in fragment
    verdict = re.search(r'data-testid="verdict".*?</div>', client.get("/console/audit").text, re.S)
    assert verdict and 'data-intact="yes"' in verdict.group(0)
    # Only verification jobs have a place here.
    assert client.get("/console/audit/jobs/999999").status_code == 404
    client.cookies.clear()


def test_verifying_the_chain_says_intact_or_where_it_broke(
    client: TestClient, accounts: dict[str, Actor], loaded_engine: Engine
) -> None:
    page_client(client, "auditor")
    client.get("/console/audit")
    answer = _form(client, "/console/audit/verify")
    assert answer.status_code == 303
    page = client.get(answer.headers["location"]).text
    assert "审计链完整" in page  # the flash message
    verdict = re.search(r'data-testid="verdict".*?</div>', page, re.S)
    assert verdict and 'data-intact="yes"' in verdict.group(0)
    assert "审计链最近一次校验" in client.get("/console").text
    # Somebody edits an entry in the database behind the application's back.
    with session_scope(loaded_engine) as session:
        victim = session.scalars(select(AuditEntry).where(AuditEntry.seq == 2)).one()
        original = victim.action
    with loaded_engine.begin() as connection:
        connection.execute(text("UPDATE audit_entries SET action = 'forged' WHERE seq = 2"))
    try:
        broken = client.get(_form(client, "/console/audit/verify").headers["location"]).text
        assert "审计链已被破坏：第 2 条起不符" in broken
        verdict = re.search(r'data-testid="verdict".*?</div>', broken, re.S)
        assert verdict and 'data-intact="no"' in verdict.group(0)
        assert "第 2 条记录不符：内容与哈希不符（条目被修改）" in verdict.group(0)
    finally:
        with loaded_engine.begin() as connection:
            connection.execute(
                text("UPDATE audit_entries SET action = :action WHERE seq = 2"),
                {"action": original},
            )
    assert (
        "审计链完整" in client.get(_form(client, "/console/audit/verify").headers["location"]).text
    )
    client.cookies.clear()


def test_the_pages_in_english(client: TestClient, accounts: dict[str, Actor]) -> None:
    page_client(client, "admin")
    client.cookies.set("luodi_lang", "en")
    audit_page = client.get("/console/audit").text
    assert "Audit log" in audit_page and "Verify the audit chain" in audit_page
    assert "审计日志" not in audit_page and "校验审计链" not in audit_page
    users = client.get("/console/users").text
    assert "Accounts" in users and "Add an account" in users and "账号管理" not in users
    home = client.get("/console").text
    assert "Waiting for review" in home and "等待审核的申请" not in home
    client.cookies.clear()


# --- in a browser -------------------------------------------------------------------------


def test_the_admin_pages_in_a_browser(
    pages_on_one_database: None,
    server: str,
    browser: Any,
    accounts: dict[str, Actor],
    waiting: dict[str, Any],
) -> None:
    page = browser.new_page()
    sign_in(page, server, "admin", PASSWORD)
    page.goto(f"{server}/console")
    check_page(page, "admin-home")
    page.goto(f"{server}/console/users")
    check_page(page, "admin-users")
    page.get_by_role("link", name="添加账号").click()
    page.get_by_label("用户名").fill("browser.reviewer")
    page.get_by_label("角色").select_option("reviewer")
    page.get_by_label("初始密码").fill(PASSWORD)
    page.get_by_role("button", name="添加账号").click()
    expect(page.get_by_test_id("error-summary")).to_be_visible()
    assert page.get_by_label("用户名").input_value() == "browser.reviewer"
    check_page(page, "admin-user-new-error")
    page.get_by_label("部门", exact=True).fill("教育局")
    page.get_by_label("初始密码").fill(PASSWORD)
    page.get_by_role("button", name="添加账号").click()
    expect(page.get_by_test_id("flash")).to_be_visible()
    check_page(page, "admin-user")
    page.get_by_role("link", name="停用账号").click()
    check_page(page, "admin-user-disable")
    page.get_by_role("button", name="确认停用").click()
    page.get_by_role("link", name="重设密码").click()
    check_page(page, "admin-user-password")
    page.goto(f"{server}/console/users/tokens")
    check_page(page, "admin-tokens")
    page.get_by_label("部门", exact=True).fill("总工会")
    page.get_by_role("button", name="签发令牌").click()
    assert page.get_by_test_id("token").inner_text().strip()
    check_page(page, "admin-token-issued")
    page.get_by_role("link", name="我已复制，返回令牌列表").click()
    page.locator("tr[data-token] a").first.click()
    check_page(page, "admin-token-revoke")
    page.get_by_role("button", name="确认撤销").click()
    expect(page.get_by_test_id("flash")).to_be_visible()
    page.goto(f"{server}/console/audit")
    page.get_by_role("button", name="立即校验").click()
    assert page.get_by_test_id("verdict").get_attribute("data-intact") == "yes"
    check_page(page, "admin-audit")
    page.close()
    reviewer = browser.new_page()
    sign_in(reviewer, server, "health", PASSWORD)
    reviewer.goto(f"{server}/console")
    check_page(reviewer, "admin-home-reviewer")
    reviewer.close()
