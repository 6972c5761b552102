"""A scored dataset written by ``luodi policy score --engine polars --output DIR``
(``luodi.scale.layout``): for the Spark twins' equality tests and the dataset commands.

20,000 residents of the generator of ``tests/kernels/policy/test_spark.py`` with what a
province's snapshot carries beside the inputs: a town (the partition; some empty, written
as Hive's null directory), an origin (some blank, some missing), a first permit (some
none), an employment basis (some none). Birth dates include 29 February, totals tie
everywhere (quarter points)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

from luodi.kernels.policy import CompiledPolicy
from luodi.scale.layout import write_partitioned
from luodi.scale.score import score_dataset
from tests.kernels.policy.test_spark import population

AS_OF = date(2026, 2, 28)
"""A common year's 28 February: a resident born on 29 February has their birthday today."""


def residents(count: int) -> pl.DataFrame:
    frame = population(count)
    index = pl.int_range(count, eager=True)
    leap = pl.Series([date(2000, 2, 29), date(2008, 2, 29), date(1992, 2, 29), date(2001, 2, 28)])
    return frame.with_columns(
        # Every 13th resident born on a leap day (or the day before one).
        pl.when(index % 13 == 0)
        .then(leap.gather(index % 4))
        .otherwise(pl.col("birth_date"))
        .alias("birth_date"),
        pl.when(index % 23 == 0)
        .then(pl.lit(None, pl.String))
        .otherwise(pl.lit("330282") + pl.lit((index % 19).cast(pl.String).str.zfill(3)))
        .alias("town_code"),
        pl.Series(["安徽", "江西", "", None, "河南", "四川"])
        .gather(index % 6)
        .alias("origin_province"),
        pl.when(index % 11 == 0)
        .then(pl.lit(None, pl.Date))
        .otherwise(pl.date(2026, 2, 28) - pl.duration(days=index * 37 % 5000))
        .alias("first_permit_date"),
        pl.Series([None, "labour_contract", "business_licence", "labour_contract", "other"])
        .gather(index % 5)
        .alias("employment_basis"),
    )


def write_scored(
    compiled: CompiledPolicy, frame: pl.DataFrame, as_of: date, directory: Path
) -> Path:
    """``frame`` written as an inputs dataset partitioned by town beside ``directory``, and
    scored into ``directory`` by ``luodi policy score --engine polars`` (its service)."""
    inputs = directory.with_name(directory.name + "-inputs")
    write_partitioned(frame, inputs, ["town_code"])
    result = score_dataset(compiled, inputs, directory, as_of, partition_by=["town_code"])
    assert result.written and result.residents == frame.height
    return directory
