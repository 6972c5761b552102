"""The forecast's history read from a loaded synthetic city with a past: the documented
frames, agreeing with an independent count from the city's files; a school cycle in the
database wins over the file; only the forecast area's roles read it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from luodi.allocation.models import AllocationResult, AllocationRun
from luodi.auth.actor import SYSTEM_ACTOR, Actor, Role
from luodi.errors import NotFound
from luodi.forecast.repository import history
from luodi.programs.models import Application, CycleTarget, ProgramCycle
from luodi.registry import city_files
from luodi.registry.models import Resident
from luodi.scoring.models import ScoringRun
from luodi.synth.generator import DEFAULT_AS_OF
from tests.conftest import PAST_CITY_YEARS, rolled_back_session
from tests.forecast.oracle import entry_cohorts

YEARS = PAST_CITY_YEARS
SCHOOL_YEARS = range(DEFAULT_AS_OF.year - YEARS, DEFAULT_AS_OF.year)


@pytest.fixture
def past_session(past_engine: Engine) -> Iterator[Session]:
    with rolled_back_session(past_engine) as session:
        yield session


def test_frames_as_documented_and_as_the_files_count(
    past_session: Session, past_city: Path
) -> None:
    read = history(past_session, SYSTEM_ACTOR, today=DEFAULT_AS_OF)
    assert read.children.schema == pl.Schema(
        {
            "child_id": pl.Int64,
            "birth_date": pl.Date,
            "town_code": pl.String,
            "present_from": pl.Date,
            "present_until": pl.Date,
        }
    )
    assert read.intakes.schema == pl.Schema(
        {
            "school_year": pl.Int32,
            "cycle_as_of": pl.Date,
            "school_id": pl.String,
            "school_name": pl.String,
            "town_code": pl.String,
            "grade": pl.Int8,
            "seats": pl.Int64,
            "applicants": pl.Int64,
            "placed": pl.Int64,
            "source": pl.String,
        }
    )
    assert read.new_permits.schema == pl.Schema(
        {"town_code": pl.String, "month": pl.Date, "issued": pl.Int64, "ended": pl.Int64}
    )
    assert read.seats.columns == ["school_id", "school_name", "town_code", "grade", "seats"]
    towns = pl.read_csv(past_city / city_files.TOWNS, infer_schema=False)
    assert read.towns == dict(zip(towns["code"], towns["name"], strict=True))

    children = pl.read_csv(past_city / city_files.CHILDREN, infer_schema=False)
    assert read.children.height == children.height
    # The documented filter on the frame gives the cohort the files show, year by year.
    for year in SCHOOL_YEARS:
        day = date(year, 4, 30)
        present = read.children.filter(
            (pl.col("present_from") <= day)
            & (pl.col("present_until").is_null() | (pl.col("present_until") > day))
        )
        for grade, age in ((1, 6), (7, 12)):
            counted = (
                present.filter(
                    pl.col("birth_date").is_between(
                        date(year - age - 1, 9, 1), date(year - age, 8, 31)
                    )
                )
                .group_by("town_code")
                .agg(children=pl.len().cast(pl.Int64))
                .sort("town_code")
            )
            expected = (
                entry_cohorts(past_city, year)
                .filter(pl.col("grade") == grade)
                .select("town_code", "children")
                .sort("town_code")
            )
            assert counted.equals(expected), (year, grade)

    intakes = pl.read_csv(
        past_city / city_files.SCHOOL_INTAKES,
        schema_overrides={"school_id": pl.String, "town_code": pl.String},
    )
    assert read.intakes.height == intakes.height
    assert (read.intakes["source"] == "file").all()
    compared = intakes.join(
        read.intakes.with_columns(pl.col("school_year", "grade").cast(pl.Int64)),
        on=["school_year", "school_id", "grade"],
        suffix="_read",
    )
    assert compared.height == intakes.height
    for column in ("town_code", "seats", "applicants", "placed"):
        assert (compared[column] == compared[f"{column}_read"]).all(), column
    assert compared.select((pl.col("cycle_as_of") == pl.date("school_year", 4, 30)).all()).item()
    assert read.intakes["school_name"].null_count() == 0
    newest = intakes.filter(pl.col("school_year") == max(SCHOOL_YEARS))
    assert read.seats.height == intakes.select("school_id", "grade").n_unique()
    assert (
        read.seats.join(newest, on="school_id")
        .select((pl.col("seats") == pl.col("seats_right")).all())
        .item()
    )

    permits = pl.read_csv(past_city / city_files.PERMITS, try_parse_dates=True)
    assert read.new_permits["issued"].sum() == permits["id_number"].n_unique()
    still = permits.filter(pl.col("status") == "valid")["id_number"].unique()
    gone = permits.filter(~pl.col("id_number").is_in(still.implode()))["id_number"].n_unique()
    assert read.new_permits["ended"].sum() == gone > 0


def test_a_school_cycle_wins_over_the_file(past_session: Session, past_city: Path) -> None:
    session = past_session
    year = max(SCHOOL_YEARS)
    file_row = (
        pl.read_csv(past_city / city_files.SCHOOL_INTAKES, infer_schema=False)
        .filter((pl.col("school_year") == str(year)) & (pl.col("grade") == "1"))
        .row(0, named=True)
    )
    school, town = file_row["school_id"], file_row["town_code"]
    cycle = ProgramCycle(
        program_id="school-entry",
        program_text="",
        program_digest="0" * 64,
        department="教育局",
        name=f"{year}年秋季小学一年级",
        opens=date(year, 4, 1),
        closes=date(year, 5, 15),
        as_of=date(year, 4, 20),
        entry_grade=1,
        created_by="test",
    )
    session.add(cycle)
    session.flush()
    session.add_all(
        [
            CycleTarget(
                cycle_id=cycle.id, target_id=school, name="某小学", town_code=town, capacity=7
            ),
            CycleTarget(
                cycle_id=cycle.id, target_id="OTHER", name="另一小学", town_code=town, capacity=5
            ),
        ]
    )
    residents = session.scalars(select(Resident.id).order_by(Resident.id).limit(4)).all()
    choices = [
        (f"{school};OTHER", "verified"),
        (f"{school}", "placed"),
        ("OTHER;" + school, "verified"),
        (school, "returned"),
    ]
    applications = [
        Application(
            cycle_id=cycle.id,
            resident_id=resident,
            subject=str(resident),
            choices=chosen,
            status=status,
            submitted_by="test",
        )
        for resident, (chosen, status) in zip(residents, choices, strict=True)
    ]
    session.add_all(applications)
    scoring = ScoringRun(
        policy_id="p",
        policy_version="1",
        policy_digest="0" * 64,
        policy_text="",
        as_of=cycle.as_of,
        created_by="test",
        residents_scored=0,
        residents_skipped=0,
        mean_total=0.0,
        frame_digest="0" * 64,
    )
    session.add(scoring)
    session.flush()
    for number in range(2):  # two runs: the newest counts
        run = AllocationRun(
            cycle_id=cycle.id,
            scoring_run_id=scoring.id,
            method="da",
            seed="1",
            inputs_digest="0" * 64,
            summary="{}",
            created_by="test",
        )
        session.add(run)
        session.flush()
        session.add_all(
            [
                AllocationResult(
                    run_id=run.id,
                    application_id=application.id,
                    outcome="placed" if index <= number else "unplaced",
                    target_id=school if index <= number else None,
                    lottery="0",
                )
                for index, application in enumerate(applications[:3])
            ]
        )
    session.flush()

    intakes = history(session, SYSTEM_ACTOR, today=DEFAULT_AS_OF).intakes
    mine = intakes.filter(
        (pl.col("school_id") == school) & (pl.col("school_year") == year) & (pl.col("grade") == 1)
    )
    assert mine.select("source", "seats", "applicants", "placed", "cycle_as_of").row(0) == (
        "cycle",
        7,
        2,
        2,
        date(year, 4, 20),
    )
    other = intakes.filter(pl.col("school_id") == "OTHER").row(0, named=True)
    assert (other["applicants"], other["placed"]) == (1, 0)
    # The file's other years of the school stay.
    assert intakes.filter((pl.col("school_id") == school) & (pl.col("source") == "file")).height


@pytest.mark.parametrize("role", [Role.TOWN_STAFF, Role.RESIDENT, Role.PUBLIC])
def test_only_the_forecast_areas_roles_read_it(past_session: Session, role: Role) -> None:
    with pytest.raises(NotFound):
        history(past_session, Actor(username="x", role=role, town_code="330282001"))
    assert history(past_session, Actor(username="a", role=Role.AUDITOR)).children.height
