"""Append to and check the audit chain.

Each entry's hash is SHA-256 over its fields and the previous entry's hash, so changing,
removing or reordering any entry breaks every link after it. ``record`` is the only writer;
services call it in the same transaction as the change it describes (both land or neither).
Personal data never goes into an entry: objects are named by id, states by their digest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session

from luodi import bulk
from luodi.audit.models import AuditEntry
from luodi.auth.actor import Actor, Role
from luodi.auth.permissions import require
from luodi.errors import Invalid

GENESIS = "0" * 64
CHAIN_LOCK = 7_262_001  # pg_advisory_xact_lock key of the audit chain


def lock_chain(session: Session) -> None:
    """On PostgreSQL, wait for the audit chain's turn until the transaction ends.

    The lock is the chain's own table: CHAIN_LOCK in the high 32 bits, the oid of the
    ``audit_entries`` that this session's search path resolves (the one it appends to) in
    the low. One key for the whole server made databases that share it (a city per schema,
    or parallel test runs) wait on each other's commits for nothing; the schema's name
    (``current_schema()``) could differ between two roles writing the same table."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text(
                "SELECT pg_advisory_xact_lock("
                "(CAST(:key AS bigint) << 32) | CAST('audit_entries'::regclass::oid AS bigint))"
            ),
            {"key": CHAIN_LOCK},
        )


def digest(state: Mapping[str, Any] | None) -> str | None:
    """SHA-256 of a state as canonical JSON (sorted keys), or None for "no state"."""
    if state is None:
        return None
    canonical = json.dumps(state, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def row_state(row: object) -> dict[str, Any]:
    """A mapped row's columns as a dict (what ``digest`` is taken of)."""
    mapper = inspect(row).mapper
    return {column.key: getattr(row, column.key) for column in mapper.column_attrs}


def entry_hash(entry: AuditEntry) -> str:
    fields = [
        str(entry.seq),
        entry.at,
        entry.actor,
        entry.role,
        entry.action,
        entry.object_type,
        entry.object_id,
        entry.before_digest or "",
        entry.after_digest or "",
        entry.detail or "",
        entry.prev_hash,
    ]
    return hashlib.sha256("\x1f".join(fields).encode()).hexdigest()


def record(
    session: Session,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: object,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    detail: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry to the chain (flushed, committed with the caller's change)."""
    lock_chain(session)
    head = session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).first()
    entry = AuditEntry(
        seq=(head.seq + 1) if head else 1,
        at=datetime.now(UTC).isoformat(timespec="microseconds"),
        actor=actor.username,
        role=str(actor.role),
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        before_digest=digest(before),
        after_digest=digest(after),
        detail=json.dumps(detail, sort_keys=True, ensure_ascii=False, default=str)
        if detail
        else None,
        prev_hash=head.hash if head else GENESIS,
    )
    entry.hash = entry_hash(entry)
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class ChainCheck:
    entries: int
    head: str
    broken_seq: int | None = None
    broken_id: int | None = None
    reason_zh: str = ""
    reason_en: str = ""

    @property
    def intact(self) -> bool:
        return self.broken_seq is None


def _entries(session: Session) -> Iterator[AuditEntry]:
    yield from session.scalars(
        select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=5000)
    )


def verify(actor: Actor, session: Session) -> ChainCheck:
    """Walk the chain from the start; stop at the first entry whose content or link does not
    match (or whose place in the sequence is wrong: a removed entry)."""
    require(actor, Role.AUDITOR, Role.ADMIN)
    previous, count = GENESIS, 0
    for entry in _entries(session):
        count += 1
        problem: tuple[str, str] | None = None
        if entry.seq != count:
            problem = (
                f"序号应为 {count}，实为 {entry.seq}（条目被删除或插入）",
                f"sequence should be {count}, is {entry.seq} (an entry was removed or inserted)",
            )
        elif entry.prev_hash != previous:
            problem = ("与前一条的链接不符", "the link to the previous entry does not match")
        elif entry_hash(entry) != entry.hash:
            problem = ("内容与哈希不符（条目被修改）", "content does not match its hash (altered)")
        if problem:
            return ChainCheck(count - 1, previous, entry.seq, entry.id, *problem)
        previous = entry.hash
    return ChainCheck(count, previous)


def parse_object(reference: str) -> tuple[str, str]:
    """``TYPE:ID`` → (type, id)."""
    object_type, sep, object_id = reference.partition(":")
    if not sep or not object_type.strip() or not object_id.strip():
        raise Invalid.field(
            "object", reference, "格式应为 类型:编号，如 application:12", "use TYPE:ID"
        )
    return object_type.strip(), object_id.strip()


def history(actor: Actor, session: Session, object_type: str, object_id: str) -> list[AuditEntry]:
    require(actor, Role.AUDITOR, Role.ADMIN)
    return list(
        session.scalars(
            select(AuditEntry)
            .where(AuditEntry.object_type == object_type, AuditEntry.object_id == object_id)
            .order_by(AuditEntry.seq)
        )
    )


def recent(actor: Actor, session: Session, limit: int = 100) -> list[AuditEntry]:
    require(actor, Role.AUDITOR, Role.ADMIN)
    return list(session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(limit)))


def times_since(
    session: Session, object_type: str, action: str, since: datetime
) -> dict[str, datetime]:
    """When each object last had ``action``, among those that had it at or after ``since``
    (the applications corrected lately: few, so that a deadline filter stays in SQL)."""
    found: dict[str, datetime] = {}
    statement = select(AuditEntry.object_id, AuditEntry.at).where(
        AuditEntry.object_type == object_type,
        AuditEntry.action == action,
        # Stored as UTC ISO text of one width: text order is time order.
        AuditEntry.at >= since.astimezone(UTC).isoformat(timespec="microseconds"),
    )
    for object_id, at in session.execute(statement):
        moment = datetime.fromisoformat(at)
        if object_id not in found or moment > found[object_id]:
            found[object_id] = moment
    return found


def last_times(
    session: Session, object_type: str, action: str, object_ids: Sequence[str]
) -> dict[str, datetime]:
    """When each of these objects last had ``action`` (e.g. when an application was last
    corrected): the times only, for the services that count deadlines from them; the entries
    themselves stay for auditors and administrators (``history``)."""
    if not object_ids:
        return {}
    found: dict[str, datetime] = {}
    statement = select(AuditEntry.object_id, AuditEntry.at).where(
        AuditEntry.object_type == object_type,
        AuditEntry.action == action,
        bulk.among(session, AuditEntry.object_id, sorted(set(object_ids))),
    )
    for object_id, at in session.execute(statement):
        moment = datetime.fromisoformat(at)
        if object_id not in found or moment > found[object_id]:
            found[object_id] = moment
    return found
