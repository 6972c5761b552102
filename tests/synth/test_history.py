"""The synthetic city's past: permit histories with their endorsements, insurance month by
month then year by year, families, unions and frontline posts — consistent with each other,
valid for the shipped feed declarations, and shaped as the README says."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from luodi.feeds.catalog import load_feeds
from luodi.kernels.feeds.checks import LINE, REFERENCE_KEY, RESIDENT, check_rows, rejections
from luodi.kernels.timeline.permits import ENDORSEMENT_SCHEMA, PERMIT_SCHEMA, permit_timeline
from luodi.kernels.timeline.permits import RESIDENT as RESIDENT_ID
from luodi.programs import demo
from luodi.registry import city_files
from luodi.synth.generator import DEFAULT_AS_OF, SynthOptions, generate_city
from luodi.synth.reference import (
    ENDORSEMENT_LATE_MAX_DAYS,
    PERMIT_CANCELLED,
    REGISTRATION_START,
)

AS_OF = DEFAULT_AS_OF
FEEDS = Path(__file__).parents[2] / "feeds"
THIS_MONTH = f"{AS_OF.year:04d}-{AS_OF.month:02d}"


def test_every_feed_file_passes_its_declaration(city_dir: Path) -> None:
    """What ``luodi synth`` writes is what the feeds accept: no value refused, no key twice."""
    residents = pl.read_csv(city_dir / city_files.RESIDENTS, infer_schema=False)
    # What each kind of reference may name, from the city's own files.
    sources = {
        "towns": (city_files.TOWNS, "code"),
        "employers": (city_files.EMPLOYERS, "credit_code"),
        "permits": (city_files.PERMITS, "permit_number"),
    }
    known = {
        kind: pl.read_csv(city_dir / file, infer_schema=False)[column]
        for kind, (file, column) in sources.items()
    }
    people = pl.LazyFrame(
        {REFERENCE_KEY: residents["id_number"], RESIDENT: range(residents.height)}
    )
    checked_files = set()
    for spec in load_feeds(FEEDS).values():
        if spec.file is None or not (city_dir / spec.file).exists():
            continue
        rows = pl.read_csv(city_dir / spec.file, infer_schema=False)
        assert set(rows.columns) <= set(spec.columns), spec.file
        references = {
            name: pl.LazyFrame({REFERENCE_KEY: known[str(column.reference)]})
            for name, column in spec.columns.items()
            if column.reference is not None
        }
        checked = check_rows(
            spec, rows.with_row_index(LINE, offset=2).lazy(), AS_OF, people, references
        )
        refused = rejections(checked, AS_OF).collect()
        assert refused.height == 0, (spec.file, refused.head(5).to_dicts())
        assert not rows.select(spec.key).is_duplicated().any(), spec.file
        checked_files.add(spec.file)
    # The files of the time line are among them once their feeds are declared.
    assert {city_files.SOCIAL_INSURANCE, city_files.MEDICAL_INSURANCE} <= checked_files


def current_and_past(city: dict[str, pl.DataFrame]) -> tuple[pl.DataFrame, pl.DataFrame]:
    permits = city[city_files.PERMITS]
    return permits.filter(pl.col("status") != "expired"), permits.filter(
        pl.col("status") == "expired"
    )


def test_permit_histories_are_consistent(city: dict[str, pl.DataFrame]) -> None:
    permits = city[city_files.PERMITS]
    residents = city[city_files.RESIDENTS]
    current, past = current_and_past(city)
    assert current["id_number"].is_unique().all(), "one current permit each"
    assert past["id_number"].is_unique().all()
    assert permits["permit_number"].is_unique().all()
    assert (permits["issue_date"] >= date(*REGISTRATION_START)).all()
    assert (permits["issue_date"] < AS_OF).all()
    assert (permits["issue_date"] < permits["expiry_date"]).all()
    assert (current["expiry_date"] > AS_OF).all()
    assert (past["expiry_date"] < AS_OF).all()
    # An earlier stay's permit ended before the current one began.
    both = past.join(current, on="id_number", suffix="_now")
    assert (both["expiry_date"] < both["issue_date_now"]).all()
    # Adults when they registered.
    ages = permits.join(residents.select("id_number", "birth_date"), on="id_number")
    assert ((ages["issue_date"] - ages["birth_date"]).dt.total_days() >= 16 * 365).all()


def test_endorsements_fall_within_their_permit(city: dict[str, pl.DataFrame]) -> None:
    endorsements = city[city_files.PERMIT_ENDORSEMENTS].join(
        city[city_files.PERMITS], on="permit_number", how="left", suffix="_holder"
    )
    assert endorsements["issue_date"].is_not_null().all(), "every endorsement names a permit"
    assert (endorsements["id_number"] == endorsements["id_number_holder"]).all()
    assert (endorsements["endorsed_on"] > endorsements["issue_date"]).all()
    assert (endorsements["endorsed_on"] <= endorsements["expiry_date"]).all()
    assert (endorsements["endorsed_on"] <= AS_OF).all()
    assert not endorsements.select("permit_number", "endorsed_on").is_duplicated().any()
    # At most one a year: no more than the anniversaries passed (and one early for the next).
    per_permit = endorsements.group_by("permit_number").agg(
        count=pl.len(),
        years=((pl.lit(AS_OF) - pl.col("issue_date").first()).dt.total_days() / 365.25)
        .floor()
        .cast(pl.Int64),
    )
    assert (per_permit["count"] <= per_permit["years"] + 1).all()


def answered(city: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Each endorsement with the anniversary nearest to it (on-time ones are within 30 days
    before it, late ones at most half a year after it) and how many days after it fell."""
    return (
        city[city_files.PERMIT_ENDORSEMENTS]
        .join(city[city_files.PERMITS].select("permit_number", "issue_date"), on="permit_number")
        .with_columns(
            years=((pl.col("endorsed_on") - pl.col("issue_date")).dt.total_days() / 365.25)
            .round(0)
            .cast(pl.Int64)
        )
        .with_columns(
            anniversary=pl.col("issue_date").dt.offset_by(pl.format("{}y", pl.col("years")))
        )
        .with_columns(after=(pl.col("endorsed_on") - pl.col("anniversary")).dt.total_days())
    )


def test_endorsements_mostly_on_time_some_late(city: dict[str, pl.DataFrame]) -> None:
    days = answered(city)["after"]
    late = days > 0
    assert ((days >= -30) & (days <= ENDORSEMENT_LATE_MAX_DAYS)).all()
    assert 0.02 < late.mean() < 0.07
    on_time = days.filter(~late)
    assert on_time.min() >= -29


def test_some_permits_lapsed_expired_or_cancelled(city: dict[str, pl.DataFrame]) -> None:
    current, past = current_and_past(city)
    residents = city[city_files.RESIDENTS].height
    valid = current.filter(pl.col("status") == "valid")
    # The last anniversary passed: endorsed for it (in its window or after) or lapsed.
    last_due = valid.with_columns(
        years=((pl.lit(AS_OF) - pl.col("issue_date")).dt.total_days() / 365.25)
        .floor()
        .cast(pl.Int64)
    ).filter(pl.col("years") >= 1)
    last_due = last_due.with_columns(
        due=pl.col("issue_date").dt.offset_by(pl.format("{}y", pl.col("years")))
    ).with_columns(
        # 365.25-day years can overshoot by a day around the anniversary itself.
        due=pl.when(pl.col("due") > AS_OF)
        .then(pl.col("issue_date").dt.offset_by(pl.format("{}y", pl.col("years") - 1)))
        .otherwise("due")
    )
    endorsed = (
        last_due.join(city[city_files.PERMIT_ENDORSEMENTS], on="permit_number", how="left")
        .group_by("permit_number")
        .agg(
            answered=(pl.col("endorsed_on") >= pl.col("due") - pl.duration(days=30)).any(),
        )
    )
    lapsed = 1 - endorsed["answered"].mean()
    assert 0.01 < lapsed < 0.08
    assert 0.5 * PERMIT_CANCELLED < (current["status"] == "cancelled").mean() < 2 * PERMIT_CANCELLED
    assert 0.08 < past.height / residents < 0.3
    assert 0.8 < current.height / residents < 0.92


def timeline(city: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """The permit time line (kernels/timeline) of every resident on the reference date."""
    person = city[city_files.RESIDENTS].select("id_number").with_row_index(RESIDENT_ID)
    by_person = {RESIDENT_ID: pl.Int64}
    permits = city[city_files.PERMITS].join(person, on="id_number").cast(by_person)
    endorsements = city[city_files.PERMIT_ENDORSEMENTS].join(person, on="id_number").cast(by_person)
    lines = permit_timeline(
        permits.select(list(PERMIT_SCHEMA)), endorsements.select(list(ENDORSEMENT_SCHEMA)), AS_OF
    )
    return person.cast(by_person).join(lines, on=RESIDENT_ID, how="left")


def test_the_time_line_reads_the_history_as_drawn(city: dict[str, pl.DataFrame]) -> None:
    lines = timeline(city)
    states = lines["permit_state"].fill_null("none").value_counts(normalize=True)
    share = dict(zip(states["permit_state"], states["proportion"], strict=True))
    assert 0.75 < share["valid"] < 0.9
    assert 0.01 < share["suspended"] < 0.06  # lapsed, or late and not endorsed yet
    assert 0.005 < share["cancelled"] < 0.04
    assert 0.08 < share["none"] + share.get("expired", 0) < 0.2
    # A valid permit's span starts at its issue or at a late endorsement, never in future.
    valid = lines.filter(pl.col("permit_valid"))
    assert (valid["span_start"] <= AS_OF).all()
    assert (valid["next_endorsement_due"] > AS_OF).all()


def test_residence_looks_like_a_settled_city(city: dict[str, pl.DataFrame], city_dir: Path) -> None:
    valid = timeline(city).filter(pl.col("permit_valid"))
    months = valid.select(
        months=(pl.lit(AS_OF).dt.year() - pl.col("span_start").dt.year()) * 12
        + pl.lit(AS_OF).dt.month().cast(pl.Int32)
        - pl.col("span_start").dt.month().cast(pl.Int32)
        - (pl.col("span_start").dt.day() > AS_OF.day).cast(pl.Int32)
    )["months"]
    points = (months * 0.25).clip(0, 30)  # 0.25 a full month, at most 30 (policy zj-cixi)
    assert points.max() == 30
    assert 6 <= points.median() <= 15
    assert 0.1 < (points == 30).mean() < 0.35
    # Parents applying for grade 1: most hold a valid permit, and of those most have been
    # registered a year (the school rule); the demo failed a third by construction.
    applicants = demo.school_applications(city_dir, AS_OF.year).join(
        valid.select("id_number", months=months), on="id_number", how="left"
    )
    assert applicants["months"].is_null().mean() < 0.12
    assert (applicants["months"].drop_nulls() < 12).mean() < 0.12


def test_insurance_month_by_month_then_year_by_year(city: dict[str, pl.DataFrame]) -> None:
    social = city[city_files.SOCIAL_INSURANCE]
    monthly = social.filter(pl.col("period").str.len_chars() == 7)
    yearly = social.filter(pl.col("period").str.len_chars() == 4)
    assert monthly.height + yearly.height == social.height
    assert monthly["period"].str.contains(r"^\d{4}-(0[1-9]|1[0-2])$").all()
    assert (monthly["period"] < THIS_MONTH).all(), "no month not yet due"
    assert (monthly["period"] >= f"{AS_OF.year - 1}-01").all()
    assert (yearly["period"].cast(pl.Int64) <= AS_OF.year - 2).all()
    assert monthly["months_paid"].is_in([0, 1]).all()
    assert yearly["months_paid"].is_between(1, 12).all()
    assert not social.select("id_number", "period").is_duplicated().any()
    assert not yearly["back_paid"].any()
    back = monthly.filter("back_paid")
    assert (back["months_paid"] == 1).all()
    assert 0.001 < back.height / monthly.height < 0.02
    assert (monthly["months_paid"] == 0).any(), "some months missed"
    # Most who paid last year still pay: paid for the month before the reference date.
    month_before = (
        f"{AS_OF.year - 1 if AS_OF.month == 1 else AS_OF.year}-{(AS_OF.month - 2) % 12 + 1:02d}"
    )
    paying = monthly.group_by("id_number").agg(
        current=((pl.col("period") == month_before) & (pl.col("months_paid") == 1)).any()
    )
    assert 0.7 < paying["current"].mean() < 0.95


def test_medical_insurance_by_scheme(city: dict[str, pl.DataFrame]) -> None:
    medical = city[city_files.MEDICAL_INSURANCE]
    social = city[city_files.SOCIAL_INSURANCE]
    assert set(medical["scheme"].unique()) == {"employee", "resident"}
    employee = medical.filter(pl.col("scheme") == "employee").drop("scheme")
    # 职工医保 is paid with the pension, month for month.
    assert employee.equals(social.drop("credit_code"))
    resident = medical.filter(pl.col("scheme") == "resident")
    assert resident["period"].str.contains(r"^\d{4}$").all()
    assert (resident["period"].cast(pl.Int64) <= AS_OF.year).all()
    assert (resident["months_paid"] == 12).all()
    assert not resident["id_number"].is_in(social["id_number"].implode()).any()
    assert not medical.select("id_number", "period").is_duplicated().any()


def test_unions_and_frontline_posts(city: dict[str, pl.DataFrame]) -> None:
    unions = city[city_files.UNIONS]
    employers = city[city_files.EMPLOYERS]
    assert unions["credit_code"].sort().equals(employers["credit_code"].sort())
    shops = unions.filter(pl.col("credit_code").str.slice(1, 1) == "2")
    assert not shops["union"].any(), "a 个体工商户 has no union"
    assert unions.filter("union")["established_on"].is_not_null().all()
    assert unions.filter(~pl.col("union"))["established_on"].is_null().all()
    assert (unions["established_on"].drop_nulls() <= AS_OF).all()
    employment = city[city_files.EMPLOYMENT].join(unions, on="credit_code")
    staff = employment.filter(pl.col("basis") == "labour_contract")
    assert 0.4 < staff["union"].mean() < 0.85
    assert 0.55 < staff["frontline"].mean() < 0.75
    assert not employment.filter(pl.col("basis") == "business_licence")["frontline"].any()


def test_families_name_their_members(city: dict[str, pl.DataFrame]) -> None:
    residents = city[city_files.RESIDENTS]
    heads = residents.filter(pl.col("relation_to_head") == "head")
    assert heads["household_number"].is_unique().all()
    assert heads["household_number"].n_unique() == residents["household_number"].n_unique()
    spouses = residents.filter(pl.col("relation_to_head") == "spouse")
    assert spouses["household_number"].is_unique().all()
    couples = heads.join(spouses, on="household_number", suffix="_spouse")
    assert couples.height == spouses.height
    assert (couples["sex"] != couples["sex_spouse"]).all()
    assert (couples["town_code"] == couples["town_code_spouse"]).all()
    relatives = residents.join(heads, on="household_number", suffix="_head")
    older = (relatives["birth_date_head"] - relatives["birth_date"]).dt.total_days() / 365.25
    assert (older.filter(relatives["relation_to_head"] == "parent") >= 14).all()
    assert (older.filter(relatives["relation_to_head"] == "child") <= -18).all()
    # A child's parents: the parent named first and, in a couple, the other one.
    children = city[city_files.CHILDREN].join(
        couples.select("id_number", "id_number_spouse"), on="id_number", how="left"
    )
    assert children["second_parent_id_number"].eq_missing(children["id_number_spouse"]).all()
    assert 0.3 < children["second_parent_id_number"].is_not_null().mean() < 0.8


@pytest.mark.parametrize("seed", [0, 1])
def test_a_tiny_city_still_has_every_file(seed: int) -> None:
    frames = generate_city(SynthOptions(residents=3, seed=seed))
    for name, frame in frames.items():
        assert frame.columns == city_files.registry_columns(name)


@pytest.mark.parametrize("as_of", [date(2026, 1, 5), date(2025, 12, 31), date(2024, 2, 29)])
def test_no_record_after_the_reference_date(as_of: date) -> None:
    """Whatever the reference date: no month not yet due, no endorsement or permit after it."""
    city = generate_city(SynthOptions(residents=3_000, seed=4, as_of=as_of))
    month = f"{as_of.year:04d}-{as_of.month:02d}"
    for name in (city_files.SOCIAL_INSURANCE, city_files.MEDICAL_INSURANCE):
        periods = city[name]["period"]
        assert (periods.filter(periods.str.len_chars() == 7) < month).all()
        assert (periods.filter(periods.str.len_chars() == 4).cast(pl.Int64) <= as_of.year).all()
        assert (
            periods.filter(periods.str.len_chars() == 7).str.starts_with(str(as_of.year - 1)).any()
        )
    assert (city[city_files.PERMIT_ENDORSEMENTS]["endorsed_on"] <= as_of).all()
    assert (city[city_files.PERMITS]["issue_date"] < as_of).all()
