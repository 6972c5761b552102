"""Every scoped query of allocation runs, built only from ``auth/scopes.py``.

Allocation runs are not public (they become public through their notice): the cycle's
department, the service centre and auditors; town staff and residents read none. What an
allocation reads of the registry is the people of the cycle's applications, never the whole
population, each read scoped by ``registry.repository.readable``.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
from sqlalchemy import ColumnElement, Select, and_, func, select
from sqlalchemy.orm import Session

from luodi import bulk
from luodi.allocation.models import AllocationResult, AllocationRun, Outcome
from luodi.auth import scopes
from luodi.auth.actor import Actor
from luodi.kernels.allocation.programs import Placement
from luodi.programs.models import Application, ProgramCycle
from luodi.registry import repository as registry_repository
from luodi.registry.models import Child, Resident, Town


def _run_department() -> ColumnElement[object]:
    return (
        select(ProgramCycle.department)
        .where(ProgramCycle.id == AllocationRun.cycle_id)
        .scalar_subquery()
    )


def readable_runs(actor: Actor) -> Select[tuple[AllocationRun]]:
    return select(AllocationRun).where(scopes.readable(actor, department=_run_department()))


def writable_runs(actor: Actor) -> Select[tuple[AllocationRun]]:
    return select(AllocationRun).where(scopes.writable(actor, department=_run_department()))


def readable_cycle_of_runs(actor: Actor, cycle_id: int) -> Select[tuple[ProgramCycle]]:
    """The cycle, if ``actor`` reads its runs (a reviewer: the own department's cycles).
    Cycles themselves are public; their runs are not."""
    return select(ProgramCycle).where(
        ProgramCycle.id == cycle_id, scopes.readable(actor, department=ProgramCycle.department)
    )


def result_count(session: Session, run_id: int) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(AllocationResult)
            .where(AllocationResult.run_id == run_id)
        )
        or 0
    )


def result_tallies(session: Session, actor: Actor, run_id: int) -> pl.DataFrame:
    """``outcome``, ``town_code`` and ``town`` (the town the applicant lives in, as the
    registry has it: null when unknown or out of the actor's reach), ``results``: a run's
    results counted in SQL (a chart's numbers without reading the run)."""
    return bulk.read_frame(
        session,
        select(AllocationResult.outcome, Town.code, Town.name, func.count())
        .select_from(AllocationResult)
        .join(Application, Application.id == AllocationResult.application_id)
        .outerjoin(
            Resident,
            and_(Resident.id == Application.resident_id, registry_repository.readable(actor)),
        )
        .outerjoin(Town, Town.id == Resident.town_id)
        .where(AllocationResult.run_id == run_id)
        .group_by(AllocationResult.outcome, Town.code, Town.name),
        {"outcome": pl.String, "town_code": pl.String, "town": pl.String, "results": pl.Int64},
    )


def result_page(session: Session, run_id: int, offset: int, limit: int) -> list[int]:
    """The application ids of results ``offset``+1 … ``offset``+``limit`` of a run in the
    order its notice lists them (rank, unranked last, then application): one page is read,
    never the run."""
    return list(
        session.scalars(
            select(AllocationResult.application_id)
            .where(AllocationResult.run_id == run_id)
            .order_by(
                AllocationResult.rank.is_(None),
                AllocationResult.rank,
                AllocationResult.application_id,
            )
            .offset(offset)
            .limit(limit)
        )
    )


# --- who an allocation reads: only the people of the cycle's applications -----------------


APPLICATION_SCHEMA = {
    "application_id": pl.Int64,
    "applicant": pl.Int64,
    "child_id": pl.Int64,
    "choices": pl.String,
    "fields": pl.String,
}
"""An application as an allocation reads it (``cycle_applications``)."""


def cycle_applications(
    session: Session,
    cycle_id: int,
    statuses: Sequence[str],
    application_id: int | None = None,
) -> pl.DataFrame:
    """``application_id``, ``applicant``, ``child_id``, ``choices``, ``fields`` of the
    cycle's applications in these states (or the one ``application_id``), in the order they
    were filed."""
    statement = select(
        Application.id,
        Application.resident_id,
        Application.child_id,
        Application.choices,
        Application.fields,
    ).where(Application.cycle_id == cycle_id)
    if application_id is None:
        statement = statement.where(Application.status.in_(statuses))
    else:
        statement = statement.where(Application.id == application_id)
    return bulk.read_frame(
        session,
        statement.order_by(Application.submitted_at, Application.id),
        APPLICATION_SCHEMA,
    )


PERSON_SCHEMA = {"resident_id": pl.Int64, "household_id": pl.Int64, "town_code": pl.String}


def earlier_grants(
    session: Session, cycle: ProgramCycle, resident_ids: Sequence[int] | None = None
) -> pl.DataFrame:
    """``resident_id`` and ``value`` (``granted_for``) of every grant of the cycle's program
    in the latest run of each of its other cycles (a final cycle's is its final run): what a
    once-only benefit was already given for. Not only final runs: two cycles allocated before
    either was final each granted the same level to the same person (the 3,000 yuan twice).
    A grant a later re-run withdraws stops counting when that run is made. ``resident_ids``:
    only theirs (a few applicants: not every grant of the program)."""
    latest = (
        select(func.max(AllocationRun.id))
        .join(ProgramCycle, ProgramCycle.id == AllocationRun.cycle_id)
        .where(ProgramCycle.program_id == cycle.program_id, ProgramCycle.id != cycle.id)
        .group_by(AllocationRun.cycle_id)
    )
    return bulk.read_frame(
        session,
        select(Application.resident_id, AllocationResult.granted_for)
        .join(Application, Application.id == AllocationResult.application_id)
        .where(
            AllocationResult.run_id.in_(latest),
            AllocationResult.outcome == Outcome.PLACED.value,
            AllocationResult.granted_for.is_not(None),
            *(
                [bulk.among(session, Application.resident_id, sorted(set(resident_ids)))]
                if resident_ids is not None
                else []
            ),
        ),
        {"resident_id": pl.Int64, "value": pl.String},
    )


def _persons(session: Session, actor: Actor, among: ColumnElement[bool]) -> pl.DataFrame:
    """``PERSON_SCHEMA`` rows of the residents ``among`` picks that ``actor`` reads."""
    return bulk.read_frame(
        session,
        select(Resident.id, Resident.household_id, Town.code)
        .join(Town, Town.id == Resident.town_id)
        .where(among, registry_repository.readable(actor)),
        PERSON_SCHEMA,
    )


def people(session: Session, actor: Actor, resident_ids: Sequence[int]) -> pl.DataFrame:
    """``resident_id``, ``household_id``, ``town_code`` of these residents (those ``actor``
    reads)."""
    return _persons(session, actor, bulk.among(session, Resident.id, sorted(set(resident_ids))))


def household_members(session: Session, actor: Actor, household_ids: Sequence[int]) -> pl.DataFrame:
    """Every resident of these households ``actor`` reads (``PERSON_SCHEMA``)."""
    return _persons(
        session, actor, bulk.among(session, Resident.household_id, sorted(set(household_ids)))
    )


def household_sizes(session: Session, actor: Actor, household_ids: Sequence[int]) -> pl.DataFrame:
    """``household_id``, ``household_size``: the residents and accompanying children of each
    of these households as the registry has them (those ``actor`` reads)."""
    listed = sorted(set(household_ids))
    adults = bulk.read_frame(
        session,
        select(Resident.household_id, func.count())
        .where(
            bulk.among(session, Resident.household_id, listed),
            registry_repository.readable(actor),
        )
        .group_by(Resident.household_id),
        {"household_id": pl.Int64, "adults": pl.Int64},
    )
    children = bulk.read_frame(
        session,
        select(Child.household_id, func.count())
        .where(
            bulk.among(session, Child.household_id, listed),
            registry_repository.readable_children(actor),
        )
        .group_by(Child.household_id),
        {"household_id": pl.Int64, "children": pl.Int64},
    )
    return adults.join(children, on="household_id", how="left").select(
        "household_id",
        household_size=(pl.col("adults") + pl.col("children").fill_null(0)).cast(pl.Int64),
    )


def names(
    session: Session, actor: Actor, resident_ids: Sequence[int], child_ids: Sequence[int]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(``resident_id``, ``id_number``, ``name``) of these residents and (``child_id``,
    ``child_id_number``, ``child_name``) of these children, those ``actor`` reads."""
    residents = bulk.read_frame(
        session,
        select(Resident.id, Resident.id_number, Resident.name).where(
            bulk.among(session, Resident.id, sorted(set(resident_ids))),
            registry_repository.readable(actor),
        ),
        {"resident_id": pl.Int64, "id_number": pl.String, "name": pl.String},
    )
    children = bulk.read_frame(
        session,
        select(Child.id, Child.id_number, Child.name).where(
            bulk.among(session, Child.id, sorted(set(child_ids))),
            registry_repository.readable_children(actor),
        ),
        {"child_id": pl.Int64, "child_id_number": pl.String, "child_name": pl.String},
    )
    return residents, children


def lowest_placed(session: Session, run_id: int, group: int | None) -> float | None:
    """The lowest points of an application the run placed at one of its choices, among the
    applications of ``group`` (those ranked by points) when given: the run's cut-off
    (录取线), as its notice shows it. None: nobody placed so."""
    lowest = session.scalar(
        select(func.min(AllocationResult.points)).where(
            AllocationResult.run_id == run_id,
            AllocationResult.outcome == Outcome.PLACED.value,
            AllocationResult.placement == Placement.CHOICE.value,
            *([AllocationResult.priority_group == group] if group is not None else []),
        )
    )
    return None if lowest is None else float(lowest)


def lowest_placed_by_target(session: Session, run_id: int, group: int | None) -> dict[str, float]:
    """``lowest_placed`` per target (school, or a project's layout): target id → the lowest
    points the run placed there at a choice, among ``group`` when given — each school's 录取线
    beside its name when a resident chooses."""
    rows = session.execute(
        select(AllocationResult.target_id, func.min(AllocationResult.points))
        .where(
            AllocationResult.run_id == run_id,
            AllocationResult.outcome == Outcome.PLACED.value,
            AllocationResult.placement == Placement.CHOICE.value,
            AllocationResult.points.is_not(None),
            AllocationResult.target_id.is_not(None),
            *([AllocationResult.priority_group == group] if group is not None else []),
        )
        .group_by(AllocationResult.target_id)
    )
    return {str(target): float(points) for target, points in rows}


def applications_version(
    session: Session, cycle_id: int, statuses: Sequence[str]
) -> tuple[int, int, str]:
    """How many applications of the cycle are in these states, the highest id and the
    latest verification: what changes when the cycle's ranked applications change (a cache
    of their ranking keys is kept while it stays the same)."""
    row = session.execute(
        select(func.count(), func.max(Application.id), func.max(Application.verified_at)).where(
            Application.cycle_id == cycle_id, Application.status.in_(list(statuses))
        )
    ).one()
    return int(row[0] or 0), int(row[1] or 0), str(row[2])
