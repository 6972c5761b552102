"""Bulk writes and reads of Polars frames: COPY on PostgreSQL, executemany and plain cursors
on SQLite.

The ORM is for single objects; a city's worth of rows goes through here, inside the caller's
transaction, so that a failed load leaves nothing behind.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import polars as pl
from sqlalchemy import (
    BigInteger,
    Integer,
    Select,
    String,
    Table,
    any_,
    bindparam,
    cast,
    func,
    literal_column,
    select,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

COPY_CHUNK_ROWS = 200_000
SQLITE_CHUNK_ROWS = 100_000


def _for_sqlite(frame: pl.DataFrame) -> pl.DataFrame:
    """SQLAlchemy stores dates on SQLite as ISO text and booleans as 0/1; match that."""
    return frame.with_columns(
        [
            pl.col(name).dt.to_string("%Y-%m-%d")
            for name, dtype in frame.schema.items()
            if dtype == pl.Date
        ]
        + [
            pl.col(name).cast(pl.Int8)
            for name, dtype in frame.schema.items()
            if dtype == pl.Boolean
        ]
    )


def insert_frame(session: Session, table: Table, frame: pl.DataFrame) -> int:
    """Insert every row of ``frame`` (columns named as the table's) into ``table``."""
    if frame.height == 0:
        return 0
    columns = list(frame.columns)
    unknown = set(columns) - set(table.columns.keys())
    if unknown:
        raise ValueError(f"columns not in table {table.name}: {sorted(unknown)}")
    connection = session.connection()
    column_list = ", ".join(columns)
    if connection.dialect.name == "postgresql":
        import psycopg  # only where PostgreSQL is the database

        dbapi_connection = connection.connection.dbapi_connection
        assert dbapi_connection is not None
        statement = f"COPY {table.name} ({column_list}) FROM STDIN (FORMAT csv)"
        try:
            with dbapi_connection.cursor() as cursor, cursor.copy(statement) as copy:
                for chunk in frame.iter_slices(COPY_CHUNK_ROWS):
                    copy.write(chunk.write_csv(include_header=False, null_value=""))
        except psycopg.Error as error:
            # As SQLAlchemy reports the same failure of an INSERT (a unique key taken by a
            # parallel writer is an IntegrityError, whichever the database).
            raise DBAPIError.instance(statement, None, error, psycopg.Error) from error
    else:
        placeholders = ", ".join("?" for _ in columns)
        statement = f"INSERT INTO {table.name} ({column_list}) VALUES ({placeholders})"
        with sqlite_bulk_writes(session, table, frame.height):
            sqlite_execute_rows(session, statement, frame)
    return frame.height


def sqlite_execute_rows(session: Session, statement: str, frame: pl.DataFrame) -> None:
    """Run ``statement`` (SQLite, positional ``?`` or ``?N`` parameters) once per row of
    ``frame``, its columns in order: one prepared statement, the rows in slices."""
    connection = session.connection()
    for chunk in _for_sqlite(frame).iter_slices(SQLITE_CHUNK_ROWS):
        connection.exec_driver_sql(statement, chunk.rows())


def sqlite_literal(value: str | int) -> str:
    """``value`` as an SQLite literal, for a value the same on every row of a bulk statement
    (bound once in its text rather than once per row)."""
    if isinstance(value, int):
        return str(int(value))
    return "'" + value.replace("'", "''") + "'"


def reserve_ids(session: Session, table: Table, count: int) -> pl.Series:
    """``count`` new ids for ``table``, from the database, never computed by the caller.

    PostgreSQL hands them out of the table's own sequence (``nextval``), so parallel
    writers never collide and rows inserted through the ORM meanwhile draw from the same
    sequence. SQLite has one writer at a time: the next free ids are ``max(id) + 1 …``; a
    writer whose snapshot went stale fails with "database is locked" (answered 503) rather
    than reusing an id."""
    if session.connection().dialect.name == "postgresql":
        values = session.execute(
            text(
                f"SELECT nextval(pg_get_serial_sequence('{table.name}', 'id')) "
                "FROM generate_series(1, :count)"
            ),
            {"count": count},
        ).scalars()
        return pl.Series("id", list(values), dtype=pl.Int64)
    first = int(session.scalar(select(func.coalesce(func.max(table.c.id), 0))) or 0) + 1
    return pl.int_range(first, first + count, dtype=pl.Int64, eager=True).alias("id")


FEW_IDS = 100
"""Up to this many residents asked about, a read is of a few rows (``read_frame(few=…)``)."""


def few(ids: Sequence[Any] | None) -> bool:
    """Whether a read of the rows of ``ids`` (None: everyone's) is a read of a few rows."""
    return ids is not None and len(ids) <= FEW_IDS


@dataclass(frozen=True)
class IdRange:
    """The rows of ids ``first`` … ``last`` (both included): one batch of a read of
    everyone's rows that is streamed, not held (``luodi export inputs``)."""

    first: int
    last: int


def within(column: Any, ids: IdRange | None) -> Any:
    """``column`` in ``ids`` (everything when None): a range, so that each read keeps its
    plan (an index range scan, PostgreSQL's blocks of residents) instead of a list."""
    if ids is None:
        return true()
    return column.between(ids.first, ids.last)


def among(session: Session, column: Any, values: Sequence[int] | Sequence[str]) -> Any:
    """``column IN values`` as ONE bound value whatever their number (a PostgreSQL array, an
    SQLite JSON array read by ``json_each``): thousands of ids or ID numbers in an ``IN (…)``
    list cost more to render than the query takes, and SQLite bounds the parameters."""
    listed = list(values)
    if session.connection().dialect.name == "postgresql":
        kind = BigInteger if isinstance(column.type, Integer) else String
        return column == any_(cast(bindparam(None, listed, type_=ARRAY(kind)), ARRAY(kind)))
    values_of = select(literal_column("value")).select_from(func.json_each(json.dumps(listed)))
    return column.in_(values_of)


def with_ids(session: Session, table: Table, frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with a first column ``id`` of new ids for ``table`` (``reserve_ids``)."""
    return frame.select(reserve_ids(session, table, frame.height), pl.exclude("id"))


SQLITE_CHUNK_IDS = 200_000
"""Rows of the chunking column per SQLite query in ``read_frame`` (bounds each JSON text).
Texts of a few megabytes are allocated again where the last ones were freed: a million ids
per query made every text fresh memory (4.3 M facts: 400 k page faults, 1.6 s of system
time; 200 k ids per query: 210 k, 1.0 s)."""


def read_frame(
    session: Session,
    statement: Select[Any],
    schema: dict[str, pl.DataType],
    *,
    sqlite_chunks: Any = None,
    few: bool = False,
) -> pl.DataFrame:
    """The rows of ``statement`` as a frame of ``schema`` (one entry per selected column, in
    order: Int64, Float64, String, Date or Boolean), read inside the caller's transaction
    without a Python object per value.

    ``few``: the caller reads a handful of rows (one resident's): plain rows through the
    driver, as any query, which on a few rows costs a fraction of the paths below (their
    JSON texts or COPY, and Polars parsing them, are there for millions).

    PostgreSQL sends the rows as CSV (``COPY (…) TO STDOUT``) straight into Polars. SQLite
    has no such path on the same connection (another connection would not see the caller's
    uncommitted rows), and a Python tuple per row costs four times the query: it returns
    each column as one JSON array (``json_group_array``, built in C), which Polars parses
    natively. SQLite writes a float with at most 16 digits (in JSON or ``printf``), so a
    statement with a Float64 column reads plain tuples instead, exact. With
    ``sqlite_chunks`` (an integer column of the queried table, its primary key), SQLite
    reads ranges of ``SQLITE_CHUNK_IDS`` values of it one query each, so that no text grows
    past a few tens of megabytes."""
    supported = (pl.Int64, pl.Float64, pl.String, pl.Date, pl.Boolean)
    unsupported = {name: dtype for name, dtype in schema.items() if dtype not in supported}
    if unsupported:
        raise TypeError(f"read_frame cannot read {unsupported}")
    if few:
        return pl.DataFrame(
            [tuple(row) for row in session.execute(statement)], schema=schema, orient="row"
        )
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        return _read_copy(session, statement, schema)
    if pl.Float64 in schema.values():
        return _read_rows(session, statement, schema)
    if sqlite_chunks is None:
        ranges: list[Select[Any]] = [statement]
    else:
        low, high = connection.execute(
            select(func.min(sqlite_chunks), func.max(sqlite_chunks))
        ).one()
        ranges = [
            statement.where(sqlite_chunks >= start, sqlite_chunks < start + SQLITE_CHUNK_IDS)
            for start in range(int(low or 0), int(high or 0) + 1, SQLITE_CHUNK_IDS)
        ]
    # As SQLite holds them: dates as ISO text, booleans as 0/1.
    raw = {
        name: pl.String() if dtype == pl.Date else pl.Int64() if dtype == pl.Boolean else dtype
        for name, dtype in schema.items()
    }
    chunks = [pl.DataFrame(schema=raw)]
    for part in ranges:
        rows = part.subquery()
        arrays = [func.json_group_array(column) for column in rows.c]
        count, *texts = connection.execute(select(func.count(), *arrays)).one()
        if count:
            chunks.append(
                pl.DataFrame(
                    [
                        pl.Series(name, [text]).str.json_decode(pl.List(dtype)).explode()
                        for (name, dtype), text in zip(raw.items(), texts, strict=True)
                    ]
                )
            )
    return _typed(pl.concat(chunks, rechunk=True), schema)


def _read_rows(
    session: Session, statement: Select[Any], schema: dict[str, pl.DataType]
) -> pl.DataFrame:
    """SQLite, plain tuples in chunks, past SQLAlchemy's row processing (a Python date per
    value is what costs most there): dates stay ISO text for Polars to parse."""
    raw = {
        name: pl.String() if dtype == pl.Date else pl.Int64() if dtype == pl.Boolean else dtype
        for name, dtype in schema.items()
    }
    cursor = session.connection().execute(statement).cursor
    chunks = [pl.DataFrame(schema=raw)]
    while rows := cursor.fetchmany(100_000):
        chunks.append(pl.DataFrame(rows, schema=raw, orient="row"))
    cursor.close()
    return _typed(pl.concat(chunks, rechunk=True), schema)


def _typed(frame: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return frame.with_columns(
        [
            pl.col(name).str.to_date("%Y-%m-%d") if dtype == pl.Date else pl.col(name).cast(dtype)
            for name, dtype in schema.items()
            if dtype in (pl.Date, pl.Boolean)
        ]
    )


def _read_copy(
    session: Session, statement: Select[Any], schema: dict[str, pl.DataType]
) -> pl.DataFrame:
    connection = session.connection()
    compiled = statement.compile(
        dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
    )
    dbapi_connection = connection.connection.dbapi_connection
    assert dbapi_connection is not None
    data = bytearray()
    with (
        dbapi_connection.cursor() as cursor,
        cursor.copy(f"COPY ({compiled}) TO STDOUT (FORMAT csv)", compiled.params) as copy,
    ):
        for block in copy:
            data += block
    if not data:
        return pl.DataFrame(schema=schema)
    # PostgreSQL writes booleans as t/f; an empty unquoted field is NULL, "" an empty text.
    text_schema = {
        name: pl.String if dtype == pl.Boolean else dtype for name, dtype in schema.items()
    }
    frame = pl.read_csv(
        bytes(data),
        has_header=False,
        new_columns=list(schema),
        schema=text_schema,
    )
    return frame.with_columns(
        [pl.col(name) == "t" for name, dtype in schema.items() if dtype == pl.Boolean]
    )


SQLITE_BULK_CACHE_KIB = 1024 * 1024
"""SQLite's page cache while a bulk write runs, at most (pages are held as they are read):
its default, 2 MiB, makes every index insert into a large table a read of the OS's pages,
and 256 MiB still did for a re-send into a city of 100,000 (5 M facts): the facts of the
batch before, the index of current facts and the one by resident do not fit. 1 GiB: the
insert and the supersession of a 1,000,000-row re-send 1.2 s faster each there."""
SQLITE_REBUILD_MIN_ROWS = 50_000
"""From this many new rows, when the table holds no more rows than that, its secondary
indexes are built again after the rows instead of updated with each."""


@contextmanager
def sqlite_bulk_writes(
    session: Session, table: Table, rows: int, *, rebuild: bool | None = None
) -> Iterator[None]:
    """Around writing ``rows`` new rows into ``table`` on SQLite: a larger page cache, and
    when the table holds no more rows than come (a city's first load; ``rebuild`` says it
    for a caller that knows), its non-unique indexes dropped and built again at the end, in
    the same transaction (a rollback restores them).
    One sort per index instead of a B-tree descent per row and index: 800,000 facts in
    5.7 s of CPU instead of 9.4 (18.8 with the default cache). Nothing on PostgreSQL (COPY
    keeps its indexes well), nor when the caller is already inside one for this table."""
    connection = session.connection()
    active: set[str] = session.info.setdefault("luodi.bulk_tables", set())
    if connection.dialect.name != "sqlite" or table.name in active:
        yield
        return
    active.add(table.name)
    previous = connection.exec_driver_sql("PRAGMA cache_size").scalar()
    connection.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_BULK_CACHE_KIB}")
    if rebuild is None and rows >= SQLITE_REBUILD_MIN_ROWS and "id" in table.columns:
        held = session.scalar(select(func.coalesce(func.max(table.c.id), 0))) or 0
        rebuild = held <= rows
    rebuilt = [index for index in table.indexes if not index.unique] if rebuild else []
    try:
        for index in rebuilt:
            index.drop(connection)
        yield
    except BaseException:
        # The caller may catch the failure and go on in the same transaction: never
        # without the indexes (if even that fails, the rollback restores them).
        with suppress(Exception):
            for index in rebuilt:
                index.create(connection)
        raise
    else:
        for index in rebuilt:
            index.create(connection)
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size = {int(previous)}")
        active.discard(table.name)
