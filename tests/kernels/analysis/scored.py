"""A scored dataset as ``luodi policy score --output DIR`` writes it (``luodi.scale.layout``),
made with the Polars path: for the Spark twins' equality tests and the dataset commands.

20,000 residents of the generator of ``tests/kernels/policy/test_spark.py`` with what a
province's snapshot carries beside the inputs: a town (the partition; some empty, written
as Hive's null directory), an origin (some blank, some missing), a first permit (some
none), an employment basis (some none). Birth dates include 29 February, totals tie
everywhere (quarter points)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

from luodi.kernels.policy import CompiledPolicy, prepare_inputs
from luodi.scale.layout import INPUTS, SCORES_FORMAT, Manifest, write_partitioned
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


def scored_frame(compiled: CompiledPolicy, frame: pl.DataFrame, as_of: date) -> pl.DataFrame:
    """The scored dataset's rows: key, total, indicators, the typed inputs as a struct
    (enums as text) and the carried columns."""
    policy = compiled.policy
    typed = prepare_inputs(frame, policy)
    points = compiled.score(typed, as_of)
    declared = [name for name in policy.inputs if name in typed.columns]
    inputs = typed.select(
        "resident_id",
        pl.struct(
            [
                pl.col(name).cast(pl.String) if typed.schema[name] == pl.Enum else pl.col(name)
                for name in declared
            ]
        ).alias(INPUTS),
    )
    carried = [name for name in frame.columns if name not in policy.inputs]
    return points.join(inputs, on="resident_id").join(frame.select(carried), on="resident_id")


def write_scored(
    compiled: CompiledPolicy, frame: pl.DataFrame, as_of: date, directory: Path
) -> Path:
    scored = scored_frame(compiled, frame, as_of)
    write_partitioned(scored, directory, ["town_code"])
    policy = compiled.policy
    Manifest(
        format=SCORES_FORMAT,
        as_of=as_of,
        engine="polars",
        rows=scored.height,
        partition_by=["town_code"],
        policy_id=policy.id,
        policy_version=policy.version,
        policy_digest=policy.digest,
        policy_text=policy.text,
        source="generated",
    ).write(directory)
    return directory
