"""A program document's own test cases (``tests:``), run through the rules as allocation runs
them: each case becomes a row typed like a scoring run's inputs, the cases of one date one
frame, which goes through ``rules.evaluate``.

No database: the policy comes in as a function of the case's date (the version in force
then), so the same runner serves ``luodi program test`` and the pytest items of ``make test``.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl

from luodi.errors import Invalid
from luodi.kernels.policy.document import DAY, Policy
from luodi.kernels.policy.expressions import FLOAT, Kind, ValueType, years_between
from luodi.programs import context, rules
from luodi.programs.spec import CaseExpectation, ProgramCase, ProgramSpec, ProgramSpecError

PolicyFor = Callable[[date], Policy]
"""The points policy of the program in force on a date."""

EXPECTED_KEYS = tuple(CaseExpectation.model_fields)
"""Checked in this order, those a case writes."""

NUMBERS = (int, float)
TYPE_WORDS = {
    Kind.INT: ("整数", "a whole number"),
    Kind.FLOAT: ("数字", "a number"),
    Kind.BOOL: ("true 或 false", "true or false"),
    Kind.DATE: ("日期 YYYY-MM-DD", "a date YYYY-MM-DD"),
    Kind.STRING: ("文字", "text"),
    Kind.ENUM: ("枚举值", "one of the declared values"),
}


@dataclass(frozen=True)
class Check:
    key: str
    expected: Any
    actual: Any

    @property
    def passed(self) -> bool:
        # A number written 0.1 + 0.2 in a rule is still 0.3 (booleans are not numbers here).
        if type(self.expected) in NUMBERS and type(self.actual) in NUMBERS:
            return bool(abs(self.expected - self.actual) < 1e-9)
        return bool(self.expected == self.actual)


@dataclass(frozen=True)
class CaseOutcome:
    name: str
    as_of: date
    checks: list[Check]
    pending: str | None = None

    @property
    def passed(self) -> bool:
        """Every expectation met."""
        return all(check.passed for check in self.checks)

    @property
    def ok(self) -> bool:
        """As it should be: a case passes, or a pending (known) defect still fails."""
        return self.passed is (self.pending is None)

    @property
    def failures(self) -> list[Check]:
        return [check for check in self.checks if not check.passed]


def _typed(value: Any, value_type: ValueType) -> tuple[bool, Any]:
    """(fits, the value as the column holds it); null always fits (a value not on record)."""
    if value is None:
        return True, None
    kind = value_type.kind
    if kind == Kind.BOOL:
        return isinstance(value, bool), value
    if isinstance(value, bool):
        return False, value
    if kind == Kind.INT:
        return isinstance(value, int), value
    if kind == Kind.FLOAT:
        return isinstance(value, int | float), float(value) if isinstance(value, int) else value
    if kind == Kind.DATE:
        if isinstance(value, date):
            return True, value
        if isinstance(value, str):
            try:
                return True, date.fromisoformat(value)
            except ValueError:
                return False, value
        return False, value
    if kind == Kind.ENUM:
        return isinstance(value, str) and value in (value_type.values or ()), value
    return isinstance(value, str), value


def _type_problem(where: str, value: Any, value_type: ValueType) -> str:
    zh, en = TYPE_WORDS[value_type.kind]
    if value_type.kind == Kind.DATE and isinstance(value, str) and DAY.match(value):
        zh, en = "真实的日期（日历上没有这一天）", "a real date (no such day)"
    if value_type.kind == Kind.ENUM:
        allowed = ", ".join(value_type.values or ())
        zh, en = f"{zh}（可用：{allowed}）", f"{en} ({allowed})"
    return f"{where}: {value!r} 应为{zh} / should be {en}"


CASE = "_case"
"""The case a row belongs to (a school case with ``parents`` has a row per parent)."""


def case_frame(
    spec: ProgramSpec, case: ProgramCase, policy: Policy, where: str
) -> tuple[pl.DataFrame, dict[str, ValueType], list[str]]:
    """The case as the frame allocation evaluates (one row, or for a school place one per
    parent), the names in scope, and what the case writes that does not fit them."""
    found, names, problems = _case_rows(spec, case, policy, where)
    if problems:
        return pl.DataFrame(), names, problems
    return _frame(spec, names, found, [0] * len(found)), names, problems


def _words(spec: ProgramSpec, names: dict[str, ValueType]) -> dict[str, ValueType]:
    """The names of the scope that are the policy's inputs and the context's words."""
    own = rules.own_names(spec)
    return {name: value_type for name, value_type in names.items() if name not in own}


def _per_parent(spec: ProgramSpec, case: ProgramCase) -> bool:
    """A school case that lists the child's parents is decided as an allocation decides a
    child: a row per parent in the scoring run (their own inputs and points), each condition
    met by either (``rules.by_application``)."""
    return spec.school is not None and case.parents is not None


def _case_rows(
    spec: ProgramSpec, case: ProgramCase, policy: Policy, where: str
) -> tuple[list[dict[str, Any]], dict[str, ValueType], list[str]]:
    """The case's rows (``_case_row``): one, or a school case's one per parent scored."""
    if not _per_parent(spec, case):
        row, names, problems = _case_row(spec, case, policy, where)
        return ([row] if not problems else []), names, problems
    assert case.parents is not None
    person = context.related_types({name: item.type for name, item in policy.inputs.items()})
    written = sorted(name for name in case.inputs if name in person)
    if written:
        names = rules.scope(spec, {name: item.type for name, item in policy.inputs.items()})
        return (
            [],
            names,
            [
                f"{where}.inputs.{name}: 列出 parents 的入学用例，父母各自的情况写在 parents 下"
                f" / with parents listed, each parent's {name} belongs under parents"
                for name in written
            ],
        )
    found: list[dict[str, Any]] = []
    problems: list[str] = []
    names: dict[str, ValueType] = {}
    for parent in case.parents:
        if parent.get(context.SCORED) is False or parent.get("points") is None:
            continue  # not in the scoring run: their points and conditions do not count
        own = {key: value for key, value in parent.items() if key not in ("points", "scored")}
        as_row = case.model_copy(
            update={"inputs": {**case.inputs, **own}, "points": parent["points"]}
        )
        row, names, more = _case_row(spec, as_row, policy, where)
        problems += more
        found.append(row)
    if not found and not problems:
        row, names, problems = _case_row(spec, case, policy, where)
        found = [row] if not problems else []
    return found, names, problems


def _frame(
    spec: ProgramSpec,
    names: dict[str, ValueType],
    rows: list[dict[str, Any]],
    cases: list[int],
) -> pl.DataFrame:
    """Cases' rows (``_case_row``, one policy) as the frame allocation evaluates: the words
    typed as a scoring run types the policy's inputs and as the vocabulary declares the
    context's, fields as an application's JSON decodes them (enums as text); ``cases``: the
    case of each row (``CASE``)."""
    schema: dict[str, pl.DataType] = {
        **{name: context.dtype(value_type) for name, value_type in _words(spec, names).items()},
        **{name: rules.field_dtype(spec, name) for name in spec.fields},
        rules.POINTS: pl.Float64(),
        rules.ORDER: pl.Int64(),
        **({rules.ENTRY_GRADE: pl.Int64()} if spec.school is not None else {}),
    }
    return pl.DataFrame(
        [
            pl.Series(name, [row[name] for row in rows], dtype=dtype)
            for name, dtype in schema.items()
        ]
        + [pl.Series(CASE, cases, dtype=pl.Int64)]
    )


def _case_row(
    spec: ProgramSpec, case: ProgramCase, policy: Policy, where: str
) -> tuple[dict[str, Any], dict[str, ValueType], list[str]]:
    """The case's value of each column of its frame, the names in scope, and what the case
    writes that does not fit them (then no row)."""
    input_types = {name: item.type for name, item in policy.inputs.items()}
    names = rules.scope(spec, input_types)
    own = set(rules.own_names(spec))
    words = _words(spec, names)
    values, problems = _family(case, policy, words, where)
    for name, value in case.inputs.items():
        if name in values:
            problems.append(
                f"{where}.inputs.{name}: 由用例的 spouse/parents/child 得出（未写即没有），"
                "不能再写 / follows from the case's spouse, parents or child (none when not "
                "written)"
            )
            continue
        if name not in words:
            if name in own:
                key = "fields" if name in spec.fields else name
                problems.append(
                    f"{where}.inputs.{name}: 写在用例的 {key} 下 / belongs under the case's `{key}`"
                )
                continue
            nearest = difflib.get_close_matches(name, list(words), n=1)
            hint = f"（是否指 {nearest[0]}？）" if nearest else ""
            hint_en = f" (did you mean {nearest[0]}?)" if nearest else ""
            problems.append(
                f"{where}.inputs.{name}: 策略 {policy.id} {policy.version} 与申请人情况中没有"
                f"这个名称{hint} / no input or context word {name} in policy {policy.id} "
                f"{policy.version}{hint_en}"
            )
            continue
        fits, typed = _typed(value, words[name])
        if not fits:
            problems.append(_type_problem(f"{where}.inputs.{name}", value, words[name]))
        values[name] = typed
    problems += _household(case, words, values, where)
    for name, value in case.fields.items():
        fits, typed = _typed(value, rules.field_type(spec, name))
        if not fits:
            problems.append(_type_problem(f"{where}.fields.{name}", value, names[name]))
        values[name] = typed
    if problems:
        return {}, names, problems
    row: dict[str, Any] = {}
    for name in words:
        if name in values:
            row[name] = values[name]
        elif name in policy.inputs and policy.inputs[name].has_default:
            row[name] = policy.inputs[name].default
        else:
            row[name] = None
    for name, field in spec.fields.items():
        row[name] = values.get(name, field.default)
    row[rules.POINTS] = case.points
    row[rules.ORDER] = case.application_order
    if spec.school is not None:
        # A school case is of a grade-1 cycle unless it says otherwise.
        row[rules.ENTRY_GRADE] = case.entry_grade or 1
    return row, names, problems


def _family(
    case: ProgramCase, policy: Policy, words: dict[str, ValueType], where: str
) -> tuple[dict[str, Any], list[str]]:
    """The context words the case's ``spouse``, ``parents`` and ``child`` stand for, derived
    as ``programs.context`` derives them from the registry (the higher of two parents' numbers,
    either parent's true), so that a case cannot contradict itself. A spouse or parent listed
    was scored (``scored: false`` says not: then nothing of theirs is known); what the case
    leaves out of a scored one takes the policy's default. A parent not listed is not in the
    scoring run."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    related = {
        **context.related_types({name: item.type for name, item in policy.inputs.items()}),
        context.SCORED: ValueType(Kind.BOOL),
    }
    defaults = {name: item.default for name, item in policy.inputs.items() if item.has_default}

    def take(place: str, given: dict[str, Any], prefix: str, allowed: dict[str, ValueType]) -> None:
        for key, value in given.items():
            word = f"{prefix}_{key}"
            if key not in allowed or word not in words:
                nearest = difflib.get_close_matches(key, list(allowed), n=1)
                hint = f"（是否指 {nearest[0]}？）" if nearest else ""
                hint_en = f" (did you mean {nearest[0]}?)" if nearest else ""
                problems.append(
                    f"{where}.{place}.{key}: 申请人情况中没有 {word}{hint} / no context word "
                    f"{word}{hint_en}"
                )
                continue
            fits, typed = _typed(value, allowed[key])
            if not fits:
                problems.append(_type_problem(f"{where}.{place}.{key}", value, allowed[key]))
            values[word] = typed
        if prefix == "child":
            return
        scored = values.setdefault(f"{prefix}_{context.SCORED}", True)
        for name, default in defaults.items() if scored else ():
            if f"{prefix}_{name}" in words:
                values.setdefault(f"{prefix}_{name}", default)

    def derive(word: str, value: Any) -> None:
        # Only a word of the context (a policy input or a field of that name wins).
        if word in words:
            values[word] = value

    if case.spouse is not None:
        take("spouse", case.spouse, "spouse", related)
        derive("has_spouse", True)
    else:
        # As the registry context says of a person with no spouse in the household: no
        # spouse (false, not unknown), so `not has_spouse or …` holds for a single applicant.
        derive("has_spouse", False)
        derive(f"spouse_{context.SCORED}", False)
    if case.parents is None:
        # Nobody listed is nobody in the scoring run; a child with no parent listed has none
        # registered (the words of the parents' inputs stay unknown, as the context's).
        for prefix in ("parent_1", "parent_2", "either_parent"):
            derive(f"{prefix}_{context.SCORED}", False)
        if case.child is not None:
            derive("child_parents_registered", 0)
    else:
        for number, parent in enumerate(case.parents, start=1):
            take(f"parents[{number - 1}]", parent, f"parent_{number}", related)
        for number in range(len(case.parents) + 1, 3):
            values[f"parent_{number}_{context.SCORED}"] = False
        derive("child_parents_registered", len(case.parents))
        if not problems:
            for name, value_type in related.items():
                given = [values.get(f"parent_{number}_{name}") for number in (1, 2)]
                if value_type.numeric and f"parents_max_{name}" in words:
                    known = [value for value in given if value is not None]
                    values[f"parents_max_{name}"] = max(known) if known else None
                if value_type.kind == Kind.BOOL and f"either_parent_{name}" in words:
                    # Kleene, as Polars' any_horizontal: one true is enough, an unknown beside
                    # a false is unknown.
                    either = True if True in given else (None if None in given else False)
                    values[f"either_parent_{name}"] = either
    if case.child is not None:
        child_words = {
            name.removeprefix("child_"): value_type
            for name, value_type in words.items()
            if name.startswith("child_") and name != "child_parents_registered"
        }
        take("child", case.child, "child", child_words)
        birth = values.get("child_birth_date")
        if "child_age" not in case.child and isinstance(birth, date) and "child_age" in words:
            values["child_age"] = years_between(birth, case.as_of)
    return values, problems


HOUSEHOLD_MEMBER: dict[str, ValueType] = {
    "relation": context.RELATION,
    "housing": context.HOUSING,
    "yearly_income": FLOAT,
    "assets": FLOAT,
}
"""What a case's ``household:`` says of each other member: their records."""


def _household(
    case: ProgramCase, words: dict[str, ValueType], values: dict[str, Any], where: str
) -> list[str]:
    """The household words the case stands for, derived as ``context.record_words`` derives
    them from the members' facts: the applicant's own ``housing``/``yearly_income``/``assets``
    (``inputs``), the spouse's ``housing`` and each member of ``household``. Written under
    ``inputs`` the word is taken as written, unless ``household`` is written too (then it is
    refused: the case would contradict itself). ``household_size`` is 1 + the members listed
    when ``household`` is written."""
    problems: list[str] = []
    members: list[dict[str, Any]] = []
    for index, member in enumerate(case.household or []):
        typed_member: dict[str, Any] = {}
        for key, value in member.items():
            place = f"{where}.household[{index}].{key}"
            if key not in HOUSEHOLD_MEMBER:
                nearest = difflib.get_close_matches(key, list(HOUSEHOLD_MEMBER), n=1)
                hint = f"（是否指 {nearest[0]}？）" if nearest else ""
                problems.append(
                    f"{place}: 家庭成员没有这一项{hint}（可用：{', '.join(HOUSEHOLD_MEMBER)}）/ "
                    f"not a record of a household member ({', '.join(HOUSEHOLD_MEMBER)})"
                )
                continue
            fits, typed = _typed(value, HOUSEHOLD_MEMBER[key])
            if not fits:
                problems.append(_type_problem(place, value, HOUSEHOLD_MEMBER[key]))
            typed_member[key] = typed
        members.append(typed_member)
    if case.household is not None:
        for name in (*context.HOUSEHOLD_RECORD_WORDS, "household_size"):
            if name in case.inputs:
                problems.append(
                    f"{where}.inputs.{name}: 由用例的 household 得出，不能再写 / follows from "
                    "the case's household"
                )
    if problems:
        return problems
    spouse_housing = (case.spouse or {}).get("housing")
    housing = [
        case.inputs.get("housing"),
        spouse_housing,
        *[member.get("housing") for member in members],
    ]

    def derive(word: str, value: Any) -> None:
        if word in words and word not in case.inputs:
            values[word] = value

    def total(key: str) -> float | None:
        known = [
            float(value)
            for value in [case.inputs.get(key), *[member.get(key) for member in members]]
            if isinstance(value, int | float) and not isinstance(value, bool)
        ]
        return sum(known) if known else None

    # As the registry's context says of a person no record names: not in the group.
    derive("military_entitled", False)
    derive("special_hardship", False)
    derive("household_owns_home", "owned" in housing)
    derive("household_in_public_rental", "public_rental" in housing)
    derive("household_income", total("yearly_income"))
    derive("household_assets", total("assets"))
    if case.household is not None:
        derive("household_size", 1 + len(members))
    income, size = values.get("household_income"), values.get("household_size")
    if "household_income" in case.inputs:
        income = case.inputs["household_income"]
    if "household_size" in case.inputs:
        size = case.inputs["household_size"]
    derive(
        "household_income_per_capita",
        income / size
        if isinstance(income, int | float) and isinstance(size, int) and size
        else None,
    )
    return problems


def _rows(spec: ProgramSpec, policy_for: PolicyFor, source: str) -> list[list[dict[str, Any]]]:
    """Each case's rows (``_case_rows``), once the program's rules fit every policy version the
    cases use; or ProgramSpecError listing each problem with its file, case and key."""
    problems: list[str] = []
    checked: set[tuple[str, str]] = set()
    for case in spec.tests:
        policy = policy_for(case.as_of)
        if (policy.id, policy.version) in checked:
            continue
        checked.add((policy.id, policy.version))
        try:
            rules.check_rules(
                spec, {name: item.type for name, item in policy.inputs.items()}, policy.id
            )
        except Invalid as error:
            problems += [
                f"{problem.field}: {problem.value} — {problem.reason_zh} / {problem.reason_en}"
                f"（策略 policy {policy.id} {policy.version}）"
                for problem in error.details
            ]
    rows: list[list[dict[str, Any]]] = []
    for index, case in enumerate(spec.tests):
        found_rows, _, found = _case_rows(spec, case, policy_for(case.as_of), _where(index, case))
        problems += found
        rows.append(found_rows)
    if problems:
        raise ProgramSpecError(source, problems)
    return rows


def check_cases(spec: ProgramSpec, policy_for: PolicyFor, source: str) -> None:
    """The program's rules and every case's names and values fit the policy and the program,
    or ProgramSpecError listing each problem with its file, case and key."""
    _rows(spec, policy_for, source)


def _where(index: int, case: ProgramCase) -> str:
    return f"tests[{index}]「{case.name}」"


def _decide(
    spec: ProgramSpec, policy: Policy, frame: pl.DataFrame, as_of: date
) -> list[dict[str, Any]]:
    """What the rules give each case of the frame (``CASE``, in order), by
    ``CaseExpectation`` key: a case of several rows (a child's parents) as an allocation
    decides an application of them (``rules.by_application``)."""
    input_types = {name: item.type for name, item in policy.inputs.items()}
    names = rules.scope(spec, input_types)
    evaluated = rules.evaluate(spec, input_types, frame, as_of)
    tiers = [
        rules.compile_rule(rules.written(spec, tier.when), names, as_of)
        .fill_null(False)
        .alias(f"tier:{index}")
        for index, tier in enumerate(spec.tiers)
    ]
    if tiers:
        # with_columns, not select: a tier whose condition is a literal (`when: "True"`) is
        # one value, broadcast to the frame's rows only beside the frame's own columns.
        names_of_tiers = [f"tier:{index}" for index in range(len(spec.tiers))]
        evaluated = (
            frame.lazy().with_columns(tiers).select(names_of_tiers).collect().hstack(evaluated)
        )
    evaluated = rules.by_application(spec, evaluated, key=CASE).sort(CASE)
    return [
        {
            "eligible": bool(row["eligible"]),
            "failed": sorted(rule.id for rule in spec.eligibility if not row[f"rule:{rule.id}"]),
            "group": row["priority_group"],
            "tier": next(
                (index + 1 for index in range(len(spec.tiers)) if row[f"tier:{index}"]), None
            ),
            "entitlement": row["entitlement"],
            "rate": row["rate"],
            "term_months": row["term_months"],
            "full_year": bool(row.get("full_year")),
            "current": bool(row.get("current")),
            "tie_breaks": [row[f"tie:{index}"] for index in range(len(spec.tie_breaks))],
            "points": row[rules.POINTS],
            "layouts": spec.layouts_for(row.get("household_size")),
            "rent_subsidy": spec.subsidy_for(row["priority_group"]) if row["eligible"] else None,
        }
        for row in evaluated.iter_rows(named=True)
    ]


def _outcome(spec: ProgramSpec, case: ProgramCase, actual: dict[str, Any]) -> CaseOutcome:
    expect = case.expect
    if case.first_applied is not None:
        ends = spec.waitlist_ends(case.first_applied)
        actual = {**actual, "on_waitlist": ends is None or case.as_of < ends}
    checks = []
    for key in EXPECTED_KEYS:
        if key not in expect.model_fields_set:
            continue
        expected = getattr(expect, key)
        if key == "failed":
            expected = sorted(expected or [])
        checks.append(Check(key, expected, actual[key]))
    return CaseOutcome(case.name, case.as_of, checks, case.pending)


def run_case(
    spec: ProgramSpec, case: ProgramCase, policy: Policy, where: str, source: str
) -> CaseOutcome:
    """One case by itself (a pytest item of a shipped case)."""
    frame, _, problems = case_frame(spec, case, policy, where)
    if problems:
        raise ProgramSpecError(source, problems)
    return _outcome(spec, case, _decide(spec, policy, frame, case.as_of)[0])


def run_cases(spec: ProgramSpec, policy_for: PolicyFor, source: str) -> list[CaseOutcome]:
    """Each case of the document, all checked first: a malformed case refuses the file
    before any case runs. The cases of one date are one frame, evaluated once (as an
    allocation evaluates its applicants), not a frame per case."""
    # One policy per date: reading the policy folder is the slow part of a case.
    policies = {day: policy_for(day) for day in {case.as_of for case in spec.tests}}
    rows = _rows(spec, policies.__getitem__, source)
    by_day: dict[date, list[int]] = {}
    for index, case in enumerate(spec.tests):
        by_day.setdefault(case.as_of, []).append(index)
    actual: dict[int, dict[str, Any]] = {}
    for day, indexes in by_day.items():
        policy = policies[day]
        names = rules.scope(spec, {name: item.type for name, item in policy.inputs.items()})
        frame = _frame(
            spec,
            names,
            [row for index in indexes for row in rows[index]],
            [index for index in indexes for _ in rows[index]],
        )
        actual.update(zip(indexes, _decide(spec, policy, frame, day), strict=True))
    return [_outcome(spec, case, actual[index]) for index, case in enumerate(spec.tests)]
