"""Programs on both databases: a school admission, a housing cycle with its waiting list, a
quota and a tiered benefit, on a synthetic city scored with the default policy."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from luodi.allocation import service as allocation
from luodi.allocation.models import AllocationRun
from luodi.audit import service as audit
from luodi.audit.models import AuditEntry
from luodi.auth.actor import SYSTEM_ACTOR
from luodi.errors import Conflict, Invalid
from luodi.policy.service import find_policy
from luodi.programs import demo, intake, service
from luodi.programs import targets as program_targets
from luodi.programs.models import Application, ApplicationStatus
from luodi.registry.loading import load_city
from luodi.registry.models import Child, Resident, Town
from luodi.scoring import service as scoring_service
from luodi.scoring.models import ResidentScore

AS_OF = date(2026, 3, 1)
TODAY = date.today()
OPENS, CLOSES = TODAY - timedelta(days=10), TODAY + timedelta(days=10)


@pytest.fixture
def city(session: Session, small_city: Path) -> Session:
    load_city(SYSTEM_ACTOR, session, small_city, today=AS_OF)
    scoring_service.score_registry(SYSTEM_ACTOR, session, find_policy("zj-cixi", AS_OF), AS_OF)
    return session


def open_and_fill(
    session: Session, program: str, targets: Path | None, applications: pl.DataFrame, **options: Any
) -> int:
    cycle = service.open_cycle(
        SYSTEM_ACTOR,
        session,
        program,
        "测试",
        OPENS,
        CLOSES,
        AS_OF,
        targets_file=targets,
        **options,
    )
    intake.submit_applications(SYSTEM_ACTOR, session, cycle.id, applications.to_dicts())
    intake.verify_all(SYSTEM_ACTOR, session, cycle.id)
    return cycle.id


def allocated(session: Session, cycle_id: int, seed: str) -> AllocationRun:
    """A run, whose results in hand (``allocation.allocate``'s, which the audit record
    digests and ``luodi program allocate`` prints from) are exactly the rows stored."""
    run, results = allocation.allocate(SYSTEM_ACTOR, session, cycle_id, seed)
    stored = allocation._stored_results(session, run.id)
    assert results.schema == stored.schema
    assert results.height == stored.height > 0
    assert results.equals(stored)  # nulls equal, floats to the last bit
    entry = session.scalars(
        select(AuditEntry).where(
            AuditEntry.action == "allocation.run", AuditEntry.object_id == str(run.id)
        )
    ).one()
    read_back = allocation._results_digest(session, run.id)
    assert entry.after_digest == audit.digest({**audit.row_state(run), "results": read_back})
    return run


def test_school_admission(city: Session, small_city: Path) -> None:
    # Every other child without the vaccination certificate: it is checked at entry, not a
    # condition of the allocation, so it must not change who is placed.
    city.execute(update(Child).where(Child.id % 2 == 0).values(vaccination_certificate=False))
    applications = demo.school_applications(small_city, AS_OF.year)
    assert applications.height > 20
    cycle_id = open_and_fill(
        city, "school-entry", small_city / "schools.csv", applications, entry_grade=1
    )
    run = allocated(city, cycle_id, "s1")
    results = allocation.run_results(SYSTEM_ACTOR, city, run.id, masked=False)
    assert results.height == applications.height  # one result per application
    targets = {t.target_id: t for t in program_targets.cycle_targets(city, cycle_id)}
    placed = results.filter(pl.col("outcome") == "placed")
    assert placed.height > 0
    for target_id, count in placed.group_by("target_id").len().iter_rows():
        assert count <= targets[target_id].capacity
    chosen = dict(zip(applications["child_id_number"], applications["choices"], strict=True))
    towns = dict(
        city.execute(select(Resident.id, Town.code).join(Town, Town.id == Resident.town_id)).all()
    )
    for row in placed.iter_rows(named=True):
        choices = chosen[row["child_id_number"]].split(";")
        if row["town_placement"]:  # 就近 in the family's own town, 统筹 in another
            assert row["choice_rank"] is None
            own_town = targets[row["target_id"]].town_code == towns[row["resident_id"]]
            assert own_town == (row["placement"] == "town")
        else:  # by rank, or 直接申请 first come: at the parent's own choice either way
            assert row["placement"] in {"choice", "direct"}
            assert choices[row["choice_rank"] - 1] == row["target_id"]
    # A child ranks with the higher of the parents' points in the scoring run.
    child_household = dict(city.execute(select(Child.id, Child.household_id)).all())
    household_of = dict(city.execute(select(Resident.id, Resident.household_id)).all())
    totals = dict(
        city.execute(
            select(ResidentScore.resident_id, ResidentScore.total).where(
                ResidentScore.run_id == run.scoring_run_id
            )
        ).all()
    )
    checked = 0
    for row in results.filter(pl.col("points").is_not_null()).head(40).iter_rows(named=True):
        household = child_household[row["child_id"]]
        parents = [r for r, h in household_of.items() if h == household and r in totals]
        assert row["points"] == max(totals[r] for r in parents)
        checked += 1
    assert checked
    # Every refusal names its reason; the vaccination certificate is never one of them.
    assert results.filter(pl.col("outcome") != "placed")["reason_zh"].null_count() == 0
    assert not results["reason_zh"].drop_nulls().str.contains("接种").any()
    vaccinated = dict(city.execute(select(Child.id, Child.vaccination_certificate)).all())
    unvaccinated = [c for c in results["child_id"] if not vaccinated[c]]
    assert unvaccinated, "the synthetic city has children without the certificate"
    assert placed.filter(pl.col("child_id").is_in(unvaccinated)).height > 0

    # Same inputs and seed: same digest, nothing changed.
    again = allocation.allocate_cycle(SYSTEM_ACTOR, city, cycle_id, "s1")
    assert again.inputs_digest == run.inputs_digest
    assert again.previous_run_id == run.id
    assert allocation.run_diff(SYSTEM_ACTOR, city, again.id).height == 0
    # A correction changes one child's choices: the re-run shows exactly that difference.
    target = placed.filter(pl.col("choice_rank") == 1).row(0, named=True)
    others = [t for t in targets if t != target["target_id"]]
    spare = min(others, key=lambda t: placed.filter(pl.col("target_id") == t).height)
    intake.correct(SYSTEM_ACTOR, city, target["application_id"], choices=spare)
    intake.verify(SYSTEM_ACTOR, city, [target["application_id"]], approve=True)
    third = allocation.allocate_cycle(SYSTEM_ACTOR, city, cycle_id, "s1")
    assert third.inputs_digest != run.inputs_digest
    changed = allocation.run_diff(SYSTEM_ACTOR, city, third.id)
    assert target["application_id"] in changed["application_id"].to_list()
    # Final: statuses are final, and no further run.
    service.finalize(SYSTEM_ACTOR, city, cycle_id)
    statuses = set(city.scalars(select(Application.status).where(Application.cycle_id == cycle_id)))
    assert statuses == {ApplicationStatus.FINAL}
    with pytest.raises(Conflict):
        allocation.allocate_cycle(SYSTEM_ACTOR, city, cycle_id, "s2")


def registry_household_sizes(session: Session) -> dict[str, int]:
    """Each resident's household size counted in SQL (adults + children; alone: 1)."""
    adults = (
        select(Resident.household_id, func.count().label("n"))
        .group_by(Resident.household_id)
        .subquery()
    )
    kids = (
        select(Child.household_id, func.count().label("n")).group_by(Child.household_id).subquery()
    )
    rows = session.execute(
        select(Resident.id_number, Resident.household_id, adults.c.n, kids.c.n)
        .outerjoin(adults, adults.c.household_id == Resident.household_id)
        .outerjoin(kids, kids.c.household_id == Resident.household_id)
    ).all()
    return {
        number: (grown + (children or 0)) if household is not None else 1
        for number, household, grown, children in rows
    }


def test_public_housing_serial_dictatorship_and_waiting_list(
    city: Session, small_city: Path, tmp_path: Path
) -> None:
    units = pl.read_csv(small_city / "housing_units.csv", infer_schema=False).head(6)
    units.write_csv(tmp_path / "few_units.csv")
    # One application per household: more of them than the six flats, so some wait.
    applications = demo.housing_applications(small_city, share=0.05)
    cycle_id = open_and_fill(city, "public-rental", tmp_path / "few_units.csv", applications)
    run = allocated(city, cycle_id, "h1")
    results = allocation.run_results(SYSTEM_ACTOR, city, run.id, masked=False)
    placed = results.filter(pl.col("outcome") == "placed")
    assert 0 < placed.height <= units.height
    assert placed["unit"].n_unique() == placed.height  # no flat given twice
    layout_of = dict(zip(units["unit_id"], units["layout"], strict=True))
    size_of = registry_household_sizes(city)  # the registry decides, never the application
    allowed = {1: {"单间", "一室一厅"}, 2: {"一室一厅"}, 3: {"两室一厅", "一室一厅"}}
    for row in placed.iter_rows(named=True):
        assert layout_of[row["unit"]] in allowed[min(size_of[row["id_number"]], 3)]
    waiting = results.filter(pl.col("outcome") == "waitlisted")
    assert waiting.height > 0
    service.finalize(SYSTEM_ACTOR, city, cycle_id)
    carried = service.open_cycle(
        SYSTEM_ACTOR,
        city,
        "public-rental",
        "第二批",
        OPENS,
        CLOSES,
        AS_OF,
        targets_file=tmp_path / "few_units.csv",
        carry_waitlist_from=cycle_id,
    )
    counts = service.cycle_counts(city, carried.id)
    assert counts == {"verified": waiting.height}


def test_quota_benefit_takes_the_highest_points(city: Session, small_city: Path) -> None:
    applications = demo.benefit_applications(small_city, 60)
    cycle_id = open_and_fill(city, "health-check", None, applications, places=10)
    run = allocation.allocate_cycle(SYSTEM_ACTOR, city, cycle_id, "q")
    results = allocation.run_results(SYSTEM_ACTOR, city, run.id)
    placed = results.filter(pl.col("outcome") == "placed")
    assert placed.height == 10
    unplaced = results.filter(pl.col("outcome") == "unplaced")
    assert placed["points"].min() >= unplaced["points"].max()
    assert json.loads(run.summary)["placed"] == 10


def test_tiered_loan_limits_follow_the_bands(city: Session, small_city: Path) -> None:
    applications = demo.benefit_applications(small_city, 300)
    cycle_id = open_and_fill(city, "loan", None, applications)
    run = allocated(city, cycle_id, "t")
    results = allocation.run_results(SYSTEM_ACTOR, city, run.id)
    granted = results.filter(pl.col("outcome") == "placed")
    assert granted.height > 0
    for points, amount in granted.select("points", "entitlement").iter_rows():
        expected = 200_000 if points >= 120 else 100_000 if points >= 90 else 50_000
        assert points >= 60 and amount == expected
    below = results.filter(pl.col("outcome") == "unplaced")
    assert (below["points"] < 60).all()


def test_bad_applications_are_refused_whole(city: Session, small_city: Path) -> None:
    cycle = service.open_cycle(
        SYSTEM_ACTOR,
        city,
        "school-entry",
        "x",
        OPENS,
        CLOSES,
        AS_OF,
        targets_file=small_city / "schools.csv",
        entry_grade=1,
    )
    good = demo.school_applications(small_city, AS_OF.year).head(2)
    bad = pl.concat(
        [
            good,
            pl.DataFrame(
                {
                    "id_number": ["110105194912310021"],
                    "child_id_number": ["x"],
                    "choices": ["NOPE;A;B;C;D;E"],
                    "route": ["vip"],
                }
            ),
        ]
    )
    # First the shape of each record (a malformed ID number, an unknown route) …
    with pytest.raises(Invalid) as raised:
        intake.submit_applications(SYSTEM_ACTOR, city, cycle.id, bad.to_dicts())
    reasons = {(p.field, p.row) for p in raised.value.details}
    assert reasons == {("child_id_number", 3), ("route", 3)}
    # … then against the registry and the cycle (not a resident, unknown and too many choices).
    unregistered = bad.with_columns(
        child_id_number=pl.lit(good["child_id_number"][0]), route=pl.lit("points")
    )
    with pytest.raises(Invalid) as raised:
        intake.submit_applications(SYSTEM_ACTOR, city, cycle.id, unregistered.to_dicts())
    reasons = {(p.field, p.row) for p in raised.value.details}
    assert ("id_number", 3) in reasons and ("choices", 3) in reasons
    assert service.cycle_counts(city, cycle.id) == {}  # nothing was taken
    closed = service.open_cycle(
        SYSTEM_ACTOR,
        city,
        "school-entry",
        "closed",
        TODAY - timedelta(days=9),
        TODAY - timedelta(days=2),
        AS_OF,
        targets_file=small_city / "schools.csv",
        entry_grade=1,
    )
    with pytest.raises(Conflict):
        intake.submit_applications(SYSTEM_ACTOR, city, closed.id, good.to_dicts())
    with pytest.raises(Invalid):
        intake.verify(SYSTEM_ACTOR, city, [1], approve=False, reason=" ")


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"places": 10**20}, "places"),
        ({"places": -5}, "places"),
        ({"places": 3, "opens": date(1, 1, 1)}, "opens"),
        ({"places": 3, "closes": date(9999, 12, 31)}, "closes"),
        ({"places": 3, "as_of": date(9999, 12, 31)}, "as_of"),
        ({"places": 3, "notice_days": 99_999_999}, "notice_days"),
    ],
)
def test_a_cycle_refuses_values_that_are_typing_errors(
    session: Session, options: dict[str, Any], field: str
) -> None:
    window = {"opens": OPENS, "closes": CLOSES, "as_of": AS_OF}
    arguments = {**window, **options}
    with pytest.raises(Invalid) as raised:
        service.open_cycle(SYSTEM_ACTOR, session, "health-check", "typo", **arguments)
    assert raised.value.details[0].field == field


def test_a_notice_lasts_the_cycles_notice_period(city: Session, small_city: Path) -> None:
    """`notice_days` of a cycle is the default length of its notice; a start more than a
    year ahead is refused (a date past 9999 could not even be computed)."""
    from luodi import workdays
    from luodi.notices import service as notices

    applications = demo.benefit_applications(small_city, 6)
    cycle_id = open_and_fill(city, "health-check", None, applications, places=2, notice_days=10)
    run = allocation.allocate_cycle(SYSTEM_ACTOR, city, cycle_id, "n")
    with pytest.raises(Invalid):
        notices.publish(SYSTEM_ACTOR, city, allocation_run_id=run.id, starts_on=date(9999, 12, 30))
    monday = TODAY + timedelta(days=(7 - TODAY.weekday()) % 7)
    notice = notices.publish(SYSTEM_ACTOR, city, allocation_run_id=run.id, starts_on=monday)
    # Ten working days by the legal calendar (holidays and 调休 as the year has them), not
    # two weeks less a weekend: the window holds exactly ten and ends on the tenth.
    calendar = workdays.current()
    assert notice.ends_on == calendar.window_end(monday, 10)
    assert calendar.working_days_between(monday, notice.ends_on) == 10
    assert notice.ends_on >= monday + timedelta(days=11)  # holidays only lengthen it
