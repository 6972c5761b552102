"""Every query of the audit log's readers, built from ``auth/scopes.py``: an entry names no
town, department or person, so the roles that read every row (and, by ``service.require``,
only auditors and administrators ask) read all of it; everybody else none."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from luodi.audit.models import AuditEntry
from luodi.auth import scopes
from luodi.auth.actor import Actor


@dataclass(frozen=True)
class EntryFilter:
    """Which entries: of one object (type, and id), by one actor (username), at or after
    ``since`` and before ``until`` (moments as the chain's own ``at`` text: UTC ISO 8601 with
    microseconds, so that text order is time order)."""

    object_type: str | None = None
    object_id: str | None = None
    actor: str | None = None
    action: str | None = None
    since: str | None = None
    until: str | None = None


def readable_entries(actor: Actor) -> Select[tuple[AuditEntry]]:
    return select(AuditEntry).where(scopes.readable(actor))


def filtered(actor: Actor, wanted: EntryFilter) -> Select[tuple[AuditEntry]]:
    statement = readable_entries(actor)
    if wanted.object_type:
        statement = statement.where(AuditEntry.object_type == wanted.object_type)
    if wanted.object_id:
        statement = statement.where(AuditEntry.object_id == wanted.object_id)
    if wanted.actor:
        statement = statement.where(AuditEntry.actor == wanted.actor)
    if wanted.action:
        statement = statement.where(AuditEntry.action == wanted.action)
    if wanted.since:
        statement = statement.where(AuditEntry.at >= wanted.since)
    if wanted.until:
        statement = statement.where(AuditEntry.at < wanted.until)
    return statement


def entries_page(
    session: Session, actor: Actor, wanted: EntryFilter, offset: int, limit: int
) -> tuple[list[AuditEntry], int]:
    """One page of the matching entries, newest first, and how many match in all."""
    statement = filtered(actor, wanted)
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    page = session.scalars(statement.order_by(AuditEntry.seq.desc()).offset(offset).limit(limit))
    return list(page), int(total)


def latest(session: Session, actor: Actor, action: str) -> AuditEntry | None:
    """The newest entry of ``action`` the actor reads."""
    return session.scalars(
        readable_entries(actor)
        .where(AuditEntry.action == action)
        .order_by(AuditEntry.seq.desc())
        .limit(1)
    ).first()


def chain_length(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def object_types(session: Session, actor: Actor) -> list[str]:
    statement = (
        readable_entries(actor)
        .with_only_columns(AuditEntry.object_type)
        .distinct()
        .order_by(AuditEntry.object_type)
    )
    return list(session.scalars(statement))
