"""``/my/applications/{id}``: the time line of an own application — submitted and waiting,
returned with the department's reason and corrected from the page, then ranked and given its
outcome — and another's application not found."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from luodi.allocation import service as allocation
from luodi.allocation.models import AllocationResult
from luodi.auth.actor import SYSTEM_ACTOR, Actor, Role
from luodi.auth.models import User
from luodi.auth.service import actor_of
from luodi.db import session_scope
from luodi.notices import service as notices
from luodi.notices.reasons import OUTCOME_WORDS
from luodi.policy.service import find_policy
from luodi.programs import intake
from luodi.programs import service as programs
from luodi.programs.models import Application, ApplicationStatus
from luodi.programs.spec import ProgramKind
from luodi.scoring import service as scoring_service
from luodi.web.rendering import number
from tests.web.conftest import AS_OF
from tests.web.portal.applying import (
    add_resident_account,
    csrf,
    first_schools,
    open_school_cycle,
    parents,
    signed_in,
)

EDU = Actor("edu", Role.REVIEWER, department="教育局")
"""The department that checks school applications (no account needed: services take it)."""


@pytest.fixture(scope="module")
def filed(loaded_engine: Engine, small_city: Path, accounts: dict[str, Actor]) -> dict[str, Any]:
    """A school cycle open today with the ``parent`` account's application for their child
    (filed by them) and another parent's (filed by the service centre)."""
    # Children of age for grade 1 this year (six to eight on 31 August): places by rank.
    year = date.today().year
    mine, theirs = parents(loaded_engine, (date(year - 8, 9, 1), date(year - 6, 8, 31)))
    add_resident_account(loaded_engine, "parent", mine["id_number"])
    today = date.today()
    cycle = open_school_cycle(
        loaded_engine, small_city, "入学", today - timedelta(days=1), today + timedelta(days=9)
    )
    schools = first_schools(small_city, 2)
    with session_scope(loaded_engine) as session:
        scoring_service.score_registry(SYSTEM_ACTOR, session, find_policy("zj-cixi", AS_OF), AS_OF)
        parent = actor_of(session.scalars(select(User).where(User.username == "parent")).one())
        (own,) = intake.submit_applications(
            parent,
            session,
            cycle,
            [{"child_id_number": mine["child_id_number"], "choices": [schools[0]]}],
        )
        (other,) = intake.submit_applications(
            SYSTEM_ACTOR,
            session,
            cycle,
            [
                {
                    "id_number": theirs["id_number"],
                    "child_id_number": theirs["child_id_number"],
                    "choices": [schools[0]],
                }
            ],
        )
    return {
        "cycle": cycle,
        "own": own,
        "other": other,
        "schools": schools,
        "child_id": mine["child_id"],
    }


def _step(page: str, kind: str) -> str | None:
    found = re.search(rf'data-testid="step-{kind}" data-state="([a-z]+)"', page)
    return found.group(1) if found else None


def test_the_time_line_from_submission_to_outcome(
    client: TestClient,
    small_city: Path,
    loaded_engine: Engine,
    filed: dict[str, Any],
) -> None:
    signed_in(client, "parent")
    own = filed["own"]
    page = client.get(f"/my/applications/{own}").text
    assert _step(page, "submitted") == "done"
    assert _step(page, "review") == "current"
    assert _step(page, "returned") is None
    assert re.search(r'data-testid="application-number">SE-\d{4}-0*' + str(own) + "<", page)
    assert 'data-testid="correct-form"' not in page  # submitted: nothing to correct

    reason = "请补充劳动合同"
    with session_scope(loaded_engine) as session:
        intake.verify(EDU, session, [own], approve=False, reason=reason)
    page = client.get(f"/my/applications/{own}").text
    assert _step(page, "returned") == "current"
    assert re.search(rf'data-testid="return-reason">[^<]*{reason}', page)
    assert 'data-testid="correct-form"' in page

    first, second = filed["schools"]
    refused = client.post(
        f"/my/applications/{own}/correct",
        data={"csrf_token": csrf(client), "choice_1": second, "choice_2": second},
    )
    assert refused.status_code == 422 and 'data-testid="error-summary"' in refused.text
    assert refused.text.count(f'<option value="{second}" selected>') == 2  # kept as chosen
    assert (
        client.post(f"/my/applications/{own}/correct", data={"choice_1": second}).status_code == 403
    )  # no CSRF token
    answer = client.post(
        f"/my/applications/{own}/correct",
        data={"csrf_token": csrf(client), "choice_1": second, "choice_2": first},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    with session_scope(loaded_engine) as session:
        application = session.get_one(Application, own)
        assert application.status == ApplicationStatus.SUBMITTED
        assert application.choices == f"{second};{first}"
    page = client.get(f"/my/applications/{own}").text
    assert _step(page, "returned") == "done" and _step(page, "corrected") == "done"
    assert _step(page, "review") == "current"

    with session_scope(loaded_engine) as session:
        intake.verify_all(EDU, session, filed["cycle"])
        run = allocation.allocate_cycle(SYSTEM_ACTOR, session, filed["cycle"], "portal-seed")
        result = session.get_one(AllocationResult, (run.id, own))
        word = OUTCOME_WORDS[ProgramKind.SCHOOL_ADMISSION][result.outcome]
        rank, outcome = result.rank, result.outcome
    page = client.get(f"/my/applications/{own}").text
    assert _step(page, "verified") == "done"
    assert _step(page, "ranked") == "done" and _step(page, "outcome") == "done"
    assert re.search(rf'data-testid="outcome"><strong>{word}</strong>', page)
    if rank is not None:
        assert f"排名第 {rank}" in page
    assert _step(page, "final") == "next"
    assert outcome in {"placed", "unplaced", "ineligible", "waitlisted"}

    with session_scope(loaded_engine) as session:
        notice = notices.publish(SYSTEM_ACTOR, session, allocation_run_id=run.id)
        parent = actor_of(session.scalars(select(User).where(User.username == "parent")).one())
        objection = notices.file_objection(parent, session, notice.id, str(own), "积分有误")
        notice_id, objection_id = notice.id, objection.id
    page = client.get(f"/my/applications/{own}").text
    assert _step(page, "notice") == "current" and f'href="/notices/{notice_id}"' in page
    assert _step(page, "objection") == "done" and "积分有误" in page
    assert _step(page, "decision") == "current"  # waiting for the department
    with session_scope(loaded_engine) as session:
        notices.review(EDU, session, objection_id, False, "积分核对无误")
    page = client.get(f"/my/applications/{own}").text
    assert _step(page, "decision") == "done"
    assert re.search(r'data-testid="decision"><strong>异议不成立</strong>：积分核对无误', page)

    # The next cycle's choices show this one's 录取线 once it is final: the lowest points
    # placed at each school by rank in the points group (group 2).
    with session_scope(loaded_engine) as session:
        programs.finalize(SYSTEM_ACTOR, session, filed["cycle"])
        placed = session.execute(
            select(AllocationResult.target_id, AllocationResult.points).where(
                AllocationResult.run_id == run.id,
                AllocationResult.outcome == "placed",
                AllocationResult.placement == "choice",
                AllocationResult.priority_group == 2,
            )
        ).all()
    lowest: dict[str, float] = {}
    for target, points in placed:
        lowest[target] = min(points, lowest.get(target, points))
    assert lowest, "nobody placed by rank: the cut-off would not be tested"
    today = date.today()
    following = open_school_cycle(
        loaded_engine, small_city, "下一轮", today - timedelta(days=1), today + timedelta(days=9)
    )
    page = client.get(
        f"/my/apply/{following}/choices", params={"for": f"child:{filed['child_id']}"}
    ).text
    for target, points in lowest.items():
        assert re.search(
            rf'<option value="{target}"[^>]*>[^<]*上一周期录取线 {number(points, 2)} 分', page
        )
    first_choice = re.search(r'<select id="choice_1".*?</select>', page, re.S)
    assert first_choice and first_choice.group(0).count("上一周期录取线") == len(lowest)


def test_another_parents_application_is_not_found(
    client: TestClient, filed: dict[str, Any]
) -> None:
    signed_in(client, "parent")
    other = filed["other"]
    assert client.get(f"/my/applications/{other}").status_code == 404
    answer = client.post(
        f"/my/applications/{other}/correct",
        data={"csrf_token": csrf(client), "choice_1": filed["schools"][0]},
    )
    assert answer.status_code == 404
    assert client.get("/my/applications/99999999").status_code == 404
