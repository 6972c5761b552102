"""A department feed declared in YAML: its columns, the key of a record, and the facts it yields.

The document is checked completely when loaded (unknown keys, wrong types, a key or fact that
names no column, an enum without values …); every problem names its place in the document.
The format is documented in docs/feeds.md.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

PERSON_COLUMN = "id_number"
"""The column naming the resident a record is about, unless a feed says otherwise."""


class ColumnType(StrEnum):
    STRING = "string"
    INT = "int"
    FLOAT = "float"
    DATE = "date"
    YEAR = "year"  # a calendar year (缴费年度): valid from 1 January to 31 December
    PERIOD = "period"  # a year (2025: the year's total) or a month (2025-01), not in the future
    BOOL = "bool"
    ENUM = "enum"
    ID_NUMBER = "id_number"  # 公民身份号码, GB 11643 check
    CREDIT_CODE = "credit_code"  # 统一社会信用代码, GB 32100 check


class UnknownPerson(StrEnum):
    REJECT = "reject"
    CREATE = "create"


class Reference(StrEnum):
    TOWNS = "towns"
    EMPLOYERS = "employers"
    PERMITS = "permits"  # a permit the registry knows, held by the row's person


class RegistryTable(StrEnum):
    TOWNS = "towns"
    RESIDENTS = "residents"
    PERMITS = "permits"
    CHILDREN = "children"
    EMPLOYERS = "employers"
    EMPLOYMENT = "employment"
    UNIONS = "unions"  # 总工会: whether an employer has a trade union


class Aggregate(StrEnum):
    LATEST = "latest"  # the latest fact valid on the date
    SUM = "sum"  # the sum of the facts begun by the date (within the window)
    COUNT = "count"  # how many facts begun by the date (within the window)


class Text(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    zh: str
    en: str


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Column(Strict):
    type: ColumnType = ColumnType.STRING
    required: bool = False
    headers: list[str] = Field(default_factory=list)
    """Chinese (and other) headers accepted for this column besides its canonical name."""
    label: Text | None = None
    values: dict[str, list[str]] | None = None
    """Enum only: canonical value → the other spellings accepted (中文 labels)."""
    min: float | None = None
    max: float | None = None
    pattern: str | None = None
    max_length: Annotated[int, Field(gt=0)] | None = None
    not_after_today: bool = False
    """Dates: a date in the future is refused (an honour awarded tomorrow is a typo)."""
    reference: Reference | None = None
    """The value must be one the registry knows (a town code, an employer's credit code)."""
    during: str | None = None
    """Dates: within the validity (from its issue to its expiry, both included) of the
    registry record this reference column of the same row names — an endorsement of a permit
    before it was issued or after it expired is refused. A row withdrawing a record
    (``void`` true) is not held to it: it takes back what was sent."""
    months_in: str | None = None
    """Whole numbers of months: at most the months of the period in this (``period``) column
    of the same row — 0 or 1 for a month, 0 to 12 for a year."""

    @field_validator("values", mode="before")
    @classmethod
    def _values_as_mapping(cls, raw: Any) -> Any:
        # A plain list of values is the common case; aliases are optional.
        if isinstance(raw, list):
            return {str(value): [] for value in raw}
        if isinstance(raw, dict):
            return {
                str(key): ([] if aliases is None else [str(a) for a in aliases])
                for key, aliases in raw.items()
            }
        return raw

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"正则表达式无效 / invalid regular expression: {error}") from None
        return pattern

    @model_validator(mode="after")
    def _consistent(self) -> Column:
        if self.type == ColumnType.ENUM and not self.values:
            raise ValueError("枚举列需要 values / an enum column needs values")
        if self.type != ColumnType.ENUM and self.values:
            raise ValueError("只有枚举列可以有 values / only an enum column has values")
        numeric = self.type in (ColumnType.INT, ColumnType.FLOAT, ColumnType.YEAR)
        if (self.min is not None or self.max is not None) and not numeric:
            raise ValueError("min/max 只用于数值列 / min and max are for numeric columns")
        if self.not_after_today and self.type != ColumnType.DATE:
            raise ValueError("not_after_today 只用于日期列 / not_after_today is for dates")
        if self.during is not None and self.type != ColumnType.DATE:
            raise ValueError("during 只用于日期列 / during is for dates")
        if self.months_in is not None and self.type != ColumnType.INT:
            raise ValueError("months_in 只用于整数列 / months_in is for whole numbers")
        return self


class Fact(Strict):
    variable: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    """The policy input this fact feeds (docs/policy.md)."""
    value: str | None = None
    """The column whose value is the fact's value; none for a count."""
    constant: str | None = None
    """A fixed value instead of a column (for example 'owned')."""
    valid_from: str | None = None
    valid_to: str | None = None
    aggregate: Aggregate = Aggregate.LATEST
    window_years: Annotated[int, Field(gt=0)] | None = None
    """Sums and counts: only facts begun within this many years before the date."""
    when: dict[str, list[str]] = Field(default_factory=dict)
    """Only rows whose column holds one of these values yield this fact."""
    label: Text | None = None

    @field_validator("when", mode="before")
    @classmethod
    def _when_lists(cls, raw: Any) -> Any:
        if isinstance(raw, dict):
            return {
                str(key): [str(v) for v in (value if isinstance(value, list) else [value])]
                for key, value in raw.items()
            }
        return raw

    @model_validator(mode="after")
    def _consistent(self) -> Fact:
        if self.value is not None and self.constant is not None:
            raise ValueError("value 与 constant 只能取其一 / give value or constant, not both")
        if self.aggregate != Aggregate.COUNT and self.value is None and self.constant is None:
            raise ValueError("需要 value 或 constant / needs value or constant")
        if self.window_years is not None and self.aggregate == Aggregate.LATEST:
            raise ValueError("window_years 只用于 sum/count / window_years is for sum and count")
        return self


class FeedSpec(Strict):
    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    department: str
    title: Text
    file: str | None = None
    """The file name ``luodi synth`` writes for this feed (and ``luodi load`` picks up)."""
    person: str | None = PERSON_COLUMN
    """The column naming the resident; none for a feed about something else (employers)."""
    unknown_person: UnknownPerson = UnknownPerson.REJECT
    registry: RegistryTable | None = None
    """Rows also go into this registry table, through the registry's own checks."""
    key: list[str]
    columns: dict[str, Column]
    facts: list[Fact] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> FeedSpec:
        problems: list[str] = []
        names = set(self.columns)
        for name in self.columns:
            if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                problems.append(f"columns.{name}: 列名应为小写英文 / lower-case English names")
        if self.person is None:
            if self.facts:
                problems.append("facts: 没有 person 列的数据源不能产生事实 / facts need a person")
        elif self.person not in names:
            problems.append(f"person: 没有列 {self.person} / no such column")
        elif self.columns[self.person].type != ColumnType.ID_NUMBER:
            problems.append(f"person: 列 {self.person} 应为 id_number 类型 / must be id_number")
        elif not self.columns[self.person].required:
            problems.append(f"person: 列 {self.person} 应为必填 / must be required")
        if not self.key:
            problems.append("key: 至少一列 / at least one column")
        for column in self.key:
            if column not in names:
                problems.append(f"key: 没有列 {column} / no such column")
            elif not self.columns[column].required:
                problems.append(f"key: 列 {column} 应为必填 / key columns must be required")
        for name, declared in self.columns.items():
            period = declared.months_in
            if period is not None and (
                period not in names or self.columns[period].type != ColumnType.PERIOD
            ):
                problems.append(
                    f"columns.{name}.months_in: 没有 period 类型的列 {period} / "
                    "no such period column"
                )
        for name, declared in self.columns.items():
            during = declared.during
            if during is not None and (
                during not in names or self.columns[during].reference is None
            ):
                problems.append(
                    f"columns.{name}.during: 没有引用登记库的列 {during} / "
                    "no such column referring to the registry"
                )
        if self.unknown_person == UnknownPerson.CREATE and self.registry != RegistryTable.RESIDENTS:
            problems.append(
                "unknown_person: create 只用于 registry: residents（居民登记）/ "
                "only a feed with registry: residents creates people"
            )
        seen: dict[str, str] = {}
        for name, declared in self.columns.items():
            for header in [name, *declared.headers]:
                normal = normalise_header(header)
                if normal in seen and seen[normal] != name:
                    problems.append(
                        f"columns.{name}.headers: 表头 {header!r} 已用于列 {seen[normal]} / "
                        f"header already used by column {seen[normal]}"
                    )
                seen[normal] = name
        for index, fact in enumerate(self.facts):
            where = f"facts[{index}] ({fact.variable})"
            for part in ("value", "valid_from", "valid_to"):
                column = getattr(fact, part)
                if column is not None and column not in names:
                    problems.append(f"{where}.{part}: 没有列 {column} / no such column")
            for part in ("valid_from", "valid_to"):
                column = getattr(fact, part)
                if column in names and self.columns[column].type not in (
                    ColumnType.DATE,
                    ColumnType.YEAR,
                    ColumnType.PERIOD,
                ):
                    problems.append(
                        f"{where}.{part}: 列 {column} 应为日期、年份或所属期 / date, year or period"
                    )
            for column, allowed in fact.when.items():
                if column not in names:
                    problems.append(f"{where}.when: 没有列 {column} / no such column")
                elif (values := self.columns[column].values) is not None:
                    unknown = [value for value in allowed if value not in values]
                    if unknown:
                        problems.append(
                            f"{where}.when.{column}: 未知取值 {unknown} / unknown values"
                        )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def label(self) -> str:
        return f"{self.title.zh} / {self.title.en}"

    def header_names(self) -> dict[str, str]:
        """Every accepted header (normalised) → its canonical column."""
        names: dict[str, str] = {}
        for name, column in self.columns.items():
            for header in [name, *column.headers]:
                names[normalise_header(header)] = name
        return names


class FeedSpecError(ValueError):
    """A feed document that cannot be used; ``problems`` name their place in it."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


_SPACES = re.compile(r"[\s\u3000*＊]+")


def normalise_header(header: str) -> str:
    """Headers as departments write them: spaces, line breaks, full-width spaces and the
    '*' that marks a required column are ignored, and English is case-insensitive."""
    return _SPACES.sub("", header).lower().replace("（", "(").replace("）", ")")


def load_feed_spec(text: str, source: str) -> FeedSpec:
    """Parse and check one feed document; raise :class:`FeedSpecError` naming every problem."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise FeedSpecError(source, [f"YAML 语法错误 / YAML syntax error: {error}"]) from None
    if not isinstance(raw, dict):
        raise FeedSpecError(source, ["文档应为映射 / the document must be a mapping"])
    try:
        return FeedSpec.model_validate(raw)
    except ValidationError as error:
        raise FeedSpecError(
            source,
            [
                f"{'.'.join(str(part) for part in problem['loc']) or '(document)'}: "
                f"{problem['msg'].removeprefix('Value error, ')}"
                for problem in error.errors()
            ],
        ) from None
