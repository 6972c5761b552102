"""Who reads which scoring runs and scores, through the services, on both databases; and the
compiled policy of a stored run compiled once per digest."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from luodi.auth.actor import PUBLIC_ACTOR, SYSTEM_ACTOR, Actor, Role
from luodi.errors import Forbidden, NotFound, Unauthorized
from luodi.policy import service as policy_service
from luodi.policy.service import compiled_from_text, find_policy
from luodi.registry.loading import load_city
from luodi.registry.models import Resident, Town
from luodi.scoring import service
from luodi.scoring.models import ResidentScore
from tests import factories

AS_OF = date(2026, 3, 1)


class Scored:
    def __init__(self, session: Session, run_id: int) -> None:
        self.run_id = run_id
        rows = session.execute(
            select(Resident.id, Resident.id_number, Town.code)
            .join(ResidentScore, ResidentScore.resident_id == Resident.id)
            .join(Town, Town.id == Resident.town_id)
            .where(ResidentScore.run_id == run_id)
            .order_by(Resident.id)
        ).all()
        self.me, self.my_number, self.my_town = rows[0]
        self.other = next(row for row in rows if row[2] != self.my_town)


@pytest.fixture
def scored(session: Session, small_city: Path) -> Scored:
    load_city(SYSTEM_ACTOR, session, small_city, today=AS_OF)
    run = service.score_registry(SYSTEM_ACTOR, session, find_policy("zj-cixi", AS_OF), AS_OF)
    return Scored(session, run.run.id)


def test_runs_are_for_staff(session: Session, scored: Scored) -> None:
    for actor in (
        Actor("a", Role.ADMIN),
        Actor("o", Role.OPERATOR),
        Actor("u", Role.AUDITOR),
        Actor("r", Role.REVIEWER, department="教育局"),
        Actor("t", Role.TOWN_STAFF, town_code=scored.my_town),
    ):
        assert [run.id for run in service.list_runs(actor, session)] == [scored.run_id], actor
        assert service.get_run(actor, session, scored.run_id).id == scored.run_id
    with pytest.raises(Unauthorized):
        service.list_runs(PUBLIC_ACTOR, session)
    with pytest.raises(Forbidden):
        service.list_runs(Actor("me", Role.RESIDENT, id_number=scored.my_number), session)
    with pytest.raises(Forbidden):
        service.list_runs(Actor("d", Role.DEPARTMENT, department="教育局"), session)
    with pytest.raises(NotFound):
        service.get_run(PUBLIC_ACTOR, session, scored.run_id)


def test_town_staff_reach_runs_through_their_residents(session: Session, scored: Scored) -> None:
    """A run is a town's to read through the residents of that town scored in it."""
    factories.town(session, "330282599", "新设镇")
    staff = Actor("t", Role.TOWN_STAFF, town_code="330282599")
    assert service.list_runs(staff, session) == []
    with pytest.raises(NotFound):
        service.get_run(staff, session, scored.run_id)


def test_a_resident_reads_their_own_score_only(session: Session, scored: Scored) -> None:
    me = Actor("me", Role.RESIDENT, id_number=scored.my_number)
    own = service.resident_score(me, session, scored.me)
    assert own.resident_id == scored.me and own.run.id == scored.run_id
    assert service.get_run(me, session, scored.run_id).id == scored.run_id
    with pytest.raises(NotFound):
        service.resident_score(me, session, scored.other[0])
    with pytest.raises(NotFound):
        service.resident_score(PUBLIC_ACTOR, session, scored.me)
    # Stored scores asked for in bulk are narrowed the same way.
    stored = service.stored_scores(me, session, [scored.me, scored.other[0]], run_id=scored.run_id)
    assert stored.frame["resident_id"].to_list() == [scored.me]


def test_town_staff_read_scores_of_their_town(session: Session, scored: Scored) -> None:
    staff = Actor("t", Role.TOWN_STAFF, town_code=scored.my_town)
    assert service.resident_score(staff, session, scored.me).resident_id == scored.me
    with pytest.raises(NotFound):
        service.resident_score(staff, session, scored.other[0])


def test_a_stored_policy_is_compiled_once_per_digest() -> None:
    text = find_policy("zj-cixi", AS_OF).policy.text
    first = compiled_from_text(text)
    assert compiled_from_text(text) is first
    assert compiled_from_text(str(text)) is first  # an equal text read again: same entry
    changed = text + "\n# 注释 comment\n"
    assert compiled_from_text(changed) is not first
    assert compiled_from_text(changed).policy.digest != first.policy.digest


def test_the_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(policy_service, "COMPILED_CACHE_SIZE", 2)
    text = find_policy("zj-cixi", AS_OF).policy.text
    first = compiled_from_text(text + "\n# 1\n")
    compiled_from_text(text + "\n# 2\n")
    compiled_from_text(text + "\n# 3\n")  # pushes the least recently used (# 1) out
    assert len(policy_service._compiled) <= 2
    assert compiled_from_text(text + "\n# 1\n") is not first
