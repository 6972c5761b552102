"""The console's cycles area: opening a cycle through its form, the application queue
(filters, paging in SQL), the verification screen (verify, return with a reason, bulk verify
with its confirmation), scope (404) and the English page; one run in a real browser."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import expect
from sqlalchemy import Engine, func, select, update

from luodi import workdays
from luodi.auth.actor import SYSTEM_ACTOR, Actor
from luodi.db import session_scope
from luodi.programs import intake
from luodi.programs import service as programs
from luodi.programs.catalog import cycle_spec
from luodi.programs.models import Application, ProgramCycle
from luodi.scoring import service as scoring_service
from luodi.web import i18n
from luodi.web.console import cycles
from tests.web.browser import check_page, sign_in
from tests.web.conftest import PASSWORD
from tests.web.console.test_shell import page_client

APPLICANTS = 30
OLD, RECENT = 3, 2
"""Applications filed 40 days ago (overdue) and 9 days ago (due within days)."""


@pytest.fixture(scope="module")
def queue(
    loaded_engine: Engine, accounts: dict[str, Actor], city: pl.DataFrame, cycle: dict[str, Any]
) -> dict[str, Any]:
    """A health-check cycle (总工会) of 30 submitted applications, the first OLD filed long ago
    and the next RECENT nine days ago (the shared ``cycle`` fixture scored the city)."""
    today = date.today()
    numbers = city["id_number"].slice(20, APPLICANTS).to_list()
    with session_scope(loaded_engine) as session:
        opened = programs.open_cycle(
            SYSTEM_ACTOR,
            session,
            "health-check",
            "queue",
            today - timedelta(days=1),
            today + timedelta(days=5),
            date(2026, 3, 1),
            places=5,
        )
        ids = intake.submit_applications(
            SYSTEM_ACTOR, session, opened.id, [{"id_number": number} for number in numbers]
        )
        now = datetime.now(UTC)
        session.execute(
            update(Application)
            .where(Application.id.in_(ids[:OLD]))
            .values(submitted_at=now - timedelta(days=40))
        )
        session.execute(
            update(Application)
            .where(Application.id.in_(ids[OLD : OLD + RECENT]))
            .values(submitted_at=now - timedelta(days=9))
        )
        return {"cycle": opened.id, "ids": ids, "numbers": numbers}


def row_ids(html: str) -> list[int]:
    return [int(found) for found in re.findall(r'data-testid="queue-row" data-id="(\d+)"', html)]


def status_of(engine: Engine, application_id: int) -> tuple[str, str | None]:
    with session_scope(engine) as session:
        found = session.get(Application, application_id)
        assert found is not None
        return found.status, found.reason


def test_the_list_shows_cycles_in_words(
    client: TestClient, queue: dict[str, Any], accounts: dict[str, Actor], city: pl.DataFrame
) -> None:
    page_client(client, "operator")
    html = client.get("/console/cycles").text
    assert "新市民免费健康体检" in html and "受理中" in html
    assert f'href="/console/cycles/{queue["cycle"]}"' in html
    assert "待审核 30" in html
    assert 'href="/console/cycles/new"' in html
    page_client(client, "health")
    assert 'href="/console/cycles/new"' not in client.get("/console/cycles").text
    # Town staff count their own town's applicants only.
    page_client(client, "town2")
    town = accounts["town2"].town_code
    theirs = city.filter(pl.col("id_number").is_in(queue["numbers"]), pl.col("town_code") == town)
    row = re.search(
        rf'href="/console/cycles/{queue["cycle"]}">.*?</tr>',
        client.get("/console/cycles").text,
        re.S,
    )
    assert row is not None
    assert (f"待审核 {theirs.height}" if theirs.height else "还没有申请") in row.group(0)


def test_open_a_cycle_through_the_form(
    client: TestClient, loaded_engine: Engine, small_city: Path
) -> None:
    page_client(client, "operator")
    form = client.get("/console/cycles/new?program=school-entry").text
    assert 'for="targets"' in form and "grade_1_min_age" in form
    today = date.today()
    schools = small_city / "schools.csv"
    answer = client.post(
        "/console/cycles",
        data={
            "csrf_token": client.cookies.get("luodi_csrf"),
            "program": "school-entry",
            "name": "表单开设",
            "opens": today.isoformat(),
            "closes": (today + timedelta(days=10)).isoformat(),
            "as_of": "2026-03-01",
            "notice_days": "5",
            "entry_grade": "1",
        },
        files={"targets": ("schools.csv", schools.read_bytes(), "text/csv")},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    page = client.get(answer.headers["location"]).text
    assert "已开设周期：表单开设" in page
    listed = pl.read_csv(schools, infer_schema=False).filter(pl.col("entry_grade") == "1")
    hot = listed.filter(pl.col("hot") == "是")["name"].to_list()
    assert hot, "the synthetic schools file lists hot schools"
    shown = re.search(r'data-testid="hot-schools">(.*?)</p>', page, re.S)
    assert shown is not None and all(name in shown.group(1) for name in hot)
    assert page.count("<tr><td>") >= listed.height


def test_a_refused_cycle_keeps_the_input_and_writes_nothing(
    client: TestClient, loaded_engine: Engine
) -> None:
    page_client(client, "operator")
    with session_scope(loaded_engine) as session:
        before = session.scalar(select(func.count()).select_from(ProgramCycle))
    answer = client.post(
        "/console/cycles",
        data={
            "csrf_token": client.cookies.get("luodi_csrf"),
            "program": "health-check",
            "name": "倒过来的周期",
            "opens": "2026-06-10",
            "closes": "2026-06-01",
            "places": "0",
        },
    )
    assert answer.status_code == 422
    assert 'data-testid="error-summary"' in answer.text
    assert 'href="#places"' in answer.text or 'href="#closes"' in answer.text
    assert 'value="倒过来的周期"' in answer.text and 'value="2026-06-10"' in answer.text
    with session_scope(loaded_engine) as session:
        assert session.scalar(select(func.count()).select_from(ProgramCycle)) == before
    # A date that is no date is named by its field before anything is tried.
    answer = client.post(
        "/console/cycles",
        data={
            "csrf_token": client.cookies.get("luodi_csrf"),
            "program": "health-check",
            "name": "",
            "opens": "2026-13-01",
            "closes": "2026-06-01",
        },
    )
    assert answer.status_code == 422
    assert 'href="#opens"' in answer.text and 'href="#name"' in answer.text


def test_a_targets_file_problem_names_its_row_and_column(
    client: TestClient, small_city: Path
) -> None:
    page_client(client, "operator")
    rows = (small_city / "schools.csv").read_text(encoding="utf-8").splitlines()
    header = rows[0].split(",")
    broken = rows[1].split(",")
    broken[header.index("seats")] = "很多"
    answer = client.post(
        "/console/cycles",
        data={
            "csrf_token": client.cookies.get("luodi_csrf"),
            "program": "school-entry",
            "name": "坏文件",
            "opens": "2026-06-01",
            "closes": "2026-06-10",
            "entry_grade": "1",
        },
        files={
            "targets": ("学校.csv", "\n".join([rows[0], ",".join(broken)]).encode(), "text/csv")
        },
    )
    assert answer.status_code == 422
    assert 'href="#targets"' in answer.text
    assert "学校.csv" in answer.text and "第 2 行" in answer.text and "seats" in answer.text


def test_the_queue_pages_in_sql(client: TestClient, queue: dict[str, Any]) -> None:
    page_client(client, "health")
    first = client.get(f"/console/cycles/{queue['cycle']}")
    assert first.status_code == 200
    one = row_ids(first.text)
    assert len(one) == 25 and "共 30 份" in first.text
    two = row_ids(client.get(f"/console/cycles/{queue['cycle']}?page=2").text)
    assert len(two) == APPLICANTS - 25
    assert not set(one) & set(two) and sorted(one + two) == sorted(queue["ids"])


def test_the_queue_filters(
    client: TestClient, queue: dict[str, Any], loaded_engine: Engine, city: pl.DataFrame
) -> None:
    page_client(client, "health")
    url = f"/console/cycles/{queue['cycle']}"
    overdue = row_ids(client.get(f"{url}?deadline=overdue").text)
    assert overdue == queue["ids"][:OLD]
    today = workdays.today()
    nine_days_ago = today - timedelta(days=9)
    due = workdays.deadline(nine_days_ago, 10)
    soon = row_ids(client.get(f"{url}?deadline=soon&within=10").text)
    expected = queue["ids"][OLD : OLD + RECENT] if today <= due <= today + timedelta(10) else []
    assert soon == expected
    # The town filter: exactly the applicants of that town.
    towns = city.filter(pl.col("id_number").is_in(queue["numbers"]))
    town = towns["town_code"][0]
    wanted = {
        application_id
        for application_id, number in zip(queue["ids"], queue["numbers"], strict=True)
        if number in towns.filter(pl.col("town_code") == town)["id_number"].to_list()
    }
    shown = client.get(f"{url}?town={town}").text
    assert set(row_ids(shown)) == wanted and f"共 {len(wanted)} 份" in shown
    assert row_ids(client.get(f"{url}?status=returned").text) == []


def test_verify_and_return(
    client: TestClient, queue: dict[str, Any], loaded_engine: Engine
) -> None:
    page_client(client, "health")
    first, second = queue["ids"][10], queue["ids"][11]
    page = client.get(f"/console/applications/{first}")
    assert page.status_code == 200
    assert 'data-testid="declared"' in page.text and 'data-testid="feeds"' in page.text
    assert "持有效居住证" in page.text  # the program's rules, each with its outcome
    assert 'id="shortcuts"' in page.text and "快捷键" in page.text
    token = client.cookies.get("luodi_csrf")
    answer = client.post(
        f"/console/applications/{first}/verify",
        data={"csrf_token": token, "decision": "verify"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert status_of(loaded_engine, first) == ("verified", None)
    assert "已审核通过" in client.get(answer.headers["location"]).text
    refused = client.post(
        f"/console/applications/{second}/verify",
        data={"csrf_token": token, "decision": "return", "reason": "  "},
    )
    assert refused.status_code == 422
    assert 'href="#reason"' in refused.text and "退回必须写明原因" in refused.text
    assert status_of(loaded_engine, second) == ("submitted", None)
    answer = client.post(
        f"/console/applications/{second}/verify",
        data={"csrf_token": token, "decision": "return", "reason": "居住证复印件不清晰"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert status_of(loaded_engine, second) == ("returned", "居住证复印件不清晰")
    assert "已退回" in client.get(answer.headers["location"]).text


def test_the_service_centre_corrects_a_returned_application(
    client: TestClient, queue: dict[str, Any], loaded_engine: Engine
) -> None:
    page_client(client, "health")
    target = queue["ids"][12]
    client.post(
        f"/console/applications/{target}/verify",
        data={
            "csrf_token": client.cookies.get("luodi_csrf"),
            "decision": "return",
            "reason": "请补充材料",
        },
    )
    assert status_of(loaded_engine, target)[0] == "returned"
    assert 'data-testid="correct-form"' not in client.get(f"/console/applications/{target}").text
    page_client(client, "operator")
    page = client.get(f"/console/applications/{target}").text
    assert 'data-testid="correct-form"' in page and 'data-testid="verify-form"' not in page
    answer = client.post(
        f"/console/applications/{target}/correct",
        data={"csrf_token": client.cookies.get("luodi_csrf")},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert status_of(loaded_engine, target) == ("submitted", None)
    assert "已更正，待重新审核" in client.get(answer.headers["location"]).text


def test_a_difference_is_scored_through_the_policy(
    loaded_engine: Engine, queue: dict[str, Any]
) -> None:
    """A declared value that differs from the one the scoring run used: the points it
    changes are the policy's (社保 0.5 a month, at most 30)."""
    with session_scope(loaded_engine) as session, i18n.speaking("zh"):
        application = session.get(Application, queue["ids"][0])
        opened = session.get(ProgramCycle, queue["cycle"])
        assert application is not None and opened is not None
        spec = cycle_spec(opened)
        resident = application.resident_id
        recorded = scoring_service.what_if(
            SYSTEM_ACTOR, session, resident, spec.policy, {"social_insurance_months": -1}
        )[0].recorded
        declared = 0 if recorded else 10
        found, note = cycles._differences(
            SYSTEM_ACTOR, session, spec, resident, {"social_insurance_months": declared}
        )
        assert note is None and len(found) == 1
        expected = min(0.5 * declared, 30) - min(0.5 * int(str(recorded)), 30)
        assert found[0]["change"] == pytest.approx(expected) and expected != 0
        assert found[0]["recorded"] == str(recorded)
        # The same value as the record's is no difference.
        same, _ = cycles._differences(
            SYSTEM_ACTOR, session, spec, resident, {"social_insurance_months": recorded}
        )
        assert same == []


def test_bulk_verify_confirms_exactly_the_chosen(
    client: TestClient, queue: dict[str, Any], loaded_engine: Engine
) -> None:
    page_client(client, "health")
    chosen = queue["ids"][20:23]
    query = "&".join(f"ids={i}" for i in chosen)
    confirm = client.get(f"/console/cycles/{queue['cycle']}/verify?{query}")
    assert confirm.status_code == 200
    listed = [int(i) for i in re.findall(r'name="ids" value="(\d+)"', confirm.text)]
    assert listed == chosen
    assert "将审核通过以下 3 份申请" in confirm.text
    assert all(status_of(loaded_engine, i)[0] == "submitted" for i in chosen)
    answer = client.post(
        f"/console/cycles/{queue['cycle']}/verify",
        data={"csrf_token": client.cookies.get("luodi_csrf"), "ids": listed},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert [status_of(loaded_engine, i)[0] for i in chosen] == ["verified"] * 3
    assert status_of(loaded_engine, queue["ids"][23])[0] == "submitted"
    assert "已审核通过 3 份申请" in client.get(answer.headers["location"]).text
    # "All matching the filter" lists every submitted one the reviewer may verify.
    every = client.get(f"/console/cycles/{queue['cycle']}/verify?all=1&deadline=overdue").text
    assert [int(i) for i in re.findall(r'name="ids" value="(\d+)"', every)] == queue["ids"][:OLD]


def test_bulk_verify_leaves_what_the_confirmation_could_not_list(
    client: TestClient, queue: dict[str, Any], loaded_engine: Engine, cycle: dict[str, Any]
) -> None:
    """Ids posted beside this cycle's: another cycle's application (of the same department)
    and one already verified are left as they are."""
    page_client(client, "health")
    elsewhere = cycle["mine"]  # the health check of tests/web/conftest.py, verified there
    before = status_of(loaded_engine, elsewhere)
    waiting = queue["ids"][28]
    answer = client.post(
        f"/console/cycles/{queue['cycle']}/verify",
        data={"csrf_token": client.cookies.get("luodi_csrf"), "ids": [waiting, elsewhere]},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert status_of(loaded_engine, waiting)[0] == "verified"
    assert status_of(loaded_engine, elsewhere) == before
    assert "已审核通过 1 份申请" in client.get(answer.headers["location"]).text
    nothing = client.post(
        f"/console/cycles/{queue['cycle']}/verify",
        data={"csrf_token": client.cookies.get("luodi_csrf"), "ids": [elsewhere]},
    )
    assert "没有可审核通过的申请" in nothing.text


def test_another_departments_reviewer_finds_nothing(
    client: TestClient, queue: dict[str, Any]
) -> None:
    page_client(client, "edu")
    target = queue["ids"][24]
    assert client.get(f"/console/applications/{target}").status_code == 404
    assert client.get(f"/console/cycles/{queue['cycle']}/verify?ids={target}").status_code == 404
    answer = client.post(
        f"/console/applications/{target}/verify",
        data={"csrf_token": client.cookies.get("luodi_csrf"), "decision": "verify"},
    )
    assert answer.status_code == 404


def test_town_staff_read_only_their_towns_applications(
    client: TestClient, queue: dict[str, Any], city: pl.DataFrame, accounts: dict[str, Actor]
) -> None:
    page_client(client, "town2")
    mine = accounts["town2"].town_code
    town_of = dict(zip(city["id_number"], city["town_code"], strict=True))
    for application_id, number in zip(queue["ids"][:12], queue["numbers"][:12], strict=True):
        status = client.get(f"/console/applications/{application_id}").status_code
        assert status == (200 if town_of[number] == mine else 404)


def test_the_pages_in_english(client: TestClient, queue: dict[str, Any]) -> None:
    page_client(client, "health")
    client.cookies.set("luodi_lang", "en")
    try:
        html = client.get(f"/console/cycles/{queue['cycle']}").text
        assert "Application queue" in html and "Free health checks for new citizens" in html
        assert "申请队列" not in html and "待审核" not in html
        application = client.get(f"/console/applications/{queue['ids'][25]}").text
        assert "Verify" in application and "审核通过" not in application
    finally:
        client.cookies.delete("luodi_lang")


def test_the_cycles_in_a_browser(
    pages_on_one_database: None,
    server: str,
    browser: Any,
    queue: dict[str, Any],
    loaded_engine: Engine,
) -> None:
    page = browser.new_page()
    sign_in(page, server, "health", PASSWORD)
    page.goto(f"{server}/console/cycles")
    check_page(page, "cycles-list")
    page.goto(f"{server}/console/cycles/{queue['cycle']}?page=2")
    check_page(page, "cycles-cycle")
    page.locator('input[name="ids"]').nth(0).check()
    page.locator('input[name="ids"]').nth(1).check()
    page.get_by_role("button", name="审核通过所选").click()
    expect(page.get_by_test_id("bulk-row")).to_have_count(2)
    check_page(page, "cycles-bulk")
    first = queue["ids"][26]
    page.goto(f"{server}/console/applications/{first}")
    check_page(page, "cycles-application")
    page.keyboard.press("r")
    assert page.evaluate("document.activeElement.id") == "reason"
    page.keyboard.type("v")  # typing in the field: no shortcut
    assert status_of(loaded_engine, first)[0] == "submitted"
    page.locator("body").click()
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("v")
    page.wait_for_selector('[data-testid="flash"]')
    assert status_of(loaded_engine, first)[0] == "verified"
    assert page.url.endswith(f"/console/applications/{queue['ids'][27]}")
    page.close()


@pytest.fixture(scope="module")
def school(loaded_engine: Engine, small_city: Path, queue: dict[str, Any]) -> dict[str, Any]:
    """A school cycle (教育局) with one application of a registered child, route 政策性照顾."""
    today = date.today()
    children = pl.read_csv(small_city / "children.csv", infer_schema=False)
    child = children.row(0, named=True)
    schools = pl.read_csv(small_city / "schools.csv", infer_schema=False).filter(
        pl.col("entry_grade") == "1"
    )
    with session_scope(loaded_engine) as session:
        opened = programs.open_cycle(
            SYSTEM_ACTOR,
            session,
            "school-entry",
            "入学",
            today - timedelta(days=1),
            today + timedelta(days=5),
            date(2026, 3, 1),
            targets_file=small_city / "schools.csv",
            entry_grade=1,
        )
        record = {
            "id_number": child["id_number"],
            "child_id_number": child["child_id_number"],
            "choices": ";".join(schools["school_id"].head(2)),
            "route": "care",
        }
        (application,) = intake.submit_applications(SYSTEM_ACTOR, session, opened.id, [record])
    return {
        "cycle": opened.id,
        "application": application,
        "schools": schools["name"].head(2).to_list(),
    }


def test_a_school_application_in_words(
    client: TestClient, school: dict[str, Any], loaded_engine: Engine
) -> None:
    page_client(client, "edu")
    page = client.get(f"/console/applications/{school['application']}").text
    assert all(name in page for name in school["schools"])
    assert "政策性照顾" in page  # the route in words
    # Each of the program's rules with its outcome and the values it read.
    for label in ("居住登记满一年", "有劳动合同或营业执照（在职）", "入学年龄"):
        assert label in page
    assert "<code>child_birth_date</code> = " in page and "<code>as_of</code> = 2026-03-01" in page
    assert "<code>grade_1_min_age</code> = 6" in page
    url = f"/console/cycles/{school['cycle']}"
    assert row_ids(client.get(f"{url}?route=care").text) == [school["application"]]
    assert row_ids(client.get(f"{url}?route=talent").text) == []
    page_client(client, "operator")
    answer = client.post(
        f"/console/applications/{school['application']}/correct",
        data={"csrf_token": client.cookies.get("luodi_csrf"), "field_route": "points"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert row_ids(client.get(f"{url}?route=points").text) == [school["application"]]
    refused = client.post(
        f"/console/applications/{school['application']}/correct",
        data={"csrf_token": client.cookies.get("luodi_csrf"), "choices": "NO-SUCH-SCHOOL"},
    )
    assert refused.status_code == 422
    assert 'href="#choices"' in refused.text and 'value="NO-SUCH-SCHOOL"' in refused.text


def test_the_open_form_in_a_browser(
    pages_on_one_database: None, server: str, browser: Any, accounts: dict[str, Actor]
) -> None:
    page = browser.new_page()
    sign_in(page, server, "operator", PASSWORD)
    page.goto(f"{server}/console/cycles/new")
    page.get_by_label("项目").select_option("school-entry")
    page.get_by_role("button", name="选择项目").click()
    check_page(page, "cycles-open")
    page.get_by_label("周期名称").fill("没有日期")
    page.get_by_role("button", name="开设周期").click()
    summary = page.get_by_test_id("error-summary")
    expect(summary).to_contain_text("请填写受理开始日期")
    assert page.get_by_label("周期名称").input_value() == "没有日期"
    check_page(page, "cycles-open-error")
    page.close()
