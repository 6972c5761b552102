"""Bulk writes of Polars frames: COPY on PostgreSQL, executemany on SQLite.

The ORM is for single objects; a city's worth of rows goes through here, inside the caller's
transaction, so that a failed load leaves nothing behind.
"""

from __future__ import annotations

import polars as pl
from sqlalchemy import Table, func, select, text
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
        dbapi_connection = connection.connection.dbapi_connection
        assert dbapi_connection is not None
        with (
            dbapi_connection.cursor() as cursor,
            cursor.copy(f"COPY {table.name} ({column_list}) FROM STDIN (FORMAT csv)") as copy,
        ):
            for chunk in frame.iter_slices(COPY_CHUNK_ROWS):
                copy.write(chunk.write_csv(include_header=False, null_value=""))
    else:
        placeholders = ", ".join("?" for _ in columns)
        statement = f"INSERT INTO {table.name} ({column_list}) VALUES ({placeholders})"
        for chunk in _for_sqlite(frame).iter_slices(SQLITE_CHUNK_ROWS):
            connection.exec_driver_sql(statement, chunk.rows())
    return frame.height


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


def with_ids(session: Session, table: Table, frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with a first column ``id`` of new ids for ``table`` (``reserve_ids``)."""
    return frame.select(reserve_ids(session, table, frame.height), pl.exclude("id"))
