"""School places through real cycles on both databases: hot schools declared when a cycle
opens (listed, or from the previous cycle's first-choice demand), a hot school's rule kept by
the town, every eligible child placed or reported, and 直接申请."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy.orm import Session

from luodi.allocation import service as allocation
from luodi.auth.actor import SYSTEM_ACTOR
from luodi.errors import Invalid
from luodi.kernels.allocation.programs import NO_SEAT
from luodi.notices import reasons
from luodi.programs import demo, service
from luodi.programs import targets as program_targets
from luodi.programs.catalog import find_program
from tests.programs.test_programs import AS_OF, CLOSES, OPENS, allocated, city, open_and_fill

__all__ = ["city"]  # the fixture, used by name


def schools_file(small_city: Path, folder: Path, name: str, **columns: pl.Expr) -> Path:
    """The city's schools with some columns replaced (seats, hot)."""
    path = folder / name
    pl.read_csv(small_city / "schools.csv", infer_schema=False).with_columns(**columns).write_csv(
        path
    )
    return path


def check_public_codes(results: pl.DataFrame) -> None:
    """Every stored reason has its short public code (never 其他: a notice would hide it)."""
    spec, _ = find_program("school-entry")
    for outcome, reason in results.select("outcome", "reason_zh").unique().iter_rows():
        assert reasons.public_reason(spec, outcome, reason) != reasons.OTHER, reason


def hot_of(session: Session, cycle_id: int) -> dict[str, tuple[bool, str | None]]:
    return {
        target.target_id: (target.hot, target.hot_source)
        for target in program_targets.cycle_targets(session, cycle_id)
    }


def test_hot_schools_are_listed_or_follow_the_previous_cycles_first_choices(
    city: Session, small_city: Path, tmp_path: Path
) -> None:
    applications = demo.school_applications(small_city, AS_OF.year)
    first = applications["choices"].str.split(";").list.first()
    wanted = first.value_counts(sort=True)
    popular, _ = wanted.row(0)
    schools = pl.read_csv(small_city / "schools.csv", infer_schema=False).filter(
        pl.col("entry_grade") == "1"
    )
    others = [school for school in schools["school_id"] if school != popular]
    # The operator lists one school hot and one not; the others are left to the past.
    listed = schools_file(
        small_city,
        tmp_path,
        "listed.csv",
        hot=pl.when(pl.col("school_id") == others[0])
        .then(pl.lit("是"))
        .when(pl.col("school_id") == others[1])
        .then(pl.lit("false"))
        .otherwise(pl.lit("")),
        # The most wanted school has one seat: over-subscribed in this first cycle.
        seats=pl.when(pl.col("school_id") == popular).then(pl.lit("1")).otherwise("seats"),
    )
    cycle_id = open_and_fill(city, "school-entry", listed, applications, entry_grade=1)
    hot = hot_of(city, cycle_id)
    assert hot[others[0]] == (True, "listed")
    assert hot[others[1]] == (False, "listed")
    # No previous cycle: what is not listed is not hot, however many apply this time.
    assert hot[popular] == (False, None)
    assert service.hot_schools(city, cycle_id) == [others[0]]

    # The next cycle (no hot column at all) follows this one's first choices.
    plain = tmp_path / "plain.csv"
    pl.read_csv(small_city / "schools.csv", infer_schema=False).drop("hot").write_csv(plain)
    following = service.open_cycle(
        SYSTEM_ACTOR,
        city,
        "school-entry",
        "次年",
        OPENS,
        CLOSES,
        AS_OF,
        targets_file=plain,
        entry_grade=1,
    )
    seats = dict(zip(schools["school_id"], schools["seats"].cast(pl.Int64), strict=True))
    seats[popular] = 1
    demand = dict(wanted.iter_rows())
    expected = {school: demand.get(school, 0) > seats[school] for school in seats}
    assert expected[popular] and not all(expected.values())
    derived = hot_of(city, following.id)
    assert {school: hot for school, (hot, _) in derived.items()} == expected
    assert {source for _, source in derived.values()} == {"previous"}
    # A grade 7 cycle is not the grade 1 cycle's next.
    junior = service.open_cycle(
        SYSTEM_ACTOR,
        city,
        "school-entry",
        "初中",
        OPENS,
        CLOSES,
        AS_OF,
        targets_file=plain,
        entry_grade=7,
    )
    assert not any(hot for hot, _ in hot_of(city, junior.id).values())


def test_a_hot_value_that_is_not_yes_or_no_is_refused_naming_its_row(
    city: Session, small_city: Path, tmp_path: Path
) -> None:
    bad = schools_file(
        small_city,
        tmp_path,
        "bad.csv",
        hot=pl.when(pl.int_range(pl.len()) == 2).then(pl.lit("也许")).otherwise(pl.lit("否")),
    )
    with pytest.raises(Invalid) as refused:
        service.open_cycle(
            SYSTEM_ACTOR,
            city,
            "school-entry",
            "错",
            OPENS,
            CLOSES,
            AS_OF,
            targets_file=bad,
            entry_grade=1,
        )
    (problem,) = refused.value.details
    assert (problem.file, problem.row, problem.field, problem.value) == (
        "bad.csv",
        4,
        "hot",
        "也许",
    )
    assert "是/否" in problem.reason_zh


def test_a_school_or_flat_in_a_town_the_registry_does_not_know_is_refused_naming_its_row(
    city: Session, small_city: Path, tmp_path: Path
) -> None:
    """A typing error in a school's town code (999999999) opened the cycle: the school was in
    no town, so no child was ever placed there by the town (就近, 统筹) and the notice had no
    town's name. Found by the domain check."""
    bad = schools_file(
        small_city,
        tmp_path,
        "bad_town.csv",
        town_code=pl.when(pl.int_range(pl.len()) == 1)
        .then(pl.lit("999999999"))
        .otherwise(pl.col("town_code")),
    )
    with pytest.raises(Invalid) as refused:
        service.open_cycle(
            SYSTEM_ACTOR,
            city,
            "school-entry",
            "错",
            OPENS,
            CLOSES,
            AS_OF,
            targets_file=bad,
            entry_grade=1,
        )
    (problem,) = refused.value.details
    assert (problem.file, problem.row, problem.field, problem.value) == (
        "bad_town.csv",
        3,
        "town_code",
        "999999999",
    )
    assert "镇街" in problem.reason_zh
    flats = tmp_path / "flats.csv"
    pl.read_csv(small_city / "housing_units.csv", infer_schema=False).head(2).with_columns(
        town_code=pl.lit("12345")
    ).write_csv(flats)
    with pytest.raises(Invalid) as refused:
        service.open_cycle(
            SYSTEM_ACTOR, city, "public-rental", "错", OPENS, CLOSES, AS_OF, targets_file=flats
        )
    assert [(p.row, p.field) for p in refused.value.details] == [(2, "town_code"), (3, "town_code")]


def test_a_hot_school_takes_only_children_of_its_rule_and_the_rest_are_placed_or_reported(
    city: Session, small_city: Path, tmp_path: Path
) -> None:
    applications = demo.school_applications(small_city, AS_OF.year)
    ample = {"seats": pl.lit("1000")}
    runs = {}
    for hot in ("是", "否"):
        path = schools_file(small_city, tmp_path, f"hot-{hot}.csv", hot=pl.lit(hot), **ample)
        cycle_id = open_and_fill(city, "school-entry", path, applications, entry_grade=1)
        run = allocated(city, cycle_id, "s")
        runs[hot] = (json.loads(run.summary), allocation._stored_results(city, run.id))
    (everywhere, hot_results), (nowhere, open_results) = runs["是"], runs["否"]
    # Seats for all: without hot schools every child meeting 即保即读 is placed …
    assert nowhere["no_seat"] == 0
    # … with every school hot, only those of the full-year rule are; each of the others is
    # reported with its reason, and nobody is placed by the town past the rule.
    assert 0 < everywhere["no_seat"] < nowhere["placed"]
    assert everywhere["placed"] + everywhere["no_seat"] == nowhere["placed"]
    reported = hot_results.filter(pl.col("reason_zh") == NO_SEAT["nowhere"][0])
    assert reported.height == everywhere["no_seat"]
    assert set(reported["outcome"]) == {"unplaced"}
    placed_here = set(hot_results.filter(pl.col("outcome") == "placed")["application_id"])
    placed_there = set(open_results.filter(pl.col("outcome") == "placed")["application_id"])
    # The same applications in both cycles, numbered in the same order.
    shift = min(open_results["application_id"]) - min(hot_results["application_id"])
    assert {i + shift for i in placed_here} < placed_there


def test_every_seat_is_used_before_a_child_is_reported_unplaced(
    city: Session, small_city: Path, tmp_path: Path
) -> None:
    # Everybody wants the same school: one child gets it, the towns place the others — in
    # their own town while it has a seat (就近), then in the nearest town with one (统筹).
    applications = demo.school_applications(small_city, AS_OF.year)
    wanted = applications["choices"].str.split(";").list.first()[0]
    applications = applications.with_columns(choices=pl.lit(wanted))
    scarce = schools_file(small_city, tmp_path, "scarce.csv", seats=pl.lit("1"), hot=pl.lit(""))
    cycle_id = open_and_fill(city, "school-entry", scarce, applications, entry_grade=1)
    run = allocated(city, cycle_id, "s")
    summary = json.loads(run.summary)
    results = allocation._stored_results(city, run.id)
    assert summary["no_seat"] > 0
    assert summary["placed"] == summary["seats"]  # 统筹 across the towns fills every seat
    left = results.filter(pl.col("reason_zh").is_in([zh for zh, _ in NO_SEAT.values()]))
    assert left.height == summary["no_seat"]
    assert set(left["reason_zh"]) == {NO_SEAT["nowhere"][0]}
    by_town = results.filter(pl.col("town_placement"))
    assert set(by_town["placement"]) <= {"town", "coordinated"}
    assert by_town["choice_rank"].null_count() == by_town.height
    assert {"town", "coordinated"} <= set(by_town["placement"])
    check_public_codes(results)


def test_direct_applications_take_spare_seats_first_come(
    city: Session, small_city: Path, tmp_path: Path
) -> None:
    applications = demo.school_applications(small_city, AS_OF.year).with_columns(
        route=pl.when(pl.int_range(pl.len()) % 4 == 0).then(pl.lit("direct")).otherwise("route")
    )
    ample = schools_file(small_city, tmp_path, "ample.csv", seats=pl.lit("1000"), hot=pl.lit("否"))
    cycle_id = open_and_fill(city, "school-entry", ample, applications, entry_grade=1)
    run = allocated(city, cycle_id, "s")
    results = allocation.run_results(SYSTEM_ACTOR, city, run.id, masked=False)
    route = dict(zip(applications["child_id_number"], applications["route"], strict=True))
    chosen = dict(zip(applications["child_id_number"], applications["choices"], strict=True))
    placed = results.filter(pl.col("outcome") == "placed")
    direct = placed.filter(
        pl.col("child_id_number").replace_strict(route, default=None) == "direct"
    )
    assert direct.height > 0
    # Seats for all: each direct application has its first choice, and is not ranked for it.
    assert set(direct["placement"]) == {"direct"}
    assert set(direct["choice_rank"]) == {1}
    for row in direct.iter_rows(named=True):
        assert chosen[row["child_id_number"]].split(";")[0] == row["target_id"]
    assert "direct" not in set(placed.filter(pl.col("priority_group") != 3)["placement"])
    # Only the department sets the route: 直接申请 is group 3 of the program.
    assert set(direct["priority_group"]) == {3}
    check_public_codes(results)
