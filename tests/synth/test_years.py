"""``luodi synth --years N``: the city's past, consistent with its registry files."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from luodi.registry import city_files
from luodi.synth.generator import DEFAULT_AS_OF, SynthOptions, generate_city
from luodi.synth.service import write_frames
from tests.forecast.oracle import entry_cohorts

RESIDENTS, YEARS = 4_000, 3


@pytest.fixture(scope="module")
def past() -> dict[str, pl.DataFrame]:
    return generate_city(SynthOptions(residents=RESIDENTS, seed=21, years=YEARS))


@pytest.fixture(scope="module")
def past_dir(past: dict[str, pl.DataFrame], tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("past")
    write_frames(past, directory)
    return directory


def test_without_years_no_past_and_today_is_not_redrawn(past: dict[str, pl.DataFrame]) -> None:
    today = generate_city(SynthOptions(residents=RESIDENTS, seed=21))
    assert city_files.SCHOOL_INTAKES not in today
    assert today[city_files.PERMITS]["status_date"].null_count() == today[city_files.PERMITS].height
    # Today's people are the same people with a past (drawn before anything the past moves).
    assert past[city_files.RESIDENTS].head(RESIDENTS).equals(today[city_files.RESIDENTS])


def test_applicants_never_exceed_the_cohort_the_files_show(past_dir: Path) -> None:
    intakes = pl.read_csv(past_dir / city_files.SCHOOL_INTAKES)
    assert intakes.columns == city_files.COLUMNS[city_files.SCHOOL_INTAKES]
    assert sorted(intakes["school_year"].unique()) == list(
        range(DEFAULT_AS_OF.year - YEARS, DEFAULT_AS_OF.year)
    )
    assert intakes.select(
        (pl.col("placed") == pl.min_horizontal("applicants", "seats")).all()
    ).item()
    applied = 0
    cohort = 0
    for year in range(DEFAULT_AS_OF.year - YEARS, DEFAULT_AS_OF.year):
        town = (
            intakes.filter(pl.col("school_year") == year)
            .group_by("town_code", "grade")
            .agg(pl.col("applicants").sum())
            .with_columns(pl.col("town_code").cast(pl.String))
            .join(entry_cohorts(past_dir, year), on=["town_code", "grade"], how="left")
            .with_columns(pl.col("children").fill_null(0))
        )
        assert (town["applicants"] <= town["children"]).all(), year
        applied += town["applicants"].sum()
        cohort += town["children"].sum()
    # Most of the cohort applies (capture 0.8–0.9 per town), not all of it.
    assert 0.75 < applied / cohort < 0.95


def test_leavers_have_ended_permits_dated_in_the_window(past: dict[str, pl.DataFrame]) -> None:
    start = date(DEFAULT_AS_OF.year - YEARS, DEFAULT_AS_OF.month, DEFAULT_AS_OF.day)
    leavers = past[city_files.RESIDENTS].slice(RESIDENTS)
    assert leavers.height > RESIDENTS // 10
    permits = past[city_files.PERMITS].join(leavers.select("id_number"), on="id_number")
    assert permits["id_number"].n_unique() > 0
    assert set(permits["status"].unique()) == {"cancelled", "expired"}
    left = permits.select(
        pl.when(pl.col("status") == "cancelled")
        .then(pl.col("status_date"))
        .otherwise(pl.col("expiry_date") + pl.duration(days=1))
    ).to_series()
    assert left.is_between(start, DEFAULT_AS_OF, closed="left").all()
    # Their endorsements fall while the permit held (the feed refuses any other).
    endorsed = past[city_files.PERMIT_ENDORSEMENTS].join(permits, on="permit_number")
    assert endorsed.height > 0
    last_day = pl.coalesce(pl.col("status_date") - pl.duration(days=1), pl.col("expiry_date"))
    assert endorsed.select(
        pl.col("endorsed_on").is_between(pl.col("issue_date"), last_day).all()
    ).item()
    # Every leaving family held a permit, and their children are on file with them.
    households = leavers["household_number"].unique()
    held = past[city_files.RESIDENTS].join(permits.select("id_number"), on="id_number", how="semi")
    assert held["household_number"].n_unique() == households.len()
    children = past[city_files.CHILDREN].filter(
        pl.col("household_number").is_in(households.implode())
    )
    assert children.height > 0
    assert (children["birth_date"] < DEFAULT_AS_OF).all()


def test_same_seed_same_past_other_seed_other_past() -> None:
    def intakes(seed: int) -> pl.DataFrame:
        return generate_city(SynthOptions(residents=1_500, seed=seed, years=2))[
            city_files.SCHOOL_INTAKES
        ]

    first = intakes(5)
    assert first.equals(intakes(5))
    assert not first.equals(intakes(6))
