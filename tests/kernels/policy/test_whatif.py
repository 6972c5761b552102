"""The what-if kernel: the five bands partition the residents, the towns add up to the whole,
swapping the policies mirrors the bands, and every count agrees with a plain-Python oracle
(bands, crossings, histogram); the school shift on a hand-made pair of decisions."""

from __future__ import annotations

import math
from collections import Counter

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from luodi.kernels.policy.engine import TOLERANCE
from luodi.kernels.policy.whatif import BANDS, population_shift, school_shift

TOWNS = ("A", "B", "C", None)
ORIGINS = ("河南省", "安徽省", None)
# Quarter points (policies score in halves and quarters), plus exact band edges.
totals = st.one_of(
    st.integers(0, 800).map(lambda quarters: quarters / 4),
    st.sampled_from([0.0, 10.0, 20.0, 60.0, 90.0]),
)
residents = st.lists(
    st.tuples(totals, totals, st.sampled_from(TOWNS), st.sampled_from(ORIGINS)),
    min_size=1,
    max_size=60,
)


def frame(rows: list[tuple[float, float, str | None, str | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "total_old": pl.Float64,
            "total_new": pl.Float64,
            "town_code": pl.String,
            "origin_province": pl.String,
        },
        orient="row",
    )


def oracle_band(old: float, new: float) -> str:
    delta = new - old
    if abs(delta) < TOLERANCE:
        return "same"
    if delta > 0:
        return "gain_less" if delta <= 10 + TOLERANCE else "gain_more"
    return "lose_less" if -delta <= 10 + TOLERANCE else "lose_more"


@settings(max_examples=40)
@given(residents)
def test_bands_partition_and_match_the_oracle(rows: list[tuple]) -> None:  # type: ignore[type-arg]
    shift = population_shift(frame(rows), [60, 90])
    counted = shift.bands.row(0, named=True)
    expected = Counter(oracle_band(old, new) for old, new, _t, _o in rows)
    assert counted == {"residents": len(rows), **{band: expected[band] for band in BANDS}}
    assert sum(counted[band] for band in BANDS) == len(rows)


@settings(max_examples=40)
@given(residents)
def test_towns_and_origins_add_up_to_the_whole(rows: list[tuple]) -> None:  # type: ignore[type-arg]
    shift = population_shift(frame(rows))
    overall = shift.bands.row(0, named=True)
    for grouped, position in ((shift.by_town, 2), (shift.by_origin, 3)):
        assert grouped.select(pl.sum("residents", *BANDS)).row(0, named=True) == overall
        for row in grouped.iter_rows(named=True):
            mine = [r for r in rows if r[position] == row[grouped.columns[0]]]
            assert row["residents"] == len(mine)
            expected = Counter(oracle_band(old, new) for old, new, *_ in mine)
            assert {band: row[band] for band in BANDS} == {b: expected[b] for b in BANDS}


@settings(max_examples=40)
@given(residents)
def test_swapping_the_policies_mirrors_the_bands(rows: list[tuple]) -> None:  # type: ignore[type-arg]
    forward = population_shift(frame(rows), [60, 90]).bands.row(0, named=True)
    swapped = [(new, old, town, origin) for old, new, town, origin in rows]
    backward = population_shift(frame(swapped), [60, 90]).bands.row(0, named=True)
    assert [forward[band] for band in BANDS] == [backward[band] for band in reversed(BANDS)]


@settings(max_examples=40)
@given(residents, st.lists(st.sampled_from([0.0, 10.0, 60.0, 90.0, 120.5]), min_size=1))
def test_crossings_and_histogram_match_the_oracle(
    rows: list[tuple],  # type: ignore[type-arg]
    thresholds: list[float],
) -> None:
    shift = population_shift(frame(rows), thresholds)
    for row in shift.crossings.iter_rows(named=True):
        line = row["threshold"]
        assert row["old"] == sum(old >= line for old, *_ in rows)
        assert row["new"] == sum(new >= line for _o, new, *_ in rows)
        assert row["up"] == sum(old < line <= new for old, new, *_ in rows)
        assert row["down"] == sum(new < line <= old for old, new, *_ in rows)
        assert row["new"] - row["old"] == row["up"] - row["down"]
    assert shift.crossings["threshold"].to_list() == sorted(set(thresholds))
    bars = shift.histogram
    assert bars["old"].sum() == bars["new"].sum() == len(rows)
    starts = bars["start"].to_list()
    assert starts == [starts[0] + 10 * index for index in range(len(starts))]  # no gaps
    old_bars = Counter(math.floor(old / 10) * 10 for old, *_ in rows)
    assert {s: c for s, c in zip(starts, bars["old"], strict=True) if c} == old_bars


def test_school_shift_counts_places_won_lost_and_moved_and_the_cut_offs() -> None:
    columns = ["application_id", "town_code", "outcome", "target_id", "placement", "points"]
    old = pl.DataFrame(
        [
            (1, "A", "placed", "S1", "choice", 90.0),
            (2, "A", "placed", "S1", "choice", 80.0),
            (3, "B", "unplaced", None, None, 70.0),
            (4, "B", "placed", "S2", "choice", 60.0),
            (5, "B", "placed", "S2", "town", 10.0),
        ],
        schema=columns,
        orient="row",
    )
    new = pl.DataFrame(
        [
            (1, "A", "placed", "S1", "choice", 95.0),
            (2, "A", "unplaced", None, None, 80.0),
            (3, "B", "placed", "S1", "choice", 85.0),
            (4, "B", "placed", "S1", "town", 60.0),
            (5, "B", "placed", "S2", "town", 10.0),
        ],
        schema=columns,
        orient="row",
    )
    targets = pl.DataFrame(
        {"target_id": ["S1", "S2"], "name": ["一小", "二小"], "town_code": ["A", "B"],
         "capacity": [2, 2]}
    )  # fmt: skip
    shift = school_shift(old, new, targets)
    assert (shift.placed_old, shift.placed_new, shift.gained, shift.lost, shift.moved) == (
        4, 4, 1, 1, 1,
    )  # fmt: skip
    assert shift.by_town.rows() == [("A", 0, 1, 0), ("B", 1, 0, 1)]
    schools = {row["target_id"]: row for row in shift.schools.iter_rows(named=True)}
    # S2's 就近 placement is not a cut-off; under the new points S1 admits 95 and 85 by rank.
    assert (schools["S1"]["cutoff_old"], schools["S1"]["cutoff_new"]) == (80.0, 85.0)
    assert (schools["S2"]["cutoff_old"], schools["S2"]["cutoff_new"]) == (60.0, None)
    assert (schools["S2"]["placed_old"], schools["S2"]["placed_new"]) == (2, 1)
