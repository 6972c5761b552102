"""Every query of feed batches, scoped by the actor in SQL (``auth/scopes.py``).

A batch belongs to the department that owned its feed when it was imported
(``FeedBatch.department``): reviewers and department tokens reach their own department's
batches; operators, administrators and auditors all of them; town staff, residents and the
public none.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, select, text
from sqlalchemy.orm import Session

from luodi.auth import scopes
from luodi.auth.actor import Actor
from luodi.feeds.models import FeedBatch

LISTED_BATCHES = 200


def readable(actor: Actor) -> ColumnElement[bool]:
    return scopes.readable(actor, department=FeedBatch.department)


def writable(actor: Actor) -> ColumnElement[bool]:
    return scopes.writable(actor, department=FeedBatch.department)


def readable_batches(actor: Actor) -> Select[FeedBatch]:
    return select(FeedBatch).where(readable(actor))


def batches(session: Session, actor: Actor, feed: str | None = None) -> list[FeedBatch]:
    """The newest batches the actor may read, of one feed or of all."""
    statement = readable_batches(actor).order_by(FeedBatch.id.desc())
    if feed is not None:
        statement = statement.where(FeedBatch.feed == feed)
    return list(session.scalars(statement.limit(LISTED_BATCHES)))


def batch_by_id(session: Session, actor: Actor, batch_id: int) -> FeedBatch | None:
    """The batch, or None when it does not exist or is out of the actor's reach (alike)."""
    return session.scalars(readable_batches(actor).where(FeedBatch.id == batch_id)).one_or_none()


def batch_with_digest(session: Session, feed: str, digest: str) -> FeedBatch | None:
    """The earlier batch of this content in this feed (re-imports change nothing); unscoped:
    whoever may import into the feed learns that its content is already there."""
    return session.scalars(
        select(FeedBatch).where(FeedBatch.feed == feed, FeedBatch.digest == digest)
    ).first()


def lock_feed(session: Session, feed: str) -> None:
    """Serialise the writing phase of imports into one feed, until the transaction ends.

    On PostgreSQL parallel imports of one feed would otherwise race on the same facts (two
    batches superseding each other's record keys can deadlock) and on the same content
    (both see no earlier batch, the second fails on the unique digest); the transaction-level
    advisory lock makes the second wait for the first to commit, and it then sees the first's
    batch and facts. SQLite has one writer at a time already (the second waits on its busy
    timeout), so there is nothing to take."""
    if session.connection().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"luodi.feed:{feed}"}
        )
