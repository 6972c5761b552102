"""The what-if's bands on Apache Spark equal the Polars ones: the same frame of both
policies' totals (20,000 residents: changes on every band's edge, ties, a null town and
origin) as a Polars frame and as a Spark DataFrame."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from luodi.kernels.policy import spark_whatif
from luodi.kernels.policy import whatif as kernel
from luodi.kernels.policy.engine import TOLERANCE

pytestmark = pytest.mark.slow
THRESHOLDS = (60.0, 90.0, 120.0, 150.0)
BELOW_TOLERANCE = 2.0**-30
ABOVE_TOLERANCE = 2.0**-29
assert BELOW_TOLERANCE < TOLERANCE < ABOVE_TOLERANCE
CHANGES = [-25.0, -10.5, -10.0, -10.0 - ABOVE_TOLERANCE, -3.25, 0.0, BELOW_TOLERANCE, 2.5]
CHANGES += [10.0, 10.0 + BELOW_TOLERANCE, 12.0]
"""Every band's edges, in powers of two: the sums of 20,000 totals are exact, so the means
are equal to the bit whatever the order of addition (docs/scale.md)."""


def totals(count: int) -> pl.DataFrame:
    index = pl.int_range(count, eager=True)
    old = (index * 37 % 700).cast(pl.Float64) / 4  # quarter points, every total tied
    change = pl.Series(CHANGES).gather(index % len(CHANGES))
    return pl.DataFrame(
        {
            "resident_id": index,
            kernel.OLD: old,
            kernel.NEW: old + change,
            "town_code": pl.Series(
                [None if i % 17 == 0 else f"33028200{i % 7}" for i in range(count)],
                dtype=pl.String,
            ),
            "origin_province": pl.Series(["安徽", None, "江西", ""]).gather(index % 4),
        }
    )


@pytest.fixture(scope="module")
def frames(spark: Any) -> tuple[pl.DataFrame, Any]:
    frame = totals(20_000)
    return frame, spark.createDataFrame(frame.to_arrow()).repartition(3).cache()


def same(actual: pl.DataFrame, expected: pl.DataFrame) -> None:
    assert actual.schema == expected.schema
    assert actual.equals(expected), (actual, expected)


def test_the_shift_equals_the_polars_one(frames: tuple[pl.DataFrame, Any]) -> None:
    frame, on_spark = frames
    expected = kernel.population_shift(frame, THRESHOLDS)
    actual = spark_whatif.population_shift(on_spark, THRESHOLDS)
    assert actual.residents == expected.residents == 20_000
    assert (actual.mean_old, actual.mean_new) == (expected.mean_old, expected.mean_new)
    assert (actual.median_old, actual.median_new) == (expected.median_old, expected.median_new)
    for name in ("bands", "by_town", "by_origin", "histogram", "crossings"):
        same(getattr(actual, name), getattr(expected, name))
    # Every band is met, and the edges fall as the Polars bands put them.
    assert all(expected.bands[band][0] > 0 for band in kernel.BANDS)
    assert expected.by_town["town_code"].null_count() == 1


def test_bars_of_another_width_and_an_odd_count(frames: tuple[pl.DataFrame, Any]) -> None:
    frame, on_spark = frames
    odd = frame.head(999)
    banded = kernel.with_bands(odd)
    on_spark_odd = spark_whatif.with_bands(on_spark.filter("resident_id < 999"))
    same(spark_whatif.histogram(on_spark_odd, 7.5), kernel.histogram(banded, 7.5))
    same(spark_whatif.crossings(on_spark_odd, [90, 60, 60]), kernel.crossings(banded, [90, 60, 60]))
    expected = kernel.population_shift(odd)
    actual = spark_whatif.population_shift(on_spark.filter("resident_id < 999"))
    assert (actual.median_old, actual.median_new) == (expected.median_old, expected.median_new)
