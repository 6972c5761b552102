"""Append to and check the audit chain.

Each entry's hash is SHA-256 over its fields and the previous entry's hash, so changing,
removing or reordering any entry breaks every link after it. ``record`` is the only writer;
services call it in the same transaction as the change it describes (both land or neither).
Personal data never goes into an entry: objects are named by id, states by their digest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol

from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session

from luodi import bulk, workdays
from luodi.audit import repository
from luodi.audit.models import AuditEntry
from luodi.auth.actor import Actor, Role
from luodi.auth.permissions import require
from luodi.errors import Invalid

GENESIS = "0" * 64
CHAIN_LOCK = 7_262_001  # pg_advisory_xact_lock key of the audit chain
VERIFY_BATCH_ROWS = 5000
VERIFIED = "audit.verify"
"""The action of a verification asked for in the console (``verify_and_record``)."""


def lock_chain(session: Session) -> None:
    """Wait for the audit chain's turn until the transaction ends (PostgreSQL: an advisory
    lock; SQLite: the database's write lock).

    The lock is the chain's own table: CHAIN_LOCK in the high 32 bits, the oid of the
    ``audit_entries`` that this session's search path resolves (the one it appends to) in
    the low. One key for the whole server made databases that share it (a city per schema,
    or parallel test runs) wait on each other's commits for nothing; the schema's name
    (``current_schema()``) could differ between two roles writing the same table."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(
            text(
                "SELECT pg_advisory_xact_lock("
                "(CAST(:key AS bigint) << 32) | CAST('audit_entries'::regclass::oid AS bigint))"
            ),
            {"key": CHAIN_LOCK},
        )
    elif dialect == "sqlite":
        # SQLite's driver opens the transaction at the first write, so the head read next
        # would run outside it: two appenders read the same head, the second waits for the
        # first's commit and then inserts the same seq (a 409 under parallel sign-ins). A
        # write that changes nothing takes the one write lock first (waiting its turn), and
        # the head is then read inside the transaction that holds it.
        session.execute(text("UPDATE audit_entries SET seq = seq WHERE 1 = 0"))


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


class Hashed(Protocol):
    """What an entry's hash is taken of: a stored entry, or a row of its columns."""

    seq: int
    at: str
    actor: str
    role: str
    action: str
    object_type: str
    object_id: str
    before_digest: str | None
    after_digest: str | None
    detail: str | None
    prev_hash: str


def entry_hash(entry: Hashed) -> str:
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


_CHAIN = AuditEntry.__table__.c


def chain_head(session: Session) -> tuple[int, str] | None:
    """The last entry's place and hash (None: an empty chain). Every change is audited in its
    own transaction, so this names the state of everything written: a cache of what is
    computed from the database (the entitlement finder) is valid while it stays the same
    (the hash tells one database's chain from another's)."""
    row = session.execute(
        select(_CHAIN.seq, _CHAIN.hash).order_by(_CHAIN.seq.desc()).limit(1)
    ).first()
    return None if row is None else (int(row[0]), str(row[1]))


def last_change(session: Session, ignoring: Collection[str]) -> tuple[int, str] | None:
    """The place and hash of the last entry whose action is not one of ``ignoring``: like
    ``chain_head`` for a cache that the listed writes cannot make wrong (a sign-in, a draft
    saved). Read backwards along the chain's unique ``seq`` index, so only the ignored entries
    written since are stepped over."""
    row = session.execute(
        select(_CHAIN.seq, _CHAIN.hash)
        .where(_CHAIN.action.not_in(list(ignoring)))
        .order_by(_CHAIN.seq.desc())
        .limit(1)
    ).first()
    return None if row is None else (int(row[0]), str(row[1]))


def chain_origin(session: Session) -> str | None:
    """The first entry's hash: which database this is (two databases' chains start apart)."""
    return session.scalar(select(_CHAIN.hash).where(_CHAIN.seq == 1))


def _entries(session: Session) -> Iterator[Any]:
    """The entries in order as plain rows of their columns (half the time of ORM objects:
    a chain of 100,000 entries is read in about four seconds)."""
    statement = select(*_CHAIN).order_by(_CHAIN.seq).execution_options(yield_per=VERIFY_BATCH_ROWS)
    for partition in session.execute(statement).partitions():
        yield from partition


Progress = Callable[[str, int, int], None]
"""(phase "中文 / English", done, total), as a job reports it."""


def verify(actor: Actor, session: Session, progress: Progress | None = None) -> ChainCheck:
    """Walk the chain from the start; stop at the first entry whose content or link does not
    match (or whose place in the sequence is wrong: a removed entry). ``progress`` hears of
    every ``VERIFY_BATCH_ROWS`` entries checked (a job's progress bar)."""
    require(actor, Role.AUDITOR, Role.ADMIN)
    total = repository.chain_length(session) if progress else 0
    previous, count = GENESIS, 0
    for entry in _entries(session):
        count += 1
        if progress and count % VERIFY_BATCH_ROWS == 0:
            progress("校验审计链 / verifying the audit chain", count, total)
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


def verify_and_record(
    actor: Actor, session: Session, progress: Progress | None = None
) -> ChainCheck:
    """``verify``, and its outcome appended to the chain (who checked, when, what they
    found): the console's "last verification" is the newest such entry. A broken chain is
    recorded too; the entry links to the head as it is, so the next check finds the same
    break, not a new one."""
    check = verify(actor, session, progress)
    record(
        session,
        actor,
        VERIFIED,
        "audit_chain",
        "all",
        detail={
            "intact": check.intact,
            "entries": check.entries,
            "head": check.head,
            "broken_seq": check.broken_seq,
            "reason_zh": check.reason_zh,
            "reason_en": check.reason_en,
        },
    )
    return check


@dataclass(frozen=True)
class Verification:
    """A verification recorded in the chain: when, by whom, and what it found."""

    at: datetime
    actor: str
    check: ChainCheck


def last_verification(actor: Actor, session: Session) -> Verification | None:
    require(actor, Role.AUDITOR, Role.ADMIN)
    entry = repository.latest(session, actor, VERIFIED)
    if entry is None:
        return None
    found = json.loads(entry.detail or "{}")
    check = ChainCheck(
        entries=int(found.get("entries", 0)),
        head=str(found.get("head", "")),
        broken_seq=found.get("broken_seq"),
        reason_zh=str(found.get("reason_zh", "")),
        reason_en=str(found.get("reason_en", "")),
    )
    return Verification(datetime.fromisoformat(entry.at), entry.actor, check)


MAX_PAGE_ENTRIES = 200


def search(
    actor: Actor,
    session: Session,
    object_type: str | None = None,
    object_id: str | None = None,
    by: str | None = None,
    since: date | None = None,
    until: date | None = None,
    offset: int = 0,
    limit: int = 50,
    action: str | None = None,
) -> tuple[list[AuditEntry], int]:
    """One page of the entries of an object, by an actor (username), from ``since`` to
    ``until`` (days in China, both included), newest first, and how many match."""
    require(actor, Role.AUDITOR, Role.ADMIN)
    if since and until and until < since:
        raise Invalid.field(
            "until", until.isoformat(), "结束日期早于开始日期", "the end is before the start"
        )
    if not 1 <= limit <= MAX_PAGE_ENTRIES or offset < 0:
        raise Invalid.field("page", offset, "页码超出范围", "no such page")
    if object_id and not object_type:
        raise Invalid.field(
            "object_type", "", "按编号查找时须同时选择对象类型", "choose the object's type too"
        )
    wanted = repository.EntryFilter(
        object_type=(object_type or "").strip() or None,
        object_id=(object_id or "").strip() or None,
        actor=(by or "").strip() or None,
        action=(action or "").strip() or None,
        since=_chain_moment(since) if since else None,
        until=_chain_moment(until + timedelta(days=1)) if until else None,
    )
    return repository.entries_page(session, actor, wanted, offset, limit)


def _chain_moment(day: date) -> str:
    """The start of ``day`` in China as the chain writes a moment (``record``'s ``at``)."""
    start = datetime.combine(day, time(0), tzinfo=workdays.CHINA_TIME).astimezone(UTC)
    return start.isoformat(timespec="microseconds")


def object_types(actor: Actor, session: Session) -> list[str]:
    """The kinds of object the chain has entries about (a filter's choices)."""
    require(actor, Role.AUDITOR, Role.ADMIN)
    return repository.object_types(session, actor)


def chain_length(actor: Actor, session: Session) -> int:
    require(actor, Role.AUDITOR, Role.ADMIN)
    return repository.chain_length(session)


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


def action_times(
    session: Session, object_type: str, object_id: object, actions: Sequence[str]
) -> list[tuple[str, datetime]]:
    """Which of ``actions`` one object had, and when, oldest first: the actions and times
    only (an application's time line: verified, returned, corrected), by the object's index;
    the entries themselves stay for auditors and administrators (``history``)."""
    statement = (
        select(AuditEntry.action, AuditEntry.at)
        .where(
            AuditEntry.object_type == object_type,
            AuditEntry.object_id == str(object_id),
            AuditEntry.action.in_(list(actions)),
        )
        .order_by(AuditEntry.seq)
    )
    return [(action, datetime.fromisoformat(at)) for action, at in session.execute(statement)]
