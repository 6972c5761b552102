"""A program declared in YAML (docs/programs.md): what it is for, who may apply, how
applicants are ranked and by which mechanism places are given.

Rules are written in the policy expression language over the resident's scoring inputs (as
stored in the named scoring run), ``points``, and the program's own application fields; they
are checked against those names and types when a cycle is opened, not when it is allocated.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from fractions import Fraction
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

from luodi.errors import validation_reason
from luodi.kernels.allocation import Method
from luodi.kernels.calendar import years_after
from luodi.kernels.policy.document import DAY, MAX_TESTS, load_yaml


class ProgramKind(StrEnum):
    SCHOOL_ADMISSION = "school_admission"  # 积分入学
    PUBLIC_HOUSING = "public_housing"  # 公租房
    QUOTA_BENEFIT = "quota_benefit"  # 名额类待遇（如免费体检）
    TIERED_BENEFIT = "tiered_benefit"  # 分档待遇（如新市民贷额度）
    ENTITLEMENT = "entitlement"  # 资格类待遇（如0–6周岁儿童参保）：只核资格，不分配名额


KIND_LABELS = {
    ProgramKind.SCHOOL_ADMISSION: "积分入学",
    ProgramKind.PUBLIC_HOUSING: "公租房",
    ProgramKind.QUOTA_BENEFIT: "名额类待遇",
    ProgramKind.TIERED_BENEFIT: "分档待遇",
    ProgramKind.ENTITLEMENT: "资格类待遇",
}

DEFAULT_METHOD = {
    ProgramKind.SCHOOL_ADMISSION: Method.DEFERRED_ACCEPTANCE,
    ProgramKind.PUBLIC_HOUSING: Method.SERIAL_DICTATORSHIP,
    ProgramKind.QUOTA_BENEFIT: Method.RANKED_QUOTA,
}


REGISTRY_NAMES = frozenset(
    {
        "resident_id",
        "id_number",
        "household_id",
        "points",
        "group",
        "priority_group",
        "application_order",
        # The records that decide public rental (programs/context.py, groups ``household``
        # and ``records``): a field of the same name would win over them in the rules.
        "post",
        "military_entitled",
        "special_hardship",
        "yearly_income",
        "assets",
    }
)
"""Names a program field may not take, nor any ``household_…`` (``household_size`` above
all): who applies, the household and the verified records come from the registry and the
departments' feeds, never from a form."""

DEFAULT_NOTICE_DAYS = 5
DEFAULT_REVIEW_DAYS = 10
DEFAULT_OBJECTION_REVIEW_DAYS = 5
MAX_WINDOW_DAYS = 30
"""A notice or a review deadline longer than this many working days is a typing error."""


class Text(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    zh: str
    en: str = ""


class ApplicationField(BaseModel):
    """An application field the applicant fills in and the department verifies."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: str = Field(pattern="^(enum|int|float|bool|string)$")
    values: dict[str, str] | None = None
    """Enum values → Chinese label."""
    default: Any = None
    label: Text
    set_by: str = Field(default="applicant", pattern="^(applicant|department)$")
    """``department``: the department sets it (a route or status it certifies); a resident's
    own application cannot carry it, so nobody puts themself in a priority group."""


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern="^[a-z][a-z0-9_]*$")
    label: Text
    rule: str
    public_reason: str | None = Field(default=None, pattern=r"^[^\s：:、，,（）()]{1,8}$")
    """What a public notice says of a failure of this rule, after "条件不符：" (社保, 住房,
    居住证 …): a short word naming the condition, never the person's facts; none: the
    label (docs/programs.md, "Notices")."""


class Material(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    label: Text
    after_enrolment: bool = False
    """Checked after the place is given, never a precondition (e.g. the vaccination
    certificate: 教基厅〔2022〕1号)."""


class Group(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    group: int
    label: Text
    when: str | None = None
    """None: everybody not in an earlier group."""
    direct: bool = False
    """School admission: 直接申请. Not ranked: after the ranked groups are placed, first
    come (by the order of application) at the first of its choices with a seat left."""


class TieBreakKey(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    key: str
    """An expression; ``application_order`` is the order of submission."""
    order: str = Field(default="desc", pattern="^(asc|desc)$")
    label: Text


class SchoolRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    full_year_rule: Rule
    """At a hot school (学位紧张: listed in the cycle's schools file, or over-subscribed in
    the previous cycle)."""
    current_rule: Rule
    """At any other school (即保即读)."""
    town_placement: bool = True
    """Place an unplaced eligible child at a school of their own town with free seats (就近),
    then of the nearest town with one (统筹, by ``town_distances``)."""
    town_distances: str | None = Field(default=None, pattern=r"^[^/\\]+\.csv$")
    """The towns' neighbours and distances (``town_code, neighbour_code, distance_km``): a
    CSV file in the program folder. None: no town places beyond its own."""
    home_town_first: bool = False
    """At a school of the child's own town, the child ranks before children of other towns
    in the same group."""


class Tier(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    label: Text
    when: str
    amount: float = Field(ge=0)


class Entitlement(BaseModel):
    """Who an entitlement program's list covers: every child of the registry aged
    ``min_age`` to ``max_age`` (completed years on the cycle's date), each decided eligible or
    not by the eligibility rules; nobody applies and nothing is allocated."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    min_age: int = Field(default=0, ge=0, le=18)
    max_age: int = Field(ge=0, le=18)

    @model_validator(mode="after")
    def ordered(self) -> Entitlement:
        if self.max_age < self.min_age:
            raise ValueError("max_age 不能小于 min_age / max_age below min_age")
        return self


class RentSubsidy(BaseModel):
    """Public housing: the rent subsidy (租赁补贴) an eligible household given no flat
    receives instead of waiting, per month."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    amount: float = Field(gt=0)
    """Yuan a month."""
    groups: list[int] | None = Field(default=None, min_length=1)
    """The priority groups it is for (乐清: 公交司机、环卫工人); none: every such household."""


SettingValue = StrictBool | StrictInt | StrictFloat | StrictStr | list[StrictStr] | list[StrictInt]
"""A program setting: a number, a word, or a list of words or whole numbers (town codes)."""


class CostShare(BaseModel):
    """Who pays which share of a benefit's cost (慈新服建〔2022〕6号: 宁波市总工会, 慈溪市总工会
    and the town union of the employer each a third)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    payer: Text
    share: StrictStr = Field(pattern=r"^[1-9][0-9]*/[1-9][0-9]*$")
    """A fraction as written (``1/3``): a third is not 0.333."""
    by: str | None = Field(default=None, pattern="^[a-z][a-z0-9_]*$")
    """None: one payer for every place; a context word (``employer_town_code``): one payer
    per value of it among the places given (each town's union for its own employers)."""

    @property
    def fraction(self) -> Fraction:
        return Fraction(self.share)


class OutcomeTerms(BaseModel):
    """What a tiered benefit's outcome records beside its amount, as expressions over the
    same scope as the rules (a loan's rate and term)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    rate: str | None = None
    """Annual interest rate in per cent."""
    term_months: str | None = None


class CaseExpectation(BaseModel):
    """What a test case expects; only the keys written are checked."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    eligible: StrictBool | None = None
    failed: list[StrictStr] | None = None
    """Exactly the eligibility rules (by id) the applicant fails; [] for none."""
    group: StrictInt | None = None
    tier: StrictInt | None = None
    """The tier the rules select, 1 for the first of ``tiers``; null: below every tier."""
    entitlement: StrictInt | StrictFloat | None = None
    """The amount of that tier; null: below every tier."""
    rate: StrictInt | StrictFloat | None = None
    """The outcome's rate (``terms.rate``), per cent."""
    term_months: StrictInt | None = None
    """The outcome's term (``terms.term_months``)."""
    full_year: StrictBool | None = None
    current: StrictBool | None = None
    tie_breaks: list[StrictInt | StrictFloat | None] | None = None
    """The value of each tie-break key, in the document's order."""
    points: StrictInt | StrictFloat | None = None
    """The points the application ranks with (a child: the higher of the two parents')."""
    layouts: list[StrictStr] | None = None
    """Public housing: the flat layouts the household's size (``household_size``) may have,
    in the document's order."""
    rent_subsidy: StrictInt | StrictFloat | None = None
    """Public housing: the monthly rent subsidy the household receives when given no flat;
    null: none (it waits)."""
    on_waitlist: StrictBool | None = None
    """Public housing: still within its 轮候期 on ``as_of`` (the day a cycle opens), having
    first applied on the case's ``first_applied``."""


class ProgramCase(BaseModel):
    """One applicant with their context and what the program's rules must decide for them
    (docs/programs.md, "Tests in a program document")."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: StrictStr = Field(min_length=1)
    as_of: date
    inputs: dict[str, Any] = {}
    """The policy's inputs and the words of the applicant's context, by name."""
    points: StrictInt | StrictFloat | None = None
    fields: dict[str, Any] = {}
    application_order: StrictInt = Field(default=1, ge=1)
    spouse: dict[str, Any] | None = None
    """The spouse's policy inputs and ``points``: the ``spouse_…`` words."""
    parents: list[dict[str, Any]] | None = Field(default=None, min_length=1, max_length=2)
    """The child's parents (the first registered the child), each with policy inputs and
    ``points``: the ``parent_1_…``, ``parent_2_…``, ``parents_max_…``, ``either_parent_…``
    words."""
    entry_grade: StrictInt | None = Field(default=None, ge=1, le=7)
    """A school case: the cycle's entry grade (1 or 7; 1 when not written)."""
    household: list[dict[str, Any]] | None = Field(default=None, max_length=20)
    """The other registered members of the applicant's household (the spouse too), each with
    its records (``housing``, ``yearly_income``, ``assets``, and ``relation`` for the
    reader): the ``household_…`` words and ``household_size``."""
    child: dict[str, Any] | None = None
    """The application's child (``birth_date``, ``sex``, ``grade`` …): the ``child_…`` words;
    ``child_age`` follows from ``birth_date`` and ``as_of``."""
    first_applied: date | None = None
    """Public housing: the day the household first applied (``expect.on_waitlist``)."""
    expect: CaseExpectation
    pending: StrictStr | None = Field(default=None, min_length=1)
    """A known defect, named (e.g. the issue that fixes it): the case says what the documents
    say and is expected to fail until the rule is fixed; once it passes, ``pending`` must go."""

    @model_validator(mode="after")
    def expects_something(self) -> ProgramCase:
        if not self.expect.model_fields_set:
            raise ValueError(
                "expect 至少写一项 / expect names at least one of "
                + ", ".join(CaseExpectation.model_fields)
            )
        return self


class ProgramSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern="^[a-z0-9][a-z0-9_-]*$")
    name: Text
    kind: ProgramKind
    department: str
    """The department that verifies applications (教育局, 住建局 …)."""
    policy: str
    """The points policy whose scoring runs rank the applicants."""
    fields: dict[str, ApplicationField] = {}
    eligibility: list[Rule] = []
    materials: list[Material] = []
    groups: list[Group] = []
    tie_breaks: list[TieBreakKey] = []
    max_choices: int = Field(default=1, ge=1, le=20)
    method: Method | None = None
    school: SchoolRules | None = None
    household_layouts: dict[int, list[str]] | None = None
    """Public housing: household size → the flat layouts it may have (the largest size
    listed covers every larger household)."""
    waitlist_years: int | None = Field(default=None, ge=1, le=20)
    """Public housing: years a household stays on the waiting list (轮候期), counted from
    its first application; none: no limit."""
    rent_subsidy: RentSubsidy | None = None
    tiers: list[Tier] = []
    unit: str = "元"
    entitlement: Entitlement | None = None
    """Entitlement: the children the list covers (``Entitlement``)."""
    once_per: str | None = Field(default=None, pattern="^[a-z][a-z0-9_]*$")
    """A benefit granted once per person per value of this context word (the education
    subsidy: ``graduation_level``, once per level): the value is recorded with each grant,
    and the words that say whether it was granted before read it (docs/programs.md)."""
    notice_days: int = Field(default=DEFAULT_NOTICE_DAYS, ge=1, le=MAX_WINDOW_DAYS)
    """Working days a result notice (公示) lasts when the cycle gives none."""
    review_days: int = Field(default=DEFAULT_REVIEW_DAYS, ge=1, le=MAX_WINDOW_DAYS)
    """Working days the department has to verify an application, from the day after it is
    submitted (or corrected): 宁波 "部门审核 10 个工作日" (docs/programs.md, "Deadlines")."""
    objection_review_days: int = Field(
        default=DEFAULT_OBJECTION_REVIEW_DAYS, ge=1, le=MAX_WINDOW_DAYS
    )
    """Working days the department has to decide an objection (复核), from the day after it
    is filed: 宁波 "复核 5 个工作日"."""
    terms: OutcomeTerms | None = None
    settings: dict[str, SettingValue] = {}
    """Named values the rules read by name (the towns of a benefit, a loan's rate): a rule
    reads the setting as if its value were written in its place."""
    places: int | None = Field(default=None, ge=1)
    """A quota benefit's places as the document gives them (``--places`` overrides)."""
    cost_shares: list[CostShare] = []
    """Who pays the cost of each place given; the shares add up to 1."""
    tests: list[ProgramCase] = Field(default=[], max_length=MAX_TESTS)
    """The program's own cases, run by ``luodi program test`` and by ``make test``."""

    @model_validator(mode="after")
    def consistent(self) -> ProgramSpec:
        kind = self.kind
        if kind is ProgramKind.SCHOOL_ADMISSION and self.school is None:
            raise ValueError("school_admission needs `school` (full_year_rule, current_rule)")
        if kind is ProgramKind.PUBLIC_HOUSING and not self.household_layouts:
            raise ValueError("public_housing needs `household_layouts`")
        housing = kind is ProgramKind.PUBLIC_HOUSING
        if not housing and (self.waitlist_years is not None or self.rent_subsidy is not None):
            raise ValueError("waitlist_years and rent_subsidy are for public_housing only")
        groups = {group.group for group in self.groups} or {0}
        for group in (self.rent_subsidy.groups or []) if self.rent_subsidy else []:
            if group not in groups:
                raise ValueError(f"rent_subsidy.groups: no priority group {group}")
        if self.method is Method.LOTTERY and kind is ProgramKind.TIERED_BENEFIT:
            raise ValueError("a tiered benefit is decided by its tiers, not by lot")
        if kind is ProgramKind.TIERED_BENEFIT and not self.tiers:
            raise ValueError("tiered_benefit needs `tiers`")
        if kind is ProgramKind.QUOTA_BENEFIT and self.max_choices != 1:
            raise ValueError("a quota benefit has one list: max_choices is 1")
        if (kind is ProgramKind.ENTITLEMENT) != (self.entitlement is not None):
            raise ValueError("entitlement (and only it) needs `entitlement` (min_age, max_age)")
        if kind is ProgramKind.ENTITLEMENT and (self.tiers or self.groups or self.tie_breaks):
            raise ValueError(
                "an entitlement decides eligibility only: no tiers, groups or tie_breaks"
            )
        if self.once_per is not None and kind is not ProgramKind.TIERED_BENEFIT:
            raise ValueError("once_per is for a tiered benefit")
        if self.terms is not None and kind is not ProgramKind.TIERED_BENEFIT:
            raise ValueError("`terms` (rate, term_months) are for a tiered benefit")
        if self.places is not None and kind is not ProgramKind.QUOTA_BENEFIT:
            raise ValueError("`places` is for a quota benefit")
        if self.cost_shares:
            if any(share.fraction <= 0 for share in self.cost_shares):
                raise ValueError("cost_shares: a share is more than 0")
            total = sum((share.fraction for share in self.cost_shares), Fraction(0))
            if total != 1:
                raise ValueError(f"cost_shares add up to {total}, not 1")
        if self.groups and self.groups[-1].when is not None:
            raise ValueError("the last group has no `when`: it takes everybody else")
        for name, field in self.fields.items():
            if name in REGISTRY_NAMES or name.startswith("household_"):
                raise ValueError(
                    f"fields.{name}: 由登记信息和部门记录确定，不能作为申请字段 / comes from the "
                    "registry and the departments' records, never from an application field"
                )
            if field.type == "enum" and not field.values:
                raise ValueError(f"field {name}: an enum needs values")
        return self

    def case_problems(self) -> list[str]:
        """What the test cases name that the document does not declare (their values are
        typed when they run, against the policy's inputs and the context's vocabulary)."""
        problems: list[str] = []
        rule_ids = [rule.id for rule in self.eligibility]
        group_ids = [group.group for group in self.groups] or [0]
        seen: set[str] = set()
        for index, case in enumerate(self.tests):
            where = f"tests[{index}]「{case.name}」"
            if case.name in seen:
                problems.append(f"{where}: 用例名重复 / duplicate case name")
            seen.add(case.name)
            for name in case.fields:
                if name not in self.fields:
                    problems.append(
                        f"{where}.fields.{name}: 项目没有这个字段 / the program has no such field"
                        f" (可用 declared: {', '.join(self.fields) or '—'})"
                    )
            expect = case.expect
            for rule_id in expect.failed or []:
                if rule_id not in rule_ids:
                    problems.append(
                        f"{where}.expect.failed: 没有资格条件 {rule_id} / no eligibility rule"
                        f" {rule_id} (可用 declared: {', '.join(rule_ids) or '—'})"
                    )
            if expect.eligible is True and expect.failed:
                problems.append(
                    f"{where}.expect: eligible: true 与 failed 不能同时有未满足条件 / "
                    "eligible: true contradicts a non-empty failed"
                )
            if expect.group is not None and expect.group not in group_ids:
                problems.append(
                    f"{where}.expect.group: 没有优先组 {expect.group} / no priority group"
                    f" {expect.group} (可用 declared: {', '.join(map(str, group_ids))})"
                )
            if case.entry_grade is not None and (
                self.school is None or case.entry_grade not in (1, 7)
            ):
                problems.append(
                    f"{where}.entry_grade: 只用于入学项目，且为 1 或 7 / for school admission "
                    "only, 1 or 7"
                )
            given = expect.model_fields_set
            if given & {"full_year", "current"} and self.school is None:
                problems.append(
                    f"{where}.expect: full_year/current 只用于入学项目 / "
                    "full_year and current are for school admission only"
                )
            if given & {"rate", "term_months"} and self.terms is None:
                problems.append(
                    f"{where}.expect: 项目没有 terms（利率、期限） / the program has no terms"
                )
            if given & {"tier", "entitlement"} and not self.tiers:
                problems.append(f"{where}.expect: 项目没有档位 / the program has no tiers")
            if expect.tier is not None and not 1 <= expect.tier <= len(self.tiers):
                problems.append(
                    f"{where}.expect.tier: 档位从 1 到 {len(self.tiers)} / "
                    f"tiers are numbered 1 to {len(self.tiers)}"
                )
            housing = self.kind is ProgramKind.PUBLIC_HOUSING
            if given & {"layouts", "rent_subsidy", "on_waitlist"} and not housing:
                problems.append(
                    f"{where}.expect: layouts/rent_subsidy/on_waitlist 只用于公租房项目 / "
                    "layouts, rent_subsidy and on_waitlist are for public housing only"
                )
            if ("on_waitlist" in given) != (case.first_applied is not None):
                problems.append(
                    f"{where}: expect.on_waitlist 与 first_applied 须同时写 / "
                    "expect.on_waitlist and first_applied go together"
                )
            if expect.tie_breaks is not None and len(expect.tie_breaks) != len(self.tie_breaks):
                problems.append(
                    f"{where}.expect.tie_breaks: 应有 {len(self.tie_breaks)} 个值 / "
                    f"{len(self.tie_breaks)} values, one per tie-break key"
                )
        return problems

    def layouts_for(self, household_size: int | None) -> list[str]:
        """The layouts a household of this size may have: those of the smallest size listed
        that is not smaller (the largest size listed covers every larger household); a
        household of unknown size counts as one person."""
        if not self.household_layouts:
            return []
        sizes = sorted(self.household_layouts)
        size = max(household_size or 1, 1)
        return self.household_layouts[min((s for s in sizes if s >= size), default=sizes[-1])]

    def subsidy_for(self, priority_group: int | None) -> float | None:
        """The monthly rent subsidy of an eligible household of this group given no flat."""
        subsidy = self.rent_subsidy
        if subsidy is None or (subsidy.groups is not None and priority_group not in subsidy.groups):
            return None
        return subsidy.amount

    def waitlist_ends(self, first_applied: date) -> date | None:
        """The day a household first applied on leaves the waiting list (its 轮候期 is over:
        not carried into a cycle opening that day or later); None: no limit."""
        if self.waitlist_years is None:
            return None
        return years_after(first_applied, self.waitlist_years)

    @property
    def mechanism(self) -> Method | None:
        return self.method or DEFAULT_METHOD.get(self.kind)


class ProgramSpecError(Exception):
    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


def load_program_spec(text: str, source: str) -> ProgramSpec:
    try:
        # A day that does not exist stays text, so that the model refuses it by its place.
        raw = load_yaml(text)
    except yaml.YAMLError as error:
        raise ProgramSpecError(source, [f"YAML 语法错误 / YAML syntax error: {error}"]) from None
    if not isinstance(raw, dict):
        raise ProgramSpecError(source, ["文档应为映射 / the document must be a mapping"])
    try:
        spec = ProgramSpec.model_validate(raw)
    except ValidationError as error:
        raise ProgramSpecError(
            source, [_describe(problem, raw) for problem in error.errors()]
        ) from None
    problems = spec.case_problems()
    if problems:
        raise ProgramSpecError(source, problems)
    return spec


def _impossible_day(value: Any) -> bool:
    """Written as a date (the YAML reader keeps a day that does not exist as text)."""
    return isinstance(value, str) and DAY.match(value) is not None


# Where a YAML document's words differ from a JSON request's (``errors.validation_reason``).
_DOCUMENT_ZH = {"dict_type": "应为映射", "model_type": "应为映射"}


def _describe(problem: Any, raw: dict[str, Any]) -> str:
    """``place: 中文 / English``, a test case named by its name beside its index."""
    loc = list(problem["loc"])
    place = ".".join(str(part) for part in loc)
    if len(loc) >= 2 and loc[0] == "tests" and isinstance(loc[1], int):
        cases = raw.get("tests")
        case = cases[loc[1]] if isinstance(cases, list) and loc[1] < len(cases) else None
        name = case.get("name") if isinstance(case, dict) else None
        place = f"tests[{loc[1]}]" + (f"「{name}」" if name else "")
        place += "".join(f".{part}" for part in loc[2:])
    message = problem["msg"].removeprefix("Value error, ")
    zh = _DOCUMENT_ZH.get(problem["type"])
    if zh is None:
        said, _ = validation_reason(problem)
        zh = said if said != message else None
    if problem["type"].startswith("date") and _impossible_day(problem.get("input")):
        zh = "日历上没有这一天"
    return f"{place or '(document)'}: " + (f"{zh} / {message}" if zh else message)
