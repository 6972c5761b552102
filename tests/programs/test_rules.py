"""A program's rules on a frame agree, row by row, with the expression language's own Python
reference, whatever the data: in particular a conditional whose condition is false on every
row (Polars' eager engine raised, or returned one row for two, on ``0 < (y if b else 0.25)``)."""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl
from hypothesis import example, given, settings
from hypothesis import strategies as st

from luodi.kernels.policy.expressions import parse_expression
from luodi.programs import rules
from luodi.programs.spec import ProgramSpec
from tests.kernels.policy.test_expressions import AS_OF, CONDITIONS, ROWS, SCOPE

SCHEMA = {
    "x": pl.Int64,
    "y": pl.Float64,
    "d1": pl.Date,
    "d2": pl.Date,
    "b": pl.Boolean,
    "e": pl.String,
}
ALL_FALSE = [
    {"x": 1, "y": 1.0, "d1": date(2000, 1, 1), "d2": date(2001, 1, 1), "b": False, "e": "none"},
    {"x": 2, "y": 2.0, "d1": date(2000, 1, 1), "d2": date(2001, 1, 1), "b": False, "e": "none"},
]


def program_with(rule: str) -> ProgramSpec:
    return ProgramSpec.model_validate(
        {
            "id": "probe",
            "name": {"zh": "测试"},
            "kind": "quota_benefit",
            "department": "总工会",
            "policy": "zj-cixi",
            "eligibility": [{"id": "probe", "label": {"zh": "条件"}, "rule": rule}],
            "tie_breaks": [{"key": f"(1 if {rule} else 0)", "label": {"zh": "次序"}}],
        }
    )


@settings(max_examples=150, deadline=None)
@given(text=CONDITIONS, rows=st.lists(ROWS, min_size=1, max_size=8))
@example(text="0 < (y if b else 0.25)", rows=ALL_FALSE)
@example(text="(x if b else 3) >= 2", rows=ALL_FALSE)
def test_rules_agree_with_the_reference(text: str, rows: list[dict[str, Any]]) -> None:
    spec = program_with(text)
    frame = pl.DataFrame(rows, schema=SCHEMA)
    evaluated = rules.evaluate(spec, SCOPE, frame, AS_OF)
    assert evaluated.height == frame.height
    node = parse_expression(text, SCOPE)
    for row, eligible, tie in zip(rows, evaluated["eligible"], evaluated["tie:0"], strict=True):
        expected = bool(node.evaluate({**row, "as_of": AS_OF}))
        assert eligible is expected, (text, row)
        assert tie == (1.0 if expected else 0.0), (text, row)
