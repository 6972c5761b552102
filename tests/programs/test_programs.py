"""Programs on both databases: a school admission, a housing cycle with its waiting list, a
quota and a tiered benefit, on a synthetic city scored with the default policy."""

from __future__ import annotations

import io
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from luodi.allocation import bank
from luodi.allocation import service as allocation
from luodi.allocation.models import AllocationRun
from luodi.audit import service as audit
from luodi.audit.models import AuditEntry
from luodi.auth.actor import SYSTEM_ACTOR, Actor, Role
from luodi.errors import Conflict, Forbidden, Invalid, NotFound
from luodi.notices import service as notices
from luodi.policy.service import find_policy
from luodi.programs import demo, intake, service
from luodi.programs import targets as program_targets
from luodi.programs.catalog import find_program
from luodi.programs.models import Application, ApplicationStatus, ProgramCycle
from luodi.registry.loading import load_city
from luodi.registry.models import Child, Resident, Town
from luodi.scoring import service as scoring_service
from luodi.scoring.models import ResidentScore
from tests.city_facts import current_employers

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
    cycle_id = open_and_fill(city, "health-check", None, applications, places=3)
    run = allocation.allocate_cycle(SYSTEM_ACTOR, city, cycle_id, "q")
    results = allocation.run_results(SYSTEM_ACTOR, city, run.id)
    placed = results.filter(pl.col("outcome") == "placed")
    assert placed.height == 3
    unplaced = results.filter(pl.col("outcome") == "unplaced")
    assert unplaced.height > 0, "more eligible applicants than places"
    assert placed["points"].min() >= unplaced["points"].max()
    assert json.loads(run.summary)["placed"] == 3


def test_health_check_goes_to_union_frontline_workers_of_the_ten_towns(
    city: Session, small_city: Path
) -> None:
    spec, _ = find_program("health-check")
    towns = set(spec.settings["towns"])  # type: ignore[arg-type]
    assert len(towns) == 10
    applications = demo.health_check_applications(small_city, share=0.6)
    # No --places: the document's 50; the union federation owns the cycle.
    cycle_id = open_and_fill(city, "health-check", None, applications)
    cycle = city.get(ProgramCycle, cycle_id)
    assert cycle is not None and cycle.department == "总工会"
    assert [t.capacity for t in program_targets.cycle_targets(city, cycle_id)] == [50]
    run = allocated(city, cycle_id, "hc")
    results = allocation.run_results(SYSTEM_ACTOR, city, run.id, masked=False)
    facts = current_employers(small_city)
    joined = results.join(facts, on="id_number", how="left")
    placed = joined.filter(pl.col("outcome") == "placed")
    assert 0 < placed.height <= 50
    for row in placed.iter_rows(named=True):
        assert row["frontline"] and row["union"] and row["employer_town"] in towns
    # Workers whose employer is outside the ten towns (frontline, unionised) are refused
    # for that rule, and only those.
    outside = joined.filter(
        pl.col("frontline")
        & pl.col("union")
        & ~pl.col("employer_town").is_in(list(towns))
        & pl.col("points").is_not_null()
    )
    assert outside.height > 0, "the synthetic city has union workers outside the ten towns"
    assert set(outside["outcome"]) == {"ineligible"}
    assert all("用人单位在名额所属的镇（街道）" in reason for reason in outside["reason_zh"])
    # … and whoever is refused for it works outside them (or nowhere on record).
    refused = joined.filter(pl.col("reason_zh").str.contains("名额所属的镇").fill_null(False))
    assert not refused.filter(pl.col("employer_town").is_in(list(towns))).height
    # Each payer's share, recorded with the run: the city's and Ningbo's unions a third of
    # every place, each town's union a third of its own employers' places.
    shares = json.loads(run.summary)["cost_shares"]
    whole = [share for share in shares if "employer_town_code" not in share]
    assert [share["payer"] for share in whole] == ["宁波市总工会", "慈溪市总工会"]
    assert all(share["places"] == placed.height for share in whole)
    by_town = {
        share["employer_town_code"]: share for share in shares if "employer_town_code" in share
    }
    expected = dict(placed.group_by("employer_town").len().iter_rows())
    assert {town: share["places"] for town, share in by_town.items()} == expected
    for share in shares:
        assert share["share"] == "1/3"
        assert share["places_paid"] == pytest.approx(share["places"] / 3, abs=1e-4)
    assert sum(share["places_paid"] for share in shares) == pytest.approx(placed.height, abs=1e-3)


def test_tiered_loan_limits_follow_the_bands(city: Session, small_city: Path) -> None:
    applications = demo.loan_applications(small_city, share=0.3)
    cycle_id = open_and_fill(city, "loan", None, applications)
    run = allocated(city, cycle_id, "t")
    results = allocation.run_results(SYSTEM_ACTOR, city, run.id, masked=False)
    asked = results.join(applications, on="id_number")
    granted = asked.filter(pl.col("outcome") == "placed")
    assert granted.height > 0
    for points, amount in granted.select("points", "entitlement").iter_rows():
        expected = 200_000 if points >= 120 else 100_000 if points >= 90 else 50_000
        assert points >= 60 and amount == expected
    # The outcome records the rate and the term asked for (at most 12 months).
    assert set(granted["rate"]) == {4.8}
    assert (granted["term_months"] == granted["requested_term_months"]).all()
    assert granted["term_months"].max() <= 12 and granted["bank_consent"].all()
    below = asked.filter(pl.col("outcome") == "unplaced")
    assert (below["points"] < 60).all()
    assert below["rate"].null_count() == below.height
    # (Of those in the scoring run: the others are refused for their permit first.)
    scored = asked.filter(pl.col("points").is_not_null())
    too_long = scored.filter(pl.col("requested_term_months") > 12)
    no_consent = scored.filter(~pl.col("bank_consent"))
    assert too_long.height > 0 and no_consent.height > 0
    assert set(too_long["outcome"]) == set(no_consent["outcome"]) == {"ineligible"}
    assert all("贷款期限" in reason for reason in too_long["reason_zh"])
    assert all("同意向银行提供" in reason for reason in no_consent["reason_zh"])
    # The notice shows the approved amount (never rate or term).
    notice = notices.publish(SYSTEM_ACTOR, city, allocation_run_id=run.id)
    rows = notices.rows_page(city, notice, 0, 1000)
    shown = rows.filter(pl.col("outcome") == "核准")
    assert shown.height == granted.height
    assert dict(zip(shown["ref"], shown["amount"], strict=True)) == {
        str(a): e for a, e in granted.select("application_id", "entitlement").iter_rows()
    }
    assert "rate" not in rows.columns and "term_months" not in rows.columns


def test_the_approved_loans_go_to_the_bank_in_full_once_final(
    city: Session, small_city: Path
) -> None:
    applications = demo.loan_applications(small_city, share=0.3)
    cycle_id = open_and_fill(city, "loan", None, applications)
    run = allocated(city, cycle_id, "b")
    # Not while the list may still change (the notice period).
    with pytest.raises(Conflict):
        bank.approved_list(SYSTEM_ACTOR, city, run.id, "csv")
    service.finalize(SYSTEM_ACTOR, city, cycle_id)
    results = allocation.run_results(SYSTEM_ACTOR, city, run.id, masked=False)
    granted = results.filter(pl.col("outcome") == "placed").sort("application_id")
    owner = Actor("rsj", Role.REVIEWER, department="人社局")
    _, rows, content = bank.approved_list(owner, city, run.id, "csv")
    read = pl.read_csv(io.BytesIO(content), infer_schema=False)
    assert read.columns == list(bank.COLUMNS.values())
    # Full ID numbers (the bank identifies its customer), exactly the approved applications.
    assert read["身份证号码"].to_list() == granted["id_number"].to_list()
    assert all("*" not in number for number in read["身份证号码"])
    assert read["核准额度（元）"].cast(pl.Float64).to_list() == granted["entitlement"].to_list()
    assert set(read["年利率（%）"]) == {"4.8"}
    _, _, xlsx = bank.approved_list(SYSTEM_ACTOR, city, run.id, "xlsx")
    sheet = pl.read_excel(io.BytesIO(xlsx), has_header=False, infer_schema_length=0)
    ids = sheet.get_column(sheet.columns[2]).to_list()
    header = ids.index("身份证号码")
    assert ids[header + 1 :] == granted["id_number"].to_list()  # text, not rounded
    # Each export audited: run, format and rows, never the numbers.
    entries = city.scalars(
        select(AuditEntry).where(
            AuditEntry.action == "allocation.bank_export", AuditEntry.object_id == str(run.id)
        )
    ).all()
    assert [json.loads(e.detail or "{}")["format"] for e in entries] == ["csv", "xlsx"]
    assert all(json.loads(e.detail or "{}")["rows"] == rows.height for e in entries)
    assert not any(number in (e.detail or "") for e in entries for number in read["身份证号码"])
    # Another department does not reach the run; the service centre's operator and the
    # auditor may not export; the format is csv or xlsx.
    with pytest.raises(NotFound):
        bank.approved_list(Actor("edu", Role.REVIEWER, department="教育局"), city, run.id, "csv")
    for role in (Role.OPERATOR, Role.AUDITOR):
        with pytest.raises(Forbidden):
            bank.approved_list(Actor("x", role), city, run.id, "csv")
    with pytest.raises(Invalid):
        bank.approved_list(SYSTEM_ACTOR, city, run.id, "pdf")


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
    # Two offered schools joined by a comma: the separator is named, not "not offered".
    first, second = good["choices"][0].split(";")[0], good["choices"][1].split(";")[0]
    comma = good.head(1).with_columns(choices=pl.lit(f"{first},{second}"))
    with pytest.raises(Invalid) as raised:
        intake.submit_applications(SYSTEM_ACTOR, city, cycle.id, comma.to_dicts())
    (problem,) = raised.value.details
    assert problem.field == "choices" and "分号" in problem.reason_zh
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
