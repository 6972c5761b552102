"""Backtest, the choice of method per town, the empirical intervals and the per-school rows.

The backtest forecasts from every past origin with only what was known then
(``model.known_at``) and compares with the applicants that came; its errors choose the method
(``auto``) and make the 80 % intervals: no distribution is assumed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Final

import polars as pl

from luodi.kernels.calendar import years_before
from luodi.kernels.forecast import (
    BACKTEST_COLUMNS,
    FORECAST_COLUMNS,
    MAX_HORIZON,
    METHODS,
    warning_expr,
)
from luodi.kernels.forecast.model import (
    HistoryFrames,
    Scenario,
    known_at,
    town_forecast,
    town_intakes,
)

MIN_KNOWN_INTAKES: Final = 2
"""An origin needs at least this many school years of intakes known before it."""
MIN_TOWN_ERRORS: Final = 6
"""A town's own interval needs this many backtest errors at a method and horizon; with fewer
it takes the errors of all towns together."""
INTERVAL: Final = (0.1, 0.9)
SHARE_YEARS: Final = 3
"""A school's share of its town's applicants: over the newest this many school years."""

DETAIL_SCHEMA: Final = {
    "origin": pl.Date,
    "town_code": pl.String,
    "grade": pl.Int8,
    "school_year": pl.Int32,
    "method": pl.String,
    "horizon": pl.Int32,
    "expected": pl.Float64,
    "actual": pl.Int64,
    "ape": pl.Float64,
}


@dataclass(frozen=True)
class Backtest:
    mape: pl.DataFrame
    """BACKTEST_COLUMNS."""
    detail: pl.DataFrame
    """DETAIL_SCHEMA: one row per origin, town, grade, target year, method and horizon."""


def origins(frames: HistoryFrames, as_of: date) -> list[date]:
    """The same month and day as ``as_of`` in each earlier year with at least
    ``MIN_KNOWN_INTAKES`` school years of intakes known then, newest first."""
    found = []
    cycles = frames.intakes.select("school_year", "cycle_as_of")
    earliest = cycles["cycle_as_of"].min() if cycles.height else None
    back = 1
    while earliest is not None:
        origin = years_before(as_of, back)
        if origin < earliest:  # type: ignore[operator]
            break
        known = cycles.filter(pl.col("cycle_as_of") <= origin)["school_year"].n_unique()
        if known >= MIN_KNOWN_INTAKES:
            found.append(origin)
        back += 1
    return found


def backtest(frames: HistoryFrames, as_of: date) -> Backtest:
    """Forecast from each origin before ``as_of`` with only what was known at the origin,
    compared with the applicants known at ``as_of``: the absolute percentage error of each
    town, grade and target year (``ape``; a year with no applicant has none), and its mean
    per town, method and horizon (MAPE, in per cent, over grades, origins)."""
    actual = town_intakes(known_at(frames, as_of).intakes).select(
        "town_code", "grade", "school_year", actual="applicants"
    )
    parts = []
    for origin in origins(frames, as_of):
        known = known_at(frames, origin)  # filter first: nothing after the origin is read
        for method in METHODS:
            parts.append(
                town_forecast(known, origin, MAX_HORIZON, method, Scenario()).with_columns(
                    origin=pl.lit(origin, pl.Date)
                )
            )
    if not parts:
        detail = pl.DataFrame(schema=DETAIL_SCHEMA)
    else:
        detail = (
            pl.concat(parts)
            .join(actual, on=["town_code", "grade", "school_year"])
            .filter(pl.col("actual") > 0)
            .with_columns(
                ape=(pl.col("expected") - pl.col("actual")).abs() / pl.col("actual") * 100
            )
            .select(pl.col(name).cast(kind) for name, kind in DETAIL_SCHEMA.items())
            .sort("origin", "town_code", "method", "horizon", "grade")
        )
    mape = (
        detail.group_by("town_code", "method", "horizon")
        .agg(mape=pl.col("ape").mean())
        .select(BACKTEST_COLUMNS)
        .sort("town_code", "method", "horizon")
    )
    return Backtest(mape, detail)


def best_methods(mape: pl.DataFrame) -> pl.DataFrame:
    """``town_code, method``: per town, the method whose MAPE (mean over horizons) is lowest
    (cohort on a tie); a town with no backtest is not listed (it takes cohort)."""
    order = {name: index for index, name in enumerate(METHODS)}
    return (
        mape.group_by("town_code", "method")
        .agg(score=pl.col("mape").mean())
        .with_columns(order=pl.col("method").replace_strict(order, return_dtype=pl.Int32))
        .sort("town_code", "score", "order")
        .group_by("town_code", maintain_order=True)
        .first()
        .select("town_code", "method")
    )


def error_quantiles(detail: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The 10th and 90th percentiles of actual ÷ expected: pooled over towns per method and
    horizon (``method, horizon, q_low, q_high``), and per town where it has
    ``MIN_TOWN_ERRORS`` (``town_code, method, horizon, q_low, q_high``)."""
    errors = detail.filter(pl.col("expected") > 0).with_columns(
        q=pl.col("actual") / pl.col("expected")
    )
    low, high = INTERVAL
    spread = [
        pl.col("q").quantile(low, "linear").alias("q_low"),
        pl.col("q").quantile(high, "linear").alias("q_high"),
    ]
    pooled = errors.group_by("method", "horizon").agg(spread)
    town = (
        errors.group_by("town_code", "method", "horizon")
        .agg(*spread, n=pl.len())
        .filter(pl.col("n") >= MIN_TOWN_ERRORS)
        .drop("n")
    )
    return pooled, town


def with_intervals(forecast: pl.DataFrame, detail: pl.DataFrame) -> pl.DataFrame:
    """``low``/``high``: expected × the percentiles of the backtest's actual ÷ expected for
    the row's method and horizon (the town's own when it has enough errors, else all towns';
    a horizon with none takes the nearest shorter, then longer, one's); widened where needed
    so the interval always holds the expected number; null when there is no backtest."""
    pooled, town = error_quantiles(detail)
    keys = forecast.select("method", "horizon").unique()
    if pooled.height:
        nearest = (
            keys.join(pooled.rename({"horizon": "from_horizon"}), on="method")
            .with_columns(
                distance=(pl.col("from_horizon") - pl.col("horizon")).abs() * 2
                + (pl.col("from_horizon") > pl.col("horizon")).cast(pl.Int32)
            )
            .sort("distance")
            .group_by("method", "horizon", maintain_order=True)
            .first()
            .select("method", "horizon", "q_low", "q_high")
        )
    else:
        nearest = keys.with_columns(q_low=pl.lit(None, pl.Float64), q_high=pl.lit(None, pl.Float64))
    frame = (
        forecast.join(nearest, on=["method", "horizon"], how="left")
        .join(
            town.rename({"q_low": "town_low", "q_high": "town_high"}),
            on=["town_code", "method", "horizon"],
            how="left",
        )
        .with_columns(
            q_low=pl.coalesce("town_low", "q_low"), q_high=pl.coalesce("town_high", "q_high")
        )
    )
    return (
        frame.with_columns(
            low=pl.min_horizontal(pl.col("expected") * pl.col("q_low"), "expected"),
            high=pl.max_horizontal(pl.col("expected") * pl.col("q_high"), "expected"),
        )
        .with_columns(
            low=pl.when(pl.col("q_low").is_not_null()).then("low"),
            high=pl.when(pl.col("q_high").is_not_null()).then("high"),
        )
        .drop("q_low", "q_high", "town_low", "town_high")
    )


def school_shares(intakes: pl.DataFrame, seats: pl.DataFrame) -> pl.DataFrame:
    """``school_id, town_code, grade, seats, share``: how a town's expected children divide
    among the schools planned for it. A school with applicants in the newest ``SHARE_YEARS``
    known years takes its share of the town's applicants then; a school with no such history
    (new) takes its share of the town's seats, the others dividing the rest in proportion."""
    recent = intakes.filter(
        pl.col("school_year").rank("dense", descending=True).over("town_code", "grade")
        <= SHARE_YEARS
    )
    past = recent.group_by("school_id", pl.col("grade").cast(pl.Int8)).agg(
        past=pl.col("applicants").sum().cast(pl.Float64)
    )
    planned = seats.select(
        "school_id", "town_code", pl.col("grade").cast(pl.Int8), pl.col("seats").cast(pl.Int64)
    )
    frame = planned.join(past, on=["school_id", "grade"], how="left").with_columns(
        new=pl.col("past").is_null() | (pl.col("past") <= 0)
    )
    by_town = ["town_code", "grade"]
    return (
        frame.with_columns(
            seat_share=pl.col("seats") / pl.col("seats").sum().over(by_town),
            past_share=pl.col("past") / pl.col("past").filter(~pl.col("new")).sum().over(by_town),
        )
        .with_columns(
            new_share=pl.col("seat_share").filter(pl.col("new")).sum().over(by_town).fill_null(0.0),
            any_old=(~pl.col("new")).any().over(by_town),
        )
        .select(
            "school_id",
            "town_code",
            "grade",
            "seats",
            share=pl.when(pl.col("new") & pl.col("any_old"))
            .then(pl.col("seat_share"))
            .when(pl.col("new"))
            # Only new schools: by seats alone (their seat shares make 1).
            .then(pl.col("seat_share"))
            .otherwise(pl.col("past_share") * (1 - pl.col("new_share")))
            .fill_nan(0.0)
            .fill_null(0.0),
        )
    )


def with_warning(frame: pl.DataFrame) -> pl.DataFrame:
    seats = pl.col("seats").cast(pl.Float64)
    utilisation = (
        pl.when(seats > 0)
        .then(pl.col("expected") / seats)
        .when(pl.col("expected") > 0)
        .then(float("inf"))
        .otherwise(0.0)
    )
    return frame.with_columns(utilisation=utilisation).with_columns(
        warning=warning_expr(pl.col("utilisation"))
    )


def school_rows(towns: pl.DataFrame, intakes: pl.DataFrame, seats: pl.DataFrame) -> pl.DataFrame:
    """FORECAST_COLUMNS and ``method``: each town's row (``school_id`` empty: the catchment,
    its schools' seats together) and its schools' (the town's numbers × the school's share)."""
    shares = school_shares(intakes, seats)
    schools = towns.join(shares, on=["town_code", "grade"]).with_columns(
        pl.col(name) * pl.col("share") for name in ("expected", "low", "high")
    )
    catchment = shares.group_by("town_code", "grade").agg(pl.col("seats").sum())
    town_rows = towns.join(catchment, on=["town_code", "grade"], how="left").with_columns(
        school_id=pl.lit(""), seats=pl.col("seats").fill_null(0)
    )
    columns = [*FORECAST_COLUMNS[:-2], "method"]
    frame = pl.concat([town_rows.select(columns), schools.select(columns)], how="vertical_relaxed")
    return (
        with_warning(frame)
        .select(
            pl.col("town_code").cast(pl.String),
            pl.col("school_id").cast(pl.String),
            pl.col("school_year").cast(pl.Int32),
            pl.col("grade").cast(pl.Int8),
            pl.col("expected").cast(pl.Float64),
            pl.col("low").cast(pl.Float64),
            pl.col("high").cast(pl.Float64),
            pl.col("seats").cast(pl.Int64),
            pl.col("utilisation").cast(pl.Float64),
            pl.col("warning").cast(pl.String),
            pl.col("method").cast(pl.String),
        )
        .sort("town_code", "school_id", "school_year", "grade")
    )


@dataclass(frozen=True)
class Forecast:
    rows: pl.DataFrame
    """FORECAST_COLUMNS, ``method`` (the one used for the row's town) and ``horizon``."""
    backtest: Backtest


def forecast(
    frames: HistoryFrames,
    as_of: date,
    horizon: int,
    method: str = "auto",
    scenario: Scenario | None = None,
) -> Forecast:
    """The forecast from ``as_of`` for ``horizon`` school years: the method asked (or per
    town the best by the backtest, ``auto``), the 80 % intervals from the backtest, the
    schools' rows and the warnings."""
    if not 1 <= horizon <= MAX_HORIZON:
        raise ValueError(f"horizon {horizon} outside 1…{MAX_HORIZON}")
    if method not in (*METHODS, "auto"):
        raise ValueError(f"unknown method {method!r}")
    known = known_at(frames, as_of)  # filter first: nothing after as_of is read below
    tested = backtest(known, as_of)
    scenario = scenario or Scenario()
    if method == "auto":
        chosen = best_methods(tested.mape)
        both = pl.concat([town_forecast(known, as_of, horizon, name, scenario) for name in METHODS])
        towns = (
            both.join(chosen.rename({"method": "chosen"}), on="town_code", how="left")
            .filter(pl.col("method") == pl.col("chosen").fill_null(METHODS[0]))
            .drop("chosen")
        )
    else:
        towns = town_forecast(known, as_of, horizon, method, scenario)
    towns = with_intervals(towns, tested.detail)
    rows = school_rows(towns, known.intakes, known.seats).join(
        towns.select("town_code", "grade", "school_year", "horizon"),
        on=["town_code", "grade", "school_year"],
        how="left",
    )
    return Forecast(rows, tested)
