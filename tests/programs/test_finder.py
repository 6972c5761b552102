"""The entitlement finder (programs/finder.py): it reads the allocation's own decision, so the
finder and the allocation agree on every case of every shipped program; the words of a gap
and a child's programs come from the registry."""

from __future__ import annotations

import json
from datetime import date
from functools import cache
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from luodi.allocation import service as allocation
from luodi.audit import service as audit
from luodi.auth.actor import SYSTEM_ACTOR, Actor, Role
from luodi.errors import NotFound
from luodi.kernels.policy.document import Policy
from luodi.policy.service import find_policy
from luodi.programs import finder, intake, rules, timeline
from luodi.programs import service as programs
from luodi.programs.cases import CASE, case_frame
from luodi.programs.catalog import load_programs
from luodi.programs.spec import ProgramSpec, load_program_spec
from luodi.registry.loading import load_city
from luodi.registry.models import Resident
from luodi.scoring import service as scoring_service
from luodi.settings import SHIPPED_POLICY_DIR, SHIPPED_PROGRAM_DIR
from tests import family_city as city
from tests.factories import id_number

SHIPPED = sorted(SHIPPED_PROGRAM_DIR.glob("*.yaml"))


@cache
def _spec(path: Path) -> ProgramSpec:
    return load_program_spec(path.read_text(encoding="utf-8"), path.name)


@cache
def _policy(policy_id: str, day: date) -> Policy:
    return find_policy(policy_id, day, directory=SHIPPED_POLICY_DIR).policy


DECIDING = [
    pytest.param(path, index, id=f"{path.name}: {case.name}")
    for path in SHIPPED
    for index, case in enumerate(_spec(path).tests)
    if not case.pending and {"eligible", "failed"} & case.expect.model_fields_set
]


@pytest.mark.parametrize(("path", "index"), DECIDING)
def test_the_finder_and_the_allocation_agree_on_every_case(path: Path, index: int) -> None:
    """The case's rows go through the allocation's ``decide_rules`` and the finder reads its
    result: eligible and the failed conditions equal the case's expectation and what
    ``rules.evaluate`` alone gives; a failed condition is missing in words, with its label."""
    spec = _spec(path)
    case = spec.tests[index]
    policy = _policy(spec.policy, case.as_of)
    types = {name: item.type for name, item in policy.inputs.items()}
    frame, _, problems = case_frame(spec, case, policy, f"tests[{index}]")
    assert not problems
    evaluated, decided = allocation.decide_rules(spec, types, frame, case.as_of, key=CASE)
    verdict = finder.verdicts(
        spec, types, evaluated, decided, case.as_of, [0], key=CASE, declared=True
    )[0]
    direct = rules.by_application(spec, rules.evaluate(spec, types, frame, case.as_of), CASE)
    row = direct.row(0, named=True)
    by_rules = sorted(rule.id for rule in spec.eligibility if not row[f"rule:{rule.id}"])
    expect = case.expect
    if "eligible" in expect.model_fields_set:
        assert verdict.eligible is expect.eligible is bool(row["eligible"])
    if "failed" in expect.model_fields_set:
        assert verdict.failed == sorted(expect.failed or []) == by_rules
    assert [c.label_zh for c in verdict.missing if c.rule_id != "tier"] == [
        rule.label.zh for rule in spec.eligibility if rule.id in verdict.failed
    ]
    assert (verdict.standing is finder.Standing.ELIGIBLE) is (
        verdict.eligible and verdict.below_tiers is None
    )


# --- on the registry: the family city (tests/family_city.py) --------------------------------

TODAY = date(2026, 3, 1)
PERMITS = (
    "permit_number,id_number,town_code,issue_date,expiry_date\n"
    f"P1,{city.FATHER},{city.ZHOUXIANG},2025-06-01,2030-06-01\n"
    f"P2,{city.MOTHER},{city.ZHOUXIANG},2020-01-01,2030-01-01\n"
)


def test_a_parent_finds_the_gaps_and_the_childrens_programs(
    session: Session, tmp_path: Path
) -> None:
    """The father of the family city (a permit since June 2025, no social insurance record)
    and his two children: the number and time gaps in words, the children's programs, and on
    an open cycle the same decision as the allocation's, with today's rank."""
    load_city(SYSTEM_ACTOR, session, city.write_family_city(tmp_path, permits=PERMITS))
    policy = find_policy("zj-cixi", TODAY)
    scoring_service.score_registry(SYSTEM_ACTOR, session, policy, TODAY)
    father = Actor("father", Role.RESIDENT, id_number=city.FATHER)
    found = finder.find(father, session, today=TODAY)
    # A sign-in or a draft saved changes nothing a finding reads: the same finding is kept
    # (any other audited write ends it: the cycle opened below is found).
    audit.record(session, SYSTEM_ACTOR, "auth.sign_in", "user", "father")
    audit.record(session, SYSTEM_ACTOR, "application_draft.save", "application_draft", 1)
    assert finder.find(father, session, today=TODAY) is found
    me, *children = found.sections
    assert me.child_id is None
    assert len(children) == 2 and {c.name for c in children} == {"一", "二"}
    assert all(
        sorted(card.program_id for card in section.cards)
        == ["child-medical-insurance", "school-entry"]
        for section in children
    )
    # A number gap in the input's unit, from the stored inputs of the latest run.
    mine = scoring_service.stored_scores(
        SYSTEM_ACTOR, session, [_resident(session, city.FATHER)], policy_id="zj-cixi"
    ).frame.row(0, named=True)
    rental = next(card for card in me.cards if card.program_id == "public-rental")
    insured = next(c for c in rental.verdict.missing if c.rule_id == "insured_one_year")
    (gap,) = insured.gaps
    held = mine["social_insurance_months"]
    assert (gap.current, gap.needed, gap.missing) == (held, 12, 12 - held)
    assert gap.zh.startswith(f"还差 {12 - held} 个月") and "在浙累计缴纳社保月数" in gap.zh
    assert gap.en.startswith(f"{12 - held} months short")
    # A time gap: registered in June 2025, a year on 1 June 2026 (a school place for a child).
    school = next(card for card in children[0].cards if card.program_id == "school-entry")
    year = next(c for c in school.verdict.missing if c.rule_id == "permit_one_year")
    assert year.possible and year.gaps[0].by_time and year.gaps[0].met_on == date(2026, 6, 1)
    assert "2026-06-01" in year.gaps[0].zh
    # An open cycle: decided as the allocation decides the application once filed.
    cycle = programs.open_cycle(
        SYSTEM_ACTOR, session, "health-check", "finder", TODAY, TODAY, TODAY, places=2
    )
    assert _card(found, "health-check").cycle_id is None  # none was open: as of today
    before = _card(finder.find(father, session, today=TODAY), "health-check")
    assert before.cycle_id == cycle.id and before.accepting
    # A frontline worker of a union employer in one of the towns: eligible; nobody has applied
    # yet, so first of one (the ranks are the eligible applications').
    assert before.verdict.eligible and (before.rank, before.ranked) == (1, 1)
    (filed,) = intake.submit_applications(
        SYSTEM_ACTOR, session, cycle.id, [{"id_number": city.FATHER}], today=TODAY
    )
    decided = allocation.application_rules(SYSTEM_ACTOR, session, cycle, filed)[1].row(
        0, named=True
    )
    spec = load_programs()["health-check"][0]
    assert before.verdict.failed == sorted(
        rule.id for rule in spec.eligibility if not decided[f"rule:{rule.id}"]
    )
    assert before.verdict.eligible is bool(decided["eligible"])
    intake.verify_all(SYSTEM_ACTOR, session, cycle.id)
    after = _card(finder.find(father, session, today=TODAY), "health-check")
    # His own application, now verified, is the one ranked: not counted twice.
    assert (after.rank, after.ranked) == (1, 1)


def _card(found: finder.Finding, program_id: str) -> finder.Card:
    return next(card for card in found.sections[0].cards if card.program_id == program_id)


def _resident(session: Session, id_number: str) -> int:
    return int(session.scalars(select(Resident.id).where(Resident.id_number == id_number)).one())


def test_a_non_resident_finds_nothing(session: Session) -> None:
    with pytest.raises(NotFound):
        finder.find(SYSTEM_ACTOR, session)


def _children_file(rows: list[tuple[str, str, str, int | None]]) -> str:
    """The family city's children, each (ID number, name, second parent, grade)."""
    head = "id_number,household_number,child_id_number,child_name,second_parent_id_number,grade\n"
    return head + "".join(
        f"{city.FATHER},H1,{child},{name},{second},{'' if grade is None else grade}\n"
        for child, name, second, grade in rows
    )


def test_only_a_child_at_an_entry_grade_is_judged_for_a_school_place(
    session: Session, tmp_path: Path
) -> None:
    """Grade 1 (of age on 31 August, not yet in school) and grade 7 (in grade 6) are judged in
    their grade's cycle; a child in grade 3 or 8, or not yet of age, is not at an entry grade:
    its school card says so and judges nothing."""
    rows = [
        (city.C1, "入学", city.MOTHER, None),  # six on 31 August 2026: grade 1
        (id_number("330282", date(2014, 3, 1), 313), "六年级", city.MOTHER, 6),
        (id_number("330282", date(2017, 3, 1), 323), "三年级", city.MOTHER, 3),
        (id_number("330282", date(2012, 3, 1), 333), "八年级", city.MOTHER, 8),
        (id_number("330282", date(2023, 3, 1), 343), "太小", city.MOTHER, None),
    ]
    files = city.write_family_city(tmp_path, permits=PERMITS, children=_children_file(rows))
    load_city(SYSTEM_ACTOR, session, files)
    scoring_service.score_registry(SYSTEM_ACTOR, session, find_policy("zj-cixi", TODAY), TODAY)
    found = finder.find(Actor("father", Role.RESIDENT, id_number=city.FATHER), session, TODAY)
    school = {
        section.name: next(c for c in section.cards if c.program_id == "school-entry")
        for section in found.sections[1:]
    }
    assert set(school) == {name for _, name, _, _ in rows}
    for name in ("入学", "六年级"):
        verdict = school[name].verdict
        assert verdict.reason_zh is None and verdict.conditions
        # The age rule (entry_age) holds: judged in the grade the child enters.
        assert "entry_age" not in verdict.failed
    for name in ("三年级", "八年级", "太小"):
        verdict = school[name].verdict
        assert verdict.reason_zh == finder.NOT_AT_ENTRY[0] and not verdict.conditions
        assert school[name].as_dict()["reason_en"] == finder.NOT_AT_ENTRY[1]


def test_a_childs_card_shows_none_of_the_other_parents_numbers(
    session: Session, tmp_path: Path
) -> None:
    """A child's application counts the higher parent's points and either parent's facts: the
    card's points are the signed-in parent's own, and a gap the other parent would close
    carries no number (value, needed, how far, day). The father is scored, the mother (her
    permit suspended) is not: she sees none of his points, nor his time to go."""
    load_city(SYSTEM_ACTOR, session, city.write_family_city(tmp_path, permits=PERMITS))
    policy = find_policy("zj-cixi", TODAY)
    scoring_service.score_registry(SYSTEM_ACTOR, session, policy, TODAY)
    father = _resident(session, city.FATHER)
    stored = scoring_service.stored_scores(SYSTEM_ACTOR, session, [father], policy_id="zj-cixi")
    his = stored.frame.row(0, named=True)["points"]
    cards = {}
    for who in (city.FATHER, city.MOTHER):
        found = finder.find(Actor("p", Role.RESIDENT, id_number=who), session, TODAY)
        first = next(s for s in found.sections[1:] if s.name == "一")
        cards[who] = next(c for c in first.cards if c.program_id == "school-entry")
    assert cards[city.FATHER].verdict.points == his
    theirs = cards[city.MOTHER]
    assert theirs.verdict.points is None
    (condition,) = [c for c in theirs.verdict.missing if c.rule_id == "permit_one_year"]
    (gap,) = condition.gaps
    assert not gap.own and (gap.current, gap.needed, gap.missing, gap.met_on) == (None,) * 4
    assert gap.zh == "另一方父母可满足（居住登记日期）" and "other parent" in gap.en
    text = json.dumps(theirs.as_dict(), ensure_ascii=False)
    assert f"{his:g}" not in text and "2026-06-01" not in text
    # The father's own gap keeps its numbers.
    (own,) = next(
        c for c in cards[city.FATHER].verdict.missing if c.rule_id == "permit_one_year"
    ).gaps
    assert own.own and own.met_on == date(2026, 6, 1)


def test_last_cycles_cut_off_is_the_apply_pages(session: Session, tmp_path: Path) -> None:
    """The finder's cut-off is ``timeline.last_cut_off``, the apply page's definition: the
    previous cycle's FINAL run — an allocated cycle (its run not yet final) gives none."""
    load_city(SYSTEM_ACTOR, session, city.write_family_city(tmp_path, permits=PERMITS))
    scoring_service.score_registry(SYSTEM_ACTOR, session, find_policy("zj-cixi", TODAY), TODAY)
    father = Actor("father", Role.RESIDENT, id_number=city.FATHER)
    first = programs.open_cycle(
        SYSTEM_ACTOR, session, "health-check", "first", TODAY, TODAY, TODAY, places=2
    )
    intake.submit_applications(
        SYSTEM_ACTOR, session, first.id, [{"id_number": city.FATHER}], today=TODAY
    )
    intake.verify_all(SYSTEM_ACTOR, session, first.id)
    run = allocation.allocate_cycle(SYSTEM_ACTOR, session, first.id, "seed")
    assert _card(finder.find(father, session, today=TODAY), "health-check").cut_off is None
    programs.finalize(SYSTEM_ACTOR, session, first.id)
    coming = _card(finder.find(father, session, today=TODAY), "health-check")
    placed = allocation.final_run(session, first.id)
    assert placed is not None and placed.id == run.id
    stored = scoring_service.stored_scores(
        SYSTEM_ACTOR, session, [_resident(session, city.FATHER)], policy_id="zj-cixi"
    )
    assert coming.cycle_id is None and coming.cut_off == stored.frame["points"][0]
    second = programs.open_cycle(
        SYSTEM_ACTOR, session, "health-check", "second", TODAY, TODAY, TODAY, places=2
    )
    card = _card(finder.find(father, session, today=TODAY), "health-check")
    assert card.cycle_id == second.id
    assert card.cut_off == timeline.last_cut_off(session, second) == coming.cut_off


def test_the_cycle_judged_is_the_one_taking_applications_today() -> None:
    """An announced later cycle must not hide the one open today (the apply link is on the
    card of the cycle judged); with none taking, the next to open; else the latest."""
    from luodi.programs.finder import judged_cycle
    from luodi.programs.models import ProgramCycle

    today = date(2026, 11, 30)

    def cycle(number: int, opens: date, closes: date) -> ProgramCycle:
        return ProgramCycle(id=number, opens=opens, closes=closes)

    closed = cycle(1, date(2026, 10, 1), date(2026, 11, 15))
    taking = cycle(2, date(2026, 11, 1), date(2026, 12, 31))
    later = cycle(3, date(2027, 1, 10), date(2027, 2, 10))
    much_later = cycle(4, date(2027, 3, 1), date(2027, 3, 31))
    assert judged_cycle([much_later, later, taking, closed], today) is taking
    assert judged_cycle([much_later, later, closed], today) is later
    assert judged_cycle([closed, cycle(5, date(2026, 9, 1), date(2026, 9, 30))], today) is closed
