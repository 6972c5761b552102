"""The entitlement finder (可享待遇): every program of the city, for the signed-in resident
and for each of their children, decided as an allocation would decide an application filed
today — eligible now, not yet (time or a number closes the gap), or not eligible — with each
condition that fails named in words and, for a number, how far away it is; for a ranked
program last cycle's cut-off and the rank the application would have today.

One source of truth: the applications the resident has not made are handed to the
allocation's own ``applicant_frame`` and ``decide_rules`` (the stored points, the registry's
context, the program's rules), never re-implemented here. What this module adds is the reading
of the result: which condition fails, and by how much (``kernels.policy.gaps``).

A program with an open cycle is judged as of that cycle's date (its conditions are counted to
it); a program with none ("coming") as of today, with the program's own settings, in a cycle
that is not stored. Fields the applicant declares on the form are not known before applying:
a condition that reads one says so (申请时填写) instead of failing.

The caller commits (transactions at the edge); nothing is written.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from threading import Lock
from typing import Any

import polars as pl
from sqlalchemy.orm import Session

from luodi import workdays
from luodi.allocation import repository as allocation_repository
from luodi.allocation import service as allocation
from luodi.audit import service as audit
from luodi.auth.actor import SYSTEM_ACTOR, Actor, Role
from luodi.auth.permissions import acts_as
from luodi.errors import NotFound
from luodi.kernels.policy import KEY
from luodi.kernels.policy.expressions import AS_OF, ExpressionError, ValueType, parse_expression
from luodi.kernels.policy.gaps import Remedy, Shortfall, remedy
from luodi.programs import context, repository, rules, timeline
from luodi.programs.catalog import cycle_spec, load_programs
from luodi.programs.models import ProgramCycle
from luodi.programs.spec import ProgramKind, ProgramSpec
from luodi.scoring import service as scoring_service

RANKED = frozenset(
    {ProgramKind.SCHOOL_ADMISSION, ProgramKind.PUBLIC_HOUSING, ProgramKind.QUOTA_BENEFIT}
)
"""Programs whose places go by rank: they have a cut-off and a rank."""

PER_CHILD = frozenset({ProgramKind.SCHOOL_ADMISSION, ProgramKind.ENTITLEMENT})
"""Programs decided for a child (a school place, a child's insurance), one per child."""

HYPOTHETICAL = -1
"""The id of the applications the finder hands the allocation (negative: never stored);
the n-th subject's is ``HYPOTHETICAL - n``."""


class Standing(StrEnum):
    ELIGIBLE = "eligible"  # 现在符合
    NOT_YET = "not_yet"  # 暂不符合（时间或数量可补足）
    NOT_ELIGIBLE = "not_eligible"  # 不符合


class State(StrEnum):
    MET = "met"
    FAILED = "failed"
    DECLARE = "declare"  # 申请时填写: reads a field the applicant fills in


# ----------------------------------------------------------------------------- words of a gap

UNITS: tuple[tuple[str, str, str], ...] = (
    # (the end of an input's Chinese label, the unit in Chinese, in English)
    ("月数", "个月", "months"),
    ("年数", "年", "years"),
    ("天数", "天", "days"),
    ("日数", "天", "days"),
    ("小时数", "小时", "hours"),
    ("毫升数", "毫升", "ml"),
    ("次数", "次", "times"),
    ("条数", "条", "records"),
    ("人数", "人", "people"),
    ("分数", "分", "points"),
    ("积分", "分", "points"),
)
SPAN_UNITS = {"years": ("年", "years"), "months": ("个月", "months"), "days": ("天", "days")}
_BRACKETS = re.compile(r"（[^（）]*）|\([^()]*\)")


def unit_of(label_zh: str) -> tuple[str, str]:
    """The unit an input is counted in, from its Chinese label (…社保月数 → 个月, months;
    …献血毫升数 → 毫升, ml): the words in brackets aside; none when the label names none."""
    bare = _BRACKETS.sub("", label_zh).strip()
    for ending, zh, en in UNITS:
        if bare.endswith(ending):
            return zh, en
    return "", ""


@dataclass(frozen=True)
class Gap:
    """One number a condition falls short of, in words. ``own`` false: the condition is the
    other parent's to meet (a child's program): no number of theirs is shown — not their
    value, nor what is needed, nor how far (value = needed − missing), nor the day."""

    name: str
    label_zh: str
    label_en: str
    missing: float | None
    unit_zh: str
    unit_en: str
    current: float | None
    """The person's value (only the resident's own, and not for a time span)."""
    needed: float | None
    met_on: date | None
    by_time: bool
    own: bool = True

    @property
    def zh(self) -> str:
        if not self.own:
            return f"另一方父母可满足（{self.label_zh}）"
        amount = _number(self.missing)
        if self.by_time:
            words = f"还需 {amount} {self.unit_zh}（{self.label_zh}）"
            return words + (f"，{self.met_on.isoformat()} 起满足" if self.met_on else "")
        known = (
            f"：现为 {_number(self.current)}，需 {_number(self.needed)}"
            if self.current is not None
            else ""
        )
        return f"还差 {amount} {self.unit_zh}（{self.label_zh}{known}）".replace("  ", " ")

    @property
    def en(self) -> str:
        if not self.own:
            return f"the other parent can meet it ({self.label_en})"
        amount = _number(self.missing)
        unit = f" {self.unit_en}" if self.unit_en else ""
        if self.by_time:
            words = f"{amount}{unit} to go ({self.label_en})"
            return words + (f", met from {self.met_on.isoformat()}" if self.met_on else "")
        known = (
            f": {_number(self.current)} now, {_number(self.needed)} needed"
            if self.current is not None
            else ""
        )
        return f"{amount}{unit} short ({self.label_en}{known})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "own": self.own,
            "missing": self.missing,
            "unit": self.unit_en,
            "current": self.current,
            "needed": self.needed,
            "met_on": self.met_on.isoformat() if self.met_on else None,
            "by_time": self.by_time,
            "zh": self.zh,
            "en": self.en,
        }


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


@dataclass(frozen=True)
class Condition:
    rule_id: str
    label_zh: str
    label_en: str
    state: State
    possible: bool = True
    """A failed condition that time or larger numbers meet (its gaps say how far)."""
    gaps: tuple[Gap, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule_id,
            "label_zh": self.label_zh,
            "label_en": self.label_en,
            "state": self.state.value,
            "possible": self.possible,
            "gaps": [gap.as_dict() for gap in self.gaps],
        }


@dataclass(frozen=True)
class Verdict:
    """One application as the allocation would decide its rules today."""

    standing: Standing
    conditions: tuple[Condition, ...]
    points: float | None = None
    group: int | None = None
    entitlement: float | None = None
    below_tiers: Condition | None = None
    """A tiered benefit whose conditions are met but no tier's: the lowest tier's condition."""
    reason_zh: str | None = None
    reason_en: str | None = None
    """Why the application has no rules at all (not in the scoring run)."""

    @property
    def eligible(self) -> bool:
        """Every eligibility condition met (one the applicant declares is not yet known)."""
        return self.reason_zh is None and all(c.state != State.FAILED for c in self.conditions)

    @property
    def failed(self) -> list[str]:
        return sorted(c.rule_id for c in self.conditions if c.state == State.FAILED)

    @property
    def missing(self) -> list[Condition]:
        failed = [c for c in self.conditions if c.state == State.FAILED]
        return failed + ([self.below_tiers] if self.below_tiers is not None else [])

    @property
    def declared(self) -> list[Condition]:
        return [c for c in self.conditions if c.state == State.DECLARE]


# ----------------------------------------------------------------------------- the verdicts


def _labels(
    spec: ProgramSpec, input_labels: Mapping[str, tuple[str, str]], name: str
) -> tuple[str, str]:
    """A name of the rules in words: the policy's input label, a context word's, or for a
    spouse's or parent's input "配偶的 …" with the input's label."""
    if name == rules.POINTS:
        return "积分", "points"
    if name in spec.fields:
        label = spec.fields[name].label
        return label.zh, label.en or name
    if name in input_labels:
        return input_labels[name]
    for prefix, (zh, en) in context.RELATED.items():
        if name.startswith(f"{prefix}_") and name[len(prefix) + 1 :] in input_labels:
            base_zh, base_en = input_labels[name[len(prefix) + 1 :]]
            return f"{zh}的{base_zh}", f"{en}: {base_en}"
    if name.startswith("parents_max_") and name.removeprefix("parents_max_") in input_labels:
        base_zh, base_en = input_labels[name.removeprefix("parents_max_")]
        return f"父母中较高者的{base_zh}", f"the higher parent's {base_en}"
    word = context.WORDS.get(name)
    if word is not None:
        return word.zh, word.en
    return name, name


def _gap(
    spec: ProgramSpec,
    input_labels: Mapping[str, tuple[str, str]],
    shortfall: Shortfall,
    own: bool,
) -> Gap:
    label_zh, label_en = _labels(spec, input_labels, shortfall.name)
    if shortfall.span is not None:
        unit_zh, unit_en = SPAN_UNITS[shortfall.span]
    elif shortfall.name == rules.POINTS:
        unit_zh, unit_en = "分", "points"
    else:
        unit_zh, unit_en = unit_of(label_zh)
    if not own:  # the other parent's: no number of theirs
        return Gap(
            shortfall.name,
            label_zh,
            label_en,
            None,
            unit_zh,
            unit_en,
            None,
            None,
            None,
            shortfall.span is not None,
            own=False,
        )
    return Gap(
        shortfall.name,
        label_zh,
        label_en,
        shortfall.missing,
        unit_zh,
        unit_en,
        shortfall.current if shortfall.span is None else None,
        shortfall.needed,
        shortfall.met_on,
        shortfall.span is not None,
    )


def _declared_fields(spec: ProgramSpec) -> frozenset[str]:
    """The fields the applicant fills in (a department's are set to their default)."""
    return frozenset(name for name, item in spec.fields.items() if item.set_by == "applicant")


def _closest(remedies: list[tuple[Remedy, bool]]) -> tuple[Remedy, bool] | None:
    """Either person meets a condition (a child's two parents): the nearer one's remedy."""
    possible = [pair for pair in remedies if pair[0].possible and pair[0].shortfalls]
    if not possible:
        return None
    return min(possible, key=lambda pair: (len(pair[0].shortfalls), not pair[1]))


def _condition(
    spec: ProgramSpec,
    rule_id: str,
    label: tuple[str, str],
    text: str,
    scope: Mapping[str, ValueType],
    persons: list[dict[str, Any]],
    as_of: date,
    own: frozenset[int],
    input_labels: Mapping[str, tuple[str, str]],
) -> Condition:
    """A failed condition: whether time or numbers meet it, and its gaps."""
    try:
        tree = parse_expression(rules.written(spec, text), scope)
    except ExpressionError:  # refused when the cycle opened; nothing to read here
        return Condition(rule_id, *label, State.FAILED, possible=False)
    found = _closest(
        [(remedy(tree, {**person, AS_OF: as_of}), person.get(KEY) in own) for person in persons]
    )
    if found is None:
        return Condition(rule_id, *label, State.FAILED, possible=False)
    chosen, mine = found
    return Condition(
        rule_id,
        *label,
        State.FAILED,
        possible=True,
        gaps=tuple(_gap(spec, input_labels, gap, mine) for gap in chosen.shortfalls),
    )


def _own_points(
    row: Mapping[str, Any], persons: list[dict[str, Any]], own: frozenset[int]
) -> float | None:
    """The application's points as the resident may see them: with ``own`` given, the own
    person's points only (a child's application counts the higher parent's, which may be the
    other parent's: not shown); without, the application's."""
    if not own:
        return row.get(rules.POINTS)
    for person in persons:
        if person.get(KEY) in own:
            points = person.get(rules.POINTS)
            return None if points is None else float(points)
    return None


def verdicts(
    spec: ProgramSpec,
    input_types: Mapping[str, ValueType],
    evaluated: pl.DataFrame,
    decided: pl.DataFrame,
    as_of: date,
    keys: list[int],
    key: str = "application_id",
    declared: bool = False,
    own: frozenset[int] = frozenset(),
    input_labels: Mapping[str, tuple[str, str]] | None = None,
) -> dict[int, Verdict]:
    """Each application ``keys`` names, read from the allocation's own decision
    (``allocation.decide_rules``: ``evaluated`` person rows, ``decided`` application rows):
    each eligibility condition met, failed (with how far, from the persons' values) or to be
    declared when applying (``declared`` false: the fields the applicant fills in are not
    known yet). ``own``: the resident ids whose own values a gap may show."""
    labels = dict(input_labels or {})
    scope = rules.scope(spec, input_types)
    to_declare = frozenset() if declared else _declared_fields(spec)
    reading = {rule.id: rules.names_in(spec, rule.rule) for rule in spec.eligibility}
    by_key = {row[key]: row for row in decided.iter_rows(named=True)}
    persons_of: dict[int, list[dict[str, Any]]] = {}
    for person in evaluated.iter_rows(named=True):
        persons_of.setdefault(person[key], []).append(person)
    found: dict[int, Verdict] = {}
    for wanted in keys:
        row = by_key.get(wanted)
        if row is None:
            found[wanted] = Verdict(
                Standing.NOT_ELIGIBLE,
                (),
                reason_zh=allocation.NOT_SCORED[0],
                reason_en=allocation.NOT_SCORED[1],
            )
            continue
        persons = persons_of.get(wanted, [])
        conditions = []
        for rule in spec.eligibility:
            label = (rule.label.zh, rule.label.en or rule.label.zh)
            if reading[rule.id] & to_declare:
                conditions.append(Condition(rule.id, *label, State.DECLARE))
            elif row[f"rule:{rule.id}"]:
                conditions.append(Condition(rule.id, *label, State.MET))
            else:
                conditions.append(
                    _condition(spec, rule.id, label, rule.rule, scope, persons, as_of, own, labels)
                )
        eligible = all(c.state != State.FAILED for c in conditions)
        below = None
        if spec.tiers and eligible and row.get("entitlement") is None:
            lowest = spec.tiers[-1]
            below = _condition(
                spec,
                "tier",
                (lowest.label.zh, lowest.label.en or lowest.label.zh),
                lowest.when,
                scope,
                persons,
                as_of,
                own,
                labels,
            )
        missing = [c for c in conditions if c.state == State.FAILED] + ([below] if below else [])
        if not missing:
            standing = Standing.ELIGIBLE
        elif all(c.possible and c.gaps for c in missing):
            standing = Standing.NOT_YET
        else:
            standing = Standing.NOT_ELIGIBLE
        found[wanted] = Verdict(
            standing,
            tuple(conditions),
            points=_own_points(row, persons, own),
            group=row.get("priority_group"),
            entitlement=row.get("entitlement") if eligible else None,
            below_tiers=below,
        )
    return found


# ----------------------------------------------------------------------------- the finder


@dataclass(frozen=True)
class Card:
    """One program for one person (the resident, or a child)."""

    program_id: str
    name_zh: str
    name_en: str
    kind: ProgramKind
    verdict: Verdict
    cycle_id: int | None
    """The open cycle judged; None: no cycle is open (the program's coming one, as of today)."""
    cycle_name: str | None = None
    opens: date | None = None
    closes: date | None = None
    accepting: bool = False
    """Applications are taken today (the cycle is open and today is within its dates)."""
    as_of: date | None = None
    cut_off: float | None = None
    rank: int | None = None
    ranked: int | None = None
    """How many eligible applications the rank is among (with this one)."""
    unit: str = ""

    @property
    def ranked_program(self) -> bool:
        return self.kind in RANKED

    def as_dict(self) -> dict[str, Any]:
        verdict = self.verdict
        return {
            "program": self.program_id,
            "name_zh": self.name_zh,
            "name_en": self.name_en,
            "kind": self.kind.value,
            "cycle_id": self.cycle_id,
            "accepting": self.accepting,
            "opens": self.opens.isoformat() if self.opens else None,
            "closes": self.closes.isoformat() if self.closes else None,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "standing": verdict.standing.value,
            "eligible": verdict.eligible,
            "failed": verdict.failed,
            "conditions": [condition.as_dict() for condition in verdict.conditions],
            "below_tiers": verdict.below_tiers.as_dict() if verdict.below_tiers else None,
            "reason_zh": verdict.reason_zh,
            "reason_en": verdict.reason_en,
            "points": verdict.points,
            "entitlement": verdict.entitlement,
            "unit": self.unit,
            "cut_off": self.cut_off,
            "rank": self.rank,
            "ranked": self.ranked,
        }


@dataclass(frozen=True)
class Section:
    """The resident (``child_id`` None) or one of their children, with their programs."""

    child_id: int | None
    name: str | None
    cards: list[Card] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "child_id": self.child_id,
            "name": self.name,
            "programs": [card.as_dict() for card in self.cards],
        }


@dataclass(frozen=True)
class Finding:
    today: date
    sections: list[Section]
    unscored: bool = False
    """No scoring run of a program's policy exists yet: nothing could be decided for it."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "today": self.today.isoformat(),
            "unscored": self.unscored,
            "self": self.sections[0].as_dict(),
            "children": [section.as_dict() for section in self.sections[1:]],
        }


def _coming_cycle(
    spec: ProgramSpec, text: str, today: date, entry_grade: int | None
) -> ProgramCycle:
    """The program's next cycle as if it opened today with its own settings (not stored):
    how a resident stands now where no cycle is open."""
    return ProgramCycle(
        program_id=spec.id,
        program_text=text,
        program_digest="",
        department=spec.department,
        name=spec.name.zh,
        opens=today,
        closes=today,
        as_of=today,
        notice_days=spec.notice_days,
        entry_grade=entry_grade,
        status="open",
        created_by="finder",
    )


NOT_AT_ENTRY = ("不在入学年级", "not at a school-entry grade")
"""Why a child has no school place to apply for: neither of age for grade 1 nor in grade 6."""


def judged_cycle(cycles: list[ProgramCycle], day: date) -> ProgramCycle:
    """Of a program's open cycles, the one a resident would apply in: the one taking
    applications on ``day``, else the next to open, else the latest (closed, still being
    decided) — not merely the newest (an announced later cycle hid the one open today)."""
    taking = [cycle for cycle in cycles if cycle.opens <= day <= cycle.closes]
    if taking:
        return min(taking, key=lambda cycle: cycle.closes)
    coming = [cycle for cycle in cycles if cycle.opens > day]
    if coming:
        return min(coming, key=lambda cycle: cycle.opens)
    return max(cycles, key=lambda cycle: (cycle.closes, cycle.id))


def _entry_grade(
    spec: ProgramSpec, birth_date: date | None, grade: int | None, day: date
) -> int | None:
    """The grade a child would enter this year, if at an entry point: 7 in primary school's
    last year (6); 1 not yet in school and of age on 31 August of the entry year (the
    program's settings ``grade_1_min_age`` to below ``grade_1_max_age``, as its rule
    ``entry_age`` counts them; without those settings any child not yet in school); else None
    (a child in grade 3 or 8 has no school place to apply for)."""
    if grade == 6:
        return 7
    if grade is not None:
        return None
    low, high = spec.settings.get("grade_1_min_age"), spec.settings.get("grade_1_max_age")
    if birth_date is None or not isinstance(low, int | float) or not isinstance(high, int | float):
        return 1
    on = date(day.year, 8, 31)
    age = on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))
    return 1 if low <= age < high else None


def _applications(spec: ProgramSpec, me: int, children: list[int | None]) -> pl.DataFrame:
    """The applications the resident would file (``allocation.repository.APPLICATION_SCHEMA``):
    one per subject, no choices yet, a department's fields at their default (as taking an
    application sets them) and the applicant's not declared."""
    fields = json.dumps(
        {name: item.default for name, item in spec.fields.items() if item.set_by == "department"},
        ensure_ascii=False,
    )
    return pl.DataFrame(
        {
            "application_id": [HYPOTHETICAL - index for index in range(len(children))],
            "applicant": [me] * len(children),
            "child_id": children,
            "choices": [""] * len(children),
            "fields": [fields] * len(children),
        },
        schema=allocation_repository.APPLICATION_SCHEMA,
    )


def _input_labels(scores: scoring_service.StoredScores) -> dict[str, tuple[str, str]]:
    return {
        name: (item.label.zh, item.label.en) if item.label else (name, name)
        for name, item in scores.compiled.policy.inputs.items()
    }


QUIET = frozenset(
    {
        "auth.sign_in",
        "auth.sign_in_failed",
        "auth.logout",
        "token.add",
        "token.revoke",
        "account.code_request",
        "account.code_issue",
        "account.code_failed",
        "application_draft.save",
        "application_draft.discard",
        "rating.create",
    }
)
"""Audited writes that change nothing a finding reads (an account's sign-in, a draft, a
rating): they do not end a kept finding. A list of what may be ignored, not of what counts:
any other write — one added later too — ends every kept finding."""

FINDINGS_KEPT = 4096
_KEEPING = Lock()
_FINDINGS: OrderedDict[tuple[Any, ...], Finding] = OrderedDict()
"""Findings already made, by (resident, day, the last audited write not in ``QUIET``): every
change of what a finding reads (the registry, the facts, a scoring run, a cycle, an
application, a run) is audited, so a finding stays true until such a write (or the day
changes)."""


def find(actor: Actor, session: Session, today: date | None = None) -> Finding:
    """Every program of the city for the signed-in resident and each of their children."""
    # Only a resident has entitlements of their own: anybody else finds no such thing.
    me = repository.own_resident(session, actor) if acts_as(actor, Role.RESIDENT) else None
    if me is None:
        raise NotFound("登记库中没有您的记录，请到服务中心核对", "you are not in the registry")
    day = today or workdays.today()
    key = (me, day, audit.last_change(session, QUIET))
    with _KEEPING:
        kept = _FINDINGS.get(key)
        if kept is not None:
            _FINDINGS.move_to_end(key)
            return kept
    found = _find(session, me, day)
    with _KEEPING:
        _FINDINGS[key] = found
        while len(_FINDINGS) > FINDINGS_KEPT:
            _FINDINGS.popitem(last=False)
    return found


def _find(session: Session, me: int, day: date) -> Finding:
    children = repository.own_children(session, me)
    child_rows = children.iter_rows(named=True)
    sections = [Section(None, None)] + [
        Section(row["child_id"], row["child_name"]) for row in child_rows
    ]
    grade_of = dict(zip(children["child_id"], children["child_grade"], strict=True))
    born_of = dict(zip(children["child_id"], children["child_birth_date"], strict=True))
    open_by_program: dict[str, list[ProgramCycle]] = {}
    for cycle in repository.open_cycles(session):
        open_by_program.setdefault(cycle.program_id, []).append(cycle)
    # The people whose points count (the resident, the children's two parents), read once
    # per policy for every program of it.
    people = sorted(
        {me, *children["parent_id"].drop_nulls(), *children["second_parent_id"].drop_nulls()}
    )
    read: dict[str, scoring_service.StoredScores | None] = {}
    unscored = False
    for program_id, (spec, text) in load_programs().items():
        per_child = spec.kind in PER_CHILD
        subjects: list[int | None] = (
            [section.child_id for section in sections[1:]] if per_child else [None]
        )
        if not subjects:
            continue
        # A school place is of a grade: each child in the cycle of the grade it would enter.
        wanted: dict[int | None, list[int | None]] = {}
        for subject in subjects:
            if spec.kind is not ProgramKind.SCHOOL_ADMISSION:
                wanted.setdefault(None, []).append(subject)
                continue
            grade = _entry_grade(spec, born_of.get(subject), grade_of.get(subject), day)
            if grade is None:  # not at an entry point: nothing to judge
                section = next(s for s in sections if s.child_id == subject)
                section.cards.append(_not_at_entry(spec))
                continue
            wanted.setdefault(grade, []).append(subject)
        for grade, whom in wanted.items():
            cycles = [
                cycle
                for cycle in open_by_program.get(program_id, [])
                if grade is None or cycle.entry_grade == grade
            ]
            cycle = judged_cycle(cycles, day) if cycles else _coming_cycle(spec, text, day, grade)
            if spec.policy not in read:
                try:
                    read[spec.policy] = scoring_service.stored_scores(
                        SYSTEM_ACTOR, session, people, policy_id=spec.policy
                    )
                except NotFound:  # no scoring run of the program's policy yet
                    read[spec.policy] = None
            scores = read[spec.policy]
            if scores is None:
                unscored = True
                continue
            cards = _judge(session, cycle, me, whom, day, scores)
            for subject, card in zip(whom, cards, strict=True):
                section = next(s for s in sections if s.child_id == subject)
                section.cards.append(card)
    return Finding(day, sections, unscored)


def _not_at_entry(spec: ProgramSpec) -> Card:
    """A school program's card for a child at no entry grade: not applicable, nothing judged."""
    return Card(
        spec.id,
        spec.name.zh,
        spec.name.en or spec.name.zh,
        spec.kind,
        Verdict(Standing.NOT_ELIGIBLE, (), reason_zh=NOT_AT_ENTRY[0], reason_en=NOT_AT_ENTRY[1]),
        None,
    )


def _judge(
    session: Session,
    cycle: ProgramCycle,
    me: int,
    subjects: list[int | None],
    today: date,
    stored: scoring_service.StoredScores,
) -> list[Card]:
    """The cards of ``subjects`` (children, or None: the resident) in one cycle: their
    applications decided together, as the allocation decides a cycle's."""
    spec = cycle_spec(cycle)
    frame = _applications(spec, me, subjects)
    # The system's reach, not the resident's: a child is decided with both its parents'
    # facts (either parent's insurance, the higher points), as the allocation decides it;
    # who the applications are for came from the signed-in resident and the registry, and a
    # gap shows only the resident's own values.
    persons, scores = allocation.applicant_frame(
        SYSTEM_ACTOR, session, cycle, spec, None, applications=frame, scores=stored
    )
    input_types = allocation.input_types(scores)
    evaluated, decided = allocation.decide_rules(spec, input_types, persons, cycle.as_of)
    keys = frame["application_id"].to_list()
    found = verdicts(
        spec,
        input_types,
        evaluated,
        decided,
        cycle.as_of,
        keys,
        own=frozenset({me}),
        input_labels=_input_labels(scores),
    )
    stored = cycle.id is not None
    cut_off = timeline.last_cut_off(session, cycle) if spec.kind in RANKED else None
    cards = []
    for application_id in keys:
        verdict = found[application_id]
        rank = ranked = None
        if stored and spec.kind in RANKED and verdict.eligible:
            mine = decided.filter(pl.col("application_id") == application_id)
            rank, ranked = _rank_today(session, cycle, spec, scores, mine, me)
        cards.append(
            Card(
                spec.id,
                spec.name.zh,
                spec.name.en or spec.name.zh,
                spec.kind,
                verdict,
                cycle.id,
                cycle.name if stored else None,
                cycle.opens if stored else None,
                cycle.closes if stored else None,
                stored and cycle.opens <= today <= cycle.closes,
                cycle.as_of,
                cut_off,
                rank,
                ranked,
                spec.unit,
            )
        )
    return cards


RANKINGS_KEPT = 32
_KEYS: dict[tuple[Any, ...], pl.DataFrame] = {}
"""The ranking keys of a cycle's eligible applications, per (database, cycle, scoring run,
the applications' version): computed once while none of them changes (a page must not decide
the whole cycle on every visit)."""


def _rank_today(
    session: Session,
    cycle: ProgramCycle,
    spec: ProgramSpec,
    scores: scoring_service.StoredScores,
    mine: pl.DataFrame,
    me: int,
) -> tuple[int | None, int | None]:
    """The rank the application would have among the cycle's eligible applications today
    (group, points, tie-breaks: the order of the allocation; the lottery decides exact ties,
    so a tie counts the others first), and how many it is ranked among."""
    version = allocation_repository.applications_version(session, cycle.id, allocation.RANKABLE)
    cache_key = (audit.chain_origin(session), cycle.id, scores.run.id, version)
    with _KEEPING:
        others = _KEYS.get(cache_key)
    if others is None:
        persons, _ = allocation.applicant_frame(SYSTEM_ACTOR, session, cycle, spec, scores.run.id)
        decided = allocation.decide_rules(
            spec, allocation.input_types(scores), persons, cycle.as_of
        )[1]
        tie_columns = [f"tie:{index}" for index in range(len(spec.tie_breaks))]
        others = decided.filter(pl.col("eligible")).select(
            "applicant", "child_id", "priority_group", rules.POINTS, *tie_columns
        )
        with _KEEPING:
            if len(_KEYS) > RANKINGS_KEPT:
                _KEYS.clear()
            _KEYS[cache_key] = others
    row = mine.row(0, named=True)
    # The subject's own application of the cycle, if filed (by either parent for a child),
    # is this one: not counted twice.
    child = row.get("child_id")
    others = others.filter(
        (pl.col("child_id") != child).fill_null(True)
        if child is not None
        else (pl.col("applicant") != me) | pl.col("child_id").is_not_null()
    )
    ahead = pl.lit(False)
    same = pl.lit(True)
    keys: list[tuple[str, bool, Any]] = [
        ("priority_group", False, row["priority_group"]),
        (rules.POINTS, True, row[rules.POINTS]),
    ]
    for index, tie in enumerate(spec.tie_breaks):
        value = row[f"tie:{index}"]
        if tie.key == rules.ORDER:
            value = float(others.height + 1)  # filed today: after every other
        keys.append((f"tie:{index}", tie.order == "desc", value))
    for column, higher_first, value in keys:
        if value is None:
            better = pl.col(column).is_not_null()
            equal = pl.col(column).is_null()
        else:
            better = (pl.col(column) > value) if higher_first else (pl.col(column) < value)
            better = better.fill_null(False)
            equal = (pl.col(column) == value).fill_null(False)
        ahead = ahead | (same & better)
        same = same & equal
    count = int(others.select((ahead | same).sum()).item() or 0)
    return count + 1, others.height + 1
