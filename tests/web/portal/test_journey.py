"""A resident's whole way through the portal on a phone (390 × 844), in Chromium against a
real ``luodi serve``, on both databases: the account activated with the code given at the
counter, the points and how to get more, the entitlement finder naming what the health check
still needs, a child's school place applied for through the task list with a draft saved
midway, the application returned with the department's reason and corrected, the outcome, an
objection from the own row of the notice, and the decision read on the time line.

The staff's part (return, verify, allocate, publish, decide) goes through the services: the
console's own flow test does it in the browser."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import Engine, select

from luodi.allocation import service as allocation
from luodi.auth import service as auth_service
from luodi.auth.actor import SYSTEM_ACTOR, Actor, Role
from luodi.auth.models import User
from luodi.db import session_scope
from luodi.notices import service as notices
from luodi.notices.models import Objection
from luodi.policy.service import find_policy
from luodi.programs import finder, intake
from luodi.programs.finder import State
from luodi.programs.models import Application, ApplicationStatus
from luodi.scoring import service as scoring_service
from tests.web.browser import check_page
from tests.web.conftest import AS_OF
from tests.web.portal.applying import first_schools, open_school_cycle, parents

pytestmark = pytest.mark.browser

EDU = Actor("edu", Role.REVIEWER, department="教育局")
PASSWORD = "my own new password 2026"
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def journey(loaded_engine: Engine, small_city: Path, accounts: dict[str, Actor]) -> dict[str, Any]:
    """The city scored; a parent of a child of age for grade 1 this year, with no account
    yet and a counter code; a school cycle open today."""
    year = date.today().year
    mine, _ = parents(loaded_engine, (date(year - 8, 9, 1), date(year - 6, 8, 31)))
    today = date.today()
    cycle = open_school_cycle(
        loaded_engine,
        small_city,
        "入学（手机）",
        today - timedelta(days=1),
        today + timedelta(days=9),
    )
    with session_scope(loaded_engine) as session:
        scoring_service.score_registry(SYSTEM_ACTOR, session, find_policy("zj-cixi", AS_OF), AS_OF)
        issued = auth_service.issue_counter_code(
            accounts["operator"], session, resident_id=mine["resident_id"]
        )
    assert issued.code is not None
    return {
        "parent": mine,
        "code": issued.code,
        "username": issued.username,
        "cycle": cycle,
        "schools": first_schools(small_city, 2),
    }


def _resident(engine: Engine, username: str) -> Actor:
    with session_scope(engine) as session:
        return auth_service.actor_of(
            session.scalars(select(User).where(User.username == username)).one()
        )


def test_a_resident_goes_the_whole_way_on_a_phone(
    server: str, browser: Any, loaded_engine: Engine, journey: dict[str, Any]
) -> None:
    parent = journey["parent"]
    failed: list[str] = []
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.on("requestfailed", lambda request: failed.append(request.url))

    # 1. The account, activated with the code the counter gave (no account without it).
    page.goto(f"{server}/activate")
    check_page(page, "journey-01-activate")
    page.get_by_label("身份证号").fill(parent["id_number"])
    page.get_by_label("验证码").fill(journey["code"])
    page.get_by_label("新密码", exact=True).fill(PASSWORD)
    page.get_by_label("再次输入新密码").fill(PASSWORD)
    page.get_by_role("button", name="激活并登录").click()
    expect(page.get_by_test_id("flash")).to_contain_text("账户已激活")
    assert page.url.endswith("/my")
    expect(page.get_by_test_id("points-card")).to_be_visible()
    check_page(page, "journey-02-my")

    # 2. My points, line by line, and how to get more.
    page.get_by_role("link", name="我的积分").first.click()
    expect(page.get_by_test_id("total")).to_be_visible()
    expect(page.get_by_test_id("advice")).to_contain_text("分")
    check_page(page, "journey-03-points")

    # 3. The entitlement finder names what the health check still needs, as the rules the
    #    allocation runs decide it.
    actor = _resident(loaded_engine, journey["username"])
    with session_scope(loaded_engine) as session:
        finding = finder.find(actor, session)
    (health,) = [
        card
        for section in finding.sections
        if section.child_id is None
        for card in section.cards
        if card.program_id == "health-check"
    ]
    missing = [c for c in health.verdict.conditions if c.state is State.FAILED]
    assert missing, "the health check asks what this parent lacks (frontline, trade union)"
    page.get_by_role("link", name="可享待遇").first.click()
    card = page.get_by_test_id("program-health-check").first
    for condition in missing:
        expect(card.get_by_test_id(f"missing-{condition.rule_id}")).to_contain_text(
            condition.label_zh
        )
    check_page(page, "journey-04-entitlements")

    # 4. The child's school place through the task list, a draft saved midway.
    cycle = journey["cycle"]
    page.goto(f"{server}/my/apply/{cycle}")
    page.get_by_role("link", name="阅读办事指南").click()
    page.get_by_role("button", name="我已阅读，继续").click()
    page.get_by_label(parent["child_name"], exact=False).check()
    page.get_by_role("button", name="保存并继续").click()
    expect(page.get_by_test_id("applying-for")).to_contain_text(parent["child_name"])
    page.get_by_role("link", name="核对登记信息").click()
    page.get_by_label("我确认以上信息属实").check()
    page.get_by_role("button", name="保存并继续").click()
    page.get_by_role("link", name="选择志愿").click()
    first, second = journey["schools"]
    page.get_by_label("第 1 志愿").select_option(first)
    page.get_by_role("button", name="保存草稿，稍后继续").click()
    expect(page.get_by_test_id("task-choices")).to_have_attribute("data-state", "in_progress")
    page.goto(f"{server}/my")  # away, and back: the draft is kept
    page.goto(f"{server}/my/apply/{cycle}")
    expect(page.get_by_test_id("task-choices")).to_have_attribute("data-state", "in_progress")
    page.get_by_role("link", name="选择志愿").click()
    expect(page.get_by_label("第 1 志愿")).to_have_value(first)
    page.get_by_role("button", name="保存并继续").click()
    page.get_by_role("link", name="检查您的回答").click()
    page.get_by_test_id("check-continue").click()
    page.get_by_label("我已阅读并同意以上承诺").check()
    page.get_by_role("button", name="提交申请").click()
    expect(page.get_by_test_id("application-number")).to_have_text(re.compile(r"^SE-\d{4}-\d{6}$"))
    check_page(page, "journey-05-submitted")
    page.get_by_test_id("follow-application").click()
    page.wait_for_url(re.compile(r".*/my/applications/\d+$"))
    application_id = int(page.url.rsplit("/", 1)[1])

    # 5. 教育局 returns it with a reason; the resident reads it and corrects the choices.
    reason = "请把第一志愿改为户籍所在学区的学校"
    with session_scope(loaded_engine) as session:
        intake.verify(EDU, session, [application_id], approve=False, reason=reason)
    page.reload()
    expect(page.get_by_test_id("return-reason")).to_contain_text(reason)
    check_page(page, "journey-06-returned")
    form = page.get_by_test_id("correct-form")
    form.get_by_label("第 1 志愿").select_option(second)
    form.get_by_role("button", name="更正并重新提交").click()
    expect(page.get_by_test_id("step-corrected")).to_have_attribute("data-state", "done")
    with session_scope(loaded_engine) as session:
        application = session.get_one(Application, application_id)
        assert application.status == ApplicationStatus.SUBMITTED
        assert application.choices.split(";")[0] == second

    # 6. Verified, ranked, allocated, the notice published: the outcome on the time line.
    with session_scope(loaded_engine) as session:
        intake.verify_all(EDU, session, cycle)
        run = allocation.allocate_cycle(SYSTEM_ACTOR, session, cycle, "journey")
        notice = notices.publish(SYSTEM_ACTOR, session, allocation_run_id=run.id)
        notice_id = notice.id
    page.reload()
    expect(page.get_by_test_id("outcome")).to_be_visible()
    expect(page.get_by_test_id("notice-link")).to_be_visible()

    # 7. The objection, from the own row of the notice (highlighted for this resident only).
    page.goto(f"{server}/notices/{notice_id}")
    own = page.get_by_test_id(f"own-row-{application_id}")
    expect(own).to_be_visible()
    check_page(page, "journey-07-notice")
    own.get_by_test_id(f"objection-{application_id}").locator("summary").click()
    own.get_by_label("理由").fill("孩子的社保月数少算了 3 个月")
    own.get_by_role("button", name="提交异议").click()
    page.wait_for_url(re.compile(r".*/my(#.*)?$"))
    expect(page.get_by_test_id("objections")).to_contain_text("孩子的社保月数少算了 3 个月")

    # 8. 教育局 decides; the resident reads the decision on the time line.
    with session_scope(loaded_engine) as session:
        objection_id = session.scalars(
            select(Objection.id).where(Objection.notice_id == notice_id)
        ).one()
        notices.review(EDU, session, objection_id, False, "社保月数按人社局记录核对无误")
    page.goto(f"{server}/my/applications/{application_id}")
    expect(page.get_by_test_id("decision")).to_contain_text("社保月数按人社局记录核对无误")
    check_page(page, "journey-08-decision")
    assert not failed, failed
    context.close()
