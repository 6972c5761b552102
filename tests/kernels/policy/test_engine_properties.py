"""The columnar path against the row-by-row reference, and the invariants of the semantics,
for random valid inputs under every shipped policy and the issue's example."""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from luodi.kernels.policy import KEY, TOTAL, CompiledPolicy, prepare_inputs
from luodi.kernels.policy.document import InputSpec
from luodi.kernels.policy.engine import derived_column
from luodi.kernels.policy.expressions import Kind
from tests.kernels.policy.conftest import DEMO, SHIPPED

POLICIES = [CompiledPolicy.from_text(path.read_text(), str(path)) for path in [*SHIPPED, DEMO]]
DATES = st.dates(min_value=date(1930, 1, 1), max_value=date(2040, 12, 31))


def value_strategy(spec: InputSpec) -> st.SearchStrategy[Any]:
    kind = spec.type.kind
    if kind == Kind.INT:
        return st.integers(min_value=-50, max_value=2_000)
    if kind == Kind.FLOAT:
        return st.floats(min_value=-100, max_value=2_000, allow_nan=False).map(
            lambda x: round(x, 3)
        )
    if kind == Kind.BOOL:
        return st.booleans()
    if kind == Kind.DATE:
        return DATES
    if kind == Kind.ENUM:
        return st.sampled_from(spec.type.values or ())
    return st.text(max_size=5)


def rows_strategy(compiled: CompiledPolicy) -> st.SearchStrategy[list[dict[str, Any]]]:
    fields = {
        name: (value_strategy(spec) if spec.required else st.none() | value_strategy(spec))
        for name, spec in compiled.policy.inputs.items()
    }
    return st.lists(st.fixed_dictionaries(fields), min_size=1, max_size=25)


def frame_of(compiled: CompiledPolicy, rows: list[dict[str, Any]]) -> pl.DataFrame:
    schema = {KEY: pl.Int64}
    for name, spec in compiled.policy.inputs.items():
        schema[name] = {
            Kind.INT: pl.Int64,
            Kind.FLOAT: pl.Float64,
            Kind.BOOL: pl.Boolean,
            Kind.DATE: pl.Date,
        }.get(spec.type.kind, pl.String)
    return pl.DataFrame(
        [{KEY: index, **row} for index, row in enumerate(rows)], schema=schema, orient="row"
    )


@pytest.mark.parametrize("compiled", POLICIES, ids=lambda c: f"{c.policy.id}-{c.policy.version}")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), as_of=DATES)
def test_columnar_path_equals_reference_and_keeps_invariants(
    compiled: CompiledPolicy, data: st.DataObject, as_of: date
) -> None:
    rows = data.draw(rows_strategy(compiled))
    typed = prepare_inputs(frame_of(compiled, rows), compiled.policy)
    scored = compiled.score(typed, as_of, detail=True)
    policy = compiled.policy
    for row, result in zip(rows, scored.iter_rows(named=True), strict=True):
        given_inputs = {name: value for name, value in row.items() if value is not None}
        reference = compiled.score_row(given_inputs, as_of)
        # Identical, not approximately equal: same operations in the same order.
        assert result[TOTAL] == reference.total
        for indicator in policy.indicators:
            assert result[indicator.id] == reference.points[indicator.id], indicator.id
        for derived in policy.derived:
            assert result[derived_column(derived.name)] == reference.values[derived.name]

        for indicator in policy.indicators:
            line = result[indicator.id]
            if indicator.kind == "deduction":
                assert line <= 0, f"a deduction added points: {indicator.id}"
            else:
                assert line >= 0
            if indicator.cap is not None:
                assert abs(line) <= indicator.cap
        for group in policy.groups:
            lines = [abs(result[member]) for member in group.indicators]
            if group.cap is not None:
                assert sum(lines) <= group.cap + 1e-9
            if group.combine == "max":
                assert sum(1 for line in lines if line > 0) <= 1
        if policy.total_floor is not None:
            assert result[TOTAL] >= policy.total_floor
        lines_sum = sum(result[indicator_id] for indicator_id in policy.indicator_ids)
        if policy.total_floor is None or lines_sum >= policy.total_floor:
            assert result[TOTAL] == pytest.approx(lines_sum)


def test_a_deduction_lowers_the_total_by_its_points(current_policy: CompiledPolicy) -> None:
    base = {
        "birth_date": date(1990, 5, 10),
        "education": "bachelor",
        "residence_registration_date": date(2020, 1, 1),
    }
    as_of = date(2026, 3, 1)
    clean = current_policy.score_row(base, as_of)
    detained = current_policy.score_row({**base, "detentions": 2}, as_of)
    assert detained.points["detention"] == -40
    assert detained.total == clean.total - 40
