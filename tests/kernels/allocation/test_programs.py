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


# --- hot schools, town placement and 统筹, own choice rank, 直接申请 ----------------------

NEAR = pl.DataFrame(
    {
        "town_code": [TOWNS[0], TOWNS[1]],
        "neighbour_code": [TOWNS[1], TOWNS[2]],
        "distance_km": [3.0, 4.0],
    }
)
"""Town 0 — 3 km — town 1 — 4 km — town 2 (town 0 reaches town 2 by town 1, 7 km)."""


def direct_rules(town_placement: bool = True) -> ProgramRules:
    rules = school_rules(False, town_placement)
    assert rules.school is not None
    return ProgramRules(
        kind=rules.kind,
        method=rules.method,
        tie_breaks=rules.tie_breaks,
        school=SchoolRules(
            full_year=rules.school.full_year,
            current=rules.school.current,
            town_placement=town_placement,
            direct_groups=frozenset({2}),
        ),
    )


@st.composite
def hot_cycles(draw: st.DrawFn) -> Cycle:
    cycle = draw(school_cycles())
    hot = draw(
        st.lists(st.booleans(), min_size=cycle.targets.height, max_size=cycle.targets.height)
    )
    return Cycle(cycle.applicants, cycle.targets.with_columns(hot=pl.Series(hot)), cycle.seed)


def may_take(full_year: bool | None, current: bool | None, hot: bool) -> bool:
    return bool(full_year) if hot else bool(current)


@settings(max_examples=150)
@given(hot_cycles(), st.booleans(), st.booleans())
def test_a_hot_school_takes_only_children_of_its_rule_and_the_town_leaves_no_seat_unused(
    cycle: Cycle, home_town_first: bool, connected: bool
) -> None:
    distances = NEAR if connected else None
    outcome = decide(
        school_rules(home_town_first), cycle.applicants, cycle.targets, cycle.seed, distances
    )
    check_one_row_each(cycle, outcome)
    capacity = dict(cycle.targets.select("target_id", "capacity").iter_rows())
    hot = dict(cycle.targets.select("target_id", "hot").iter_rows())
    town_of = dict(cycle.targets.select("target_id", "town_code").iter_rows())
    taken = placed_counts(outcome)
    free = {target: capacity[target] - taken.get(target, 0) for target in capacity}
    people = cycle.applicants.select("application_id", "home_town", "full_year", "current")
    joined = outcome.join(people, on="application_id")
    for row in joined.filter(pl.col("outcome") == Outcome.PLACED).iter_rows(named=True):
        # Whichever way it was placed, by choice or by the town.
        assert may_take(row["full_year"], row["current"], hot[row["target_id"]])
    distance = {TOWNS[0]: [0, 3, 7], TOWNS[1]: [3, 0, 4], TOWNS[2]: [7, 4, 0]}
    for row in joined.rows(named=True):
        if row["outcome"] == Outcome.INELIGIBLE:
            continue
        open_to_child = [
            target
            for target in capacity
            if free[target] > 0 and may_take(row["full_year"], row["current"], hot[target])
        ]
        reach = (
            ({TOWNS[0], TOWNS[1], TOWNS[2]} if connected else {row["home_town"]})
            if row["home_town"] is not None
            else set()
        )
        if row["outcome"] == Outcome.UNPLACED and (row["full_year"] or row["current"]):
            # 100% 入学: a child meeting a rule is left out only when no seat it may take is
            # free in any town it reaches; and then it is told so.
            assert not [t for t in open_to_child if town_of[t] in reach]
            assert row["no_seat"] is True
            if not open_to_child and row["home_town"] is not None:
                assert row["reason_zh"] == "本学段所有学校均无可入读的空余学位"
        if row["placement"] == "coordinated":
            # 统筹 only when the own town had no seat for it, and never past a nearer town
            # that still has one.
            assert town_of[row["target_id"]] != row["home_town"]
            here = distance[row["home_town"]]
            placed_at = here[TOWNS.index(town_of[row["target_id"]])]
            nearer = [t for t in open_to_child if here[TOWNS.index(town_of[t])] < placed_at]
            assert not nearer
        if row["placement"] == "town":
            assert town_of[row["target_id"]] == row["home_town"]


@settings(max_examples=150)
@given(hot_cycles())
def test_the_published_choice_rank_is_the_applicants_own(cycle: Cycle) -> None:
    outcome = decide(school_rules(False), cycle.applicants, cycle.targets, cycle.seed, NEAR)
    chosen = dict(cycle.applicants.select("application_id", "choices").iter_rows())
    by_choice = outcome.filter(pl.col("placement") == "choice")
    for row in by_choice.iter_rows(named=True):
        assert chosen[row["application_id"]].split(";")[row["choice_rank"] - 1] == row["target_id"]
    by_town = outcome.filter(pl.col("town_placement"))
    assert by_town["choice_rank"].null_count() == by_town.height


def test_a_child_placed_at_the_second_choice_after_a_hot_first_shows_choice_2() -> None:
    targets = pl.DataFrame(
        [
            ("HOT", "热点小学", TOWNS[0], "HOT", None, 1, None, True),
            ("NEAR", "邻近小学", TOWNS[0], "NEAR", None, 1, None, False),
        ],
        schema={**TARGET_SCHEMA, "hot": pl.Boolean},
        orient="row",
    )
    people = pl.DataFrame(
        {
            "application_id": [1],
            "points": [80.0],
            "priority_group": [2],
            "eligible": [True],
            "reason_zh": [None],
            "reason_en": [None],
            "choices": ["HOT;NEAR"],
            "home_town": [TOWNS[0]],
            "household_size": [3],
            "full_year": [False],
            "current": [True],
            "entitlement": [None],
            "tie:0": [1.0],
        }
    )
    row = decide(school_rules(False), people, targets, "s").row(0, named=True)
    assert (row["target_id"], row["choice_rank"], row["placement"]) == ("NEAR", 2, "choice")


def test_the_town_gives_a_hot_seat_to_the_child_of_its_rule_not_the_higher_ranked_one() -> None:
    # The official's case: the hot school's one seat is left after choices; the higher
    # ranked child (6 months of insurance) may not take it, the family with a full year may.
    targets = pl.DataFrame(
        [("HOT", "热点小学", TOWNS[0], "HOT", None, 1, None, True)],
        schema={**TARGET_SCHEMA, "hot": pl.Boolean},
        orient="row",
    )
    people = pl.DataFrame(
        {
            "application_id": [1, 2],
            "points": [120.0, 80.0],
            "priority_group": [2, 2],
            "eligible": [True, True],
            "reason_zh": [None, None],
            "reason_en": [None, None],
            "choices": ["", ""],
            "home_town": [TOWNS[0], TOWNS[0]],
            "household_size": [3, 3],
            "full_year": [False, True],
            "current": [True, True],
            "entitlement": [None, None],
            "tie:0": [1.0, 2.0],
        }
    )
    outcome = decide(school_rules(False), people, targets, "s").sort("application_id")
    assert outcome["target_id"].to_list() == [None, "HOT"]
    assert outcome["placement"].to_list() == [None, "town"]
    assert outcome["no_seat"].to_list() == [True, False]
    assert outcome["reason_zh"][0] == "本学段所有学校均无可入读的空余学位"


def test_coordination_goes_to_the_nearest_town_along_the_neighbours() -> None:
    # Town 0 is full; town 2 is 7 km away by town 1, town 1 3 km: the child goes to town 1
    # while it has a seat, then to town 2.
    targets = pl.DataFrame(
        [
            ("A", "甲", TOWNS[0], "A", None, 0, None, False),
            ("B", "乙", TOWNS[1], "B", None, 1, None, False),
            ("C", "丙", TOWNS[2], "C", None, 5, None, False),
        ],
        schema={**TARGET_SCHEMA, "hot": pl.Boolean},
        orient="row",
    )
    people = pl.DataFrame(
        {
            "application_id": [1, 2],
            "points": [90.0, 80.0],
            "priority_group": [2, 2],
            "eligible": [True, True],
            "reason_zh": [None, None],
            "reason_en": [None, None],
            "choices": ["A", "A"],
            "home_town": [TOWNS[0], TOWNS[0]],
            "household_size": [3, 3],
            "full_year": [True, True],
            "current": [True, True],
            "entitlement": [None, None],
            "tie:0": [1.0, 2.0],
        }
    )
    outcome = decide(school_rules(False), people, targets, "s", NEAR).sort("application_id")
    assert outcome["target_id"].to_list() == ["B", "C"]
    assert outcome["placement"].to_list() == ["coordinated", "coordinated"]
    alone = decide(school_rules(False), people, targets, "s").sort("application_id")
    assert alone["target_id"].to_list() == [None, None]
    assert alone["reason_zh"].to_list() == ["本镇街及可统筹的镇街均无可入读的空余学位"] * 2


@settings(max_examples=150)
@given(hot_cycles())
def test_direct_applications_come_after_the_ranked_routes_and_first_come(cycle: Cycle) -> None:
    rules = direct_rules(town_placement=False)
    people = cycle.applicants.with_columns(application_order=pl.col("application_id").reverse())
    outcome = decide(rules, people, cycle.targets, cycle.seed)
    direct = people.filter(pl.col("eligible") & (pl.col("priority_group") == 2))
    ranked_only = decide(
        rules, people.filter(pl.col("priority_group") != 2), cycle.targets, cycle.seed
    )
    # The ranked routes place exactly as if nobody had applied directly.
    ranked_ids = ranked_only["application_id"]
    assert (
        outcome.filter(pl.col("application_id").is_in(ranked_ids.implode()))
        .sort("application_id")
        .select("application_id", "target_id", "choice_rank")
        .equals(
            ranked_only.sort("application_id").select("application_id", "target_id", "choice_rank")
        )
    )
    capacity = dict(cycle.targets.select("target_id", "capacity").iter_rows())
    hot = dict(cycle.targets.select("target_id", "hot").iter_rows())
    taken = placed_counts(outcome)
    got = {
        row["application_id"]: row
        for row in outcome.filter(
            pl.col("application_id").is_in(direct["application_id"].implode())
        ).rows(named=True)
    }
    first_come = direct.sort("application_order")
    later_holders: dict[str, list[int]] = {}
    for row in reversed(first_come.rows(named=True)):
        mine = got[row["application_id"]]
        wanted = [t for t in row["choices"].split(";") if t]
        if mine["target_id"] is not None:
            assert mine["placement"] == "direct"
            assert wanted[mine["choice_rank"] - 1] == mine["target_id"]
            wanted = wanted[: mine["choice_rank"] - 1]
        for target in wanted:
            if may_take(row["full_year"], row["current"], hot[target]):
                # A better choice it may take was full, and not by a later direct applicant.
                assert taken[target] == capacity[target]
                assert not later_holders.get(target)
        if mine["target_id"] is not None:
            later_holders.setdefault(mine["target_id"], []).append(row["application_id"])
