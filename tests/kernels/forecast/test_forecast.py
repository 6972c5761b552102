"""The forecast kernels: properties (scale, no leakage, warnings, intervals) and an oracle of the
cohort method written independently, child by child, in plain Python."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import replace
from datetime import date, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from luodi.kernels.forecast import FORECAST_COLUMNS, WARNINGS
from luodi.kernels.forecast.backtest import backtest, forecast, origins, with_warning
from luodi.kernels.forecast.model import (
    HistoryFrames,
    Scenario,
    first_school_year,
    known_at,
    town_forecast,
)
from luodi.kernels.forecast.warnings import expected_unplaced, warning_changes
from tests.kernels.forecast.city import city

CITY = city()
AS_OF = date(2025, 11, 15)
as_of_days = st.dates(date(2021, 7, 1), date(2026, 5, 31))


def scaled(frames: HistoryFrames, k: int) -> HistoryFrames:
    """Every child k times (new ids), every intake's applicants and every permit count × k."""
    children = pl.concat(
        [frames.children.with_columns(pl.col("child_id") * k + copy) for copy in range(k)]
    )
    intakes = frames.intakes.with_columns(pl.col("applicants", "placed") * k)
    permits = frames.new_permits.with_columns(pl.col("issued", "ended") * k)
    return HistoryFrames(children, intakes, permits, frames.seats)


@settings(max_examples=12)
@given(as_of=as_of_days, k=st.integers(2, 4), method=st.sampled_from(["cohort", "trend"]))
def test_a_city_k_times_larger_expects_k_times_the_children(
    as_of: date, k: int, method: str
) -> None:
    base = town_forecast(known_at(CITY, as_of), as_of, 5, method)
    big = town_forecast(known_at(scaled(CITY, k), as_of), as_of, 5, method)
    joined = base.join(big, on=["town_code", "grade", "school_year"], suffix="_big")
    assert joined.height == base.height == big.height > 0
    assert joined["expected_big"].to_list() == pytest.approx(
        (joined["expected"] * k).to_list(), rel=1e-9, abs=1e-9
    )


def future_rows(as_of: date, seed: int) -> HistoryFrames:
    """Rows the city could only learn after ``as_of``: children arriving or born later, a
    departure after it of a child known before, a later cycle, later months of permits."""
    later = as_of + timedelta(days=1 + seed % 400)
    children = pl.DataFrame(
        {
            "child_id": [10_000_000 + seed, 10_000_001 + seed],
            "birth_date": [date(2019, 3, 3), later],
            "town_code": ["T1", "T2"],
            "present_from": [later, later],
            "present_until": [None, None],
        },
        schema=CITY.children.schema,
    )
    intakes = CITY.intakes.head(2).with_columns(
        school_year=pl.lit(later.year + 1, pl.Int32),
        cycle_as_of=pl.lit(later, pl.Date),
        applicants=pl.lit(999 + seed, pl.Int64),
    )
    permits = pl.DataFrame(
        {"town_code": ["T1"], "month": [later.replace(day=1)], "issued": [500], "ended": [0]},
        schema=CITY.new_permits.schema,
    ).filter(pl.col("month") > as_of)
    return HistoryFrames(children, intakes, permits, CITY.seats)


@settings(max_examples=10)
@given(as_of=as_of_days, seed=st.integers(0, 1000), method=st.sampled_from(["cohort", "trend"]))
def test_rows_from_after_the_as_of_date_never_change_its_forecast(
    as_of: date, seed: int, method: str
) -> None:
    extra = future_rows(as_of, seed)
    # A child known before as_of who leaves after it: its departure is not known at as_of.
    leaving = CITY.children.filter(pl.col("present_from") <= as_of).head(30)
    children = pl.concat(
        [
            CITY.children.filter(~pl.col("child_id").is_in(leaving["child_id"].implode())),
            leaving.with_columns(present_until=pl.lit(as_of + timedelta(days=30), pl.Date)),
            extra.children,
        ]
    )
    later = HistoryFrames(
        children,
        pl.concat([CITY.intakes, extra.intakes]),
        pl.concat([CITY.new_permits, extra.new_permits]),
        CITY.seats,
    )
    base_children = pl.concat(
        [
            CITY.children.filter(~pl.col("child_id").is_in(leaving["child_id"].implode())),
            leaving.with_columns(present_until=pl.lit(None, pl.Date)),
        ]
    )
    base = replace(CITY, children=base_children)
    before = forecast(base, as_of, 5, method)
    after = forecast(later, as_of, 5, method)
    assert before.rows.equals(after.rows)
    assert before.backtest.detail.equals(after.backtest.detail)


@given(
    seats=st.integers(0, 500),
    low=st.floats(0, 800, allow_nan=False),
    more=st.floats(0, 800, allow_nan=False),
)
def test_the_warning_never_falls_as_the_expected_number_rises(
    seats: int, low: float, more: float
) -> None:
    frame = with_warning(pl.DataFrame({"expected": [low, low + more], "seats": [seats, seats]}))
    ranks = [WARNINGS.index(name) for name in frame["warning"]]
    assert ranks[0] <= ranks[1]
    if seats > 0:
        share = low / seats
        assert frame["warning"][0] == (
            "red" if share >= 1 else "yellow" if share >= 0.9 else "green"
        )


@settings(max_examples=10)
@given(
    as_of=as_of_days,
    horizon=st.integers(1, 5),
    method=st.sampled_from(["auto", "cohort", "trend"]),
    growth=st.floats(-0.5, 0.5),
    capture=st.one_of(st.none(), st.floats(0.05, 1.0)),
)
def test_intervals_hold_the_expected_number_and_rows_are_whole(
    as_of: date, horizon: int, method: str, growth: float, capture: float | None
) -> None:
    result = forecast(CITY, as_of, horizon, method, Scenario(growth, capture))
    rows = result.rows
    assert rows.columns[: len(FORECAST_COLUMNS)] == list(FORECAST_COLUMNS)
    assert (rows["expected"] >= 0).all()
    with_interval = rows.filter(pl.col("low").is_not_null())
    if origins(known_at(CITY, as_of), as_of):
        assert with_interval.height == rows.height
    assert (with_interval["low"] <= with_interval["expected"] + 1e-9).all()
    assert (with_interval["expected"] <= with_interval["high"] + 1e-9).all()
    # The schools of a town share its expected children out, whole.
    towns = rows.filter(pl.col("school_id") == "").select(
        "town_code", "school_year", "grade", town="expected"
    )
    schools = (
        rows.filter(pl.col("school_id") != "")
        .group_by("town_code", "school_year", "grade")
        .agg(pl.col("expected").sum())
        .join(towns, on=["town_code", "school_year", "grade"])
    )
    assert schools["expected"].to_list() == pytest.approx(schools["town"].to_list())
    assert set(rows["school_year"]) == set(
        range(first_school_year(known_at(CITY, as_of).intakes, as_of), 99999)
    ) & set(rows["school_year"])
    assert rows["school_year"].n_unique() == horizon


def test_inflow_growth_and_capture_rate_move_the_forecast_their_way() -> None:
    base = town_forecast(known_at(CITY, AS_OF), AS_OF, 3, "cohort")
    more = town_forecast(known_at(CITY, AS_OF), AS_OF, 3, "cohort", Scenario(0.1))
    joined = base.join(more, on=["town_code", "grade", "school_year"], suffix="_more")
    ratio = joined["expected_more"] / joined["expected"]
    assert ratio.to_list() == pytest.approx((1.1 ** joined["horizon"]).to_list())
    half = town_forecast(known_at(CITY, AS_OF), AS_OF, 3, "cohort", Scenario(0, 0.5))
    full = town_forecast(known_at(CITY, AS_OF), AS_OF, 3, "cohort", Scenario(0, 1.0))
    assert (half["expected"] * 2).to_list() == pytest.approx(full["expected"].to_list())


def test_auto_takes_per_town_the_method_with_the_lowest_backtest_error() -> None:
    result = forecast(CITY, AS_OF, 3, "auto")
    scores = result.backtest.mape.group_by("town_code", "method").agg(pl.col("mape").mean())
    for town, used in result.rows.select("town_code", "method").unique().iter_rows():
        mine = scores.filter(pl.col("town_code") == town)
        best = mine.sort("mape")["method"][0]
        assert used == best


def test_backtest_reports_the_errors_of_forecasts_made_from_each_origin() -> None:
    tested = backtest(known_at(CITY, AS_OF), AS_OF)
    assert tested.detail["origin"].unique().sort().to_list() == sorted(origins(CITY, AS_OF))
    origin = tested.detail["origin"].max()
    assert isinstance(origin, date)
    again = town_forecast(known_at(CITY, origin), origin, 5, "cohort")
    actual = CITY.intakes.group_by("town_code", "grade", "school_year").agg(
        pl.col("applicants").sum()
    )
    mine = (
        again.join(actual, on=["town_code", "grade", "school_year"])
        .filter(pl.col("horizon") == 1)
        .with_columns(
            ape=(pl.col("expected") - pl.col("applicants")).abs() / pl.col("applicants") * 100
        )
    )
    reported = tested.detail.filter(
        (pl.col("origin") == origin) & (pl.col("method") == "cohort") & (pl.col("horizon") == 1)
    )
    assert sorted(mine["ape"].to_list()) == pytest.approx(sorted(reported["ape"].to_list()))
    mape = tested.mape.filter((pl.col("method") == "cohort") & (pl.col("horizon") == 1))
    by_town = (
        tested.detail.filter((pl.col("method") == "cohort") & (pl.col("horizon") == 1))
        .group_by("town_code")
        .agg(pl.col("ape").mean())
        .sort("town_code")
    )
    assert mape.sort("town_code")["mape"].to_list() == pytest.approx(by_town["ape"].to_list())


def test_unplaced_from_the_allocation_kernel_and_what_changes_a_warning() -> None:
    rows = forecast(CITY, AS_OF, 3, "cohort").rows
    unplaced = expected_unplaced(rows)
    towns = rows.filter(pl.col("school_id") == "")
    joined = towns.join(unplaced, on=["town_code", "school_year", "grade"])
    assert joined.height == towns.height
    # Every child may choose every school of the town: only those beyond the town's seats
    # go without (seats of schools with no expected child still take overflow).
    want = [
        max(0, round(expected) - seats)
        for expected, seats in joined.select("expected", "seats").iter_rows()
    ]
    assert joined["expected_unplaced"].to_list() == want
    assert sum(want) > 0
    changes = warning_changes(rows, {"T1": "一镇", "T2": "二镇", "T3": "三镇"})
    flagged = rows.filter(pl.col("warning") != "green")
    assert set(changes.select("town_code", "school_id", "school_year", "grade").iter_rows()) == set(
        flagged.select("town_code", "school_id", "school_year", "grade").iter_rows()
    )
    seats_text = changes.filter(pl.col("text_en").str.starts_with("new seats needed"))
    assert seats_text.height == flagged.height
    for row in flagged.iter_rows(named=True):
        add = int(
            seats_text.filter(
                (pl.col("town_code") == row["town_code"])
                & (pl.col("school_id") == row["school_id"])
                & (pl.col("school_year") == row["school_year"])
                & (pl.col("grade") == row["grade"])
            )["text_en"][0]
            .split(":")[1]
            .split()[0]
        )
        assert (
            row["expected"] / (row["seats"] + add)
            < 0.9
            <= row["expected"] / (row["seats"] + add - 1)
        )


# --- oracle: the cohort method, child by child ---------------------------------------------


AGES = {1: 6, 7: 12}


def oracle_cohort(
    frames: HistoryFrames, as_of: date, horizon: int
) -> dict[tuple[str, int, int], float]:
    children = [
        (born, town, start, None if end is None or end > as_of else end)
        for born, town, start, end in frames.children.select(
            "birth_date", "town_code", "present_from", "present_until"
        ).iter_rows()
        if start <= as_of and born <= as_of
    ]
    intakes = [
        row
        for row in frames.intakes.select(
            "school_year", "cycle_as_of", "town_code", "grade", "applicants"
        ).iter_rows()
        if row[1] <= as_of
    ]
    offset = int(
        statistics.median(
            (cycle - date(year, 9, 1)).days for year, cycle in {(r[0], r[1]) for r in intakes}
        )
    )
    newest = max(r[0] for r in intakes)
    first = as_of.year - 1
    while date(first, 9, 1) + timedelta(days=offset) <= as_of or first <= newest:
        first += 1

    def entry(born: date, grade: int) -> int:
        return born.year + AGES[grade] + (1 if born.month >= 9 else 0)

    def count(day: date, town: str, grade: int, year: int) -> int:
        return sum(
            1
            for born, home, start, end in children
            if home == town
            and start <= day
            and born <= day
            and (end is None or end > day)
            and entry(born, grade) == year
        )

    def back(day: date, years: int) -> date:
        try:
            return day.replace(year=day.year - years)
        except ValueError:
            return day.replace(year=day.year - years, day=28)

    applicants: dict[tuple[str, int, int], int] = defaultdict(int)
    for year, _, town, grade, number in intakes:
        applicants[(town, grade, year)] += number
    towns = sorted(
        {row[1] for row in children} | {row[2] for row in intakes} | set(frames.seats["town_code"])
    )

    def weighted(pairs: list[tuple[int, float]]) -> float:
        pairs = sorted(pairs)[-5:]
        return sum((i + 1) * value for i, (_, value) in enumerate(pairs)) / sum(
            range(1, len(pairs) + 1)
        )

    out = {}
    for grade in AGES:
        for town in towns:
            chosen: float | None = None
            for h in range(1, horizon + 1):
                own, city_app, city_before = [], defaultdict(int), defaultdict(int)
                for (place, g, year), number in applicants.items():
                    if g != grade:
                        continue
                    before = count(back(as_of, first + h - 1 - year), place, grade, year)
                    if before > 0:
                        city_app[year] += number
                        city_before[year] += before
                        if place == town:
                            own.append((year, number / before))
                if len(own) >= 2:
                    chosen = weighted(own)
                elif city_before:
                    chosen = weighted([(y, city_app[y] / city_before[y]) for y in city_before])
                if chosen is not None:
                    target = first + h - 1
                    out[(town, grade, target)] = count(as_of, town, grade, target) * chosen
    return out


def tiny_city(draw: st.DrawFn) -> HistoryFrames:
    towns = ["A", "B"]
    kids = draw(
        st.lists(
            st.tuples(
                st.dates(date(2008, 1, 1), date(2020, 12, 31)),
                st.sampled_from(towns),
                st.integers(0, 3000),
                st.one_of(st.none(), st.integers(30, 3000)),
            ),
            min_size=20,
            max_size=80,
        )
    )
    children = pl.DataFrame(
        [
            (
                i,
                born,
                town,
                max(born, date(2016, 1, 1) + timedelta(days=arrive)),
                None
                if stay is None
                else max(born, date(2016, 1, 1) + timedelta(days=arrive)) + timedelta(days=stay),
            )
            for i, (born, town, arrive, stay) in enumerate(kids)
        ],
        schema={
            "child_id": pl.Int64,
            "birth_date": pl.Date,
            "town_code": pl.String,
            "present_from": pl.Date,
            "present_until": pl.Date,
        },
        orient="row",
    )
    counts = draw(st.lists(st.integers(0, 9), min_size=24, max_size=24))
    intakes = pl.DataFrame(
        [
            (year, date(year, 6, 1), f"S{town}", "", town, grade, 30, counts[i], counts[i], "file")
            for i, (year, town, grade) in enumerate(
                (y, t, g) for y in range(2019, 2025) for t in towns for g in (1, 7)
            )
        ],
        schema=CITY.intakes.schema,
        orient="row",
    )
    seats = CITY.seats.head(0)
    permits = CITY.new_permits.head(0)
    return HistoryFrames(children, intakes, permits, seats)


@settings(max_examples=25)
@given(
    frames=st.composite(tiny_city)(),
    as_of=st.dates(date(2021, 6, 2), date(2025, 5, 31)),
    horizon=st.integers(1, 5),
)
def test_cohort_method_agrees_with_an_independent_oracle(
    frames: HistoryFrames, as_of: date, horizon: int
) -> None:
    mine = town_forecast(known_at(frames, as_of), as_of, horizon, "cohort")
    theirs = oracle_cohort(frames, as_of, horizon)
    got = {
        (town, grade, year): expected
        for town, grade, year, expected in mine.select(
            "town_code", "grade", "school_year", "expected"
        ).iter_rows()
    }
    assert got.keys() == theirs.keys()
    for key, value in theirs.items():
        assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-9), key


def test_cohort_oracle_on_the_whole_small_city() -> None:
    """Without permits (no momentum) the cohort method is the cohort × the weighted ratio."""
    frames = replace(CITY, new_permits=CITY.new_permits.head(0))
    mine = town_forecast(known_at(frames, AS_OF), AS_OF, 5, "cohort")
    theirs = oracle_cohort(frames, AS_OF, 5)
    assert len(theirs) == 30 and min(theirs.values()) > 0
    got = {
        (town, grade, year): expected
        for town, grade, year, expected in mine.select(
            "town_code", "grade", "school_year", "expected"
        ).iter_rows()
    }
    assert got == pytest.approx(theirs, rel=1e-9)
