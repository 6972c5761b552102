from __future__ import annotations

from datetime import date

from sqlalchemy import Date, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from luodi.db import Base

CURRENT = text("superseded_by IS NULL")


class Fact(Base):
    """One fact in long form: ``name`` is the policy input it feeds (``education``,
    ``social_insurance_months`` …), ``value`` its text, valid from / to (either open).

    Provenance: the feed, the batch (file, digest, importer, time) and the row it came from.
    A later batch with the same ``record_key`` in the same feed supersedes the fact
    (``superseded_by``) without deleting it: the history stays."""

    __tablename__ = "facts"
    __table_args__ = (
        Index("ix_facts_resident_name", "resident_id", "name"),
        # Only current facts: supersession probes the one current version of a key, not
        # every version ever imported (migration 0012).
        Index(
            "ix_facts_current_record",
            "feed",
            "record_key",
            sqlite_where=CURRENT,
            postgresql_where=CURRENT,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"))
    name: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(String(64))
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(200))
    """``file:row`` as a person reads it."""
    feed: Mapped[str | None] = mapped_column(String(64))
    # Not indexed: nothing reads facts by batch; supersession finds a batch's facts by their
    # range of ids (migration 0015).
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("feed_batches.id"))
    source_row: Mapped[int | None] = mapped_column(Integer)
    record_key: Mapped[str | None] = mapped_column(String(200))
    superseded_by: Mapped[int | None] = mapped_column(ForeignKey("feed_batches.id"))
