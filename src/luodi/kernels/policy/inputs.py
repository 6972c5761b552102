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
        return pl.coalesce([text.str.to_date(fmt, strict=False) for fmt in DATE_FORMATS])
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
        if dtype.is_numeric():
            return source.cast(pl.Float64)
        return _text(column).cast(pl.Float64, strict=False)
    # INT: whole numbers only, also when written "61.0" or stored as a float.
    if dtype.is_integer():
        return source.cast(pl.Int64)
    as_float = (
        source.cast(pl.Float64)
        if dtype.is_numeric()
        else _text(column).cast(pl.Float64, strict=False)
    )
    return pl.when(as_float.is_finite() & (as_float == as_float.floor())).then(
        as_float.cast(pl.Int64, strict=False)
    )


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

    flag(key, key_values.is_null(), "居民编号为空", "resident id is empty")
    flag(
        key,
        key_values.is_duplicated() & key_values.is_not_null(),
        "居民编号重复",
        "resident id appears more than once",
        key_text,
    )

    expressions: list[pl.Expr] = [pl.col(key)]
    checks: list[pl.Expr] = []
    present: list[InputSpec] = []
    for name, spec in policy.inputs.items():
        if name not in frame.columns:
            if spec.required:
                problems.append(
                    ColumnProblem(
                        name,
                        f"缺少必填列（{TYPE_NAMES_ZH[spec.type.kind]}）",
                        f"required column missing ({spec.type})",
                    )
                )
            else:
                expressions.append(pl.lit(spec.default).alias(name))
            continue
        dtype = frame.schema[name]
        parsed = _parse(name, dtype, spec)
        given = _given(name, dtype)
        present.append(spec)
        expressions.append(parsed.alias(name))
        checks += [
            given.alias(f"{name}__given"),
            (given & parsed.is_null()).alias(f"{name}__bad"),
        ]
        if spec.type.kind == Kind.ENUM:
            assert spec.type.values is not None
            checks.append(
                (given & ~_text(name).is_in(list(spec.type.values))).alias(f"{name}__undeclared")
            )
    flags = frame.select(checks) if checks else pl.DataFrame()
    for spec in present:
        name = spec.name
        given_flags = flags.get_column(f"{name}__given")
        if spec.required:
            flag(name, ~given_flags, "必填值为空", "required value is empty")
        if spec.type.kind == Kind.ENUM:
            values = ", ".join(spec.type.values or ())
            flag(
                name,
                flags.get_column(f"{name}__undeclared"),
                f"取值未声明（可用：{values}）",
                f"value not declared (allowed: {values})",
                frame.get_column(name),
            )
        else:
            zh = TYPE_NAMES_ZH[spec.type.kind]
            extra = "（YYYY-MM-DD）" if spec.type.kind == Kind.DATE else ""
            flag(
                name,
                flags.get_column(f"{name}__bad"),
                f"无法解析为{zh}{extra}",
                f"cannot be read as {spec.type}{' (YYYY-MM-DD)' if extra else ''}",
                frame.get_column(name),
            )
    if problems:
        raise InputError(problems)
    typed = frame.select(expressions)
    fills = [
        pl.col(spec.name).fill_null(pl.lit(spec.default))
        for spec in present
        if spec.has_default and spec.default is not None
    ]
    typed = typed.with_columns(fills) if fills else typed
    # Enums become Polars enums: a table lookup is then an index into a small array.
    enums = [
        pl.col(spec.name).cast(pl.Enum(list(spec.type.values or ())))
        for spec in policy.inputs.values()
        if spec.type.kind == Kind.ENUM
    ]
    return typed.with_columns(enums) if enums else typed
