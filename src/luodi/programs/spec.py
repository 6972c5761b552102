"""A program declared in YAML (docs/programs.md): what it is for, who may apply, how
applicants are ranked and by which mechanism places are given.

Rules are written in the policy expression language over the resident's scoring inputs (as
stored in the named scoring run), ``points``, and the program's own application fields; they
are checked against those names and types when a cycle is opened, not when it is allocated.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from luodi.kernels.allocation import Method


class ProgramKind(StrEnum):
    SCHOOL_ADMISSION = "school_admission"  # 积分入学
    PUBLIC_HOUSING = "public_housing"  # 公租房
    QUOTA_BENEFIT = "quota_benefit"  # 名额类待遇（如免费体检）
    TIERED_BENEFIT = "tiered_benefit"  # 分档待遇（如新市民贷额度）


KIND_LABELS = {
    ProgramKind.SCHOOL_ADMISSION: "积分入学",
    ProgramKind.PUBLIC_HOUSING: "公租房",
    ProgramKind.QUOTA_BENEFIT: "名额类待遇",
    ProgramKind.TIERED_BENEFIT: "分档待遇",
}

DEFAULT_METHOD = {
    ProgramKind.SCHOOL_ADMISSION: Method.DEFERRED_ACCEPTANCE,
    ProgramKind.PUBLIC_HOUSING: Method.SERIAL_DICTATORSHIP,
    ProgramKind.QUOTA_BENEFIT: Method.RANKED_QUOTA,
}


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


class TieBreakKey(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    key: str
    """An expression; ``application_order`` is the order of submission."""
    order: str = Field(default="desc", pattern="^(asc|desc)$")
    label: Text


class SchoolRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    full_year_rule: Rule
    """At an over-subscribed school (first-choice demand above its seats)."""
    current_rule: Rule
    """At a school with spare seats (即保即读)."""
    town_placement: bool = True
    """Place an unplaced eligible child at a school of their own town with free seats."""
    home_town_first: bool = False
    """At a school of the child's own town, the child ranks before children of other towns
    in the same group."""


class Tier(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    label: Text
    when: str
    amount: float = Field(ge=0)


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
    tiers: list[Tier] = []
    unit: str = "元"

    @model_validator(mode="after")
    def consistent(self) -> ProgramSpec:
        kind = self.kind
        if kind is ProgramKind.SCHOOL_ADMISSION and self.school is None:
            raise ValueError("school_admission needs `school` (full_year_rule, current_rule)")
        if kind is ProgramKind.PUBLIC_HOUSING and not self.household_layouts:
            raise ValueError("public_housing needs `household_layouts`")
        if kind is ProgramKind.TIERED_BENEFIT and not self.tiers:
            raise ValueError("tiered_benefit needs `tiers`")
        if kind is ProgramKind.QUOTA_BENEFIT and self.max_choices != 1:
            raise ValueError("a quota benefit has one list: max_choices is 1")
        if self.groups and self.groups[-1].when is not None:
            raise ValueError("the last group has no `when`: it takes everybody else")
        for name, field in self.fields.items():
            if field.type == "enum" and not field.values:
                raise ValueError(f"field {name}: an enum needs values")
        return self

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
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ProgramSpecError(source, [f"YAML 语法错误 / YAML syntax error: {error}"]) from None
    if not isinstance(raw, dict):
        raise ProgramSpecError(source, ["文档应为映射 / the document must be a mapping"])
    try:
        return ProgramSpec.model_validate(raw)
    except ValidationError as error:
        raise ProgramSpecError(
            source,
            [
                f"{'.'.join(str(part) for part in problem['loc']) or '(document)'}: "
                f"{problem['msg'].removeprefix('Value error, ')}"
                for problem in error.errors()
            ],
        ) from None
