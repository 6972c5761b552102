"""bulk.read_frame on both databases: every supported type, NULLs and awkward text come back
as they were stored, in one query or in chunks, and an empty result keeps its schema."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    select,
)
from sqlalchemy.orm import Session

from luodi import bulk

SCHEMA: dict[str, pl.DataType] = {
    "id": pl.Int64(),
    "number": pl.Int64(),
    "amount": pl.Float64(),
    "label": pl.String(),
    "day": pl.Date(),
    "flag": pl.Boolean(),
}
ROWS = pl.DataFrame(
    {
        "id": [1, 2, 3, 4, 5, 6, 7],
        "number": [0, -1, 2**53 + 1, None, 7, 8, 9],
        "amount": [0.1 + 0.2, 1e300, -2.5e-308, None, 0.0, 1 / 3, 2.0],
        "label": ['a"b,\nc', "", None, "中文，逗号", "\\", "null", "[1]"],
        "day": [date(2026, 3, 1), None, date(1900, 1, 1), date(2100, 12, 31), None, None, None],
        "flag": [True, False, None, True, False, None, True],
    },
    schema=SCHEMA,
)


@pytest.fixture
def table(session: Session) -> Table:
    metadata = MetaData()
    made = Table(
        "read_frame_probe",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("number", BigInteger),
        Column("amount", Float(precision=53)),
        Column("label", String(64)),
        Column("day", Date),
        Column("flag", Boolean),
    )
    metadata.create_all(session.connection())
    session.execute(made.insert(), ROWS.to_dicts())
    return made


@pytest.mark.parametrize("chunk", [None, 3])
def test_every_type_comes_back_as_stored(
    session: Session, table: Table, chunk: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "SQLITE_CHUNK_IDS", chunk or bulk.SQLITE_CHUNK_IDS)
    chunks = table.c.id if chunk else None
    read = bulk.read_frame(
        session, select(*table.c).order_by(table.c.id), SCHEMA, sqlite_chunks=chunks
    )
    assert read.schema == ROWS.schema
    assert read.sort("id").equals(ROWS)
    # Without the float column, SQLite takes its JSON path: the same values.
    others = {name: dtype for name, dtype in SCHEMA.items() if name != "amount"}
    columns = [table.c[name] for name in others]
    read = bulk.read_frame(session, select(*columns), others, sqlite_chunks=chunks)
    assert read.sort("id").equals(ROWS.drop("amount"))


def test_nothing_read_keeps_the_schema(session: Session, table: Table) -> None:
    nothing = select(table.c.id, table.c.day).where(table.c.id < 0)
    read = bulk.read_frame(session, nothing, {"id": pl.Int64(), "day": pl.Date()})
    assert read.height == 0 and read.schema == {"id": pl.Int64(), "day": pl.Date()}
    with pytest.raises(TypeError):
        bulk.read_frame(session, nothing, {"id": pl.Int32(), "day": pl.Date()})
