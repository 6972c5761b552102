"""``/my/apply/{cycle}``: the task list, a draft saved midway and resumed, for an own child and
for self, another's child refused, CSRF, a refused step re-rendered with what was typed, the
confirmation's 受理编号, and a cycle out of its window."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import expect
from sqlalchemy import Engine, select

from luodi.auth.actor import SYSTEM_ACTOR
from luodi.db import session_scope
from luodi.policy.service import find_policy
from luodi.programs import service as programs
from luodi.programs.models import Application, ApplicationDraft
from luodi.programs.numbers import application_number
from luodi.scoring import service as scoring_service
from tests.web.browser import check_page, sign_in
from tests.web.conftest import AS_OF, PASSWORD
from tests.web.portal.applying import (
    add_resident_account,
    csrf,
    first_schools,
    open_school_cycle,
    parents,
    signed_in,
)


@pytest.fixture(scope="module")
def setting(loaded_engine: Engine, small_city: Path) -> dict[str, Any]:
    """Two parents with accounts (``parent``, ``parent2``), a scored registry, a school cycle
    open today, one opening next week, and a loan cycle (fields, for self) open today."""
    mine, theirs = parents(loaded_engine)
    add_resident_account(loaded_engine, "parent", mine["id_number"])
    add_resident_account(loaded_engine, "parent2", theirs["id_number"])
    today = date.today()
    with session_scope(loaded_engine) as session:
        scoring_service.score_registry(SYSTEM_ACTOR, session, find_policy("zj-cixi", AS_OF), AS_OF)
        loan = programs.open_cycle(
            SYSTEM_ACTOR,
            session,
            "loan",
            "贷款",
            today - timedelta(days=1),
            today + timedelta(days=5),
        ).id
    return {
        "mine": mine,
        "theirs": theirs,
        "school": open_school_cycle(
            loaded_engine, small_city, "入学", today - timedelta(days=1), today + timedelta(days=9)
        ),
        "later": open_school_cycle(
            loaded_engine, small_city, "明年", today + timedelta(days=7), today + timedelta(days=9)
        ),
        "loan": loan,
        "schools": first_schools(small_city, 2),
    }


def _draft(engine: Engine, username: str, cycle_id: int) -> ApplicationDraft | None:
    with session_scope(engine) as session:
        found = session.scalars(
            select(ApplicationDraft).where(
                ApplicationDraft.username == username, ApplicationDraft.cycle_id == cycle_id
            )
        ).one_or_none()
        if found is not None:
            session.expunge(found)
        return found


def _state(page: str, task: str) -> str:
    found = re.search(rf'data-testid="task-{task}" data-state="([a-z_]+)"', page)
    assert found, f"no task {task}"
    return found.group(1)


def test_a_childs_application_saved_midway_resumed_and_submitted(
    client: TestClient, loaded_engine: Engine, setting: dict[str, Any]
) -> None:
    signed_in(client, "parent")
    cycle = setting["school"]
    child = f"child:{setting['mine']['child_id']}"
    page = client.get(f"/my/apply/{cycle}")
    assert page.status_code == 200
    assert _state(page.text, "guide") == "not_started"
    assert _state(page.text, "facts") == "cannot_start"
    guide = client.get(f"/my/apply/{cycle}/guide").text
    assert "居住登记满一年" in guide and "浙江省居住证" in guide  # the rules' labels, materials
    answer = client.post(
        f"/my/apply/{cycle}/guide", data={"csrf_token": csrf(client)}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text[:3000]
    assert answer.headers["location"] == f"/my/apply/{cycle}/whom?guide=1"
    whom = client.get(answer.headers["location"]).text
    assert setting["mine"]["child_name"] in whom
    assert setting["theirs"]["child_name"] not in whom  # the registry's own children only
    answer = client.post(
        f"/my/apply/{cycle}/whom",
        data={"csrf_token": csrf(client), "person": child, "guide": "1"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    facts = client.get(f"/my/apply/{cycle}/facts", params={"for": child}).text
    assert setting["mine"]["child_name"] in facts and "积分计算批次" in facts
    client.post(
        f"/my/apply/{cycle}/facts",
        data={"csrf_token": csrf(client), "for": child, "confirm": "yes"},
    )
    first, second = setting["schools"]
    answer = client.post(
        f"/my/apply/{cycle}/choices",
        data={"csrf_token": csrf(client), "for": child, "choice_1": first, "action": "save"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    draft = _draft(loaded_engine, "parent", cycle)
    assert draft is not None and json.loads(draft.answers)["choices"] == [first]
    # Coming back later (no person in the URL): the draft is where it was left.
    signed_in(client, "parent")
    page = client.get(f"/my/apply/{cycle}").text
    assert 'data-testid="applying-for"' in page and setting["mine"]["child_name"] in page
    assert _state(page, "guide") == "completed"
    assert _state(page, "facts") == "completed"
    assert _state(page, "choices") == "in_progress"
    assert _state(page, "declare") == "cannot_start"
    choices = client.get(f"/my/apply/{cycle}/choices", params={"for": child}).text
    assert f'<option value="{first}" selected>' in choices
    client.post(
        f"/my/apply/{cycle}/choices",
        data={
            "csrf_token": csrf(client),
            "for": child,
            "choice_1": first,
            "choice_2": second,
            "action": "continue",
        },
    )
    check = client.get(f"/my/apply/{cycle}/check", params={"for": child}).text
    assert 'data-testid="change-choices"' in check and 'data-testid="check-continue"' in check
    refused = client.post(
        f"/my/apply/{cycle}/declare", data={"csrf_token": csrf(client), "for": child}
    )
    assert refused.status_code == 422 and 'data-testid="error-summary"' in refused.text
    answer = client.post(
        f"/my/apply/{cycle}/declare",
        data={"csrf_token": csrf(client), "for": child, "promise": "yes"},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    with session_scope(loaded_engine) as session:
        application = session.scalars(
            select(Application).where(
                Application.cycle_id == cycle,
                Application.child_id == setting["mine"]["child_id"],
            )
        ).one()
        opens = programs.repository.get_cycle(SYSTEM_ACTOR, session, cycle).opens
        assert application.choices == f"{first};{second}"
        assert application.resident_id == setting["mine"]["resident_id"]
    assert answer.headers["location"] == f"/my/apply/{cycle}/submitted/{application.id}"
    confirmation = client.get(answer.headers["location"]).text
    number = application_number("school-entry", opens, application.id)
    assert re.search(rf'data-testid="application-number">{number}<', confirmation)
    assert _draft(loaded_engine, "parent", cycle) is None  # gone with the submission
    page = client.get(f"/my/apply/{cycle}").text
    assert 'data-testid="submitted-applications"' in page and number in page
    page = client.get(f"/my/apply/{cycle}", params={"for": child}).text
    assert 'data-testid="already-applied"' in page and 'data-testid="task-list"' not in page


def test_another_parents_child_is_not_found(client: TestClient, setting: dict[str, Any]) -> None:
    signed_in(client, "parent")
    cycle = setting["school"]
    theirs = f"child:{setting['theirs']['child_id']}"
    for person in (theirs, "self", "child:999999"):
        answer = client.post(
            f"/my/apply/{cycle}/whom", data={"csrf_token": csrf(client), "person": person}
        )
        assert answer.status_code == 404, person
    assert client.get(f"/my/apply/{cycle}/facts", params={"for": theirs}).status_code == 404
    assert client.get(f"/my/apply/{cycle}/choices", params={"for": theirs}).status_code == 404


def test_a_form_without_its_token_is_refused(
    client: TestClient, loaded_engine: Engine, setting: dict[str, Any]
) -> None:
    signed_in(client, "parent2")
    cycle = setting["school"]
    child = f"child:{setting['theirs']['child_id']}"
    answer = client.post(f"/my/apply/{cycle}/whom", data={"person": child})
    assert answer.status_code == 403
    assert _draft(loaded_engine, "parent2", cycle) is None


def test_refused_choices_are_shown_again_as_chosen(
    client: TestClient, loaded_engine: Engine, setting: dict[str, Any]
) -> None:
    signed_in(client, "parent2")
    cycle = setting["school"]
    child = f"child:{setting['theirs']['child_id']}"
    client.post(f"/my/apply/{cycle}/whom", data={"csrf_token": csrf(client), "person": child})
    first = setting["schools"][0]
    answer = client.post(
        f"/my/apply/{cycle}/choices",
        data={
            "csrf_token": csrf(client),
            "for": child,
            "choice_1": first,
            "choice_2": first,
            "action": "continue",
        },
    )
    assert answer.status_code == 422
    assert 'data-testid="error-summary"' in answer.text
    assert answer.text.count(f'<option value="{first}" selected>') == 2
    draft = _draft(loaded_engine, "parent2", cycle)
    assert draft is not None and not json.loads(draft.answers)["choices_done"]


def test_own_application_for_self_with_the_programs_fields(
    client: TestClient, loaded_engine: Engine, setting: dict[str, Any]
) -> None:
    signed_in(client, "parent2")
    cycle = setting["loan"]
    whom = client.get(f"/my/apply/{cycle}/whom").text
    assert 'value="self"' in whom and "child:" not in whom
    client.post(f"/my/apply/{cycle}/whom", data={"csrf_token": csrf(client), "person": "self"})
    answer = client.post(
        f"/my/apply/{cycle}/fields",
        data={
            "csrf_token": csrf(client),
            "for": "self",
            "field_requested_term_months": "twelve",
            "field_bank_consent": "true",
            "action": "continue",
        },
    )
    assert answer.status_code == 422
    assert 'value="twelve"' in answer.text  # kept as typed
    assert 'aria-invalid="true"' in answer.text
    client.post(
        f"/my/apply/{cycle}/fields",
        data={
            "csrf_token": csrf(client),
            "for": "self",
            "field_requested_term_months": "12",
            "field_bank_consent": "true",
            "action": "continue",
        },
    )
    client.post(f"/my/apply/{cycle}/guide", data={"csrf_token": csrf(client), "for": "self"})
    client.post(
        f"/my/apply/{cycle}/facts",
        data={"csrf_token": csrf(client), "for": "self", "confirm": "yes"},
    )
    page = client.get(f"/my/apply/{cycle}").text
    assert 'data-testid="task-choices"' not in page  # a loan has no choices
    answer = client.post(
        f"/my/apply/{cycle}/declare",
        data={"csrf_token": csrf(client), "for": "self", "promise": "yes"},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    with session_scope(loaded_engine) as session:
        application = session.scalars(
            select(Application).where(Application.cycle_id == cycle)
        ).one()
        assert application.resident_id == setting["theirs"]["resident_id"]
        assert json.loads(application.fields)["requested_term_months"] == 12


def test_a_cycle_out_of_its_window_takes_no_application(
    client: TestClient, setting: dict[str, Any]
) -> None:
    signed_in(client, "parent")
    cycle = setting["later"]
    page = client.get(f"/my/apply/{cycle}")
    assert page.status_code == 200
    assert 'data-testid="apply-closed"' in page.text
    assert f'href="/my/apply/{cycle}/whom' not in page.text
    client.cookies.set("luodi_lang", "en")
    english = client.get(f"/my/apply/{cycle}").text
    client.cookies.delete("luodi_lang")
    assert "You cannot apply now" in english and "现在不能提交申请" not in english
    child = f"child:{setting['mine']['child_id']}"
    answer = client.post(
        f"/my/apply/{cycle}/whom",
        data={"csrf_token": csrf(client), "person": child},
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"] == f"/my/apply/{cycle}"
    refused = client.post(
        f"/my/apply/{cycle}/declare",
        data={"csrf_token": csrf(client), "for": child, "promise": "yes"},
    )
    assert refused.status_code == 409
    assert 'data-testid="submit-application"' not in refused.text


def test_applying_in_a_browser(
    pages_on_one_database: None,
    server: str,
    browser: Any,
    setting: dict[str, Any],
    loaded_engine: Engine,
    small_city: Path,
) -> None:
    today = date.today()
    cycle = open_school_cycle(
        loaded_engine, small_city, "浏览器", today - timedelta(days=1), today + timedelta(days=9)
    )
    page = browser.new_page(viewport={"width": 390, "height": 844})
    sign_in(page, server, "parent", PASSWORD)
    page.goto(f"{server}/my/apply/{cycle}")
    check_page(page, "portal-apply-tasks")
    page.get_by_role("link", name="阅读办事指南").click()
    page.get_by_role("button", name="我已阅读，继续").click()
    page.get_by_label(setting["mine"]["child_name"], exact=False).check()
    page.get_by_role("button", name="保存并继续").click()
    expect(page.get_by_test_id("applying-for")).to_contain_text(setting["mine"]["child_name"])
    page.get_by_role("link", name="核对登记信息").click()
    expect(page.get_by_test_id("prefilled")).to_contain_text(setting["mine"]["child_name"])
    check_page(page, "portal-apply-facts")
    page.get_by_label("我确认以上信息属实").check()
    page.get_by_role("button", name="保存并继续").click()
    page.get_by_role("link", name="选择志愿").click()
    page.get_by_label("第 1 志愿").select_option(setting["schools"][0])
    check_page(page, "portal-apply-choices")
    page.get_by_role("button", name="保存草稿，稍后继续").click()
    expect(page.get_by_test_id("task-choices")).to_have_attribute("data-state", "in_progress")
    page.get_by_role("link", name="选择志愿").click()
    page.get_by_role("button", name="保存并继续").click()
    page.get_by_role("link", name="检查您的回答").click()
    page.get_by_test_id("check-continue").click()
    page.get_by_label("我已阅读并同意以上承诺").check()
    page.get_by_role("button", name="提交申请").click()
    expect(page.get_by_test_id("application-number")).to_have_text(re.compile(r"^SE-\d{4}-\d{6}$"))
    check_page(page, "portal-apply-submitted")
    page.get_by_test_id("follow-application").click()
    expect(page.get_by_test_id("step-review")).to_have_attribute("data-state", "current")
    check_page(page, "portal-application")
    page.close()
