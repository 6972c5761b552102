"""Every query of ratings; which rows an actor reaches, as SQL, built only from
``auth/scopes.py``: a resident their own (``person``), a department's reviewers their
department's cases, the service centre and auditors every rating; a rating is written by the
resident it is about only (the service requires the role)."""

from __future__ import annotations

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from luodi.auth import scopes
from luodi.auth.actor import Actor
from luodi.ratings.models import Rating


def readable(actor: Actor) -> Select[tuple[Rating]]:
    return select(Rating).where(
        scopes.readable(actor, department=Rating.department, person=Rating.resident_id)
    )


def writable(actor: Actor) -> Select[tuple[Rating]]:
    return select(Rating).where(
        scopes.writable(actor, department=Rating.department, person=Rating.resident_id)
    )


def rated_cases(session: Session, actor: Actor) -> set[tuple[str, int]]:
    """(case kind, case id) of the ratings the actor reads (a resident: their own)."""
    statement = readable(actor).with_only_columns(Rating.case_kind, Rating.case_id)
    return {(kind, case_id) for kind, case_id in session.execute(statement)}


def level_counts(
    session: Session, actor: Actor, since_month: str
) -> list[tuple[str | None, str, int, int]]:
    """(program, month, level, how many) of the readable ratings from ``since_month`` on."""
    rated = readable(actor).where(Rating.month >= since_month).subquery()
    statement = (
        select(rated.c.program_id, rated.c.month, rated.c.level, func.count())
        .group_by(rated.c.program_id, rated.c.month, rated.c.level)
        .order_by(rated.c.month, rated.c.program_id, rated.c.level)
    )
    return [(p, m, int(level), int(n)) for p, m, level, n in session.execute(statement)]


def latest_comments(session: Session, actor: Actor, limit: int) -> list[Rating]:
    """The readable ratings with a comment, newest first."""
    statement = (
        readable(actor).where(Rating.comment.is_not(None)).order_by(Rating.id.desc()).limit(limit)
    )
    return list(session.scalars(statement))
