"""A small city's forecast history as frames, built the way ``ForecastHistory`` documents them
(children, intakes, permits, seats), for the kernel tests."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from luodi.kernels.forecast.model import HistoryFrames

TOWNS = ("T1", "T2", "T3")
CYCLE_DAY = (6, 1)


def city(
    seed: int = 1,
    first_year: int = 2016,
    last_year: int = 2025,
    births: dict[str, int] | None = None,
    apply_share: float = 0.85,
) -> HistoryFrames:
    """Children born 2004–2024, arriving over time, some leaving; intakes for 2019…last_year
    counted on 1 June; applicants ≈ the cohort present then × ``apply_share``."""
    rng = np.random.default_rng(seed)
    births = births or {"T1": 120, "T2": 60, "T3": 25}
    rows = []
    child = 0
    for town, per_year in births.items():
        for year in range(2004, last_year):
            count = int(rng.poisson(per_year * (1 + 0.04 * (year - 2004))))
            for _ in range(count):
                child += 1
                born = date(year, int(rng.integers(1, 13)), int(rng.integers(1, 29)))
                arrive = date(
                    int(rng.integers(max(year, first_year - 3), last_year + 1)),
                    int(rng.integers(1, 13)),
                    1,
                )
                arrive = max(arrive, born)
                leave = (
                    date(arrive.year + int(rng.integers(1, 6)), int(rng.integers(1, 13)), 1)
                    if rng.random() < 0.2
                    else None
                )
                rows.append((child, born, town, arrive, leave))
    children = pl.DataFrame(
        rows,
        schema={
            "child_id": pl.Int64,
            "birth_date": pl.Date,
            "town_code": pl.String,
            "present_from": pl.Date,
            "present_until": pl.Date,
        },
        orient="row",
    )
    intakes = []
    schools = {"T1": ["S11", "S12"], "T2": ["S21"], "T3": ["S31"]}
    for year in range(2019, last_year + 1):
        counted = date(year, *CYCLE_DAY)
        present = children.filter(
            (pl.col("present_from") <= counted)
            & (pl.col("present_until").is_null() | (pl.col("present_until") > counted))
        )
        for grade, age in ((1, 6), (7, 12)):
            entry = (
                pl.col("birth_date").dt.year()
                + age
                + (pl.col("birth_date").dt.month() >= 9).cast(pl.Int32)
            )
            cohort = present.filter(entry == year).group_by("town_code").len()
            for town, size in cohort.iter_rows():
                applicants = int(rng.binomial(size, apply_share))
                names = schools[town]
                split = (
                    [applicants - applicants // 3, applicants // 3]
                    if len(names) == 2
                    else [applicants]
                )
                for school, part in zip(names, split, strict=True):
                    intakes.append(
                        (
                            year,
                            counted,
                            school,
                            f"学校{school}",
                            town,
                            grade,
                            60,
                            part,
                            min(part, 60),
                            "file",
                        )
                    )
    intake_frame = pl.DataFrame(
        intakes,
        schema={
            "school_year": pl.Int32,
            "cycle_as_of": pl.Date,
            "school_id": pl.String,
            "school_name": pl.String,
            "town_code": pl.String,
            "grade": pl.Int8,
            "seats": pl.Int64,
            "applicants": pl.Int64,
            "placed": pl.Int64,
            "source": pl.String,
        },
        orient="row",
    )
    months = [date(y, m, 1) for y in range(first_year - 3, last_year + 1) for m in range(1, 13)]
    permits = pl.DataFrame(
        [
            (town, month, int(rng.poisson(30)), int(rng.poisson(20)))
            for town in births
            for month in months
        ],
        schema={"town_code": pl.String, "month": pl.Date, "issued": pl.Int64, "ended": pl.Int64},
        orient="row",
    )
    seats = pl.DataFrame(
        [
            (school, f"学校{school}", town, grade, seat)
            for town, names in schools.items()
            for school, seat in zip(names, (120, 50), strict=False)
            for grade in (1, 7)
        ],
        schema={
            "school_id": pl.String,
            "school_name": pl.String,
            "town_code": pl.String,
            "grade": pl.Int8,
            "seats": pl.Int64,
        },
        orient="row",
    )
    return HistoryFrames(children, intake_frame, permits, seats)
