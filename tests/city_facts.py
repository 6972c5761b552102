"""What a synthetic city's own files say of its people, read independently of the program
context that the tests check."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

AS_OF = date(2026, 3, 1)


def current_employers(city_files: Path, as_of: date = AS_OF) -> pl.DataFrame:
    """From the city's own files, not the program's context: each worker's current employer
    (the latest begun of the employments in force on ``as_of``), its town, union and the post's
    frontline flag."""
    employment = pl.read_csv(city_files / "employment.csv", infer_schema=False)
    employers = pl.read_csv(city_files / "employers.csv", infer_schema=False)
    unions = pl.read_csv(city_files / "unions.csv", infer_schema=False)
    current = (
        employment.filter(
            (pl.col("start_date").str.to_date() <= as_of)
            & (pl.col("end_date").is_null() | (pl.col("end_date").str.to_date() >= as_of))
        )
        .sort("id_number", "start_date")
        .unique("id_number", keep="last")
    )
    founded = pl.col("established_on").str.to_date()
    return (
        current.join(employers.select("credit_code", "town_code"), on="credit_code", how="left")
        .join(unions, on="credit_code", how="left")
        .select(
            "id_number",
            employer_town="town_code",
            frontline=pl.col("frontline") == "true",
            union=(pl.col("union") == "true") & (founded.is_null() | (founded <= as_of)),
        )
    )
