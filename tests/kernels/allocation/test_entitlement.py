"""An entitlement in the decision kernel: every eligible row granted (核准), however many,
with no place, rank or lottery; the others refused with their own reasons."""

from __future__ import annotations

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from luodi.kernels.allocation.programs import Kind, Outcome, ProgramRules, decide


@given(st.lists(st.booleans(), min_size=1, max_size=60))
def test_every_eligible_row_is_granted_and_nothing_ranked(eligible: list[bool]) -> None:
    count = len(eligible)
    applicants = pl.DataFrame(
        {
            "application_id": list(range(1, count + 1)),
            "points": [None] * count,
            "priority_group": [0] * count,
            "eligible": eligible,
            "reason_zh": [None if ok else f"不符合条件：{i}" for i, ok in enumerate(eligible)],
            "reason_en": [None if ok else "not eligible" for ok in eligible],
        },
        schema_overrides={"points": pl.Float64, "reason_zh": pl.String, "reason_en": pl.String},
    )
    targets = pl.DataFrame(schema={"target_id": pl.String, "capacity": pl.Int64})
    outcome = decide(ProgramRules(kind=Kind.ENTITLEMENT), applicants, targets, "s").sort(
        "application_id"
    )
    assert outcome["application_id"].to_list() == list(range(1, count + 1))
    expected = [Outcome.PLACED.value if ok else Outcome.INELIGIBLE.value for ok in eligible]
    assert outcome["outcome"].to_list() == expected
    for column in ("target_id", "rank", "lottery"):
        assert column not in outcome.columns or outcome[column].null_count() == count
    refused = outcome.filter(pl.col("outcome") == Outcome.INELIGIBLE.value)
    assert refused["reason_zh"].null_count() == 0
