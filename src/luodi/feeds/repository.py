"""Every query of feed batches, scoped by the actor in SQL (``auth/scopes.py``).

A batch belongs to the department that owned its feed when it was imported
(``FeedBatch.department``): reviewers and department tokens reach their own department's
batches; operators, administrators and auditors all of them; town staff, residents and the
public none.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from luodi.audit.service import lock_chain
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


def latest_batches(session: Session, actor: Actor, per_feed: int) -> list[FeedBatch]:
    """The newest ``per_feed`` batches of every feed the actor may read, newest first (a
    window per feed: an old feed's batches are not crowded out by a busy one's)."""
    ranked = (
        select(
            FeedBatch.id,
            func.row_number()
            .over(partition_by=FeedBatch.feed, order_by=FeedBatch.id.desc())
            .label("place"),
        )
        .where(readable(actor))
        .subquery()
    )
    newest = select(ranked.c.id).where(ranked.c.place <= per_feed)
    return list(
        session.scalars(
            select(FeedBatch).where(FeedBatch.id.in_(newest)).order_by(FeedBatch.id.desc())
        )
    )


def batch_by_id(session: Session, actor: Actor, batch_id: int) -> FeedBatch | None:
    """The batch, or None when it does not exist or is out of the actor's reach (alike)."""
    return session.scalars(readable_batches(actor).where(FeedBatch.id == batch_id)).one_or_none()


def batch_with_digest(session: Session, feed: str, digest: str) -> FeedBatch | None:
    """The earlier batch of this content in this feed (re-imports change nothing); unscoped:
    whoever may import into the feed learns that its content is already there."""
    return session.scalars(
        select(FeedBatch).where(FeedBatch.feed == feed, FeedBatch.digest == digest)
    ).first()


def wait_for_writers(session: Session) -> None:
    """Take the writers' turn on PostgreSQL, until the transaction ends.

    The turn is the audit chain's advisory lock, not one of our own per feed: every import
    ends by appending to the audit chain, which holds that lock until commit anyway, and a
    second lock would be taken in different orders by different transactions (``luodi load``
    audits the registry, then imports feeds; an import locks its feed, then audits) and could
    deadlock. Taken before writing, the import waits for the one before it to commit and then
    sees its batch and facts: the same content is "already imported" and two batches never
    supersede the same records at once. The checks, the heavy part, still run in parallel.
    SQLite has one writer at a time already (the next waits on its busy timeout)."""
    lock_chain(session)
