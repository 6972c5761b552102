"""A program's decisions (``kernels.allocation.programs``): properties on random cycles.

No target holds more than its capacity; the town places a child only at a school of the
child's own town and in rank order; each flat goes once, in number order by rank; the same
seed gives the same outcome, whatever the order of the rows."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from luodi.kernels.allocation import Method
from luodi.kernels.allocation.frames import TieBreakColumn
from luodi.kernels.allocation.programs import (
    QUOTA_TARGET,
    Kind,
    Label,
    Outcome,
    ProgramRules,
    SchoolRules,
    decide,
)

TOWNS = ["330282001", "330282002", "330282003"]
TARGET_SCHEMA = {
    "target_id": pl.String,
    "name": pl.String,
    "town_code": pl.String,
    "group_id": pl.String,
    "layout": pl.String,
    "capacity": pl.Int64,
    "units": pl.String,
}


def school_rules(home_town_first: bool, town_placement: bool = True) -> ProgramRules:
    return ProgramRules(
        kind=Kind.SCHOOL_ADMISSION,
        method=Method.DEFERRED_ACCEPTANCE,
        tie_breaks=(TieBreakColumn("tie:0", higher_first=False),),
        school=SchoolRules(
            full_year=Label("连续缴纳满一年", "a full year paid"),
            current=Label("当前在缴", "currently insured"),
            town_placement=town_placement,
            home_town_first=home_town_first,
        ),
    )


HOUSING = ProgramRules(
    kind=Kind.PUBLIC_HOUSING,
    method=Method.SERIAL_DICTATORSHIP,
    household_layouts={1: ["一室"], 2: ["一室", "两室"], 3: ["两室", "三室"]},
)


@dataclass(frozen=True)
class Cycle:
    applicants: pl.DataFrame
    targets: pl.DataFrame
    seed: str


@st.composite
def applicants(draw: st.DrawFn, choosable: list[str], count: int) -> pl.DataFrame:
    rows = []
    for index in range(count):
        eligible = draw(st.booleans() | st.just(True))
        chosen = draw(st.lists(st.sampled_from(choosable), max_size=3, unique=True))
        rows.append(
            {
                "application_id": index + 1,
                "points": draw(st.sampled_from([0.0, 2.5, 7.25, 10.0, 30.0])),
                "priority_group": draw(st.integers(0, 2)),
                "eligible": eligible,
                "reason_zh": None if eligible else "不符合条件：年满",
                "reason_en": None if eligible else "not eligible: of age",
                "choices": ";".join(chosen),
                "home_town": draw(st.sampled_from([*TOWNS, None])),
                "household_size": draw(st.integers(1, 6)),
                "full_year": draw(st.sampled_from([True, False, None])),
                "current": draw(st.sampled_from([True, True, False, None])),
                "entitlement": None,
                "tie:0": float(index + 1),
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "application_id": pl.Int64,
            "points": pl.Float64,
            "priority_group": pl.Int64,
            "eligible": pl.Boolean,
            "reason_zh": pl.String,
            "reason_en": pl.String,
            "choices": pl.String,
            "home_town": pl.String,
            "household_size": pl.Int64,
            "full_year": pl.Boolean,
            "current": pl.Boolean,
            "entitlement": pl.Float64,
            "tie:0": pl.Float64,
        },
        orient="row",
    )


@st.composite
def school_cycles(draw: st.DrawFn) -> Cycle:
    count = draw(st.integers(1, 6))
    schools = [
        (f"S{index}", f"学校{index}", draw(st.sampled_from(TOWNS)), None, None, capacity, None)
        for index in range(count)
        for capacity in [draw(st.integers(0, 4))]
    ]
    targets = pl.DataFrame(
        [(*school[:3], school[0], *school[4:]) for school in schools],
        schema=TARGET_SCHEMA,
        orient="row",
    )
    people = draw(applicants([school[0] for school in schools], draw(st.integers(0, 30))))
    return Cycle(people, targets, draw(st.text("abc123", min_size=1, max_size=6)))


@st.composite
def housing_cycles(draw: st.DrawFn) -> Cycle:
    rows = []
    number = 0
    for project in ("P1", "P2", "P3"):
        for layout in draw(st.lists(st.sampled_from(["一室", "两室", "三室"]), unique=True)):
            flats = draw(st.integers(1, 4))
            units = [f"{project}-{number + slot:03d}" for slot in range(flats)]
            number += flats
            rows.append(
                (
                    f"{project}|{layout}",
                    f"{project}·{layout}",
                    TOWNS[0],
                    project,
                    layout,
                    flats,
                    ";".join(units),
                )
            )
    targets = pl.DataFrame(rows, schema=TARGET_SCHEMA, orient="row")
    people = draw(applicants(["P1", "P2", "P3"], draw(st.integers(0, 30))))
    return Cycle(people, targets, draw(st.text("abc123", min_size=1, max_size=6)))


def placed_counts(outcome: pl.DataFrame) -> Counter[str]:
    return Counter(outcome.filter(pl.col("outcome") == Outcome.PLACED)["target_id"].to_list())


def check_one_row_each(cycle: Cycle, outcome: pl.DataFrame) -> None:
    assert sorted(outcome["application_id"].to_list()) == sorted(
        cycle.applicants["application_id"].to_list()
    )
    refused = set(cycle.applicants.filter(~pl.col("eligible"))["application_id"].to_list())
    for row in outcome.iter_rows(named=True):
        if row["application_id"] in refused:
            assert row["outcome"] == Outcome.INELIGIBLE
            assert row["reason_zh"].startswith("不符合条件")
        else:
            assert (row["outcome"] == Outcome.PLACED) == (row["target_id"] is not None)


@settings(max_examples=150, deadline=None)
@given(school_cycles(), st.booleans())
def test_schools_never_exceed_capacity_and_the_town_places_in_rank_order(
    cycle: Cycle, home_town_first: bool
) -> None:
    outcome = decide(school_rules(home_town_first), cycle.applicants, cycle.targets, cycle.seed)
    check_one_row_each(cycle, outcome)
    capacity = dict(cycle.targets.select("target_id", "capacity").iter_rows())
    town_of = dict(cycle.targets.select("target_id", "town_code").iter_rows())
    for target, count in placed_counts(outcome).items():
        assert count <= capacity[target]
    people = cycle.applicants.select("application_id", "home_town", "current", "eligible")
    joined = outcome.join(people, on="application_id")
    by_town = joined.filter(pl.col("town_placement").fill_null(False))
    for row in by_town.iter_rows(named=True):
        # Only at a school of the child's own town, only for a currently insured child.
        assert row["home_town"] is not None
        assert town_of[row["target_id"]] == row["home_town"]
        assert row["current"] is True
    for town in TOWNS:
        placed_here = by_town.filter(pl.col("home_town") == town)["rank"]
        left_out = joined.filter(
            (pl.col("home_town") == town)
            & pl.col("eligible")
            & pl.col("current").fill_null(False)
            & pl.col("target_id").is_null()
        )["rank"]
        if placed_here.len() and left_out.len():
            # Seats only run out: a child the town left out ranks after every child it placed.
            assert placed_here.max() < left_out.min()
        if left_out.len():
            # … and it left a child out only when the town's schools were full.
            taken = placed_counts(outcome)
            free = sum(
                capacity[target] - taken.get(target, 0)
                for target, code in town_of.items()
                if code == town
            )
            assert free == 0


@settings(max_examples=100, deadline=None)
@given(school_cycles())
def test_without_town_placement_nobody_is_placed_by_the_town(cycle: Cycle) -> None:
    rules = school_rules(False, town_placement=False)
    outcome = decide(rules, cycle.applicants, cycle.targets, cycle.seed)
    assert not outcome["town_placement"].fill_null(False).any()
    chosen = dict(cycle.applicants.select("application_id", "choices").iter_rows())
    for row in outcome.filter(pl.col("outcome") == Outcome.PLACED).iter_rows(named=True):
        assert row["target_id"] in chosen[row["application_id"]].split(";")


@settings(max_examples=150, deadline=None)
@given(housing_cycles())
def test_each_flat_goes_once_in_number_order_by_rank(cycle: Cycle) -> None:
    outcome = decide(HOUSING, cycle.applicants, cycle.targets, cycle.seed)
    check_one_row_each(cycle, outcome)
    capacity = dict(cycle.targets.select("target_id", "capacity").iter_rows())
    units = {
        target: listed.split(";")
        for target, listed in cycle.targets.select("target_id", "units").iter_rows()
    }
    for target, count in placed_counts(outcome).items():
        assert count <= capacity[target]
    placed = outcome.filter(pl.col("outcome") == Outcome.PLACED)
    flats = placed["unit"].to_list()
    assert None not in flats
    assert len(flats) == len(set(flats))
    for target, group in placed.sort("rank").group_by("target_id", maintain_order=True):
        assert group["unit"].to_list() == units[str(target[0])][: group.height]
    waiting = outcome.filter(pl.col("outcome") == Outcome.WAITLISTED)
    assert waiting["target_id"].null_count() == waiting.height
    assert not outcome["outcome"].is_in([Outcome.UNPLACED.value]).any()


@settings(max_examples=100, deadline=None)
@given(school_cycles(), st.integers(1, 10))
def test_a_quota_fills_at_most_its_places(cycle: Cycle, places: int) -> None:
    targets = pl.DataFrame(
        [(QUOTA_TARGET, "体检", None, QUOTA_TARGET, None, places, None)],
        schema=TARGET_SCHEMA,
        orient="row",
    )
    rules = ProgramRules(kind=Kind.QUOTA_BENEFIT)
    outcome = decide(rules, cycle.applicants, targets, cycle.seed)
    check_one_row_each(cycle, outcome)
    eligible = int(cycle.applicants["eligible"].sum())
    assert placed_counts(outcome)[QUOTA_TARGET] == min(places, eligible)


@settings(max_examples=60, deadline=None)
@given(school_cycles() | housing_cycles(), st.randoms(use_true_random=False))
def test_the_same_seed_gives_the_same_outcome_in_any_row_order(
    cycle: Cycle, shuffler: random.Random
) -> None:
    rules = school_rules(True) if cycle.targets["layout"].null_count() else HOUSING
    first = decide(rules, cycle.applicants, cycle.targets, cycle.seed).sort("application_id")
    again = decide(rules, cycle.applicants, cycle.targets, cycle.seed).sort("application_id")
    assert first.equals(again)
    order = list(range(cycle.applicants.height))
    shuffler.shuffle(order)
    shuffled = cycle.applicants[order]
    moved = decide(rules, shuffled, cycle.targets, cycle.seed).sort("application_id")
    assert moved.select(first.columns).equals(first)
