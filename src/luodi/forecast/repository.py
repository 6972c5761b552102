"""What the forecast reads from the registry and the school cycles, as Polars frames.

Bulk reads only (``luodi.bulk.read_frame``: COPY on PostgreSQL, JSON arrays on SQLite), then
Polars: no Python object per child or permit. The forecast area is the whole city's (its roles
are the city-wide ones), so no row filter applies beyond who may open it; nothing personal
leaves here but internal ids and dates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from luodi import bulk, workdays
from luodi.allocation.models import AllocationResult, AllocationRun, Outcome
from luodi.auth.actor import Actor
from luodi.auth.permissions import may_open
from luodi.errors import NotFound
from luodi.forecast.models import SchoolIntake
from luodi.kernels.forecast.presence import (
    CYCLE_COUNT_DAY,
    PRESENCE_SCHEMA,
    family_presence,
    permit_spans,
)
from luodi.programs.models import Application, ApplicationStatus, CycleTarget, ProgramCycle
from luodi.registry.models import Child, Household, ResidencePermit, Town

AREA = "forecast"

INTAKE_SCHEMA = {
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
NEW_PERMIT_SCHEMA = {
    "town_code": pl.String,
    "month": pl.Date,
    "issued": pl.Int64,
    "ended": pl.Int64,
}
SEAT_SCHEMA = {
    "school_id": pl.String,
    "school_name": pl.String,
    "town_code": pl.String,
    "grade": pl.Int8,
    "seats": pl.Int64,
}
FILE, CYCLE = "file", "cycle"


@dataclass(frozen=True)
class ForecastHistory:
    children: pl.DataFrame
    """One row per child the registry has ever known: ``child_id`` (Int64), ``birth_date``
    (Date), ``town_code`` (String: the town of the family's permit), ``present_from`` (Date:
    the earliest day a parent's permit was valid — the family known to the city), and
    ``present_until`` (Date, null while a parent's permit still holds: the day the last
    parent's permit was cancelled or expired). A forecast from a date D counts the children
    with ``present_from <= D`` and (``present_until`` null or ``> D``) and born by D."""
    intakes: pl.DataFrame
    """Past entry-grade intakes: ``school_year`` (Int32, the September it starts), ``cycle_as_of``
    (Date: the day its conditions were counted, known after it), ``school_id``, ``school_name``,
    ``town_code``, ``grade`` (Int8: 1 or 7), ``seats``, ``applicants``, ``placed`` (Int64),
    ``source`` (``file``: school_intakes loaded; ``cycle``: a school cycle in the database,
    which wins for the same school and year)."""
    new_permits: pl.DataFrame
    """Net inflow by town and month: ``town_code``, ``month`` (Date, the first), ``issued``,
    ``ended`` (Int64: permits first issued to a resident / whose holder left in that month)."""
    seats: pl.DataFrame
    """Planned seats of the next intakes: ``school_id, school_name, town_code, grade, seats``
    (the newest year known per school: a cycle's targets or the intakes file)."""
    towns: dict[str, str]
    """code → name."""


def readable(actor: Actor) -> bool:
    """Whether ``actor`` may read the forecast's history: those who may open the forecast
    area of the console (``auth.permissions.CONSOLE_AREAS``)."""
    return may_open(actor, AREA)


def require_readable(actor: Actor) -> None:
    """Out of the area looks the same as missing (404), as the console answers it."""
    if not readable(actor):
        raise NotFound("没有学位预测", "no school-place forecast here")


def history(session: Session, actor: Actor, today: date | None = None) -> ForecastHistory:
    """Everything the forecast reads, for an actor who may open the forecast area.

    ``today`` (default: the city's today, ``workdays.today()``) decides which permits still
    hold (``present_until`` null)."""
    require_readable(actor)
    today = today or workdays.today()
    permits = _permits(session)
    children = family_presence(_children(session), permits, today)
    intakes = _intakes(session)
    return ForecastHistory(
        children=children.select(
            *(pl.col(name).cast(dtype) for name, dtype in PRESENCE_SCHEMA.items())
        ),
        intakes=intakes,
        new_permits=_new_permits(permits, today),
        seats=_seats(intakes),
        towns=dict(session.execute(select(Town.code, Town.name).order_by(Town.code)).all()),
    )


def _permits(session: Session) -> pl.DataFrame:
    """Every permit: ``holder`` (resident id), ``town_code``, its dates and status."""
    statement = select(
        ResidencePermit.resident_id,
        Town.code,
        ResidencePermit.issue_date,
        ResidencePermit.expiry_date,
        ResidencePermit.status,
        ResidencePermit.status_date,
    ).join(Town, Town.id == ResidencePermit.town_id)
    return bulk.read_frame(
        session,
        statement,
        {
            "holder": pl.Int64(),
            "town_code": pl.String(),
            "issue_date": pl.Date(),
            "expiry_date": pl.Date(),
            "status": pl.String(),
            "status_date": pl.Date(),
        },
        sqlite_chunks=ResidencePermit.id,
    )


def _children(session: Session) -> pl.DataFrame:
    """Every child with its parents (resident ids) and its household's town."""
    statement = (
        select(
            Child.id,
            Child.birth_date,
            Child.parent_id,
            Child.second_parent_id,
            Town.code,
        )
        .join(Household, Household.id == Child.household_id)
        .join(Town, Town.id == Household.town_id)
    )
    return bulk.read_frame(
        session,
        statement,
        {
            "child_id": pl.Int64(),
            "birth_date": pl.Date(),
            "parent": pl.Int64(),
            "second_parent": pl.Int64(),
            "household_town": pl.String(),
        },
        sqlite_chunks=Child.id,
    )


def _new_permits(permits: pl.DataFrame, today: date) -> pl.DataFrame:
    """Per town and month: residents whose first permit was issued then (in its town), and
    residents who left then — no permit holding after ``today``, the month their last one
    ended (in its town). A permit's end is read as ``family_presence`` reads it."""
    holders = (
        permit_spans(permits, today)
        .group_by("holder")
        .agg(
            first_issue=pl.col("issue_date").first(),
            first_town=pl.col("town_code").first(),
            last_end=pl.col("end").max(),
            last_town=pl.col("town_code").sort_by("issue_date", "end").last(),
        )
    )
    first = holders.group_by(
        town_code="first_town", month=pl.col("first_issue").dt.month_start()
    ).agg(issued=pl.len().cast(pl.Int64))
    ended = (
        holders.filter(pl.col("last_end") <= pl.lit(today, pl.Date))
        .group_by(town_code="last_town", month=pl.col("last_end").dt.month_start())
        .agg(ended=pl.len().cast(pl.Int64))
    )
    return (
        first.join(ended, on=["town_code", "month"], how="full", coalesce=True)
        .with_columns(pl.col("issued", "ended").fill_null(0))
        .select(*(pl.col(name).cast(dtype) for name, dtype in NEW_PERMIT_SCHEMA.items()))
        .sort("town_code", "month")
    )


def _school_year(as_of: pl.Expr) -> pl.Expr:
    """A cycle counted before September is for that autumn; from September, the next one."""
    return (as_of.dt.year() + (as_of.dt.month() >= 9).cast(pl.Int32)).cast(pl.Int32)


def _intakes(session: Session) -> pl.DataFrame:
    """The file's intakes and the school cycles' (a cycle wins for the same school, grade
    and year; of several cycles of one school year and grade, the newest)."""
    from_file = bulk.read_frame(
        session,
        select(
            SchoolIntake.school_year,
            SchoolIntake.school_id,
            SchoolIntake.school_name,
            SchoolIntake.town_code,
            SchoolIntake.grade,
            SchoolIntake.seats,
            SchoolIntake.applicants,
            SchoolIntake.placed,
        ),
        {
            "school_year": pl.Int64(),
            "school_id": pl.String(),
            "school_name": pl.String(),
            "town_code": pl.String(),
            "grade": pl.Int64(),
            "seats": pl.Int64(),
            "applicants": pl.Int64(),
            "placed": pl.Int64(),
        },
    ).with_columns(
        # ASSUMPTION: a reported intake was counted on the day the synthetic cycles count
        # (30 April of its year): its conditions are known from then on.
        cycle_as_of=pl.date(pl.col("school_year"), CYCLE_COUNT_DAY[0], CYCLE_COUNT_DAY[1]),
        source=pl.lit(FILE),
    )
    cycles = _cycle_intakes(session)
    both = pl.concat(
        [
            frame.select(*(pl.col(name).cast(dtype) for name, dtype in INTAKE_SCHEMA.items()))
            for frame in (cycles, from_file)
        ]
    )
    # Cycles first, so that ``unique(keep="first")`` keeps a cycle over the file.
    return both.unique(
        ["school_year", "school_id", "grade"], keep="first", maintain_order=True
    ).sort("town_code", "school_id", "grade", "school_year")


def _cycle_intakes(session: Session) -> pl.DataFrame:
    """Per school cycle (a program cycle with an entry grade) and school: its seats, the
    applications naming it first (all but those returned: 退回 is not demand), and those
    placed there by the cycle's newest allocation run (null before any run)."""
    cycles = bulk.read_frame(
        session,
        select(ProgramCycle.id, ProgramCycle.as_of, ProgramCycle.entry_grade).where(
            ProgramCycle.entry_grade.is_not(None)
        ),
        {"cycle_id": pl.Int64(), "cycle_as_of": pl.Date(), "grade": pl.Int64()},
    ).with_columns(school_year=_school_year(pl.col("cycle_as_of")))
    if cycles.height == 0:
        return pl.DataFrame(schema=INTAKE_SCHEMA)
    # The newest cycle of a school year and grade stands for it.
    cycles = cycles.sort("cycle_id").unique(["school_year", "grade"], keep="last")
    wanted = cycles["cycle_id"].to_list()
    targets = bulk.read_frame(
        session,
        select(
            CycleTarget.cycle_id,
            CycleTarget.target_id,
            CycleTarget.name,
            CycleTarget.town_code,
            CycleTarget.capacity,
        ).where(bulk.among(session, CycleTarget.cycle_id, wanted)),
        {
            "cycle_id": pl.Int64(),
            "school_id": pl.String(),
            "school_name": pl.String(),
            "town_code": pl.String(),
            "seats": pl.Int64(),
        },
    )
    choices = bulk.read_frame(
        session,
        select(Application.cycle_id, Application.choices).where(
            bulk.among(session, Application.cycle_id, wanted),
            Application.status != ApplicationStatus.RETURNED.value,
        ),
        {"cycle_id": pl.Int64(), "choices": pl.String()},
    )
    first_choice = (
        choices.select(
            "cycle_id",
            school_id=pl.col("choices")
            .str.split(";")
            .list.eval(pl.element().str.strip_chars().filter(pl.element() != ""))
            .list.first(),
        )
        .drop_nulls("school_id")
        .group_by("cycle_id", "school_id")
        .agg(applicants=pl.len().cast(pl.Int64))
    )
    newest_run = (
        select(AllocationRun.cycle_id, func.max(AllocationRun.id).label("run_id"))
        .where(bulk.among(session, AllocationRun.cycle_id, wanted))
        .group_by(AllocationRun.cycle_id)
        .subquery()
    )
    placed = bulk.read_frame(
        session,
        select(newest_run.c.cycle_id, AllocationResult.target_id, func.count())
        .join(AllocationResult, AllocationResult.run_id == newest_run.c.run_id)
        .where(
            AllocationResult.outcome == Outcome.PLACED.value,
            AllocationResult.target_id.is_not(None),
        )
        .group_by(newest_run.c.cycle_id, AllocationResult.target_id),
        {"cycle_id": pl.Int64(), "school_id": pl.String(), "placed": pl.Int64()},
    )
    allocated = bulk.read_frame(
        session,
        select(newest_run.c.cycle_id),
        {"cycle_id": pl.Int64()},
    ).with_columns(allocated=pl.lit(True))
    return (
        targets.join(cycles, on="cycle_id")
        .join(first_choice, on=["cycle_id", "school_id"], how="left")
        .join(placed, on=["cycle_id", "school_id"], how="left")
        .join(allocated, on="cycle_id", how="left")
        .with_columns(
            pl.col("applicants").fill_null(0),
            placed=pl.when(pl.col("allocated")).then(pl.col("placed").fill_null(0)),
            source=pl.lit(CYCLE),
        )
    )


def _seats(intakes: pl.DataFrame) -> pl.DataFrame:
    """Each school's seats in the newest school year known of it (per entry grade)."""
    return (
        intakes.sort("school_year", pl.col("source") == CYCLE)
        .unique(["school_id", "grade"], keep="last")
        .select(*(pl.col(name).cast(dtype) for name, dtype in SEAT_SCHEMA.items()))
        .sort("town_code", "school_id", "grade")
    )
