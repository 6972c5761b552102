"""Every query of jobs, scoped by the actor in SQL (``auth/scopes.py``).

A job is read by the staff who read everything (administrators, operators, auditors), by the
department (and town) of the object it works on (a reviewer sees the imports of the
department's feeds and the allocations of its cycles), and by whoever submitted it.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session

from luodi.auth import scopes
from luodi.auth.actor import Actor
from luodi.jobs.models import Job

MAX_LISTED = 200


def readable(actor: Actor) -> ColumnElement[bool]:
    own = scopes.submitted_by(actor, username=Job.created_by, role=Job.created_role)
    return scopes.readable(actor, department=Job.department, town=Job.town_id) | own


def readable_jobs(actor: Actor) -> Select[tuple[Job]]:
    return select(Job).where(readable(actor))


def job_by_id(session: Session, actor: Actor, job_id: int) -> Job | None:
    """The job, or None when it does not exist or is out of the actor's reach (alike)."""
    return session.scalars(readable_jobs(actor).where(Job.id == job_id)).one_or_none()


def jobs(session: Session, actor: Actor, kind: str | None, limit: int) -> list[Job]:
    """The newest jobs the actor may read, of one kind or of all."""
    statement = readable_jobs(actor).order_by(Job.id.desc())
    if kind is not None:
        statement = statement.where(Job.kind == kind)
    return list(session.scalars(statement.limit(max(1, min(limit, MAX_LISTED)))))
