"""Row by row: which records of an input dataset a policy can score, and why the others are
refused — the rules of ``prepare_inputs`` (``inputs.input_rules``), per (row, column), on
Polars. Their Spark twin is ``kernels.policy.spark_checks``: the same rules as Spark
expressions, equal row for row (tests/scale/test_spark_equal.py).

Missing columns (the key, a required input) refuse the whole dataset (``InputError``, as
``prepare_inputs``); a value refuses its row: the key empty or repeated, a required value
empty, a value that does not read as its type, an enum value not declared. A record is named
by its provenance (``scale.layout.PROVENANCE``: file, partition, 1-based row).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from luodi.kernels.policy.document import Policy
from luodi.kernels.policy.engine import KEY
from luodi.kernels.policy.inputs import (
    KEY_EMPTY,
    KEY_REPEATED,
    REQUIRED_EMPTY,
    finish_typed,
    input_rules,
    missing_column_problem,
    typed_columns,
)
from luodi.kernels.policy.problems import ColumnProblem, InputError

FILE = "__file"
PARTITION = "__partition"
ROW = "__row"
VALUE_SHOWN = 64
"""Characters of a refused value written out (the rest is cut)."""
REFUSED_SCHEMA: dict[str, pl.DataType] = {
    "file": pl.String(),
    "partition": pl.String(),
    "row": pl.Int64(),
    "column": pl.String(),
    "reason_zh": pl.String(),
    "reason_en": pl.String(),
    "resident_id": pl.String(),
    "value": pl.String(),
}
"""One refused (record, column, reason), sorted by file, row, then the column's place (the
key first, then the policy's inputs in order). A record breaks at most one rule per column."""
ORDER = "__order"


@dataclass(frozen=True)
class Checked:
    typed: pl.DataFrame
    """The records that pass: ``key``, one typed column per declared input (exactly as
    ``prepare_inputs`` types them), then the ``carry`` columns as they came."""
    refused: pl.DataFrame
    """``REFUSED_SCHEMA``."""

    @property
    def refused_records(self) -> int:
        return (
            self.refused.select(pl.struct("file", "row").n_unique()).item()
            if len(self.refused)
            else 0
        )


def check_columns(columns: Sequence[str], policy: Policy, key: str = KEY) -> None:
    """The dataset-wide refusals: no key column, a required input's column missing."""
    problems: list[ColumnProblem] = []
    if key not in columns:
        problems.append(ColumnProblem(key, "缺少居民编号列", f"the {key} column is missing"))
    problems += [
        missing_column_problem(spec)
        for name, spec in policy.inputs.items()
        if spec.required and name not in columns
    ]
    if problems:
        raise InputError(problems)


def shown(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.String).str.slice(0, VALUE_SHOWN)


def refused_rows(frame: pl.DataFrame, policy: Policy, key: str = KEY) -> pl.DataFrame:
    """Every (record, column, reason) refused, in ``REFUSED_SCHEMA`` order."""
    key_value = pl.col(key)
    key_empty = key_value.is_null()
    if frame.schema[key] == pl.String:
        key_empty = key_empty | (key_value.str.strip_chars() == "")
    checks: list[tuple[int, str, pl.Expr, str, str, bool]] = [
        (0, key, key_empty, *KEY_EMPTY, False),
        (0, key, key_value.is_duplicated() & ~key_empty, *KEY_REPEATED, True),
    ]
    for order, (name, spec) in enumerate(policy.inputs.items(), start=1):
        if name not in frame.columns:
            continue
        for rule in input_rules(spec, frame.schema[name]):
            show = rule.reason_en != REQUIRED_EMPTY[1]
            checks.append((order, name, rule.mask, rule.reason_zh, rule.reason_en, show))
    parts = [
        frame.lazy()
        .filter(mask)
        .select(
            pl.col(FILE).alias("file"),
            pl.col(PARTITION).alias("partition"),
            pl.col(ROW).cast(pl.Int64).alias("row"),
            pl.lit(column, dtype=pl.String).alias("column"),
            pl.lit(zh, dtype=pl.String).alias("reason_zh"),
            pl.lit(en, dtype=pl.String).alias("reason_en"),
            shown(key).alias("resident_id"),
            (shown(column) if show else pl.lit(None, dtype=pl.String)).alias("value"),
            pl.lit(order, dtype=pl.Int32).alias(ORDER),
        )
        for order, column, mask, zh, en, show in checks
    ]
    refused = pl.concat(parts).sort("file", "row", ORDER).drop(ORDER).collect()
    return refused.cast(REFUSED_SCHEMA)  # type: ignore[arg-type]


def check_rows(
    frame: pl.DataFrame, policy: Policy, *, key: str = KEY, carry: Sequence[str] = ()
) -> Checked:
    """``frame`` holds the provenance columns beside the inputs."""
    check_columns(frame.columns, policy, key)
    carry = [name for name in carry if name not in policy.inputs and name != key]
    refused = refused_rows(frame, policy, key)
    clean = frame
    if len(refused):
        bad = refused.select("file", "row").unique()
        clean = frame.join(
            bad, left_on=[FILE, ROW], right_on=["file", "row"], how="anti", maintain_order="left"
        )
    typed = finish_typed(
        clean.select(*typed_columns(clean.schema, policy, key), *[pl.col(c) for c in carry]),
        policy,
    )
    return Checked(typed, refused)
