"""Every scoped query of programs, built only from ``auth/scopes.py``.

- Cycles are public (what is open, when): anybody reads them.
- Applications: the applicant (person), the staff of the applicant's town, the reviewers of
  the cycle's department, and the service centre and auditors.
- Allocation runs are not public (they become public through their notice): the cycle's
  department, the service centre and auditors; town staff and residents read none.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, select, true

from luodi.auth import scopes
from luodi.auth.actor import Actor
from luodi.programs.models import AllocationRun, Application, ProgramCycle


def _application_columns() -> dict[str, ColumnElement[object]]:
    return {
        "town": scopes.town_of_resident(Application.resident_id),
        "department": select(ProgramCycle.department)
        .where(ProgramCycle.id == Application.cycle_id)
        .scalar_subquery(),
        "person": Application.resident_id,
    }


def readable_cycles(actor: Actor) -> Select[tuple[ProgramCycle]]:
    return select(ProgramCycle).where(scopes.readable(actor, public=true()))


def writable_cycles(actor: Actor) -> Select[tuple[ProgramCycle]]:
    return select(ProgramCycle).where(scopes.writable(actor, department=ProgramCycle.department))


def readable_applications(actor: Actor) -> Select[tuple[Application]]:
    return select(Application).where(scopes.readable(actor, **_application_columns()))


def writable_applications(actor: Actor) -> Select[tuple[Application]]:
    return select(Application).where(scopes.writable(actor, **_application_columns()))


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
