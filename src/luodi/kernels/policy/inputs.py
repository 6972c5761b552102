"""Turning a frame of raw inputs (text from CSV, typed from Parquet, mixed from Excel) into the
typed, complete frame a policy scores, or an InputError naming every bad column.

A missing optional column or value takes the declared default; a required one that is
missing or empty, a value that does not parse as its type, an enum value that is not
declared: each is a ColumnProblem with the count and up to 10 resident ids. Nothing is
scored unless every column is clean.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from luodi.kernels.policy.document import InputSpec, Policy
from luodi.kernels.policy.engine import KEY
from luodi.kernels.policy.expressions import Kind
from luodi.kernels.policy.problems import ColumnProblem, InputError

SHOWN_IDS = 10
SHOWN_VALUES = 5
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d")
DATE_PATTERN = (
    r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}$|^[0-9]{4}/[0-9]{1,2}/[0-9]{1,2}$"
    r"|^[0-9]{4}\.[0-9]{1,2}\.[0-9]{1,2}$|^[0-9]{8}$"
)
"""The dates ``DATE_FORMATS`` read, and nothing else: a parser's leniency (a sign, a fifth
digit of the year) is not a rule, and Spark's reading of a date (``kernels.policy.
spark_checks``) must refuse exactly what this one refuses."""
NUMBER_PATTERN = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
"""A number written as decimal text (``61``, ``-2.5``, ``1e3``): not ``inf``, ``nan``,
``0x10`` nor ``1_000``, which one parser or another would read."""
TRUE_WORDS = ["true", "t", "1", "yes", "y", "是", "有"]
FALSE_WORDS = ["false", "f", "0", "no", "n", "否", "无"]

TYPE_NAMES_ZH = {
    Kind.INT: "整数",
    Kind.FLOAT: "数字",
    Kind.BOOL: "真假值",
    Kind.DATE: "日期",
    Kind.STRING: "文字",
    Kind.ENUM: "枚举",
}


@dataclass(frozen=True)
class _Parsed:
    value: pl.Expr
    """The typed value; null where missing or unparsable."""
    given: pl.Expr
    """True where the source holds something (not null, not blank)."""


def _text(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.String).str.strip_chars()


def _given(column: str, dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.String:
        return pl.col(column).is_not_null() & (pl.col(column).str.strip_chars() != "")
    return pl.col(column).is_not_null()


def _number(column: str) -> pl.Expr:
    text = _text(column)
    return pl.when(text.str.contains(NUMBER_PATTERN)).then(text.cast(pl.Float64, strict=False))


def _parse(column: str, dtype: pl.DataType, spec: InputSpec) -> pl.Expr:
    kind = spec.type.kind
    source = pl.col(column)
    if kind in (Kind.STRING, Kind.ENUM):
        return pl.when(_given(column, dtype)).then(_text(column))
    if kind == Kind.DATE:
        if dtype == pl.Date:
            return source
        if isinstance(dtype, pl.Datetime):
            return source.dt.date()
        text = _text(column)
        dated = pl.coalesce([text.str.to_date(fmt, strict=False) for fmt in DATE_FORMATS])
        # Year 0 is no year of the calendar (and no Python date).
        readable = text.str.contains(DATE_PATTERN) & ~text.str.starts_with("0000")
        return pl.when(readable).then(dated)
    if kind == Kind.BOOL:
        if dtype == pl.Boolean:
            return source
        lowered = _text(column).str.to_lowercase()
        return (
            pl.when(lowered.is_in(TRUE_WORDS))
            .then(True)
            .when(lowered.is_in(FALSE_WORDS))
            .then(False)
        )
    if kind == Kind.FLOAT:
        number = source.cast(pl.Float64) if dtype.is_numeric() else _number(column)
        # Infinity and NaN are not amounts: a point total of NaN ranks nowhere.
        return pl.when(number.is_finite()).then(number)
    # INT: whole numbers only, also when written "61.0" or stored as a float.
    if dtype.is_integer():
        return source.cast(pl.Int64, strict=False)  # an unsigned 2**64 - 1 is refused
    as_float = source.cast(pl.Float64) if dtype.is_numeric() else _number(column)
    return pl.when(as_float.is_finite() & (as_float == as_float.floor())).then(
        as_float.cast(pl.Int64, strict=False)
    )


@dataclass(frozen=True)
class Rule:
    """One way a value of a column is refused: ``mask`` is true on the refused rows."""

    column: str
    mask: pl.Expr
    reason_zh: str
    reason_en: str


KEY_EMPTY = ("居民编号为空", "resident id is empty")
KEY_REPEATED = ("居民编号重复", "resident id appears more than once")
REQUIRED_EMPTY = ("必填值为空", "required value is empty")


def undeclared_reason(spec: InputSpec) -> tuple[str, str]:
    values = ", ".join(spec.type.values or ())
    return f"取值未声明（可用：{values}）", f"value not declared (allowed: {values})"


def unreadable_reason(spec: InputSpec) -> tuple[str, str]:
    zh = TYPE_NAMES_ZH[spec.type.kind]
    if spec.type.kind == Kind.DATE:
        return f"无法解析为{zh}（YYYY-MM-DD）", f"cannot be read as {spec.type} (YYYY-MM-DD)"
    return f"无法解析为{zh}", f"cannot be read as {spec.type}"


def missing_column_problem(spec: InputSpec) -> ColumnProblem:
    return ColumnProblem(
        spec.name,
        f"缺少必填列（{TYPE_NAMES_ZH[spec.type.kind]}）",
        f"required column missing ({spec.type})",
    )


def input_rules(spec: InputSpec, dtype: pl.DataType) -> list[Rule]:
    """Why a value of ``spec``'s column (of type ``dtype``) is refused; a row breaks at most
    one rule per column. ``kernels.policy.spark_checks`` states the same rules for Spark."""
    name = spec.name
    given = _given(name, dtype)
    rules = []
    if spec.required:
        rules.append(Rule(name, ~given, *REQUIRED_EMPTY))
    if spec.type.kind == Kind.ENUM:
        declared = list(spec.type.values or ())
        rules.append(Rule(name, given & ~_text(name).is_in(declared), *undeclared_reason(spec)))
    else:
        parsed = _parse(name, dtype, spec)
        rules.append(Rule(name, given & parsed.is_null(), *unreadable_reason(spec)))
    return rules


def typed_columns(frame_schema: pl.Schema, policy: Policy, key: str = KEY) -> list[pl.Expr]:
    """``key`` and each declared input typed (a missing optional one at its default)."""
    expressions: list[pl.Expr] = [pl.col(key)]
    for name, spec in policy.inputs.items():
        if name in frame_schema:
            expressions.append(_parse(name, frame_schema[name], spec).alias(name))
        elif not spec.required:
            expressions.append(pl.lit(spec.default).alias(name))
    return expressions


def finish_typed(typed: pl.DataFrame, policy: Policy) -> pl.DataFrame:
    """Defaults into empty optional values; enums as Polars enums (a table lookup is then an
    index into a small array)."""
    fills = [
        pl.col(spec.name).fill_null(pl.lit(spec.default))
        for spec in policy.inputs.values()
        if spec.name in typed.columns and spec.has_default and spec.default is not None
    ]
    typed = typed.with_columns(fills) if fills else typed
    enums = [
        pl.col(spec.name).cast(pl.Enum(list(spec.type.values or ())))
        for spec in policy.inputs.values()
        if spec.type.kind == Kind.ENUM
    ]
    return typed.with_columns(enums) if enums else typed


def prepare_inputs(frame: pl.DataFrame, policy: Policy, key: str = KEY) -> pl.DataFrame:
    """``key`` plus one typed column per declared input, or InputError."""
    if key not in frame.columns:
        raise InputError([ColumnProblem(key, "缺少居民编号列", f"the {key} column is missing")])
    problems: list[ColumnProblem] = []
    key_values = frame.get_column(key)
    key_text = key_values.cast(pl.String)

    def flag(
        column: str,
        mask: pl.Series,
        reason_zh: str,
        reason_en: str,
        values: pl.Series | None = None,
    ) -> None:
        count = int(mask.sum())
        if not count:
            return
        ids = key_text.filter(mask).fill_null("(空 empty)").head(SHOWN_IDS).to_list()
        shown: list[str] = []
        if values is not None:
            shown = [
                str(value)
                for value in values.filter(mask)
                .cast(pl.String)
                .unique(maintain_order=True)
                .head(SHOWN_VALUES)
            ]
        problems.append(
            ColumnProblem(column, reason_zh, reason_en, count, tuple(ids), tuple(shown))
        )

    key_empty = key_values.is_null()
    if key_values.dtype == pl.String:
        key_empty = key_empty | (key_values.str.strip_chars() == "")
    flag(key, key_empty, *KEY_EMPTY)
    flag(
        key,
        key_values.is_duplicated() & ~key_empty,
        *KEY_REPEATED,
        key_text,
    )
    rules: list[Rule] = []
    for name, spec in policy.inputs.items():
        if name in frame.columns:
            rules += input_rules(spec, frame.schema[name])
        elif spec.required:
            problems.append(missing_column_problem(spec))
    masks = frame.select(rule.mask.alias(f"rule{index}") for index, rule in enumerate(rules))
    for index, rule in enumerate(rules):
        shown_values = (
            None if rule.reason_en == REQUIRED_EMPTY[1] else frame.get_column(rule.column)
        )
        flag(
            rule.column,
            masks.get_column(f"rule{index}"),
            rule.reason_zh,
            rule.reason_en,
            shown_values,
        )
    if problems:
        raise InputError(problems)
    return finish_typed(frame.select(typed_columns(frame.schema, policy, key)), policy)
