"""The rules of ``kernels.policy.checks`` (and so of ``prepare_inputs``) as Spark
expressions: the same records refused for the same reasons, the same typed values for the
rest, row for row (tests/scale/test_spark_equal.py holds them equal on 100,000 records).

Where Spark's own readers are more lenient than Polars' (``to_date``, a string cast to a
double: Java reads ``1.5d`` and ``Infinity``), the values are first held to the grammar both
share (``inputs.DATE_PATTERN``, ``inputs.NUMBER_PATTERN``); whitespace is Unicode's on both
(Rust's ``char::is_whitespace`` and Java's ``(?U)\\s`` are the same property).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as sf
from pyspark.sql import types as st

from luodi.kernels.policy.checks import FILE, PARTITION, ROW, VALUE_SHOWN, check_columns
from luodi.kernels.policy.document import InputSpec, Policy
from luodi.kernels.policy.engine import KEY
from luodi.kernels.policy.expressions import Kind
from luodi.kernels.policy.inputs import (
    DATE_PATTERN,
    FALSE_WORDS,
    KEY_EMPTY,
    KEY_REPEATED,
    NUMBER_PATTERN,
    REQUIRED_EMPTY,
    TRUE_WORDS,
    undeclared_reason,
    unreadable_reason,
)

STRIP = r"(?U)^\s+|\s+\z"
DATE_PARTS = r"^([0-9]{4})[-/.]?([0-9]{1,2})[-/.]?([0-9]{1,2})$"
KIND_TYPES: dict[Kind, st.DataType] = {
    Kind.INT: st.LongType(),
    Kind.FLOAT: st.DoubleType(),
    Kind.BOOL: st.BooleanType(),
    Kind.DATE: st.DateType(),
    Kind.STRING: st.StringType(),
    Kind.ENUM: st.StringType(),
}
"""The Spark type of each kind of typed input (Polars: Int64, Float64, Boolean, Date, String
— enums as text; the scorer makes them enums)."""
INT_LIMIT = 9.223372036854775808e18
"""2**63: a whole number at or past it is no Int64 (Polars' non-strict cast gives null)."""


@dataclass(frozen=True)
class SparkChecked:
    typed: DataFrame
    """Records that pass: key, typed inputs (``KIND_TYPES``, defaults filled), carried."""
    refused: DataFrame
    """``checks.REFUSED_SCHEMA`` columns plus ``__order`` (sort by file, row, __order)."""


def _stripped(column: str) -> Column:
    return sf.regexp_replace(sf.col(column).cast("string"), STRIP, "")


def _text(column: str) -> Column:
    """The column's text without the whitespace around it, computed once per record
    (``check_rows`` adds it as a column: the regular expression is the costly part)."""
    return sf.col(f"__text__{column}")


def _value(column: str) -> Column:
    """The column's typed value, computed once per record (``check_rows``)."""
    return sf.col(f"__value__{column}")


def _given(column: str, dtype: st.DataType) -> Column:
    if isinstance(dtype, st.StringType):
        return sf.col(column).isNotNull() & (_text(column) != sf.lit(""))
    return sf.col(column).isNotNull()


def _finite(value: Column) -> Column:
    return ~sf.isnan(value) & (sf.abs(value) != sf.lit(float("inf")))


def _number(column: str) -> Column:
    text = _text(column)
    return sf.when(text.rlike(NUMBER_PATTERN), text.cast("double"))


def _parse(column: str, dtype: st.DataType, spec: InputSpec) -> Column:
    kind = spec.type.kind
    source = sf.col(column)
    numeric = isinstance(dtype, st.NumericType)
    if kind in (Kind.STRING, Kind.ENUM):
        return sf.when(_given(column, dtype), _text(column))
    if kind == Kind.DATE:
        if isinstance(dtype, st.DateType):
            return source
        if isinstance(dtype, (st.TimestampType, st.TimestampNTZType)):
            return sf.to_date(source)
        text = _text(column)
        parts = [sf.regexp_extract(text, DATE_PARTS, group).cast("int") for group in (1, 2, 3)]
        written = sf.format_string("%04d-%02d-%02d", *parts)
        readable = text.rlike(DATE_PATTERN) & ~text.startswith("0000")
        return sf.when(readable, sf.try_to_date(written, "yyyy-MM-dd"))
    if kind == Kind.BOOL:
        if isinstance(dtype, st.BooleanType):
            return source
        lowered = sf.lower(_text(column))
        return sf.when(lowered.isin(TRUE_WORDS), sf.lit(True)).when(
            lowered.isin(FALSE_WORDS), sf.lit(False)
        )
    if kind == Kind.FLOAT:
        number = source.cast("double") if numeric else _number(column)
        return sf.when(_finite(number), number)
    if isinstance(dtype, st.IntegralType):
        return source.cast("long")
    as_float = source.cast("double") if numeric else _number(column)
    whole = (
        _finite(as_float)
        & ((as_float % sf.lit(1.0)) == sf.lit(0.0))
        & (as_float >= sf.lit(-INT_LIMIT))
        & (as_float < sf.lit(INT_LIMIT))
    )
    return sf.when(whole, as_float.cast("long"))


@dataclass(frozen=True)
class _Check:
    order: int
    column: str
    mask: Column
    reason_zh: str
    reason_en: str
    show: bool


def _rules(spec: InputSpec, dtype: st.DataType, order: int) -> list[_Check]:
    name = spec.name
    given = _given(name, dtype)
    checks = []
    if spec.required:
        checks.append(_Check(order, name, ~given, *REQUIRED_EMPTY, False))
    if spec.type.kind == Kind.ENUM:
        declared = list(spec.type.values or ())
        mask = given & ~_text(name).isin(declared)
        checks.append(_Check(order, name, mask, *undeclared_reason(spec), True))
    else:
        mask = given & _value(name).isNull()
        checks.append(_Check(order, name, mask, *unreadable_reason(spec), True))
    return checks


def _shown(column: str) -> Column:
    return sf.substring(sf.col(column).cast("string"), 1, VALUE_SHOWN)


def _default(spec: InputSpec) -> Column:
    value: Any = spec.default
    return sf.lit(value).cast(KIND_TYPES[spec.type.kind])


def check_rows(
    frame: DataFrame, policy: Policy, *, key: str = KEY, carry: Sequence[str] = ()
) -> SparkChecked:
    """``frame`` holds the provenance columns (``checks.FILE``, ``PARTITION``, ``ROW``)."""
    check_columns(frame.columns, policy, key)
    carry = [name for name in carry if name not in policy.inputs and name != key]
    schema = {field.name: field.dataType for field in frame.schema.fields}
    key_empty = sf.col(key).isNull()
    if isinstance(schema[key], st.StringType):
        key_empty = key_empty | (_text(key) == sf.lit(""))
    # The repeated ids, found by shuffling the ids alone (not whole records through a
    # window) and broadcast back: a dataset has few of them.
    repeated_ids = (
        frame.groupBy(key)
        .count()
        .filter(sf.col("count") > 1)
        .select(key, sf.lit(True).alias("__repeated"))
    )
    frame = frame.join(sf.broadcast(repeated_ids), on=key, how="left")
    present = [(name, spec) for name, spec in policy.inputs.items() if name in schema]
    frame = frame.withColumns(
        {f"__text__{name}": _stripped(name) for name in dict.fromkeys([key, *dict(present)])}
    ).withColumns({f"__value__{name}": _parse(name, schema[name], spec) for name, spec in present})
    repeated = sf.col("__repeated").isNotNull() & ~key_empty
    checks = [
        _Check(0, key, key_empty, *KEY_EMPTY, False),
        _Check(0, key, repeated, *KEY_REPEATED, True),
    ]
    for order, (name, spec) in enumerate(policy.inputs.items(), start=1):
        if name in schema:
            checks += _rules(spec, schema[name], order)
    flags = [sf.coalesce(check.mask, sf.lit(False)) for check in checks]
    marked = frame.withColumns({f"__rule{index}": flag for index, flag in enumerate(flags)})
    broken = [
        sf.when(
            sf.col(f"__rule{index}"),
            sf.struct(
                sf.lit(check.column).alias("column"),
                sf.lit(check.reason_zh).alias("reason_zh"),
                sf.lit(check.reason_en).alias("reason_en"),
                (_shown(check.column) if check.show else sf.lit(None).cast("string")).alias(
                    "value"
                ),
                sf.lit(check.order).alias("__order"),
            ),
        )
        for index, check in enumerate(checks)
    ]
    any_broken = reduce(
        lambda left, right: left | right, (sf.col(f"__rule{i}") for i in range(len(checks)))
    )
    refused = (
        marked.filter(any_broken)
        .select(
            sf.col(FILE).alias("file"),
            sf.col(PARTITION).alias("partition"),
            sf.col(ROW).cast("long").alias("row"),
            _shown(key).alias("resident_id"),
            sf.explode(sf.array_compact(sf.array(*broken))).alias("broken"),
        )
        .select(
            "file",
            "partition",
            "row",
            "broken.column",
            "broken.reason_zh",
            "broken.reason_en",
            "resident_id",
            "broken.value",
            "broken.__order",
        )
    )
    typed_columns: list[Column] = [sf.col(key)]
    for name, spec in policy.inputs.items():
        kind_type = KIND_TYPES[spec.type.kind]
        if name in schema:
            value = _value(name).cast(kind_type)
            if spec.has_default and spec.default is not None:
                value = sf.coalesce(value, _default(spec))
        elif spec.required:
            continue  # check_columns refused the dataset
        else:
            value = _default(spec)
        typed_columns.append(value.alias(name))
    typed = marked.filter(~any_broken).select(*typed_columns, *[sf.col(name) for name in carry])
    return SparkChecked(typed, refused)
