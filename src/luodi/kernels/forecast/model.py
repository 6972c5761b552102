"""The two forecast methods on frames: cohort-progression ratios and a simple trend.

Everything starts from ``known_at``: the history cut to what the city knew on the as-of date
(children known by then, with a departure after it not yet known; intakes whose conditions
were counted by then; complete months of permits). Every later step reads only that cut, so a
forecast from a date cannot see anything after it (no leakage, by construction).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

import numpy as np
import polars as pl

from luodi.kernels.calendar import years_before
from luodi.kernels.forecast import ENTRY_GRADES, MAX_HORIZON, METHODS

RATIO_YEARS: Final = 5
"""At most this many past school years feed a ratio or a trend (the newest)."""
MIN_TOWN_YEARS: Final = 2
"""A town needs ratios from at least this many past years; with fewer it borrows the city's."""
DEFAULT_CYCLE_OFFSET: Final = -92
"""Days from 1 September to the day a cycle's conditions are counted when no cycle is known
yet (about 1 June)."""
INFLOW_CLIP: Final = (0.0, 2.0)

TOWN_KEYS: Final = ("town_code", "grade", "school_year")


@dataclass(frozen=True)
class Scenario:
    """What the user may change on the page and on the command line."""

    inflow_growth: float = 0.0
    """Yearly growth of the net inflow of families beyond what history shows (0.05 = +5 %)."""
    capture_rate: float | None = None
    """Share of the children of entry age who apply; None = as observed in past cycles."""


@dataclass(frozen=True)
class HistoryFrames:
    """``ForecastHistory``'s frames (``luodi.forecast.repository``), without the database:
    ``children``, ``intakes``, ``new_permits``, ``seats`` with the columns documented there."""

    children: pl.DataFrame
    intakes: pl.DataFrame
    new_permits: pl.DataFrame
    seats: pl.DataFrame


def known_at(frames: HistoryFrames, as_of: date) -> HistoryFrames:
    """What the city knew on ``as_of``: the only input of a forecast from that day."""
    children = frames.children.filter(
        (pl.col("present_from") <= as_of) & (pl.col("birth_date") <= as_of)
    ).with_columns(
        # A departure after as_of had not happened yet: the child was still present then.
        present_until=pl.when(pl.col("present_until") <= as_of).then(pl.col("present_until"))
    )
    intakes = frames.intakes.filter(pl.col("cycle_as_of") <= as_of)
    # A month's permits are known once the month is over.
    permits = frames.new_permits.filter(pl.col("month").dt.offset_by("1mo") <= as_of)
    return HistoryFrames(children, intakes, permits, frames.seats)


def entry_year(grade: int) -> pl.Expr:
    """The school year in which a child enters ``grade``: the one by whose 31 August it has
    reached the entry age (born 1 September Y-a-1 … 31 August Y-a enters in Y)."""
    born = pl.col("birth_date")
    return (born.dt.year() + ENTRY_GRADES[grade] + (born.dt.month() >= 9).cast(pl.Int32)).cast(
        pl.Int32
    )


def present_on(day: date) -> pl.Expr:
    return (
        (pl.col("present_from") <= day)
        & (pl.col("birth_date") <= day)
        & (pl.col("present_until").is_null() | (pl.col("present_until") > day))
    )


def cohorts(children: pl.DataFrame, days: list[date]) -> pl.DataFrame:
    """``day, town_code, grade, school_year, cohort``: children present on each day by town
    and by the school year in which they reach each entry grade's age."""
    parts = []
    for day in sorted(set(days)):
        present = children.filter(present_on(day))
        for grade in ENTRY_GRADES:
            parts.append(
                present.group_by("town_code", entry_year(grade).alias("school_year"))
                .len("cohort")
                .with_columns(day=pl.lit(day, pl.Date), grade=pl.lit(grade, pl.Int8))
            )
    schema = {
        "day": pl.Date,
        "town_code": pl.String,
        "grade": pl.Int8,
        "school_year": pl.Int32,
        "cohort": pl.Int64,
    }
    if not parts:
        return pl.DataFrame(schema=schema)
    return pl.concat(parts, how="diagonal_relaxed").select(
        pl.col(name).cast(kind) for name, kind in schema.items()
    )


def town_intakes(intakes: pl.DataFrame) -> pl.DataFrame:
    """``town_code, grade, school_year, applicants, cycle_as_of``: a town's intake, all its
    schools together (the day counted: the earliest of its schools')."""
    return (
        intakes.group_by("town_code", pl.col("grade").cast(pl.Int8), "school_year")
        .agg(pl.col("applicants").sum().cast(pl.Int64), pl.col("cycle_as_of").min())
        .with_columns(pl.col("school_year").cast(pl.Int32))
        .sort(TOWN_KEYS)
    )


def cycle_offset(intakes: pl.DataFrame) -> int:
    """Days from 1 September to the day a cycle's conditions are counted: the median of the
    cycles known, or about 1 June when none is."""
    if intakes.height == 0:
        return DEFAULT_CYCLE_OFFSET
    offsets = [
        (counted - date(year, 9, 1)).days
        for year, counted in intakes.select("school_year", "cycle_as_of").unique().iter_rows()
    ]
    return int(np.median(offsets))


def first_school_year(intakes: pl.DataFrame, as_of: date) -> int:
    """The first school year whose cycle is after ``as_of``: later than every cycle known and
    counted (by the usual day) after it. ``intakes`` must be the ones known at ``as_of``."""
    offset = timedelta(days=cycle_offset(intakes))
    year = as_of.year - 1
    newest = intakes["school_year"].max() if intakes.height else None
    while date(year, 9, 1) + offset <= as_of or (newest is not None and year <= int(newest)):  # type: ignore[arg-type]
        year += 1
    return year


def weighted_mean(value: pl.Expr, year: pl.Expr) -> pl.Expr:
    """The mean over the newest ``RATIO_YEARS`` years, the newest weighing most (weights 1, 2,
    … n from the oldest: a change in the city shows sooner than in a plain mean)."""
    weight = year.rank("dense")
    return (value * weight).sum() / weight.sum()


def newest_years(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    return frame.filter(
        pl.col("school_year").rank("dense", descending=True).over(keys) <= RATIO_YEARS
    )


def inflow_momentum(permits: pl.DataFrame, as_of: date) -> pl.DataFrame:
    """``town_code, momentum``: the net inflow of permits (issued − ended) in the twelve
    months before ``as_of`` over the yearly mean of the 36 months before those; 1 when that
    mean is not positive or not known (no signal), clipped to [0, 2]."""
    month = as_of.replace(day=1)
    year_ago = month.replace(year=month.year - 1)
    before = month.replace(year=month.year - 4)
    net = permits.with_columns(net=pl.col("issued") - pl.col("ended"))
    recent = net.filter((pl.col("month") >= year_ago) & (pl.col("month") < month))
    earlier = net.filter((pl.col("month") >= before) & (pl.col("month") < year_ago))
    frame = (
        recent.group_by("town_code")
        .agg(recent=pl.col("net").sum())
        .join(
            earlier.group_by("town_code").agg(earlier=pl.col("net").sum() / 3, months=pl.len()),
            on="town_code",
            how="full",
            coalesce=True,
        )
    )
    return frame.select(
        "town_code",
        momentum=pl.when((pl.col("earlier") > 0) & (pl.col("months") >= 12))
        .then((pl.col("recent").fill_null(0) / pl.col("earlier")).clip(*INFLOW_CLIP))
        .otherwise(1.0)
        .cast(pl.Float64),
    )


def targets(first: int, horizon: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "horizon": list(range(1, horizon + 1)),
            "school_year": [first + h - 1 for h in range(1, horizon + 1)],
        },
        schema={"horizon": pl.Int32, "school_year": pl.Int32},
    )


def towns_of(known: HistoryFrames) -> pl.DataFrame:
    return pl.concat(
        [
            known.children.select("town_code"),
            known.intakes.select("town_code"),
            known.seats.select("town_code"),
        ]
    ).unique()


def grid(known: HistoryFrames, first: int, horizon: int) -> pl.DataFrame:
    """Every town, entry grade and target year: ``town_code, grade, horizon, school_year``."""
    grades = pl.DataFrame({"grade": list(ENTRY_GRADES)}, schema={"grade": pl.Int8})
    return towns_of(known).join(grades, how="cross").join(targets(first, horizon), how="cross")


def cohort_ratios(known: HistoryFrames, as_of: date, first: int, horizon: int) -> pl.DataFrame:
    """``town_code, grade, horizon, ratio, growth``: the applicants of a past year over its
    cohort counted on the same day of the year as ``as_of``, ``horizon`` years before
    (``ratio``), and that cohort's own growth up to its cycle (``growth``: net inflow), each
    the weighted mean over the past years (``weighted_mean``); a town with fewer than
    ``MIN_TOWN_YEARS`` years takes the city's; a horizon with none the nearest shorter one's."""
    past = town_intakes(known.intakes)
    if past.height == 0:
        return pl.DataFrame(
            schema={
                "town_code": pl.String,
                "grade": pl.Int8,
                "horizon": pl.Int32,
                "ratio": pl.Float64,
                "growth": pl.Float64,
            }
        )
    years = sorted(set(past["school_year"].to_list()))
    # The day each past year was `horizon` years ahead: as_of moved back by whole years.
    lags = pl.DataFrame(
        [
            (year, h, years_before(as_of, first + h - 1 - year))
            for year in years
            for h in range(1, horizon + 1)
        ],
        schema={"school_year": pl.Int32, "horizon": pl.Int32, "day": pl.Date},
        orient="row",
    )
    cycle_days = past.group_by("school_year").agg(pl.col("cycle_as_of").min())
    days = lags["day"].to_list() + cycle_days["cycle_as_of"].to_list()
    counted = cohorts(known.children, days)
    before = lags.join(counted, on=["school_year", "day"]).rename({"cohort": "cohort_before"})
    at_cycle = cycle_days.join(
        counted, left_on=["school_year", "cycle_as_of"], right_on=["school_year", "day"]
    ).select("town_code", "grade", "school_year", cohort_cycle="cohort")
    observed = (
        past.select("town_code", "grade", "school_year", "applicants")
        .join(before.drop("day"), on=["town_code", "grade", "school_year"])
        .join(at_cycle, on=["town_code", "grade", "school_year"], how="left")
        # No child of the cohort present on the cycle's day: none, not unknown.
        .with_columns(pl.col("cohort_cycle").fill_null(0))
        .filter(pl.col("cohort_before") > 0)
    )
    town = (
        newest_years(observed, ["town_code", "grade", "horizon"])
        .group_by("town_code", "grade", "horizon")
        .agg(
            ratio=weighted_mean(
                pl.col("applicants") / pl.col("cohort_before"), pl.col("school_year")
            ),
            growth=weighted_mean(
                pl.col("cohort_cycle") / pl.col("cohort_before"), pl.col("school_year")
            ),
            years=pl.col("school_year").n_unique(),
        )
    )
    city_years = observed.group_by("grade", "horizon", "school_year").agg(
        pl.col("applicants", "cohort_before", "cohort_cycle").sum()
    )
    city = (
        newest_years(city_years, ["grade", "horizon"])
        .group_by("grade", "horizon")
        .agg(
            city_ratio=weighted_mean(
                pl.col("applicants") / pl.col("cohort_before"), pl.col("school_year")
            ),
            city_growth=weighted_mean(
                pl.col("cohort_cycle") / pl.col("cohort_before"), pl.col("school_year")
            ),
        )
    )
    every = grid(known, first, horizon).select("town_code", "grade", "horizon")
    ratios = (
        every.join(town, on=["town_code", "grade", "horizon"], how="left")
        .join(city, on=["grade", "horizon"], how="left")
        .with_columns(
            own=pl.col("years").fill_null(0) >= MIN_TOWN_YEARS,
        )
        .with_columns(
            ratio=pl.when("own").then("ratio").otherwise("city_ratio"),
            growth=pl.when("own").then("growth").otherwise("city_growth"),
        )
        .sort("town_code", "grade", "horizon")
        .with_columns(
            pl.col("ratio", "growth").forward_fill().over("town_code", "grade"),
        )
    )
    return ratios.select("town_code", "grade", "horizon", "ratio", "growth")


def cohort_forecast(
    known: HistoryFrames, as_of: date, horizon: int, scenario: Scenario
) -> pl.DataFrame:
    """``town_code, grade, school_year, horizon, expected`` by cohort-progression ratios:
    the children present at ``as_of`` who reach the entry age in the target year × the ratio
    at that horizon; the net inflow's share of the ratio (``growth`` − 1) scaled by the
    permits' momentum (``inflow_momentum``); ``capture_rate``, when given, in place of the
    observed share applying; ``(1 + inflow_growth) ** horizon`` on top."""
    first = first_school_year(known.intakes, as_of)
    ratios = cohort_ratios(known, as_of, first, horizon)
    now = cohorts(known.children, [as_of]).drop("day")
    growth = pl.col("growth").fill_null(1.0)
    inflow = 1 + (growth - 1) * pl.col("momentum")
    if scenario.capture_rate is None:
        per_child = pl.col("ratio") * pl.when(growth > 0).then(inflow / growth).otherwise(1.0)
    else:
        per_child = pl.lit(scenario.capture_rate) * inflow
    frame = (
        grid(known, first, horizon)
        .join(now, on=["town_code", "grade", "school_year"], how="left")
        .join(ratios, on=["town_code", "grade", "horizon"], how="left")
        .join(inflow_momentum(known.new_permits, as_of), on="town_code", how="left")
        .with_columns(pl.col("cohort").fill_null(0), pl.col("momentum").fill_null(1.0))
        .filter(pl.col("ratio").is_not_null())
        .with_columns(
            expected=(
                pl.col("cohort")
                * per_child.clip(lower_bound=0.0)
                * (1 + scenario.inflow_growth) ** pl.col("horizon")
            ).cast(pl.Float64)
        )
    )
    return frame.select("town_code", "grade", "school_year", "horizon", "expected")


def observed_capture(known: HistoryFrames) -> pl.DataFrame:
    """``town_code, grade, capture``: applicants over the cohort present on the cycle's day,
    weighted mean over the newest years."""
    past = town_intakes(known.intakes)
    counted = cohorts(known.children, past["cycle_as_of"].unique().to_list())
    frame = past.join(
        counted,
        left_on=["town_code", "grade", "school_year", "cycle_as_of"],
        right_on=["town_code", "grade", "school_year", "day"],
    ).filter(pl.col("cohort") > 0)
    return (
        newest_years(frame, ["town_code", "grade"])
        .group_by("town_code", "grade")
        .agg(capture=weighted_mean(pl.col("applicants") / pl.col("cohort"), pl.col("school_year")))
    )


def trend_forecast(
    known: HistoryFrames, as_of: date, horizon: int, scenario: Scenario
) -> pl.DataFrame:
    """``town_code, grade, school_year, horizon, expected`` by a straight line: least squares
    of each town's applicants on the school year over the newest ``RATIO_YEARS`` known (one
    year known: that year's number), never below 0; ``capture_rate`` rescales it by the
    observed share applying, ``inflow_growth`` as in the cohort method."""
    first = first_school_year(known.intakes, as_of)
    past = newest_years(town_intakes(known.intakes), ["town_code", "grade"])
    x = pl.col("school_year").cast(pl.Float64)
    y = pl.col("applicants").cast(pl.Float64)
    lines = past.group_by("town_code", "grade").agg(
        mean_x=x.mean(),
        mean_y=y.mean(),
        slope=pl.when(pl.len() > 1)
        .then(((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum())
        .otherwise(0.0),
    )
    frame = (
        grid(known, first, horizon)
        .join(lines, on=["town_code", "grade"])
        .with_columns(
            expected=(
                pl.col("mean_y")
                + pl.col("slope") * (pl.col("school_year").cast(pl.Float64) - pl.col("mean_x"))
            ).clip(lower_bound=0.0)
            * (1 + scenario.inflow_growth) ** pl.col("horizon")
        )
    )
    if scenario.capture_rate is not None:
        frame = frame.join(
            observed_capture(known), on=["town_code", "grade"], how="left"
        ).with_columns(
            expected=pl.when(pl.col("capture") > 0)
            .then(pl.col("expected") * scenario.capture_rate / pl.col("capture"))
            .otherwise("expected")
        )
    return frame.select(
        "town_code", "grade", "school_year", "horizon", pl.col("expected").cast(pl.Float64)
    )


def town_forecast(
    known: HistoryFrames,
    as_of: date,
    horizon: int = MAX_HORIZON,
    method: str = "cohort",
    scenario: Scenario | None = None,
) -> pl.DataFrame:
    """One method's forecast from ``known`` (already ``known_at(as_of)``): ``town_code,
    grade, school_year, horizon, expected, method``."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}")
    run = cohort_forecast if method == "cohort" else trend_forecast
    return (
        run(known, as_of, horizon, scenario or Scenario())
        .with_columns(method=pl.lit(method))
        .sort("town_code", "grade", "school_year")
    )
