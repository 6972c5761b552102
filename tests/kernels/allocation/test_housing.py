"""Public rental (住建部令第11号) in the decision kernel: a flat's layout fits the household,
no flat is left empty while a household that fits it (or one a move inside a project would
free) waits, 配租 by ranking or by lot as the program declares, and the rent subsidy for
the eligible given no flat."""

from __future__ import annotations

from dataclasses import replace

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from luodi.kernels.allocation import Method, lottery_number
from luodi.kernels.allocation.programs import Outcome, RentSubsidy, decide
from tests.kernels.allocation.test_programs import (
    HOUSING,
    TARGET_SCHEMA,
    Cycle,
    housing_cycles,
)


def fitting(size: int) -> set[str]:
    """The layouts a household of ``size`` may have, read from the rules as the program
    document says (the largest size listed covers every larger household)."""
    layouts = HOUSING.household_layouts
    assert layouts is not None
    listed = sorted(layouts)
    covering = min((s for s in listed if s >= size), default=listed[-1])
    return set(layouts[covering])


def left_over(cycle: Cycle, outcome: pl.DataFrame) -> dict[str, int]:
    taken = outcome.filter(pl.col("target_id").is_not_null()).group_by("target_id").len()
    free = cycle.targets.join(taken, on="target_id", how="left").select(
        "target_id", left=pl.col("capacity") - pl.col("len").fill_null(0)
    )
    return {target: left for target, left in free.iter_rows() if left > 0}


def households(cycle: Cycle, outcome: pl.DataFrame) -> pl.DataFrame:
    return outcome.join(
        cycle.applicants.select("application_id", "household_size", "choices"),
        on="application_id",
    )


@settings(max_examples=200, deadline=None)
@given(housing_cycles(), st.sampled_from([Method.SERIAL_DICTATORSHIP, Method.LOTTERY]))
def test_no_waiting_household_fits_a_flat_left_empty_in_a_project_it_chose(
    cycle: Cycle, method: Method
) -> None:
    rules = replace(HOUSING, method=method)
    outcome = households(cycle, decide(rules, cycle.applicants, cycle.targets, cycle.seed))
    empty = left_over(cycle, outcome)
    layout_of = dict(cycle.targets.select("target_id", "layout").iter_rows())
    project_of = dict(cycle.targets.select("target_id", "group_id").iter_rows())
    for row in outcome.filter(pl.col("outcome") == Outcome.PLACED).iter_rows(named=True):
        assert layout_of[row["target_id"]] in fitting(row["household_size"])
        assert project_of[row["target_id"]] in row["choices"].split(";")
    waiting = outcome.filter(pl.col("outcome") == Outcome.WAITLISTED)
    for row in waiting.iter_rows(named=True):
        chosen = set(row["choices"].split(";"))
        fits = fitting(row["household_size"])
        for target in empty:
            assert not (project_of[target] in chosen and layout_of[target] in fits), (
                row,
                target,
            )


@settings(max_examples=200, deadline=None)
@given(housing_cycles())
def test_no_waiting_household_fits_a_flat_a_move_inside_its_project_would_free(
    cycle: Cycle,
) -> None:
    """A larger fitting flat left empty while its household took a smaller one that a
    waiting household fits: the household moves up, the waiting one is housed."""
    outcome = households(cycle, decide(HOUSING, cycle.applicants, cycle.targets, cycle.seed))
    empty = left_over(cycle, outcome)
    layout_of = dict(cycle.targets.select("target_id", "layout").iter_rows())
    project_of = dict(cycle.targets.select("target_id", "group_id").iter_rows())
    placed = outcome.filter(pl.col("outcome") == Outcome.PLACED)
    for row in outcome.filter(pl.col("outcome") == Outcome.WAITLISTED).iter_rows(named=True):
        chosen, fits = set(row["choices"].split(";")), fitting(row["household_size"])
        for holder in placed.iter_rows(named=True):
            target = holder["target_id"]
            if project_of[target] not in chosen or layout_of[target] not in fits:
                continue
            for free in empty:
                assert not (
                    project_of[free] == project_of[target]
                    and layout_of[free] in fitting(holder["household_size"])
                ), (row, holder, free)


def targets_of(*flats: tuple[str, str, int]) -> pl.DataFrame:
    rows = []
    for project, layout, count in flats:
        units = ";".join(f"{project}-{layout}-{n}" for n in range(1, count + 1))
        rows.append(
            (f"{project}|{layout}", f"{project}·{layout}", "t", project, layout, count, units)
        )
    return pl.DataFrame(rows, schema=TARGET_SCHEMA, orient="row")


def people(*rows: tuple[int, float, int, str, int]) -> pl.DataFrame:
    """(application id, points, household size, choices, priority group), all eligible."""
    return pl.DataFrame(
        [
            {
                "application_id": application_id,
                "points": points,
                "priority_group": group,
                "eligible": True,
                "reason_zh": None,
                "reason_en": None,
                "choices": choices,
                "home_town": None,
                "household_size": size,
                "full_year": None,
                "current": None,
                "entitlement": None,
            }
            for application_id, points, size, choices, group in rows
        ]
    )


def test_a_household_of_two_moves_up_so_that_a_single_is_housed() -> None:
    # The household of two ranks first and prefers 一室 (its first layout); the single fits
    # only 一室. Serial choice alone let the couple take 一室 and left 两室 empty while the
    # single waited (the bug of issue 15).
    flats = targets_of(("P1", "一室", 1), ("P1", "两室", 1))
    households = people((1, 90.0, 2, "P1", 0), (2, 70.0, 1, "P1", 0))
    outcome = decide(HOUSING, households, flats, "s").sort("application_id")
    assert outcome["outcome"].to_list() == [Outcome.PLACED, Outcome.PLACED]
    assert outcome["target_id"].to_list() == ["P1|两室", "P1|一室"]
    assert outcome["unit"].to_list() == ["P1-两室-1", "P1-一室-1"]
    # 志愿 is the household's own rank of the project, whichever layout it got.
    assert outcome["choice_rank"].to_list() == [1, 1]


def test_a_move_never_takes_a_household_out_of_its_project() -> None:
    # The couple holds P1's only 一室; 两室 is free in P2, which the couple did not choose.
    flats = targets_of(("P1", "一室", 1), ("P2", "两室", 1))
    households = people((1, 90.0, 2, "P1", 0), (2, 70.0, 1, "P1;P2", 0))
    outcome = decide(HOUSING, households, flats, "s").sort("application_id")
    assert outcome["outcome"].to_list() == [Outcome.PLACED, Outcome.WAITLISTED]
    assert outcome["target_id"].to_list() == ["P1|一室", None]


def test_by_lot_the_points_play_no_part() -> None:
    # Nine households, one flat: by ranking the one with most points is housed; by lot the
    # one with the smallest lottery number (its group first).
    flats = targets_of(("P1", "一室", 1))
    households = people(*((i, float(10 * i), 1, "P1", 1) for i in range(1, 10)))
    ranked = decide(HOUSING, households, flats, "seed-1")
    assert ranked.filter(pl.col("outcome") == Outcome.PLACED)["application_id"].to_list() == [9]
    drawn = decide(replace(HOUSING, method=Method.LOTTERY), households, flats, "seed-1")
    numbers = {i: lottery_number("seed-1", str(i)) for i in range(1, 10)}
    winner = min(numbers, key=numbers.__getitem__)
    assert drawn.filter(pl.col("outcome") == Outcome.PLACED)["application_id"].to_list() == [winner]
    order = drawn.sort("rank")["application_id"].to_list()
    assert order == sorted(numbers, key=numbers.__getitem__)
    # The priority group still comes first under a lottery.
    first_group = households.with_columns(
        priority_group=pl.when(pl.col("application_id") == 9).then(0).otherwise(1)
    )
    drawn = decide(replace(HOUSING, method=Method.LOTTERY), first_group, flats, "seed-1")
    assert drawn.filter(pl.col("outcome") == Outcome.PLACED)["application_id"].to_list() == [9]


@settings(max_examples=80, deadline=None)
@given(housing_cycles(), st.sets(st.integers(0, 2), min_size=1) | st.none())
def test_the_rent_subsidy_goes_to_the_eligible_of_its_groups_given_no_flat(
    cycle: Cycle, groups: set[int] | None
) -> None:
    without = decide(HOUSING, cycle.applicants, cycle.targets, cycle.seed).sort("application_id")
    subsidy = RentSubsidy(600, frozenset(groups) if groups is not None else None)
    rules = replace(HOUSING, rent_subsidy=subsidy)
    with_subsidy = decide(rules, cycle.applicants, cycle.targets, cycle.seed).sort("application_id")
    # Flats are given exactly as without it.
    assert with_subsidy["unit"].equals(without["unit"])
    for before, after in zip(
        without.iter_rows(named=True), with_subsidy.iter_rows(named=True), strict=True
    ):
        waiting = before["outcome"] == Outcome.WAITLISTED
        entitled = waiting and (groups is None or before["priority_group"] in groups)
        if entitled:
            assert after["outcome"] == Outcome.SUBSIDY
            assert after["entitlement"] == 600
            assert after["reason_zh"] == before["reason_zh"] is not None  # why no flat
        else:
            assert after["outcome"] == before["outcome"]
            assert after["entitlement"] is None
