"""Public rental through real cycles on both databases (住建部令第11号): the waiting list
carried twice in its order and dropped after its 轮候期; 配租 by ranking or by lot as the
program declares; no flat left empty while a household that fits it waits; the rent
subsidy for the eligible given no flat."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from luodi import workdays
from luodi.allocation import repository as allocation_repository
from luodi.allocation import service as allocation
from luodi.audit.models import AuditEntry
from luodi.auth.actor import SYSTEM_ACTOR
from luodi.kernels.allocation import lottery_number
from luodi.policy.service import find_policy
from luodi.programs import catalog, demo, service
from luodi.programs import targets as program_targets
from luodi.programs.cases import run_cases
from luodi.programs.models import Application
from tests.programs.test_programs import (
    AS_OF,
    CLOSES,
    OPENS,
    allocated,
    city,  # noqa: F401 (a fixture)
    open_and_fill,
    registry_household_sizes,
)

SHIPPED_RENTAL = "public-rental.yaml"
# Layouts whose order makes a household of two take the one-room flat first (a single fits
# only that one): serial choice alone left the two-room flat empty while a single waited.
TIGHT_LAYOUTS = """household_layouts:
  1: [单间]
  2: [单间, 一室一厅]
  3: [一室一厅, 两室一厅]
"""
# The synthetic city records no 环卫/公交 post, so the test variant gives the subsidy to
# group 2 (其他申请人); which groups get it is the program's setting either way.
SUBSIDY_CASES = """
  - name: 第 2 组未配到房发放租赁补贴
    as_of: 2026-06-30
    points: 70
    inputs: {housing: none, social_insurance_months: 24, post: other}
    expect: {group: 2, rent_subsidy: 600}
  - name: 第 1 组（环卫工人）不在补贴的组，仍轮候
    as_of: 2026-06-30
    points: 70
    inputs: {housing: none, social_insurance_months: 24, post: sanitation}
    expect: {group: 1, rent_subsidy: null}
  - name: 不符合条件的没有租赁补贴
    as_of: 2026-06-30
    points: 30
    inputs: {housing: none, social_insurance_months: 24, post: other}
    expect: {eligible: false, rent_subsidy: null}
"""


def variant(text: str, program_id: str, *, before_tests: str = "", cases: str = "") -> str:
    """The shipped public-rental document under another id, with settings added before its
    ``tests:`` block and cases at its end."""
    head, tests = text.split("\ntests:\n", 1)
    head = head.replace("id: public-rental", f"id: {program_id}", 1)
    return f"{head}\n{before_tests}\ntests:\n{tests.rstrip()}\n{cases}"


@pytest.fixture
def rental_programs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The shipped programs and three variants of public rental, as ``LUODI_PROGRAM_DIR``."""
    from luodi.settings import SHIPPED_PROGRAM_DIR, get_settings

    # Its own folder name: another fixture of the test may make tmp_path / "programs".
    folder = tmp_path / "rental_programs"
    shutil.copytree(SHIPPED_PROGRAM_DIR, folder)
    text = (folder / SHIPPED_RENTAL).read_text()
    (folder / "lottery.yaml").write_text(
        variant(text, "rental-lottery").replace("method: serial-dictatorship", "method: lottery")
    )
    tight = variant(text, "rental-tight")
    start = tight.index("household_layouts:")
    end = tight.index("materials:")
    (folder / "tight.yaml").write_text(tight[:start] + TIGHT_LAYOUTS + tight[end:])
    (folder / "subsidy.yaml").write_text(
        variant(
            text,
            "rental-subsidy",
            before_tests="rent_subsidy: {amount: 600, groups: [2]}\n",
            cases=SUBSIDY_CASES,
        )
    )
    monkeypatch.setenv("LUODI_PROGRAM_DIR", str(folder))
    get_settings.cache_clear()
    assert {"rental-lottery", "rental-tight", "rental-subsidy"} <= set(catalog.load_programs())
    yield folder
    get_settings.cache_clear()


def test_the_waiting_list_is_carried_twice_in_its_order_and_left_after_five_years(
    city: Session,  # noqa: F811
    small_city: Path,
    tmp_path: Path,
) -> None:
    units = pl.read_csv(small_city / "housing_units.csv", infer_schema=False).head(2)
    units.write_csv(tmp_path / "few.csv")
    applications = demo.housing_applications(small_city, share=0.03)
    first = open_and_fill(city, "public-rental", tmp_path / "few.csv", applications)
    run = allocated(city, first, "w1")
    results = allocation.run_results(SYSTEM_ACTOR, city, run.id, masked=False)
    waiting = results.filter(pl.col("outcome") == "waitlisted")["application_id"].to_list()
    assert len(waiting) >= 2
    filed = {
        a.id: a.submitted_at
        for a in city.scalars(select(Application).where(Application.cycle_id == first))
    }
    service.finalize(SYSTEM_ACTOR, city, first)

    def carry(source: int, opens: date, name: str) -> int:
        cycle = service.open_cycle(
            SYSTEM_ACTOR,
            city,
            "public-rental",
            name,
            opens,
            opens + timedelta(days=20),
            AS_OF,
            targets_file=tmp_path / "few.csv",
            carry_waitlist_from=source,
        )
        return cycle.id

    second = carry(first, OPENS, "第二批")
    carried = city.scalars(
        select(Application).where(Application.cycle_id == second).order_by(Application.id)
    ).all()
    assert sorted(a.carried_from_id for a in carried) == sorted(waiting)
    # The order of application is the original one: the frame a run ranks from lists the
    # carried applications in the order they were first filed.
    order = allocation_repository.cycle_applications(city, second, ("verified",))
    original = [a.carried_from_id for a in carried]
    by_id = dict(zip([a.id for a in carried], original, strict=True))
    ranked = [by_id[i] for i in order["application_id"].to_list()]
    assert ranked == sorted(original, key=lambda i: (filed[i], i))
    run2 = allocated(city, second, "w2")
    waiting2 = (
        allocation.run_results(SYSTEM_ACTOR, city, run2.id, masked=False)
        .filter(pl.col("outcome") == "waitlisted")["application_id"]
        .to_list()
    )
    assert waiting2, "two flats again: some still wait"
    service.finalize(SYSTEM_ACTOR, city, second)

    # Carried a second time: the chain goes back to the first cycle's applications.
    first_day = workdays.local_day(min(filed.values()))
    last_day = workdays.local_day(max(filed.values()))
    third = carry(second, date(last_day.year + 5, last_day.month, 1) - timedelta(days=1), "第三批")
    again = city.scalars(select(Application).where(Application.cycle_id == third)).all()
    assert sorted(a.carried_from_id for a in again) == sorted(waiting2)
    roots = service.first_applied(city, again)
    assert set(roots.values()) <= {workdays.local_day(d) for d in filed.values()}
    # Five years after the first application the household is no longer carried.
    late = carry(second, date(first_day.year + 5, first_day.month, first_day.day), "五年后")
    assert city.scalars(select(Application).where(Application.cycle_id == late)).all() == []
    entry = city.scalars(
        select(AuditEntry).where(
            AuditEntry.action == "cycle.open", AuditEntry.object_id == str(late)
        )
    ).one()
    detail = json.loads(entry.detail) if isinstance(entry.detail, str) else entry.detail
    assert sorted(detail["waitlist_expired"]) == sorted(waiting2)
    assert detail["carried"] == []


def test_allocation_by_lot_or_by_ranking_as_the_program_declares(
    city: Session,  # noqa: F811
    small_city: Path,
    tmp_path: Path,
    rental_programs: Path,
) -> None:
    units = pl.read_csv(small_city / "housing_units.csv", infer_schema=False).head(3)
    units.write_csv(tmp_path / "three.csv")
    applications = demo.housing_applications(small_city, share=0.03)
    for program, seed in (("public-rental", "r"), ("rental-lottery", "r")):
        cycle_id = open_and_fill(city, program, tmp_path / "three.csv", applications)
        run = allocated(city, cycle_id, seed)
        results = allocation.run_results(SYSTEM_ACTOR, city, run.id, masked=False)
        ranked = results.filter(pl.col("rank").is_not_null()).sort("rank")
        groups = ranked["priority_group"].to_list()
        assert groups == sorted(groups)  # the group first, by either method
        if program == "rental-lottery":
            assert run.method == "lottery"
            for _, group in ranked.group_by("priority_group"):
                numbers = [
                    lottery_number(seed, str(i)) for i in group.sort("rank")["application_id"]
                ]
                assert numbers == sorted(numbers)
        else:
            assert run.method == "serial-dictatorship"
            for _, group in ranked.group_by("priority_group"):
                points = group.sort("rank")["points"].to_list()
                assert points == sorted(points, reverse=True)
        by_lot = program == "rental-lottery"
        # By lot the points do not decide: some group has a lower-points household first.
        inversions = sum(
            any(a < b for a, b in pairwise(p))
            for _, g in ranked.group_by("priority_group")
            for p in [g.sort("rank")["points"].to_list()]
        )
        assert (inversions > 0) == by_lot


def test_no_waiting_household_fits_a_flat_left_empty_through_a_real_cycle(
    city: Session,  # noqa: F811
    small_city: Path,
    tmp_path: Path,
    rental_programs: Path,
) -> None:
    flats = [("单间", 2), ("一室一厅", 3), ("两室一厅", 8)]
    rows = [
        (f"P9-{layout}-{n}", "P9", "安居苑", "330282001", layout)
        for layout, count in flats
        for n in range(count)
    ]
    pl.DataFrame(
        rows,
        schema=["unit_id", "project_id", "project_name", "town_code", "layout"],
        orient="row",
    ).write_csv(tmp_path / "p9.csv")
    applications = demo.housing_applications(small_city, share=0.05).with_columns(
        choices=pl.lit("P9")
    )
    cycle_id = open_and_fill(city, "rental-tight", tmp_path / "p9.csv", applications)
    run = allocated(city, cycle_id, "tight")
    results = allocation.run_results(SYSTEM_ACTOR, city, run.id, masked=False)
    spec, _ = catalog.find_program("rental-tight")
    size = registry_household_sizes(city)
    layout = {t.target_id: t.layout for t in program_targets.cycle_targets(city, cycle_id)}
    placed = results.filter(pl.col("outcome") == "placed")
    for row in placed.iter_rows(named=True):
        assert layout[row["target_id"]] in spec.layouts_for(size[row["id_number"]])
    taken = placed.group_by("target_id").len()
    capacity = {t.target_id: t.capacity for t in program_targets.cycle_targets(city, cycle_id)}
    left = {
        target: capacity[target] - dict(taken.iter_rows()).get(target, 0) for target in capacity
    }
    empty = {layout[target] for target, count in left.items() if count > 0}
    waiting = results.filter(pl.col("outcome") == "waitlisted")
    assert waiting.height > 0 and empty, "the cycle must leave both flats and households"
    for row in waiting.iter_rows(named=True):
        fits = set(spec.layouts_for(size[row["id_number"]]))
        assert not fits & empty, (row["id_number"], fits, empty)
        # Nor could a household holding a flat it fits move to an empty one it fits.
        for holder in placed.iter_rows(named=True):
            if layout[holder["target_id"]] in fits:
                assert not set(spec.layouts_for(size[holder["id_number"]])) & empty


def test_the_rent_subsidy_goes_to_the_eligible_of_its_groups_given_no_flat(
    city: Session,  # noqa: F811
    small_city: Path,
    tmp_path: Path,
    rental_programs: Path,
) -> None:
    spec, _ = catalog.find_program("rental-subsidy")
    outcomes = run_cases(spec, lambda day: find_policy(spec.policy, day).policy, "subsidy.yaml")
    mine = [o for o in outcomes if o.name in SUBSIDY_CASES]
    assert len(mine) == 3 and all(o.ok for o in mine), [o.failures for o in mine]
    units = pl.read_csv(small_city / "housing_units.csv", infer_schema=False).head(1)
    units.write_csv(tmp_path / "two.csv")
    applications = demo.housing_applications(small_city, share=0.1)
    cycle_id = open_and_fill(city, "rental-subsidy", tmp_path / "two.csv", applications)
    run = allocated(city, cycle_id, "sub")
    results = allocation.run_results(SYSTEM_ACTOR, city, run.id, masked=False)
    subsidy = results.filter(pl.col("outcome") == "subsidy")
    assert subsidy.height > 0
    assert set(subsidy["priority_group"]) == {2}
    assert set(subsidy["entitlement"]) == {600.0}
    assert subsidy["target_id"].null_count() == subsidy.height
    waiting = results.filter(pl.col("outcome") == "waitlisted")
    assert 2 not in set(waiting["priority_group"])
    statuses = dict(
        city.execute(
            select(Application.id, Application.status).where(Application.cycle_id == cycle_id)
        ).all()
    )
    assert {statuses[i] for i in subsidy["application_id"]} == {"placed"}
    # A household given the subsidy is served: it is not carried onto the next waiting list.
    service.finalize(SYSTEM_ACTOR, city, cycle_id)
    later = service.open_cycle(
        SYSTEM_ACTOR,
        city,
        "rental-subsidy",
        "下一批",
        OPENS,
        CLOSES,
        AS_OF,
        targets_file=tmp_path / "two.csv",
        carry_waitlist_from=cycle_id,
    )
    carried = city.scalars(
        select(Application.carried_from_id).where(Application.cycle_id == later.id)
    )
    assert sorted(carried) == sorted(waiting["application_id"])
