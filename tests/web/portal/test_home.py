"""/my: my points now and their parts, my permit and its next endorsement, my applications with
their status and next step in words, the notices that concern me, my objections."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from luodi.auth.actor import SYSTEM_ACTOR, Actor
from luodi.db import session_scope
from luodi.kernels.timeline.permits import PermitState
from luodi.notices import service as notices
from luodi.policy.service import find_policy
from luodi.registry import service as registry_service
from luodi.scoring import service as scoring
from luodi.web.portal import own_resident_id
from luodi.web.portal.home import permit_card
from tests.web.console.test_shell import page_client
from tests.web.portal.scored import JUNE, USERNAME, scored_fixture  # noqa: F401 - fixture


def test_a_visitor_signs_in_first_and_staff_find_no_page(
    client: TestClient, accounts: dict[str, Actor]
) -> None:
    client.cookies.clear()
    answer = client.get("/my", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    assert page_client(client, "town").get("/my").status_code == 404


def test_my_points_and_permit(
    client: TestClient, scored: dict[str, Any], loaded_engine: Engine
) -> None:
    page = page_client(client, USERNAME).get("/my").text
    with session_scope(loaded_engine) as session:
        score = scoring.resident_score(scored["actor"], session, scored["resident_id"])
    card = page.split('data-testid="points-card"')[1].split("</section>")[0]
    assert f"{score.total:,.2f}".rstrip("0").rstrip(".") in card
    assert 'data-part="province"' in card and 'data-part="county"' in card
    assert 'href="/my/points"' in card
    permit = page.split('data-testid="permit-card"')[1].split("</section>")[0]
    assert "有效" in permit and "下次签注" in permit


def test_the_endorsement_is_announced_30_days_before_and_once_overdue(
    loaded_engine: Engine, scored: dict[str, Any]
) -> None:
    actor = scored["actor"]
    with session_scope(loaded_engine) as session:
        resident_id = own_resident_id(actor, session)
        today = date(2026, 6, 1)
        due = permit_card(actor, session, resident_id, today)["due"]
        assert due is not None and due >= today
        early = permit_card(actor, session, resident_id, due - timedelta(days=31))
        soon = permit_card(actor, session, resident_id, due - timedelta(days=30))
        late = permit_card(actor, session, resident_id, due + timedelta(days=1))
    assert early["warning"] is None
    assert soon["warning"] == "soon" and soon["days"] == 30
    assert late["warning"] == "overdue"


def test_applications_in_words_and_the_notices_that_concern_me(
    client: TestClient, cycle: dict[str, Any], loaded_engine: Engine, accounts: dict[str, Actor]
) -> None:
    with session_scope(loaded_engine) as session:
        notice = notices.publish(SYSTEM_ACTOR, session, allocation_run_id=cycle["run"])
    page = page_client(client, "resident").get("/my").text
    applications = page.split('data-testid="applications"')[1].split("</section>")[0]
    assert f'href="/my/applications/{cycle["mine"]}"' in applications
    assert f'href="/my/applications/{cycle["other"]}"' not in applications
    assert "下一步" in applications and "placed" not in applications
    assert any(word in applications for word in ("已录取", "未录取", "轮候"))
    concerning = page.split('data-testid="my-notices"')[1].split("</section>")[0]
    assert f'href="/notices/{notice.id}"' in concerning
    assert f"我的条目：{cycle['mine']}" in concerning  # my row, found by its number
    # The resident of this account holds no permit: no score, and the permit card says so.
    assert "您还没有积分" in page and "无居住证" in page
    # Another resident did not apply in that cycle: the notice does not concern them.
    other = page_client(client, USERNAME).get("/my").text
    assert f'href="/notices/{notice.id}"' not in other.split('data-testid="my-notices"')[1]


def test_the_score_ranking_of_my_run_concerns_me(
    client: TestClient, scored: dict[str, Any], loaded_engine: Engine
) -> None:
    with session_scope(loaded_engine) as session:
        # The newest run that scored me (another module fixture may have scored the city since).
        newest = scoring.score_history(scored["actor"], session, scored["resident_id"])[0].run
        assert newest.id != scored["first"]
        earlier = notices.publish(SYSTEM_ACTOR, session, scoring_run_id=scored["first"])
        ranking = notices.publish(SYSTEM_ACTOR, session, scoring_run_id=newest.id)
    page = page_client(client, USERNAME).get("/my").text
    concerning = page.split('data-testid="my-notices"')[1].split("</section>")[0]
    assert f'href="/notices/{ranking.id}"' in concerning
    assert f"我的条目：{scored['resident_id']}" in concerning
    # The ranking of an older run is not about my score now.
    assert f'href="/notices/{earlier.id}"' not in concerning


def test_english(client: TestClient, scored: dict[str, Any]) -> None:
    resident = page_client(client, USERNAME)
    resident.cookies.set("luodi_lang", "en")
    page = resident.get("/my").text
    resident.cookies.delete("luodi_lang")
    assert "My residence permit" in page and "Next endorsement" in page
    assert "Provincial common indicators" in page  # the policy's own English label
    assert "我的居住证" not in page and "省级共性指标" not in page


def test_a_newer_run_that_left_me_out_is_said_in_the_second_person(
    client: TestClient, scored: dict[str, Any], loaded_engine: Engine
) -> None:
    """Last in this module (it makes the newest run): a run as of the first month-start on
    which the resident's permit is no longer valid (no yearly endorsement recorded since)
    leaves them out; /my says so beside their older score, /my/points says why."""
    with session_scope(loaded_engine) as session:
        days = [date(2026 + month // 12, month % 12 + 1, 1) for month in range(11, 48)]
        lapsed = next(
            day
            for day in days
            if registry_service.residence_span(SYSTEM_ACTOR, session, scored["resident_id"], day)[
                "permit_state"
            ]
            != PermitState.VALID
        )
        scoring.score_registry(SYSTEM_ACTOR, session, find_policy("zj-cixi", JUNE), lapsed)
    said = f"{lapsed.isoformat()} 的最新一次计分没有计入您"
    resident = page_client(client, USERNAME)
    home = resident.get("/my").text
    assert 'data-testid="left-out"' in home and said in home
    assert 'data-testid="home-total"' in home  # the older score is still shown
    points = resident.get("/my/points").text
    assert said in points
    assert f"居民 {scored['resident_id']}" not in points  # no internal id, no third person
