"""An independent reading of a city directory's files: the entry cohorts whose families held
a permit on a day, counted straight from the CSVs (no luodi code), to check the synthetic
past and the forecast's data layer against."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

ENTRY_AGES = {1: 6, 7: 12}


def children_known_on(city: Path, day: date) -> pl.DataFrame:
    """``child_id_number, birth_date, town_code`` of the children one of whose parents' permits
        had begun by ``day`` while the last of them had not ended by then (the family's first
        permit to its last, gaps included), born by ``day``; the town of the latest permit (of two
    issued and ended the same days, the registering parent's)."""
    permits = pl.read_csv(city / "permits.csv", try_parse_dates=True, infer_schema_length=None)
    if "status_date" not in permits.columns:
        permits = permits.with_columns(status_date=pl.lit(None, pl.Date))
    ends = permits.with_columns(
        end=pl.when((pl.col("status") == "cancelled") & pl.col("status_date").is_not_null())
        .then(pl.col("status_date"))
        .otherwise(pl.col("expiry_date") + pl.duration(days=1))
    )
    children = pl.read_csv(city / "children.csv", try_parse_dates=True, infer_schema_length=None)
    parents = pl.concat(
        [
            children.select("child_id_number", "birth_date", parent="id_number", order=pl.lit(1)),
            children.select(
                "child_id_number", "birth_date", parent="second_parent_id_number", order=pl.lit(0)
            ).drop_nulls("parent"),
        ]
    )
    family = parents.join(ends, left_on="parent", right_on="id_number")
    # The town of the latest permit; of two alike, the registering parent's.
    spans = (
        family.sort("issue_date", "end", "order")
        .group_by("child_id_number")
        .agg(
            pl.col("birth_date").first(),
            first=pl.col("issue_date").min(),
            last=pl.col("end").max(),
            town_code=pl.col("town_code").last().cast(pl.String),
        )
    )
    return spans.filter(
        (pl.col("first") <= day) & (pl.col("last") > day) & (pl.col("birth_date") <= day)
    ).select("child_id_number", "birth_date", "town_code")


def entry_cohorts(city: Path, school_year: int) -> pl.DataFrame:
    """``town_code, grade, children``: those of entry age (6 or 12 by 31 August of
    ``school_year``) known on 30 April of it."""
    known = children_known_on(city, date(school_year, 4, 30))
    frames = []
    for grade, age in ENTRY_AGES.items():
        frames.append(
            known.filter(
                pl.col("birth_date").is_between(
                    date(school_year - age - 1, 9, 1), date(school_year - age, 8, 31)
                )
            )
            .group_by("town_code")
            .agg(children=pl.len().cast(pl.Int64))
            .with_columns(grade=pl.lit(grade, pl.Int64))
        )
    return pl.concat(frames).select("town_code", "grade", "children")
