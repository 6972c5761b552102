"""The what-if's gainers and losers on Apache Spark: the bands, counts, bars and crossings of
``whatif`` over a Spark DataFrame of both policies' totals, equal to the Polars ones.

Each function reduces on Spark and collects only what it counts (a row per group and band,
per bar, per threshold), then finishes with the Polars function's own last step. The
medians are exact: the one or two middle totals are found from counts by distinct total
(a cumulative sum over a few thousand values), and Polars' median of those gives the same
float as Polars' median of everyone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import polars as pl

from luodi.kernels.policy.engine import TOLERANCE
from luodi.kernels.policy.whatif import (
    BAND,
    BAND_WIDTH,
    DEFAULT_THRESHOLDS,
    DELTA,
    HISTOGRAM_WIDTH,
    NEW,
    OLD,
    PopulationShift,
    band_counts_of,
    crossings_of,
    histogram_of,
)

if TYPE_CHECKING:
    from pyspark.sql import Column
    from pyspark.sql import DataFrame as SparkFrame


def _polars(frame: SparkFrame) -> pl.DataFrame:
    converted = pl.from_arrow(frame.toArrow())
    assert isinstance(converted, pl.DataFrame)
    return converted


def band_expr(delta: Column, width: float = BAND_WIDTH) -> Column:
    """``whatif.band_expr`` as a Spark column."""
    from pyspark.sql import functions as sf

    size = sf.abs(delta)
    gain = delta > 0
    return (
        sf.when(size < sf.lit(TOLERANCE), sf.lit("same"))
        .when(
            size <= sf.lit(width + TOLERANCE),
            sf.when(gain, sf.lit("gain_less")).otherwise(sf.lit("lose_less")),
        )
        .otherwise(sf.when(gain, sf.lit("gain_more")).otherwise(sf.lit("lose_more")))
    )


def with_bands(frame: SparkFrame, width: float = BAND_WIDTH) -> SparkFrame:
    """``whatif.with_bands``: ``delta`` (new − old) and ``band``."""
    from pyspark.sql import functions as sf

    delta = sf.col(NEW) - sf.col(OLD)
    return frame.withColumn(DELTA, delta).withColumn(BAND, band_expr(sf.col(DELTA), width))


def band_counts(banded: SparkFrame, by: str | None = None) -> pl.DataFrame:
    """``whatif.band_counts``."""
    from pyspark.sql import functions as sf

    keys = [by] if by else []
    counts = banded.groupBy(*keys, BAND).agg(sf.count(sf.lit(1)).alias("len"))
    return band_counts_of(_polars(counts), by)


def histogram(banded: SparkFrame, width: float = HISTOGRAM_WIDTH) -> pl.DataFrame:
    """``whatif.histogram``."""
    from pyspark.sql import functions as sf

    def count(column: str) -> pl.DataFrame:
        bar = sf.floor(sf.col(column) / sf.lit(float(width))).cast("long").alias("bar")
        return _polars(banded.groupBy(bar).agg(sf.count(sf.lit(1)).alias("len")))

    return histogram_of(count(OLD), count(NEW), width)


def crossings(banded: SparkFrame, thresholds: Sequence[float]) -> pl.DataFrame:
    """``whatif.crossings``: one job for every threshold."""
    from pyspark.sql import functions as sf

    lines = sorted({float(threshold) for threshold in thresholds})
    if not lines:
        return crossings_of([])

    def count(condition: Column) -> Column:
        return sf.sum(sf.when(condition, 1).otherwise(0))

    columns = []
    for index, line in enumerate(lines):
        old_in, new_in = sf.col(OLD) >= sf.lit(line), sf.col(NEW) >= sf.lit(line)
        columns += [
            count(old_in).alias(f"old{index}"),
            count(new_in).alias(f"new{index}"),
            count(~old_in & new_in).alias(f"up{index}"),
            count(old_in & ~new_in).alias(f"down{index}"),
        ]
    row = banded.agg(*columns).first()
    assert row is not None

    def value(name: str) -> int:
        return int(row[name] or 0)

    return crossings_of(
        [
            (line, *(value(f"{key}{index}") for key in ("old", "new", "up", "down")))
            for index, line in enumerate(lines)
        ]
    )


def _medians(banded: SparkFrame) -> tuple[float, float]:
    """Polars' median of the old and of the new totals: the middle one or two of each
    (found by cumulative counts over distinct totals), then ``Series.median`` of those."""
    from pyspark.sql import Window
    from pyspark.sql import functions as sf

    stacked = banded.select(
        sf.explode(
            sf.array(
                sf.struct(sf.lit(OLD).alias("which"), sf.col(OLD).alias("total")),
                sf.struct(sf.lit(NEW).alias("which"), sf.col(NEW).alias("total")),
            )
        ).alias("v")
    ).select("v.which", "v.total")
    counts = stacked.groupBy("which", "total").agg(sf.count(sf.lit(1)).alias("n"))
    running = (
        Window.partitionBy("which")
        .orderBy("total")
        .rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    ranked = counts.withColumn("cum", sf.sum("n").over(running)).withColumn(
        "size", sf.sum("n").over(Window.partitionBy("which"))
    )
    # 0-based indexes (size − 1) div 2 and size div 2: the same one when size is odd.
    low = sf.expr("(size - 1) div 2")
    high = sf.expr("size div 2")

    def holds(index: Column) -> Column:
        return ((sf.col("cum") - sf.col("n")) <= index) & (index < sf.col("cum"))

    middles = _polars(
        ranked.filter(holds(low) | holds(high)).select(
            "which",
            sf.when(holds(low), sf.col("total")).alias("low"),
            sf.when(holds(high), sf.col("total")).alias("high"),
            (sf.col("size") % 2 == 0).alias("even"),
        )
    )
    medians = []
    for which in (OLD, NEW):
        rows = middles.filter(pl.col("which") == which)
        if rows.height == 0:
            medians.append(0.0)
            continue
        low_value = float(rows["low"].drop_nulls()[0])
        high_value = float(rows["high"].drop_nulls()[0])
        values = [low_value, high_value] if bool(rows["even"][0]) else [low_value]
        medians.append(float(pl.Series(values, dtype=pl.Float64).median() or 0.0))  # type: ignore[arg-type]
    return medians[0], medians[1]


def population_shift(
    frame: SparkFrame,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    *,
    town: str = "town_code",
    origin: str = "origin_province",
    width: float = BAND_WIDTH,
    histogram_width: float = HISTOGRAM_WIDTH,
) -> PopulationShift:
    """``whatif.population_shift`` of a Spark DataFrame (``total_old``, ``total_new``,
    ``town`` and ``origin``). Means are sums over counts, as Polars' (equal to the bit when
    the sums are exact: points in halves and quarters)."""
    from pyspark.sql import functions as sf

    banded = with_bands(frame.select(OLD, NEW, town, origin), width)
    row = banded.agg(
        sf.count(sf.lit(1)).alias("n"), sf.sum(OLD).alias("old"), sf.sum(NEW).alias("new")
    ).first()
    assert row is not None
    residents = int(row["n"])
    mean_old = float(row["old"]) / residents if residents else 0.0
    mean_new = float(row["new"]) / residents if residents else 0.0
    median_old, median_new = _medians(banded) if residents else (0.0, 0.0)
    return PopulationShift(
        residents,
        mean_old,
        mean_new,
        median_old,
        median_new,
        band_counts(banded),
        band_counts(banded, town),
        band_counts(banded, origin),
        histogram(banded, histogram_width),
        crossings(banded, thresholds),
    )
