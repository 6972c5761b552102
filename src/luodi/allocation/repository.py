"""Every scoped query of allocation runs, built only from ``auth/scopes.py``.

Allocation runs are not public (they become public through their notice): the cycle's
department, the service centre and auditors; town staff and residents read none.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, select

from luodi.allocation.models import AllocationRun
from luodi.auth import scopes
from luodi.auth.actor import Actor
from luodi.programs.models import ProgramCycle


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
