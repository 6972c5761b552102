"""The console's objections area on both databases: the reviewer's queue ordered by the 复核
deadline, one objection beside its published row, uphold and dismiss with a reason, the
re-run behind a confirmation and the rows it changed, scope (another department's reviewer,
residents and town staff: 404), attachments as downloads, the English page; and the pages in
a real browser."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import expect
from sqlalchemy import Engine, select, update

from luodi.auth.actor import SYSTEM_ACTOR, Actor, Role
from luodi.db import session_scope
from luodi.notices import service as notices
from luodi.notices.models import Objection
from luodi.programs import intake
from luodi.scoring import service as scoring
from tests.web.browser import check_page, sign_in
from tests.web.conftest import PASSWORD
from tests.web.console.test_shell import page_client

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def resident_actor(id_number: str) -> Actor:
    return Actor(username=f"r{id_number[-6:]}", role=Role.RESIDENT, id_number=id_number)


@pytest.fixture(scope="module")
def objected(
    loaded_engine: Engine, accounts: dict[str, Actor], cycle: dict[str, Any]
) -> dict[str, Any]:
    """The cycle's run published, and three objections to it: the resident account's own
    (with an attachment), one filed thirty days ago (its deadline passed, whatever holidays
    fell in between) and a third."""
    numbers = cycle["numbers"]
    with session_scope(loaded_engine) as session:
        notice = notices.publish(SYSTEM_ACTOR, session, allocation_run_id=cycle["run"])
        rows = {row["ref"]: row for row in notices.rows_page(session, notice, 0, 100).to_dicts()}
        application_ids = {
            number: int(ref)
            for ref in rows
            if (number := _number_of(session, int(ref), numbers)) is not None
        }
        mine = notices.file_objection(
            accounts["resident"],
            session,
            notice.id,
            str(cycle["mine"]),
            "我的社保月数少算了",
            [notices.Upload("证明.png", PNG)],
        )
        late = notices.file_objection(
            resident_actor(numbers[1]),
            session,
            notice.id,
            str(application_ids[numbers[1]]),
            "积分有误",
        )
        third = notices.file_objection(
            resident_actor(numbers[2]),
            session,
            notice.id,
            str(application_ids[numbers[2]]),
            "排名不对",
        )
        session.execute(
            update(Objection)
            .where(Objection.id == late.id)
            .values(filed_at=datetime.now(UTC) - timedelta(days=30))
        )
        attachment = notices.attachments_of(session, mine.id)[0]
        return {
            "notice": notice.id,
            "mine": mine.id,
            "late": late.id,
            "third": third.id,
            "attachment": attachment.id,
            "rows": rows,
        }


def _number_of(session: Any, application_id: int, numbers: list[str]) -> str | None:
    application = intake.get_application(SYSTEM_ACTOR, session, application_id)
    from luodi.registry.models import Resident

    resident = session.get(Resident, application.resident_id)
    return resident.id_number if resident.id_number in numbers else None


def queue_ids(html: str) -> list[int]:
    return [int(found) for found in re.findall(r'data-testid="objection-(\d+)"', html)]


def test_the_queue_is_ordered_by_deadline_and_marks_the_overdue(
    client: TestClient, objected: dict[str, Any]
) -> None:
    page_client(client, "health")
    html = client.get("/console/objections").text
    # The one filed thirty days ago is due first, although it was filed after the resident's.
    assert queue_ids(html) == [objected["late"], objected["mine"], objected["third"]]
    late_row = html[html.index(f'data-testid="objection-{objected["late"]}"') :]
    late_row = late_row[: late_row.index("</tr>")]
    assert "已逾期" in late_row
    mine_row = html[html.index(f'data-testid="objection-{objected["mine"]}"') :]
    assert "已逾期" not in mine_row[: mine_row.index("</tr>")]
    # The filters in words.
    assert 'value="pending" selected' in html and "异议不成立" in html
    upheld = client.get("/console/objections?status=upheld")
    assert upheld.status_code == 200 and queue_ids(upheld.text) == []
    one_notice = client.get(f"/console/objections?status=all&notice={objected['notice']}")
    assert len(queue_ids(one_notice.text)) == 3
    assert queue_ids(client.get("/console/objections?notice=999999").text) == []
    unknown = client.get("/console/objections?status=open")
    assert unknown.status_code == 200 and 'value="pending" selected' in unknown.text
    client.cookies.clear()


def test_the_queue_pages_in_deadline_order(
    loaded_engine: Engine, accounts: dict[str, Actor], objected: dict[str, Any]
) -> None:
    with session_scope(loaded_engine) as session:
        total, first = notices.objection_queue(accounts["health"], session, None, None, 0, 2)
        _, second = notices.objection_queue(accounts["health"], session, None, None, 2, 2)
        other_total, nothing = notices.objection_queue(accounts["edu"], session, None, None, 0, 2)
    assert total == 3 and [item.objection.id for item in first] == [
        objected["late"],
        objected["mine"],
    ]
    assert [item.objection.id for item in second] == [objected["third"]]
    assert first[0].overdue and not first[1].overdue and first[0].due_on < first[1].due_on
    assert other_total == 0 and nothing == []


def test_other_departments_residents_and_town_staff_see_nothing(
    client: TestClient, objected: dict[str, Any]
) -> None:
    page_client(client, "edu")
    assert queue_ids(client.get("/console/objections?status=all").text) == []
    for path in (
        f"/console/objections/{objected['mine']}",
        f"/console/objections/{objected['mine']}/attachments/{objected['attachment']}",
    ):
        answer = client.get(path)
        assert answer.status_code == 404 and "没有这个页面" in answer.text, path
    refused = client.post(
        f"/console/objections/{objected['mine']}/review",
        data={
            "decision": "uphold",
            "reason": "越权",
            "csrf_token": client.cookies.get("luodi_csrf"),
        },
    )
    assert refused.status_code == 404
    for username in ("resident", "town"):
        page_client(client, username)
        assert client.get("/console/objections").status_code == 404
        assert client.get(f"/console/objections/{objected['mine']}").status_code == 404
    client.cookies.clear()


def test_an_attachment_is_a_download_never_inline(
    client: TestClient, objected: dict[str, Any]
) -> None:
    page_client(client, "health")
    answer = client.get(
        f"/console/objections/{objected['mine']}/attachments/{objected['attachment']}"
    )
    assert answer.status_code == 200 and answer.content == PNG
    assert answer.headers["content-type"] == "image/png"
    disposition = answer.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="objection-')
    assert "filename*=UTF-8''%E8%AF%81%E6%98%8E.png" in disposition
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in answer.headers["content-security-policy"]
    # Another objection's attachment id under this objection is not found.
    assert (
        client.get(
            f"/console/objections/{objected['late']}/attachments/{objected['attachment']}"
        ).status_code
        == 404
    )
    client.cookies.clear()


def test_the_objection_beside_its_row_application_and_points(
    client: TestClient, objected: dict[str, Any], cycle: dict[str, Any], city: pl.DataFrame
) -> None:
    page_client(client, "health")
    html = client.get(f"/console/objections/{objected['mine']}").text
    assert "我的社保月数少算了" in html and "证明.png" in html
    row = objected["rows"][str(cycle["mine"])]
    published = html[html.index('data-testid="published-row"') :]
    published = published[: published.index("</section>")]
    assert row["name"] in published and row["id_number"] in published
    assert row["outcome"] in published
    # A reviewer reads the applicant masked, as the registry shows them to a reviewer.
    number = cycle["numbers"][0]
    full_name = city.filter(pl.col("id_number") == number)["name"][0]
    assert full_name not in html and number not in html
    assert f'href="/console/applications/{cycle["mine"]}"' in html
    assert 'data-testid="score"' in html and "计分批次" in html
    assert 'name="decision" value="uphold"' in html
    # The operator reads it too, but the department decides.
    page_client(client, "operator")
    html = client.get(f"/console/objections/{objected['mine']}").text
    assert 'name="decision"' not in html and "由 总工会 复核" in html
    # An auditor reads the case, and neither decides nor re-runs.
    page_client(client, "auditor")
    audited = client.get(f"/console/objections/{objected['mine']}")
    assert audited.status_code == 200 and "我的社保月数少算了" in audited.text
    assert 'name="decision"' not in audited.text and "/rerun" not in audited.text
    client.cookies.clear()


def test_a_decision_needs_a_reason_and_the_input_is_kept(
    client: TestClient, objected: dict[str, Any]
) -> None:
    page_client(client, "health")
    url = f"/console/objections/{objected['mine']}/review"
    token = client.cookies.get("luodi_csrf")
    empty = client.post(url, data={"decision": "uphold", "reason": "  ", "csrf_token": token})
    assert empty.status_code == 422
    assert 'data-testid="error-summary"' in empty.text and 'href="#reason"' in empty.text
    assert "复核必须写明理由" in empty.text and 'aria-invalid="true"' in empty.text
    long = "核实" * (notices.MAX_REASON // 2) + "多"
    kept = client.post(url, data={"decision": "dismiss", "reason": long, "csrf_token": token})
    assert kept.status_code == 422 and long in kept.text
    no_choice = client.post(url, data={"reason": "理由", "csrf_token": token})
    assert no_choice.status_code == 422 and 'href="#decision"' in no_choice.text
    stale = client.post(url, data={"decision": "uphold", "reason": "理由", "csrf_token": "x"})
    assert stale.status_code == 403
    # Nothing was decided.
    assert "待复核" in client.get(f"/console/objections/{objected['mine']}").text
    client.cookies.clear()


def test_uphold_and_dismiss_with_a_flash(
    client: TestClient, loaded_engine: Engine, objected: dict[str, Any]
) -> None:
    page_client(client, "health")
    token = client.cookies.get("luodi_csrf")
    upheld = client.post(
        f"/console/objections/{objected['mine']}/review",
        data={"decision": "uphold", "reason": "社保月数核实有误", "csrf_token": token},
        follow_redirects=False,
    )
    assert upheld.status_code == 303
    assert upheld.headers["location"] == f"/console/objections/{objected['mine']}"
    page = client.get(upheld.headers["location"]).text
    assert 'data-testid="flash"' in page and f"异议 {objected['mine']} 成立" in page
    assert "社保月数核实有误" in page and 'name="decision"' not in page
    dismissed = client.post(
        f"/console/objections/{objected['third']}/review",
        data={"decision": "dismiss", "reason": "排名按积分和报名先后，无误", "csrf_token": token},
    )
    assert f"异议 {objected['third']} 不成立" in dismissed.text
    with session_scope(loaded_engine) as session:
        assert session.get_one(Objection, objected["mine"]).status == "upheld"
        assert session.get_one(Objection, objected["third"]).status == "dismissed"
    # Decided once: a second decision is refused on the page, not a 500.
    again = client.post(
        f"/console/objections/{objected['third']}/review",
        data={"decision": "uphold", "reason": "再次", "csrf_token": token},
    )
    assert again.status_code == 409 and "已复核" in again.text
    assert queue_ids(client.get("/console/objections?status=upheld").text) == [objected["mine"]]
    client.cookies.clear()


def test_the_objection_pages_in_a_browser(
    pages_on_one_database: None, server: str, browser: Any, objected: dict[str, Any]
) -> None:
    """After the decisions above (one upheld, so the re-run's confirmation lists it)."""
    page = browser.new_page()
    sign_in(page, server, "health", PASSWORD)
    page.goto(f"{server}/console/objections?status=all")
    assert page.get_by_role("heading", level=1).inner_text() == "异议复核"
    check_page(page, "objections-queue")
    page.get_by_role("link", name=f"异议 {objected['late']}").click()
    expect(page.get_by_test_id("published-row")).to_be_visible()
    check_page(page, "objections-detail")
    page.close()
    page = browser.new_page()
    sign_in(page, server, "operator", PASSWORD)
    page.goto(f"{server}/console/objections/notices/{objected['notice']}/rerun")
    expect(page.get_by_test_id("confirm-rerun")).to_be_visible()
    check_page(page, "objections-rerun")
    page.close()


def test_the_rerun_asks_first_then_shows_the_changed_rows(
    client: TestClient,
    loaded_engine: Engine,
    accounts: dict[str, Actor],
    objected: dict[str, Any],
    cycle: dict[str, Any],
) -> None:
    notice_id = objected["notice"]
    confirm_url = f"/console/objections/notices/{notice_id}/rerun"
    page_client(client, "health")
    assert client.get(confirm_url).status_code == 403
    page_client(client, "operator")
    detail = client.get(f"/console/objections/{objected['mine']}").text
    assert f'href="{confirm_url}"' in detail
    confirmation = client.get(confirm_url)
    assert confirmation.status_code == 200
    assert f'href="/console/objections/{objected["mine"]}"' in confirmation.text
    assert 'data-testid="confirm-rerun"' in confirmation.text
    # What the objection found is corrected: the application is handed in again and the
    # department returns it (it leaves the allocation).
    with session_scope(loaded_engine) as session:
        intake.correct(accounts["operator"], session, cycle["mine"])
        intake.verify(accounts["health"], session, [cycle["mine"]], approve=False, reason="更正")
    done = client.post(
        confirm_url,
        data={"csrf_token": client.cookies.get("luodi_csrf")},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    assert re.fullmatch(
        rf"/console/objections/notices/{notice_id}/amendments/\d+", done.headers["location"]
    )
    page = client.get(done.headers["location"]).text
    assert 'data-testid="flash"' in page and "条变化" in page
    changed = page[page.index(f'data-testid="change-{cycle["mine"]}"') :]
    changed = changed[: changed.index("</tr>")]
    assert "<del>" in changed and "<ins>" in changed and 'class="differs"' in changed
    assert objected["rows"][str(cycle["mine"])]["outcome"] in changed
    assert f'href="/console/objections/{objected["mine"]}"' in page
    # Nothing waits any more: a second re-run is refused on the confirmation page.
    again = client.post(confirm_url, data={"csrf_token": client.cookies.get("luodi_csrf")})
    assert again.status_code == 409 and "没有待处理的成立异议" in again.text
    decided = client.get(f"/console/objections/{objected['mine']}").text
    assert "/amendments/" in decided and f'href="{confirm_url}"' not in decided
    client.cookies.clear()


def test_the_pages_in_english(client: TestClient, objected: dict[str, Any]) -> None:
    page_client(client, "health")
    client.cookies.set("luodi_lang", "en")
    html = client.get("/console/objections?status=all").text
    assert "<h1>Objections</h1>" in html and "异议复核" not in html
    detail = client.get(f"/console/objections/{objected['late']}").text
    assert "Objection review deadline" in detail and "复核期限" not in detail
    refused = client.post(
        f"/console/objections/{objected['late']}/review",
        data={"decision": "uphold", "reason": "", "csrf_token": client.cookies.get("luodi_csrf")},
    )
    assert "a decision needs a reason" in refused.text
    client.cookies.clear()


def test_a_score_ranking_is_re_run_on_a_chosen_scoring_run(
    client: TestClient, loaded_engine: Engine, accounts: dict[str, Actor]
) -> None:
    """A score ranking has no department: the service centre decides, and its re-run names
    the scoring run made after the correction (a choice on the confirmation page)."""
    from luodi.registry.models import Resident

    with session_scope(loaded_engine) as session:
        run_id = scoring.list_runs(SYSTEM_ACTOR, session)[0].id
        notice = notices.publish(SYSTEM_ACTOR, session, scoring_run_id=run_id)
        ref = notices.rows_page(session, notice, 0, 1)["ref"][0]
        number = session.scalars(select(Resident.id_number).where(Resident.id == int(ref))).one()
        objection = notices.file_objection(
            resident_actor(number), session, notice.id, ref, "积分少算"
        )
        notice_id, objection_id = notice.id, objection.id
    page_client(client, "operator")
    token = client.cookies.get("luodi_csrf")
    decided = client.post(
        f"/console/objections/{objection_id}/review",
        data={"decision": "uphold", "reason": "数据已更正", "csrf_token": token},
        follow_redirects=False,
    )
    assert decided.status_code == 303
    url = f"/console/objections/notices/{notice_id}/rerun"
    confirmation = client.get(url).text
    assert 'id="scoring_run"' in confirmation and f'<option value="{run_id}"' in confirmation
    unnamed = client.post(url, data={"csrf_token": token})
    assert unnamed.status_code == 422 and 'href="#scoring_run"' in unnamed.text
    named = client.post(
        url, data={"scoring_run": str(run_id), "csrf_token": token}, follow_redirects=False
    )
    assert named.status_code == 303
    assert "没有改变任何一条" in client.get(named.headers["location"]).text
    client.cookies.clear()
