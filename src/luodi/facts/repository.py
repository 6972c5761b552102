"""Which facts an actor may read, in SQL (``auth/scopes.py``), and the bulk writes of an
imported batch's facts.

A fact is about a resident: the resident reads their own, town staff the facts of their
town's residents, reviewers (who verify across towns), operators, administrators and auditors
all of them; department tokens and the public none.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import polars as pl
from sqlalchemy import ColumnElement, Select, String, cast, func, literal, select, text, update
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session, aliased

from luodi import bulk
from luodi.auth import scopes
from luodi.auth.actor import Actor
from luodi.facts.models import Fact
from luodi.feeds.models import FeedBatch
from luodi.registry.models import Resident


def _town_of_fact() -> ColumnElement[Any]:
    # The town is the resident's, not stored on the fact: a resident who moves takes their
    # facts along.
    return select(Resident.town_id).where(Resident.id == Fact.resident_id).scalar_subquery()


def readable(actor: Actor) -> ColumnElement[bool]:
    return scopes.readable(actor, town=_town_of_fact(), person=Fact.resident_id)


POSTGRES_CHUNK_RESIDENTS = 5_000
"""Residents whose facts PostgreSQL sends as one text in ``read_rows``: a few MB each (a
text may not pass 1 GB: 5,000 residents reach it only at some 5,000 current facts each)."""


SQLITE_RANGE_RESIDENTS = 5_000
"""Residents' facts per SQLite query of a range (``read_rows(ids=…)``): texts of a few
tens of megabytes, as ``bulk.SQLITE_CHUNK_IDS`` bounds those of everyone's."""


def read_rows(
    session: Session,
    statement: Select[Any],
    schema: dict[str, pl.DataType],
    *,
    per_resident: int = 1,
    ids: bulk.IdRange | None = None,
) -> pl.DataFrame:
    """Every row of ``statement``, a read of facts whose first column is ``resident_id``
    times ``per_resident`` (plus less than that), as a frame of ``schema`` (Int64, String or
    Date columns).

    PostgreSQL: COPY (``bulk.read_frame``) sends a message per row, and taking them in costs
    about a microsecond of Python each: 4.3 s of a 100,000-resident city's 4.3 M facts,
    most of what ``luodi score`` itself did. Here the server joins the rows of each block of
    ``POSTGRES_CHUNK_RESIDENTS`` residents into one CSV text, a few texts cross, and Polars
    parses them (about 1 s). Each text is in fact id order, as SQLite's ranges of fact ids
    are (``bulk.read_frame``): where two facts tie (a latest value, a period's scheme), the
    later one wins the same way on both databases and from run to run; without the ORDER BY
    a sorting plan returns a block's rows in any order.

    ``ids``: ``statement`` reads the residents of this range only (``bulk.within``). SQLite
    then reads it through the resident index, ``SQLITE_RANGE_RESIDENTS`` at a time, rather
    than the whole table in ranges of fact ids (each batch of an export would scan every
    fact: 16 s a batch of 10,000 residents of 4.4 M facts, 5 s this way), and sorts the
    rows in fact id order, the order the ranges of fact ids give."""
    if session.connection().dialect.name != "postgresql":
        if ids is None:
            return bulk.read_frame(session, statement, schema, sqlite_chunks=Fact.id)
        order = "\0fact_order"
        ordered = statement.add_columns(Fact.id)
        parts = [
            bulk.read_frame(
                session,
                ordered.where(
                    Fact.resident_id.between(
                        first, min(first + SQLITE_RANGE_RESIDENTS - 1, ids.last)
                    )
                ),
                {**schema, order: pl.Int64()},
            )
            for first in range(ids.first, ids.last + 1, SQLITE_RANGE_RESIDENTS)
        ]
        return pl.concat(parts).sort(order).drop(order)
    rows = statement.add_columns(Fact.id.label("fact_order")).subquery()
    fields = []
    for column, (name, dtype) in zip(list(rows.c)[:-1], schema.items(), strict=True):
        if dtype == pl.String:
            # Always quoted, a quote doubled ("" is an empty text; facts' texts are never NULL).
            fields.append(func.concat('"', func.replace(column, '"', '""'), '"'))
        elif dtype in (pl.Int64, pl.Date):
            fields.append(func.coalesce(cast(column, String), ""))
        else:
            raise TypeError(f"read_rows cannot read {name}: {dtype}")
    block = rows.c[0] // (POSTGRES_CHUNK_RESIDENTS * per_resident)
    texts = session.execute(
        select(
            func.string_agg(
                func.concat_ws(",", *fields),
                aggregate_order_by(literal("\n"), rows.c.fact_order),
            )
        ).group_by(block)
    ).scalars()
    return pl.concat(
        [
            pl.DataFrame(schema=schema),
            *[
                pl.read_csv(csv.encode(), has_header=False, new_columns=list(schema), schema=schema)
                for csv in texts
            ],
        ]
    )


FACT_ROW_COLUMNS = [
    "resident_id",
    "name",
    "value",
    "valid_from",
    "valid_to",
    "source_row",
    "record_key",
]
"""The columns of a batch's facts that differ from row to row (``insert_facts``)."""


def insert_facts(
    session: Session, frame: pl.DataFrame, *, feed: str, batch_id: int, file_name: str
) -> int:
    """Insert a batch's facts (``FACT_ROW_COLUMNS``) in bulk, each with its feed, batch and
    source (``file:row``): COPY on PostgreSQL, one prepared statement over the rows on
    SQLite, where what every row shares is written once in the statement and the source is
    made from the row's number (per row, three values fewer to hand over: a tenth of the
    time). Their ids are left to the database (the sequence on PostgreSQL, the rowid on
    SQLite): nothing refers to a new fact by id, so none is drawn ahead, and parallel
    imports never collide."""
    prefix = f"{file_name[:180]}:"
    if session.connection().dialect.name != "sqlite":
        return bulk.insert_frame(
            session,
            Fact.__table__,
            frame.select(
                *FACT_ROW_COLUMNS,
                source=pl.lit(prefix) + pl.col("source_row").cast(pl.String),
                feed=pl.lit(feed),
                batch_id=pl.lit(batch_id, pl.Int64),
            ),
        )
    row_number = FACT_ROW_COLUMNS.index("source_row") + 1
    statement = (
        f"INSERT INTO {Fact.__tablename__} ({', '.join(FACT_ROW_COLUMNS)}, source, feed, batch_id) "
        f"VALUES ({', '.join(f'?{n}' for n in range(1, len(FACT_ROW_COLUMNS) + 1))}, "
        f"{bulk.sqlite_literal(prefix)} || ?{row_number}, {bulk.sqlite_literal(feed)}, "
        f"{bulk.sqlite_literal(batch_id)})"
    )
    with bulk.sqlite_bulk_writes(session, Fact.__table__, frame.height):
        bulk.sqlite_execute_rows(session, statement, frame.select(FACT_ROW_COLUMNS))
    return frame.height


@contextmanager
def bulk_writes(session: Session, rows: int, *, first_load: bool = False) -> Iterator[None]:
    """Around inserting ``rows`` facts in several slices or batches
    (``bulk.sqlite_bulk_writes``); ``first_load``: a whole city's feeds, whatever their
    number, when the table has no facts yet (its indexes are built once, at the end)."""
    rebuild = None
    if first_load:
        rebuild = session.scalar(select(Fact.id).limit(1)) is None
    with bulk.sqlite_bulk_writes(session, Fact.__table__, rows, rebuild=rebuild):
        yield


ANALYZE_FROM_ROWS = 10_000
"""From this many new facts, PostgreSQL's statistics are refreshed before superseding."""
SQLITE_SCAN_FROM = 2.5
"""On SQLite, a batch whose feed holds at most this many current facts per new fact
supersedes by scanning the feed's current facts rather than by looking up each new one
(measured: a scanned entry costs 0.8 µs, a looked-up fact 2.8 µs)."""


def last_id(session: Session) -> int:
    """The largest fact id so far: a batch's facts, written after it is read (one writer at a
    time: ``feeds.repository.wait_for_writers``), all have larger ids."""
    return int(session.scalar(select(func.coalesce(func.max(Fact.id), 0))) or 0)


def supersede(session: Session, feed: str, batch_id: int, after: int, rows: int = 0) -> int:
    """Mark the current facts of earlier batches of ``feed`` whose record key the batch
    ``batch_id`` brings again as superseded by it (kept as history), in one statement for
    the whole batch. ``after``: ``last_id`` before the batch's facts were written, so that
    they are a range of ids and every earlier fact's id is at most ``after``; ``rows``: how
    many facts the batch wrote.

    The keys probe the index of current facts (``ix_facts_current_record``), where a key has
    one version per batch that still counts: a re-send costs the same however many versions
    came before. The index entry carries the fact's id, so telling an earlier version from
    the batch's own reads no row; the earlier ones are then marked in id order. A feed's
    first batch has nothing to supersede and skips the statement."""
    earlier, current = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(FeedBatch.facts_written - FeedBatch.facts_superseded), 0),
        ).where(FeedBatch.feed == feed, FeedBatch.id != batch_id, FeedBatch.facts_written > 0)
    ).one()
    if not earlier:
        return 0
    new = aliased(Fact)
    if session.connection().dialect.name == "postgresql":
        # The planner's statistics do not know the batch's rows (written in this
        # transaction): taking them for a few, it probed all of them once per current fact
        # (a re-send ran for minutes). ANALYZE sees them; then it joins by hash.
        batch_keys = select(new.record_key).where(new.id > after, new.batch_id == batch_id)
        keys: Any = batch_keys
        if rows >= ANALYZE_FROM_ROWS:
            session.execute(text("ANALYZE facts"))
        else:
            # A small batch's keys as a list, each probing the index of current facts: the
            # subquery left the plan to statistics that may not know the feed's facts at all
            # (a city just loaded, before autovacuum's ANALYZE), and 3 new facts against the
            # 2,000 current ones of a feed took 30 s, the table scanned once per current fact.
            keys = list(session.scalars(batch_keys.distinct()))
        statement = (
            update(Fact)
            .where(
                Fact.feed == feed,
                Fact.superseded_by.is_(None),
                Fact.batch_id != batch_id,
                Fact.record_key.in_(keys),
            )
            .values(superseded_by=batch_id)
        )
    else:
        # The earlier current versions are marked by the statement that finds them (through
        # the index it updates; SQLite reads first, then writes): an IN list of their ids
        # built first cost 0.7 s more for a million.
        earlier_versions = (
            Fact.feed == feed,
            Fact.superseded_by.is_(None),
            Fact.id <= after,
        )
        if int(current) <= SQLITE_SCAN_FROM * rows:
            # A batch as large as the feed's current facts (a re-send of the whole file):
            # one pass over the feed's part of the index, each earlier version looking up
            # the next entry of its key, beats a lookup per brought key that first reads
            # its row (1.9 s instead of 2.9 for a million). Any current fact of the feed
            # after ``after`` is the batch's (one writer at a time).
            brought = (
                select(new.id)
                .where(
                    new.feed == feed,
                    new.superseded_by.is_(None),
                    new.record_key == Fact.record_key,
                    new.id > after,
                )
                .exists()
            )
        else:
            brought = Fact.record_key.in_(
                select(new.record_key).where(new.id > after, new.batch_id == batch_id)
            )
        statement = update(Fact).where(*earlier_versions, brought).values(superseded_by=batch_id)
    # The large page cache of bulk writes: the rows it marks are spread over the table.
    with bulk.sqlite_bulk_writes(session, Fact.__table__, 0, rebuild=False):
        outcome = session.execute(statement.execution_options(synchronize_session=False))
    return int(outcome.rowcount or 0)  # type: ignore[attr-defined]
