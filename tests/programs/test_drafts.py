"""``programs.drafts``: whom a resident applies for (the registry's, never typed), a draft
kept per account, cycle and person and resumed, its submission through ``intake`` (the draft
gone, a refused one kept), every change audited; and the 受理编号 (``programs.numbers``)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from luodi.audit.models import AuditEntry
from luodi.auth.actor import SYSTEM_ACTOR, Actor, Role
from luodi.errors import Conflict, Invalid, NotFound
from luodi.programs import drafts, service
from luodi.programs.drafts import Answers
from luodi.programs.models import Application, ApplicationDraft, ProgramCycle
from luodi.programs.numbers import application_number, parse_application_number, program_prefix
from luodi.registry.models import Child, Household, Resident
from tests import factories

AS_OF = date(2026, 3, 1)


def _family(session: Session, tmp_path: Path) -> tuple[ProgramCycle, Resident, Child, Child]:
    """A town with two schools, two parents each with a child, a school cycle open today."""
    town = factories.town(session)
    parents = [
        factories.resident(session, number=factories.id_number(sequence=n), name=name)
        for n, name in ((101, "张三"), (102, "李四"))
    ]
    children = []
    for n, parent in enumerate(parents, start=1):
        household = Household(household_number=f"H{n}", town_id=town.id)
        session.add(household)
        session.flush()
        child = Child(
            household_id=household.id,
            id_number=factories.id_number(birth=date(2020, 3, 1), sequence=200 + n),
            name=f"孩子{n}",
            sex="F",
            birth_date=date(2020, 3, 1),
            parent_id=parent.id,
        )
        session.add(child)
        children.append(child)
    session.flush()
    schools = tmp_path / "schools.csv"
    schools.write_text(
        "school_id,name,town_code,stage,entry_grade,seats\n"
        f"S1,第一小学,{town.code},primary,1,40\nS2,第二小学,{town.code},primary,1,40\n",
        encoding="utf-8",
    )
    today = date.today()
    cycle = service.open_cycle(
        SYSTEM_ACTOR,
        session,
        "school-entry",
        "测试",
        today - timedelta(days=1),
        today + timedelta(days=5),
        AS_OF,
        targets_file=schools,
        entry_grade=1,
    )
    return cycle, parents[0], children[0], children[1]


def test_a_draft_is_kept_resumed_and_submitted_through_intake(
    session: Session, tmp_path: Path
) -> None:
    cycle, parent, child, stranger = _family(session, tmp_path)
    actor = Actor("parent", Role.RESIDENT, id_number=parent.id_number)

    offered = drafts.persons(actor, session, cycle)
    keys = {person.key for person in offered}
    assert f"child:{child.id}" in keys and "self" not in keys  # a school place is a child's
    assert f"child:{stranger.id}" not in keys
    with pytest.raises(NotFound):
        drafts.person_of(actor, session, cycle, f"child:{stranger.id}")

    person = drafts.person_of(actor, session, cycle, f"child:{child.id}")
    school = next(t.group_id for t in service.published_targets(actor, session, cycle.id))
    drafts.save(actor, session, cycle, person, Answers(guide=True, choices=[school]))
    drafts.save(actor, session, cycle, person, Answers(guide=True, facts=True, choices=[school]))
    kept = drafts.drafts(actor, session, cycle.id)
    assert len(kept) == 1  # one per account, cycle and person: saved again, not twice
    resumed = Answers.of(drafts.draft_of(actor, session, cycle.id, person.key))
    assert resumed.facts and resumed.choices == [school] and not resumed.choices_done
    # Another account sees none of it.
    other = Actor("someone", Role.RESIDENT, id_number=parent.id_number)
    assert drafts.drafts(other, session, cycle.id) == []

    # Refused by intake (a school that is not offered): nothing written, the draft kept.
    drafts.save(actor, session, cycle, person, Answers(guide=True, facts=True, choices=["NOPE"]))
    with pytest.raises(Invalid), session.begin_nested():
        drafts.submit(actor, session, cycle, person)
    assert drafts.draft_of(actor, session, cycle.id, person.key) is not None

    drafts.save(actor, session, cycle, person, Answers(guide=True, facts=True, choices=[school]))
    application_id = drafts.submit(actor, session, cycle, person)
    application = session.get_one(Application, application_id)
    assert application.child_id == child.id and application.resident_id == parent.id
    assert application.choices == school
    assert drafts.draft_of(actor, session, cycle.id, person.key) is None
    with pytest.raises(Conflict):  # nothing left to submit
        drafts.submit(actor, session, cycle, person)
    actions = session.scalars(
        select(AuditEntry.action).where(AuditEntry.object_type == "application_draft")
    ).all()
    assert actions.count("application_draft.save") == 4
    assert actions[-1] == "application_draft.submit"
    assert session.scalars(select(ApplicationDraft)).all() == []


def test_the_window_is_said_before_the_resident_starts() -> None:
    today = date(2026, 5, 10)

    class Cycle:
        status = "open"
        opens = date(2026, 5, 1)
        closes = date(2026, 5, 20)

    assert drafts.window_problem(Cycle(), today) is None  # type: ignore[arg-type]
    assert drafts.window_problem(Cycle(), date(2026, 4, 30)) is not None  # type: ignore[arg-type]
    assert "截止" in drafts.window_problem(Cycle(), date(2026, 5, 21))[0]  # type: ignore[arg-type,index]
    Cycle.status = "allocated"
    assert drafts.window_problem(Cycle(), today) is not None  # type: ignore[arg-type]


def test_the_application_number_reads_back() -> None:
    assert program_prefix("school-entry") == "SE"
    assert program_prefix("child-medical-insurance") == "CMI"
    number = application_number("public-rental", date(2026, 4, 1), 123)
    assert number == "PR-2026-000123"
    assert parse_application_number(number) == 123
    assert parse_application_number("pr2026000123", "public-rental", date(2026, 4, 1)) == 123
    assert parse_application_number(number, "school-entry") is None  # another program's
    assert parse_application_number(number, "public-rental", date(2025, 4, 1)) is None
    assert parse_application_number("12345") is None
    assert application_number("loan", date(2026, 1, 1), 12_345_678) == "L-2026-12345678"
