"""The points-analysis kernel: properties on random populations, and an oracle written the
slow and obvious way in plain Python on a small frame."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from datetime import date

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from luodi.kernels.analysis import points as kernel
from luodi.kernels.analysis.points import AdmissionClass, threshold_column
from luodi.kernels.policy.expressions import years_between

AS_OF = date(2026, 3, 1)
INDICATORS = ["age", "insurance", "fine"]
TOWNS = ["t1", "t2", "t3"]
CLASSES = [
    AdmissionClass("settlement", "落户", "settlement", 120, "test"),
    AdmissionClass("housing", "公租房", "housing", 60, "test"),
]

quarter_points = st.integers(min_value=0, max_value=400).map(lambda value: value / 4)


@st.composite
def populations(draw: st.DrawFn, max_size: int = 40) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(points, people): totals are the sum of the indicator lines (the fine negative);
    some residents have no registry row, some no permit or job."""
    size = draw(st.integers(min_value=0, max_value=max_size))
    age = draw(st.lists(quarter_points, min_size=size, max_size=size))
    insurance = draw(st.lists(quarter_points, min_size=size, max_size=size))
    fine = draw(st.lists(st.sampled_from([0.0, -5.0, -10.0]), min_size=size, max_size=size))
    points = pl.DataFrame(
        {
            "resident_id": list(range(1, size + 1)),
            "total": [a + b + c for a, b, c in zip(age, insurance, fine, strict=True)],
            "age": age,
            "insurance": insurance,
            "fine": fine,
        },
        schema={
            "resident_id": pl.Int64,
            "total": pl.Float64,
            **dict.fromkeys(INDICATORS, pl.Float64),
        },
    )
    known = [i for i in range(1, size + 1) if draw(st.booleans()) or i % 3]
    days = st.integers(min_value=0, max_value=30_000)
    people = pl.DataFrame(
        {
            "resident_id": known,
            "town_code": [draw(st.sampled_from(TOWNS)) for _ in known],
            "origin_province": [draw(st.sampled_from(["安徽", "江西", ""])) for _ in known],
            "birth_date": [
                date(1940, 1, 1).fromordinal(date(1940, 1, 1).toordinal() + draw(days))
                for _ in known
            ],
            "first_permit_date": [
                draw(st.none() | st.dates(date(2000, 1, 1), AS_OF)) for _ in known
            ],
            "employment_basis": [
                draw(st.sampled_from([None, "labour_contract", "business_licence"])) for _ in known
            ],
        },
        schema=kernel.PEOPLE_COLUMNS,
    )
    return points, people


thresholds_strategy = st.lists(
    st.integers(min_value=1, max_value=80).map(lambda value: value * 2.5),
    min_size=1,
    max_size=6,
    unique=True,
).map(sorted)


@settings(max_examples=60)
@given(populations(), thresholds_strategy)
def test_groups_add_up_to_the_whole_and_counts_fall_with_the_threshold(
    population: tuple[pl.DataFrame, pl.DataFrame], thresholds: list[float]
) -> None:
    points, people = population
    frame = kernel.population(points, people, AS_OF)
    assert frame.height == points.height
    overall = [int((points["total"] >= t).sum()) for t in thresholds]
    for dimension in ("town", "origin", "age_band", "sector", "permit_years"):
        table = kernel.by_dimension(frame, dimension, thresholds)
        assert int(table["residents"].sum()) == points.height
        counted = [int(table[threshold_column(t)].sum()) for t in thresholds]
        assert counted == overall
        for row in table.iter_rows(named=True):
            column_counts = [row[threshold_column(t)] for t in thresholds]
            assert column_counts == sorted(column_counts, reverse=True)
            assert column_counts[0] <= row["residents"]
    over = kernel.counts_at(points.select(pl.lit(1).alias("run_id"), "total"), thresholds)
    assert over["residents"].to_list() == (overall if points.height else [])


@settings(max_examples=60)
@given(populations(), st.sampled_from([1.0, 2.5, 10.0, 20.0]))
def test_the_histogram_has_no_gaps_and_holds_everyone(
    population: tuple[pl.DataFrame, pl.DataFrame], width: float
) -> None:
    points, _ = population
    bars = kernel.histogram(points["total"], width)
    assert int(bars["residents"].sum()) == points.height
    starts = bars["start"].to_list()
    assert all(math.isclose(b - a, width) for a, b in itertools.pairwise(starts))
    if points.height:
        assert starts[0] <= float(points["total"].min()) < starts[0] + width  # type: ignore[arg-type]
        assert starts[-1] <= float(points["total"].max()) < starts[-1] + width  # type: ignore[arg-type]


@settings(max_examples=60)
@given(populations(), populations(), thresholds_strategy)
def test_movement_up_minus_down_is_the_change_among_residents_in_both(
    now: tuple[pl.DataFrame, pl.DataFrame],
    before: tuple[pl.DataFrame, pl.DataFrame],
    thresholds: list[float],
) -> None:
    current, previous = now[0], before[0]
    moved = kernel.movement(current, previous, thresholds, INDICATORS)
    both = current.join(previous, on="resident_id", suffix="_before")
    for row in moved.summary.iter_rows(named=True):
        t = row["threshold"]
        assert row["residents_in_both"] == both.height
        assert row["before"] == int((both["total_before"] >= t).sum())
        assert row["after"] == int((both["total"] >= t).sum())
        assert row["crossed_up"] - row["crossed_down"] == row["after"] - row["before"]
        by_indicator = moved.by_indicator.filter(pl.col("threshold") == t)
        assert int(by_indicator["crossed_up"].sum()) == row["crossed_up"]
        assert int(by_indicator["crossed_down"].sum()) == row["crossed_down"]
    assert set(moved.by_indicator["indicator"]) <= {*INDICATORS, kernel.NOT_ATTRIBUTED}


@settings(max_examples=60)
@given(populations(), st.integers(min_value=1, max_value=12), st.integers(min_value=1, max_value=4))
def test_batches_take_the_highest_first_and_never_more_than_the_quota(
    population: tuple[pl.DataFrame, pl.DataFrame], quota: int, batches: int
) -> None:
    points, people = population
    frame = kernel.population(points, people, AS_OF)
    layered = kernel.layers(frame, [60, 90, 120], CLASSES, quota, batches, 2026)
    for admission in CLASSES:
        qualifying = frame.filter(pl.col("total") >= admission.threshold)
        rows = layered.layers.filter(pl.col("class") == admission.id)
        assert int(rows["admitted"].sum()) == qualifying.height
        taken = layered.batches.filter(pl.col("class") == admission.id)
        assert all(count <= quota for count in taken["admitted"])
        assert int(taken["admitted"].sum()) == min(qualifying.height, quota * batches)
        lowest = taken["lowest_total"].to_list()
        highest = taken["highest_total"].to_list()
        # Each batch's lowest total is at least the next batch's highest.
        assert all(low >= high for low, high in zip(lowest, highest[1:], strict=False))
    one = layered.batch_one
    assert one.height == min(quota, int((frame["total"] >= 60).sum()))
    assert one["rank"].to_list() == list(range(1, one.height + 1))
    outside = frame.filter(~pl.col("resident_id").is_in(one["resident_id"].implode()))
    if one.height and outside.height:
        assert float(one["total"].min()) >= float(outside["total"].max())  # type: ignore[arg-type]


@settings(max_examples=40)
@given(populations())
def test_indicator_shares_add_up_and_towns_add_up_to_the_city(
    population: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    points, people = population
    frame = kernel.population(points, people, AS_OF)
    overall = kernel.indicators(frame, INDICATORS)
    by_town = kernel.indicators_by_town(frame, INDICATORS)
    assert overall["indicator"].to_list() == INDICATORS
    if float(overall["total_points"].sum()) != 0:
        assert math.isclose(float(overall["share_of_points"].sum()), 1.0)
    for name in INDICATORS:
        line = overall.filter(pl.col("indicator") == name).row(0, named=True)
        towns = by_town.filter(pl.col("indicator") == name)
        assert int(towns["residents_with_points"].sum()) == line["residents_with_points"]
        assert math.isclose(float(towns["total_points"].sum()), line["total_points"], abs_tol=1e-6)


# ------------------------------------------------------------------------------- oracle
POINTS = [
    # resident, age, insurance, fine (total = the sum)
    (1, 20.0, 30.0, 0.0),
    (2, 15.0, 80.0, -5.0),
    (3, 10.0, 50.5, 0.0),
    (4, 5.0, 120.0, 0.0),
    (5, 18.0, 44.0, -10.0),
    (6, 12.0, 80.0, -2.0),
    (7, 20.0, 100.0, 0.0),
    (8, 0.0, 59.75, 0.0),
    (9, 16.0, 74.0, 0.0),
    (10, 20.0, 40.0, 0.0),
    (11, 14.0, 76.0, 0.0),
]
PEOPLE = [
    # resident, town, origin, birth, first permit, employment basis (resident 11: unknown)
    (1, "t1", "安徽", date(2000, 2, 29), date(2025, 3, 2), "labour_contract"),
    (2, "t1", "江西", date(1990, 3, 1), date(2020, 3, 1), None),
    (3, "t2", "安徽", date(1980, 3, 2), date(2016, 3, 1), "business_licence"),
    (4, "t2", "", date(1970, 12, 31), None, "labour_contract"),
    (5, "t1", "河南", date(2008, 3, 1), date(2023, 1, 1), "labour_contract"),
    (6, "t3", "安徽", date(1966, 1, 1), date(2010, 6, 1), None),
    (7, "t2", "江西", date(1985, 7, 7), date(2024, 2, 28), "labour_contract"),
    (8, "t3", "河南", date(1995, 5, 5), date(2026, 3, 1), "business_licence"),
    (9, "t1", "安徽", date(2009, 3, 2), date(2019, 3, 1), "labour_contract"),
    (10, "t2", "安徽", date(1960, 3, 1), date(2021, 1, 1), None),
]
PREVIOUS = [
    # resident, age, insurance, fine in the earlier run (resident 12 left, 11 arrived since)
    (1, 20.0, 20.0, 0.0),
    (2, 15.0, 80.0, 0.0),
    (3, 10.0, 40.0, 0.0),
    (4, 5.0, 110.0, 0.0),
    (5, 18.0, 44.0, 0.0),
    (6, 14.0, 70.0, -2.0),
    (7, 20.0, 100.0, 0.0),
    (8, 0.0, 59.75, 0.0),
    (9, 16.0, 80.0, -10.0),
    (10, 15.0, 35.0, 0.0),
    (12, 20.0, 90.0, 0.0),
]
THRESHOLDS = [60.0, 90.0, 120.0]


def _frame(rows: list[tuple[int, float, float, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        [(r, a + b + c, a, b, c) for r, a, b, c in rows],
        schema=["resident_id", "total", *INDICATORS],
        orient="row",
    )


def _nearest(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[math.floor((len(ordered) - 1) * q + 0.5)]


def _age_band(years: int) -> str:
    for low, high, label in [
        (0, 17, "<18"),
        (18, 25, "18–25"),
        (26, 35, "26–35"),
        (36, 45, "36–45"),
        (46, 55, "46–55"),
    ]:
        if low <= years <= high:
            return label
    return "56+"


def _permit_band(years: int) -> str:
    return (
        "<1"
        if years < 1
        else "1–2"
        if years <= 2
        else "3–4"
        if years <= 4
        else "5–9"
        if years <= 9
        else "10+"
    )


def test_the_kernel_agrees_with_a_plain_computation() -> None:
    points = _frame(POINTS)
    people = pl.DataFrame(PEOPLE, schema=kernel.PEOPLE_COLUMNS, orient="row")
    frame = kernel.population(points, people, AS_OF)

    totals = {r: a + b + c for r, a, b, c in POINTS}
    attributes = {row[0]: row for row in PEOPLE}

    def groups_of(resident: int) -> dict[str, str]:
        if resident not in attributes:
            return dict.fromkeys(
                ("town", "origin", "age_band", "sector", "permit_years"), "unknown"
            )
        _, town, origin, birth, permit, basis = attributes[resident]
        return {
            "town": town,
            "origin": origin or "unknown",
            "age_band": _age_band(years_between(birth, AS_OF)),
            "sector": {"labour_contract": "employee", "business_licence": "self_employed"}.get(
                basis or "", "none"
            ),
            "permit_years": "unknown"
            if permit is None
            else _permit_band(years_between(permit, AS_OF)),
        }

    for dimension in ("town", "origin", "age_band", "sector", "permit_years"):
        members: dict[str, list[float]] = defaultdict(list)
        for resident, total in totals.items():
            members[groups_of(resident)[dimension]].append(total)
        table = {
            row["group"]: row
            for row in kernel.by_dimension(frame, dimension, THRESHOLDS).iter_rows(named=True)
        }
        assert set(table) == set(members), dimension
        for group, values in members.items():
            row = table[group]
            assert row["residents"] == len(values)
            assert math.isclose(row["mean"], sum(values) / len(values))
            assert row["median"] == _nearest(values, 0.5)
            assert row["p90"] == _nearest(values, 0.9)
            for t in THRESHOLDS:
                assert row[threshold_column(t)] == sum(value >= t for value in values)

    # The histogram in bars of 10.
    bars: dict[float, int] = defaultdict(int)
    for total in totals.values():
        bars[math.floor(total / 10) * 10.0] += 1
    expected_bars = [
        (start, bars.get(start, 0))
        for start in [min(bars) + 10.0 * i for i in range(int((max(bars) - min(bars)) / 10) + 1)]
    ]
    assert kernel.histogram(points["total"], 10.0).rows() == expected_bars

    # Movement: residents in both runs, each crossing put down to the line that moved most.
    previous = {r: (a, b, c) for r, a, b, c in PREVIOUS}
    expected: dict[tuple[float, str], list[int]] = defaultdict(lambda: [0, 0])
    for r, a, b, c in POINTS:
        if r not in previous:
            continue
        before_lines = previous[r]
        before, now = sum(before_lines), a + b + c
        changes = [abs(x - y) for x, y in zip((a, b, c), before_lines, strict=True)]
        biggest = max(changes)
        name = INDICATORS[changes.index(biggest)] if biggest > 0 else kernel.NOT_ATTRIBUTED
        for t in THRESHOLDS:
            if before < t <= now:
                expected[(t, name)][0] += 1
            elif now < t <= before:
                expected[(t, name)][1] += 1
    moved = kernel.movement(points, _frame(PREVIOUS), THRESHOLDS, INDICATORS)
    got = {(row[0], row[1]): [row[2], row[3]] for row in moved.by_indicator.iter_rows()}
    assert got == dict(expected)
    # Resident 9 rose to 90 as a fine of 10 lapsed while insurance fell 6: the fine moved
    # most; resident 10's age and insurance lines both moved 5: the first in policy order.
    assert got[(90.0, "fine")] == [1, 0]
    assert got[(60.0, "age")] == [1, 0]
    assert sum(up - down for up, down in got.values()) > 0

    # Batches of 3 a year, highest first; equal totals: the earlier first permit, then the id.
    def order_key(resident: int) -> tuple[float, date, int]:
        permit = attributes.get(resident, (0, "", "", None, None, None))[4]
        return (-totals[resident], permit or date.max, resident)

    ranked = sorted(totals, key=order_key)
    layered = kernel.layers(frame, THRESHOLDS, CLASSES, 3, 2, 2026)
    for admission in CLASSES:
        qualifying = [r for r in ranked if totals[r] >= admission.threshold]
        batches = [qualifying[i : i + 3] for i in range(0, min(len(qualifying), 6), 3)]
        table = layered.batches.filter(pl.col("class") == admission.id)
        assert table["admitted"].to_list() == [len(batch) for batch in batches]
        assert table["lowest_total"].to_list() == [
            min(totals[r] for r in batch) for batch in batches
        ]
        assert table["year"].to_list() == [2026 + i for i in range(len(batches))]
    assert layered.batch_one["resident_id"].to_list() == ranked[:3]
