"""Scoring: a compiled policy evaluated over a whole frame, and the same policy row by row.

``CompiledPolicy.score`` builds one lazy Polars query for the population. ``score_row`` is the
plain-Python reference with the same semantics, operation for operation (same order of
additions, same caps), so both give identical floating-point results; the property tests hold
them to that, and the benchmark measures the difference in speed.

Semantics (docs/policy.md): an indicator's amount is its formula or table value, raised to 0
if negative, bounded by its ``cap``; groups then apply in document order (``combine: max``
keeps only the highest line, the first in policy order on a tie; ``cap`` trims the lines in
policy order so that their sum is at most the cap); deductions are subtracted; the total is
the sum of the signed lines in policy order, raised to ``total_floor`` if given.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

import polars as pl

from luodi.kernels.policy.document import Group, Indicator, Policy, PolicyTest, load_policy
from luodi.kernels.policy.expressions import AS_OF, Kind
from luodi.kernels.small import engine_for, small_memo

if TYPE_CHECKING:
    # Only the Arrow scorer (Spark's workers) needs PyArrow: every command that names the
    # policy's words would otherwise load it, and NumPy with it, at start-up.
    import pyarrow as pa

KEY = "resident_id"
TOTAL = "total"
TOLERANCE = 1e-9


def raw_column(indicator_id: str) -> str:
    return f"{indicator_id}__raw"


def capped_column(indicator_id: str) -> str:
    return f"{indicator_id}__capped"


def amount_column(indicator_id: str) -> str:
    return f"{indicator_id}__amount"


def points_column(indicator_id: str) -> str:
    return f"{indicator_id}__points"


def derived_column(name: str) -> str:
    return f"{name}__derived"


@dataclass(frozen=True)
class RowScore:
    """One resident's score with every intermediate step, for explanations and tests."""

    values: dict[str, Any]
    """Inputs, ``as_of`` and derived values."""
    raw: dict[str, float]
    capped: dict[str, float]
    """After the indicator's own cap (and the raise to 0), before groups."""
    amounts: dict[str, float]
    """After groups."""
    points: dict[str, float]
    """Signed: deductions negative."""
    total: float
    floored: bool = False


@dataclass(frozen=True)
class TestOutcome:
    name: str
    as_of: date
    expected: dict[str, float]
    actual: dict[str, float]
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


class CompiledPolicy:
    """A checked policy ready to score; build once, score many frames."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.digest = policy.digest
        """The document's SHA-256: what names this policy's results (``small_memo``)."""

    @classmethod
    def from_text(cls, text: str, file: str | None = None) -> CompiledPolicy:
        return cls(load_policy(text, file))

    # ------------------------------------------------------------------ the columnar path

    def _raw_expression(self, indicator: Indicator, as_of: date) -> pl.Expr:
        if indicator.table is not None:
            table = indicator.table
            if not table.values:
                return pl.lit(table.default, dtype=pl.Float64)
            spec = self.policy.inputs.get(table.input)
            if spec is not None and spec.type.kind == Kind.ENUM and spec.type.values:
                # prepare_inputs makes enum inputs Polars enums: look points up by position.
                lookup = pl.Series(
                    [float(table.values.get(value, table.default)) for value in spec.type.values],
                    dtype=pl.Float64,
                )
                return pl.lit(lookup).gather(pl.col(table.input).to_physical())
            return pl.col(table.input).replace_strict(
                list(table.values),
                list(table.values.values()),
                default=table.default,
                return_dtype=pl.Float64,
            )
        assert indicator.formula is not None
        return indicator.formula.compile(as_of).cast(pl.Float64)

    def _apply_group(self, frame: pl.LazyFrame, group: Group) -> pl.LazyFrame:
        amounts = {member: pl.col(amount_column(member)) for member in group.indicators}
        if group.combine == "max":
            top = pl.max_horizontal(list(amounts.values()))
            earlier_top: pl.Expr = pl.lit(False)
            kept: list[pl.Expr] = []
            for member, amount in amounts.items():
                chosen = (amount == top) & ~earlier_top
                kept.append(
                    pl.when(chosen).then(amount).otherwise(pl.lit(0.0)).alias(amount_column(member))
                )
                earlier_top = earlier_top | (amount == top)
            frame = frame.with_columns(kept)
        if group.cap is not None:
            # Trim in policy order: each line keeps what room the earlier ones left. The
            # running sum is a column, one stage per line, so that no line's expression
            # repeats all the earlier ones.
            used = "__group_used"
            frame = frame.with_columns(pl.lit(0.0).alias(used))
            for member, amount in amounts.items():
                room = pl.max_horizontal(pl.lit(group.cap) - pl.col(used), pl.lit(0.0))
                keep = pl.min_horizontal(amount, room)
                frame = frame.with_columns(
                    keep.alias(amount_column(member)), (pl.col(used) + keep).alias(used)
                )
            frame = frame.drop(used)
        return frame

    def lazy_points(
        self,
        inputs: pl.LazyFrame,
        as_of: date,
        *,
        keep: Iterable[str] = (KEY,),
        detail: bool = False,
    ) -> pl.LazyFrame:
        """The points query: ``keep`` columns, total, one signed column per indicator; with
        ``detail`` also the derived values and the raw, capped and grouped amounts."""
        frame = inputs
        for derived in self.policy.derived:
            frame = frame.with_columns(derived.expression.compile(as_of).alias(derived.name))
        indicators = self.policy.indicators

        def capped(indicator: Indicator, raw: pl.Expr) -> pl.Expr:
            amount = pl.max_horizontal(raw, pl.lit(0.0))
            if indicator.cap is not None:
                amount = pl.min_horizontal(amount, pl.lit(indicator.cap))
            return amount

        # Few stages, each materialised once: amounts (raw → at least 0 → own cap), then one
        # stage per group, then the signed lines and the total in the final projection.
        if detail:
            frame = frame.with_columns(
                self._raw_expression(indicator, as_of).alias(raw_column(indicator.id))
                for indicator in indicators
            ).with_columns(
                capped(indicator, pl.col(raw_column(indicator.id))).alias(
                    capped_column(indicator.id)
                )
                for indicator in indicators
            )
            frame = frame.with_columns(
                pl.col(capped_column(indicator.id)).alias(amount_column(indicator.id))
                for indicator in indicators
            )
        else:
            frame = frame.with_columns(
                capped(indicator, self._raw_expression(indicator, as_of)).alias(
                    amount_column(indicator.id)
                )
                for indicator in indicators
            )
        for group in self.policy.groups:
            frame = self._apply_group(frame, group)
        signed = {
            indicator.id: (
                pl.lit(0.0) - pl.col(amount_column(indicator.id))
                if indicator.kind == "deduction"
                else pl.col(amount_column(indicator.id))
            )
            for indicator in indicators
        }
        total: pl.Expr = pl.lit(0.0)
        for indicator in indicators:
            total = total + signed[indicator.id]
        if self.policy.total_floor is not None:
            total = pl.max_horizontal(total, pl.lit(self.policy.total_floor))
        # Indicator ids may repeat input or derived names (``age``): outputs are named last.
        columns: list[str | pl.Expr] = [*keep, total.alias(TOTAL)]
        columns += [signed[item.id].alias(item.id) for item in indicators]
        if detail:
            columns += [
                pl.col(derived.name).alias(derived_column(derived.name))
                for derived in self.policy.derived
            ]
            for indicator in indicators:
                columns += [
                    raw_column(indicator.id),
                    capped_column(indicator.id),
                    amount_column(indicator.id),
                ]
        return frame.select(columns)

    @small_memo(key=lambda compiled: compiled.digest)
    def score(
        self,
        inputs: pl.DataFrame,
        as_of: date,
        *,
        keep: Iterable[str] = (KEY,),
        detail: bool = False,
    ) -> pl.DataFrame:
        """Score typed, complete inputs (see ``inputs.prepare_inputs``)."""
        return self.lazy_points(inputs.lazy(), as_of, keep=keep, detail=detail).collect(
            engine=engine_for(inputs.height)
        )

    # ------------------------------------------------------------------ the reference path

    def score_row(self, inputs: Mapping[str, Any], as_of: date) -> RowScore:
        """One resident in plain Python; defaults fill inputs that are not given."""
        values: dict[str, Any] = {
            name: inputs.get(name, spec.default) for name, spec in self.policy.inputs.items()
        }
        values[AS_OF] = as_of
        for derived in self.policy.derived:
            values[derived.name] = derived.expression.evaluate(values)
        raw: dict[str, float] = {}
        capped: dict[str, float] = {}
        for indicator in self.policy.indicators:
            if indicator.table is not None:
                value = values[indicator.table.input]
                amount = float(indicator.table.values.get(value, indicator.table.default))
            else:
                assert indicator.formula is not None
                amount = float(indicator.formula.evaluate(values))
            raw[indicator.id] = amount
            amount = max(amount, 0.0)
            if indicator.cap is not None:
                amount = min(amount, indicator.cap)
            capped[indicator.id] = amount
        amounts = dict(capped)
        for group in self.policy.groups:
            if group.combine == "max":
                top = max(amounts[member] for member in group.indicators)
                chosen = next(member for member in group.indicators if amounts[member] == top)
                for member in group.indicators:
                    amounts[member] = amounts[member] if member == chosen else 0.0
            if group.cap is not None:
                used = 0.0
                for member in group.indicators:
                    keep = min(amounts[member], max(group.cap - used, 0.0))
                    amounts[member] = keep
                    used = used + keep
        points = {
            indicator.id: (
                0.0 - amounts[indicator.id]
                if indicator.kind == "deduction"
                else amounts[indicator.id]
            )
            for indicator in self.policy.indicators
        }
        total = 0.0
        for indicator in self.policy.indicators:
            total = total + points[indicator.id]
        floored = False
        if self.policy.total_floor is not None and total < self.policy.total_floor:
            total, floored = self.policy.total_floor, True
        return RowScore(values, raw, capped, amounts, points, total, floored)

    # ------------------------------------------------------------------ the policy's own tests

    def run_tests(self) -> list[TestOutcome]:
        """Each test case of the document, scored through the columnar path (the one that runs
        in production), compared line by line."""
        # The cases of one date that write the same inputs are one frame, scored once: a frame
        # per case made 2,000 cases take half a minute. (Inputs a case leaves out take their
        # defaults, so only cases that write the same ones share a frame.)
        batches: dict[tuple[date, tuple[str, ...]], list[int]] = {}
        for index, case in enumerate(self.policy.tests):
            batches.setdefault((case.as_of, tuple(sorted(case.inputs))), []).append(index)
        outcomes: dict[int, TestOutcome] = {}
        for indexes in batches.values():
            cases = [self.policy.tests[index] for index in indexes]
            outcomes.update(zip(indexes, self._run_batch(cases), strict=True))
        return [outcomes[index] for index in range(len(self.policy.tests))]

    def run_test(self, case: PolicyTest) -> TestOutcome:
        """One test case (``make test`` runs each as its own item)."""
        return self._run_batch([case])[0]

    def _run_batch(self, cases: list[PolicyTest]) -> list[TestOutcome]:
        """Cases of one date that write the same inputs, as one frame."""
        from luodi.kernels.policy.inputs import prepare_inputs

        frame = pl.DataFrame(
            {
                KEY: [f"test{index}" for index in range(len(cases))],
                **{name: [case.inputs[name] for case in cases] for name in cases[0].inputs},
            }
        )
        typed = prepare_inputs(frame, self.policy)
        scored = {row[KEY]: row for row in self.score(typed, cases[0].as_of).iter_rows(named=True)}
        outcomes = []
        for index, case in enumerate(cases):
            row = scored[f"test{index}"]
            actual = {key: float(row[key]) for key in case.expect}
            failures = [
                key
                for key, expected in case.expect.items()
                if abs(actual[key] - expected) > TOLERANCE
            ]
            outcomes.append(TestOutcome(case.name, case.as_of, dict(case.expect), actual, failures))
        return outcomes

    # ------------------------------------------------------------------ past one machine

    def arrow_scorer(self, as_of: date, keep: Iterable[str] = ()) -> ArrowScorer:
        return ArrowScorer(self.policy.text, as_of, keep)


class ArrowScorer:
    """The policy as a pure function from Arrow record batches of inputs to Arrow record
    batches of points (``resident_id``, ``total``, one column per indicator).

    It carries only the policy text and the date, so it pickles small and compiles once per
    worker process; this is what Spark's ``mapInArrow`` runs (docs/scale.md). ``keep``:
    columns of the batch passed through after the points, row for row.
    """

    def __init__(self, policy_text: str, as_of: date, keep: Iterable[str] = ()) -> None:
        self.policy_text = policy_text
        self.as_of = as_of
        self.keep = tuple(keep)
        self._compiled: CompiledPolicy | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {
            "policy_text": self.policy_text,
            "as_of": self.as_of,
            "keep": self.keep,
            "_compiled": None,
        }

    @property
    def compiled(self) -> CompiledPolicy:
        if self._compiled is None:
            self._compiled = CompiledPolicy.from_text(self.policy_text)
        return self._compiled

    def spark_schema(self, key_type: str = "string") -> str:
        """The output schema as Spark DDL, for ``mapInArrow(scorer, scorer.spark_schema())``."""
        columns = [f"{KEY} {key_type}", f"{TOTAL} double"]
        columns += [f"`{name}` double" for name in self.compiled.policy.indicator_ids]
        return ", ".join(columns)

    def score_batch(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        from luodi.kernels.policy.inputs import prepare_inputs

        frame = pl.from_arrow(batch)
        assert isinstance(frame, pl.DataFrame)
        typed = prepare_inputs(frame, self.compiled.policy)
        points = self.compiled.score(typed, self.as_of)
        if self.keep:
            points = points.hstack(frame.select(self.keep))
        table = points.to_arrow()
        return table.combine_chunks().to_batches()[0] if table.num_rows else _empty(table)

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            yield self.score_batch(batch)


def _empty(table: pa.Table) -> pa.RecordBatch:
    import pyarrow as pa

    return pa.RecordBatch.from_pylist([], schema=table.schema)
