"""The checks' Spark twin (``kernels.policy.spark_checks``) against the Polars checks, on the
values one parser or another reads differently (tests/scale/conftest.py ``TRICKY``)."""

from __future__ import annotations

from typing import Any

import polars as pl

from luodi.kernels.policy.checks import check_rows
from luodi.kernels.policy.spark_checks import check_rows as spark_check_rows
from luodi.scale.score import _sorted_refused
from tests.kernels.policy.test_checks import with_provenance
from tests.scale.conftest import compiled_policy, raw_population

pytestmark = __import__("pytest").mark.slow


def test_spark_refuses_and_types_as_polars_does(spark: Any) -> None:
    policy = compiled_policy().policy
    frame = with_provenance(raw_population(4_000))
    expected = check_rows(frame, policy, carry=["town_code"])
    checked = spark_check_rows(spark.createDataFrame(frame.to_arrow()), policy, carry=["town_code"])
    refused = _sorted_refused(pl.from_arrow(checked.refused.toArrow()))  # type: ignore[arg-type]
    assert len(expected.refused) > 100
    assert refused.equals(expected.refused)
    typed = pl.from_arrow(checked.typed.toArrow())
    assert isinstance(typed, pl.DataFrame)
    # Polars makes enums Polars enums; Spark keeps the text (the scorer makes them enums).
    expected_typed = expected.typed.with_columns(
        pl.col(name).cast(pl.String)
        for name, dtype in expected.typed.schema.items()
        if isinstance(dtype, pl.Enum)
    )
    typed = typed.select(expected_typed.columns).sort("resident_id")
    expected_typed = expected_typed.sort("resident_id")
    assert typed.schema["social_insurance_months"] == pl.Int64
    for name in expected_typed.columns:
        assert (
            typed.get_column(name)
            .cast(expected_typed.schema[name])
            .equals(expected_typed.get_column(name))
        ), name
