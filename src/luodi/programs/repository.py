"""Every scoped query of programs, built only from ``auth/scopes.py``.

- Cycles are public (what is open, when): anybody reads them.
- Applications: the applicant (person), the staff of the applicant's town, the reviewers of
  the cycle's department, and the service centre and auditors.
- Allocation runs: ``allocation/repository.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import polars as pl
from sqlalchemy import ColumnElement, Select, func, select, true
from sqlalchemy.orm import Session

from luodi import bulk
from luodi.auth import scopes
from luodi.auth.actor import Actor
from luodi.errors import NotFound
from luodi.programs.models import Application, ApplicationDraft, CycleStatus, ProgramCycle
from luodi.registry import repository as registry_repository
from luodi.registry.models import Child, Resident, Town

Row = TypeVar("Row")


def _application_columns() -> dict[str, Any]:
    # A child's application is the applicant's and the child's two registered parents': one
    # parent filing must not lock the other out of reading and correcting it (both are its
    # guardians, 《民法典》第二十七条; one application per child and cycle).
    def parent(column: Any) -> Any:
        return select(column).where(Child.id == Application.child_id).scalar_subquery()

    return {
        "town": scopes.town_of_resident(Application.resident_id),
        "department": select(ProgramCycle.department)
        .where(ProgramCycle.id == Application.cycle_id)
        .scalar_subquery(),
        "person": (
            Application.resident_id,
            parent(Child.parent_id),
            parent(Child.second_parent_id),
        ),
    }


def readable_cycles(actor: Actor) -> Select[tuple[ProgramCycle]]:
    return select(ProgramCycle).where(scopes.readable(actor, public=true()))


def writable_cycles(actor: Actor) -> Select[tuple[ProgramCycle]]:
    return select(ProgramCycle).where(scopes.writable(actor, department=ProgramCycle.department))


def readable_applications(actor: Actor) -> Select[tuple[Application]]:
    return select(Application).where(scopes.readable(actor, **_application_columns()))


def writable_applications(actor: Actor) -> Select[tuple[Application]]:
    return select(Application).where(scopes.writable(actor, **_application_columns()))


def one(session: Session, statement: Select[tuple[Row]], zh: str, en: str) -> Row:
    """The one row of a scoped statement, or "not found" (out of scope looks the same)."""
    found = session.scalars(statement).one_or_none()
    if found is None:
        raise NotFound(zh, en)
    return found


def get_cycle(actor: Actor, session: Session, cycle_id: int) -> ProgramCycle:
    statement = readable_cycles(actor).where(ProgramCycle.id == cycle_id)
    return one(session, statement, f"没有申报周期 {cycle_id}", f"no program cycle {cycle_id}")


def writable_cycle(actor: Actor, session: Session, cycle_id: int) -> ProgramCycle:
    """A cycle the actor may change (a reviewer: own department's); else "not found"."""
    statement = writable_cycles(actor).where(ProgramCycle.id == cycle_id)
    return one(session, statement, f"没有申报周期 {cycle_id}", f"no program cycle {cycle_id}")


def residents_numbered(session: Session, actor: Actor, id_numbers: Sequence[str]) -> pl.DataFrame:
    """``id_number``, ``resident_id``, ``household_id`` of the residents ``actor`` reads
    among these ID numbers (an application file's: never the whole registry)."""
    return bulk.read_frame(
        session,
        select(Resident.id_number, Resident.id, Resident.household_id).where(
            bulk.among(session, Resident.id_number, sorted(set(id_numbers))),
            registry_repository.readable_applicants(actor),
        ),
        {"id_number": pl.String, "resident_id": pl.Int64, "household_id": pl.Int64},
    )


def children_numbered(session: Session, actor: Actor, id_numbers: Sequence[str]) -> pl.DataFrame:
    """``child_id_number``, ``child_id``, ``child_household`` and the two parents' resident
    ids (``child_parent``, ``child_second_parent``: the children feed's ``id_number`` and
    ``second_parent_id_number``, null when not registered) of the children ``actor`` reads
    among these ID numbers."""
    return bulk.read_frame(
        session,
        select(
            Child.id_number, Child.id, Child.household_id, Child.parent_id, Child.second_parent_id
        ).where(
            bulk.among(session, Child.id_number, sorted(set(id_numbers))),
            registry_repository.readable_children(actor),
        ),
        {
            "child_id_number": pl.String,
            "child_id": pl.Int64,
            "child_household": pl.Int64,
            "child_parent": pl.Int64,
            "child_second_parent": pl.Int64,
        },
    )


QUEUE_PAGE_SIZE = 25


def application_queue(
    actor: Actor,
    cycle_id: int,
    statuses: Sequence[str] = (),
    route: str | None = None,
    town_code: str | None = None,
    due: ColumnElement[bool] | None = None,
) -> Select[tuple[Application]]:
    """A cycle's applications the actor reads, filtered (status, the ``route`` field, the
    applicant's town, a deadline predicate from ``deadlines.due_between``), oldest first."""
    statement = readable_applications(actor).where(Application.cycle_id == cycle_id)
    if statuses:
        statement = statement.where(Application.status.in_(list(statuses)))
    if route:
        # Fields are JSON text written by ``json.dumps`` (", " and ": " separators) on both
        # databases; a route is an enum key (letters only), so a LIKE on its pair is exact.
        statement = statement.where(
            Application.fields.like(f'%"route": "{_like_safe(route)}"%', escape="\\")
        )
    if town_code:
        statement = statement.where(
            scopes.town_of_resident(Application.resident_id)
            == select(Town.id).where(Town.code == town_code).scalar_subquery()
        )
    if due is not None:
        statement = statement.where(due)
    return statement.order_by(Application.id)


def _like_safe(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_").replace('"', "")


def queue_page(
    session: Session, statement: Select[tuple[Application]], page: int, size: int
) -> tuple[list[Application], int]:
    """One page of a queue (LIMIT/OFFSET in SQL) and how many match in all."""
    total = session.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
    rows = session.scalars(statement.limit(size).offset((page - 1) * size)).all()
    return list(rows), int(total or 0)


def applicants_of(session: Session, resident_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """Resident id → (name, town code) of applications' applicants (already in scope: the
    applications were read through ``readable_applications``)."""
    if not resident_ids:
        return {}
    rows = session.execute(
        select(Resident.id, Resident.name, Town.code)
        .outerjoin(Town, Town.id == Resident.town_id)
        .where(Resident.id.in_(sorted(set(resident_ids))))
    ).all()
    return {row[0]: (row[1], row[2] or "") for row in rows}


def town_names(session: Session) -> list[tuple[str, str]]:
    """Town code and name of every town (towns are public), for filters and rows in words."""
    return [(row[0], row[1]) for row in session.execute(select(Town.code, Town.name))]


def application_counts(
    session: Session, actor: Actor, cycle_ids: Sequence[int]
) -> dict[int, dict[str, int]]:
    """Cycle id → status → how many of its applications the actor reads (one query)."""
    if not cycle_ids:
        return {}
    statement = (
        readable_applications(actor)
        .where(Application.cycle_id.in_(list(cycle_ids)))
        .with_only_columns(Application.cycle_id, Application.status, func.count())
        .group_by(Application.cycle_id, Application.status)
    )
    counts: dict[int, dict[str, int]] = {}
    for cycle_id, status, count in session.execute(statement):
        counts.setdefault(cycle_id, {})[status] = count
    return counts


def own_resident(session: Session, actor: Actor) -> int | None:
    """The registry id of a resident actor (none for anybody else, or a resident whose ID
    number is not, or no longer, in the registry)."""
    found = session.execute(select(scopes.resident_of_actor(actor))).scalar_one_or_none()
    return None if found is None else int(found)


CHILD_COLUMNS = {
    "child_id": pl.Int64,
    "child_name": pl.String,
    "child_birth_date": pl.Date,
    "child_grade": pl.Int64,
    "parent_id": pl.Int64,
    "second_parent_id": pl.Int64,
}


def own_children(session: Session, resident_id: int) -> pl.DataFrame:
    """``CHILD_COLUMNS`` of the children whose registered parent (or second parent) the
    resident is (the children feed's two), oldest first; by the indexed parent columns."""
    return bulk.read_frame(
        session,
        select(
            Child.id,
            Child.name,
            Child.birth_date,
            Child.grade,
            Child.parent_id,
            Child.second_parent_id,
        )
        .where((Child.parent_id == resident_id) | (Child.second_parent_id == resident_id))
        .order_by(Child.birth_date, Child.id),
        CHILD_COLUMNS,
    )


def open_cycles(session: Session) -> list[ProgramCycle]:
    """The cycles taking or deciding applications (status open), newest first: cycles are
    public (what is open, when); a city has a handful at a time."""
    return list(
        session.scalars(
            select(ProgramCycle)
            .where(ProgramCycle.status == CycleStatus.OPEN)
            .order_by(ProgramCycle.opens.desc(), ProgramCycle.id.desc())
        )
    )


def own_child_records(session: Session, resident_id: int) -> list[Child]:
    """The children whose registered parent (or guardian) ``resident_id`` is — the two the
    children feed names — by the indexed parent columns; the only children a resident
    applies for (``intake``: the applicant must be one of the child's two parents)."""
    return list(
        session.scalars(
            select(Child)
            .where((Child.parent_id == resident_id) | (Child.second_parent_id == resident_id))
            .order_by(Child.birth_date, Child.id)
        )
    )


def drafts_of(username: str, cycle_id: int) -> Select[tuple[ApplicationDraft]]:
    """An account's drafts in a cycle (a draft is its keeper's alone: by account name)."""
    return select(ApplicationDraft).where(
        ApplicationDraft.username == username, ApplicationDraft.cycle_id == cycle_id
    )
