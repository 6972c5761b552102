"""One imported file (or pushed set of records) of a feed: the batch every fact points to."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from luodi.db import Base, UtcDateTime


class FeedBatch(Base):
    __tablename__ = "feed_batches"
    # The same content imported twice into one feed is refused by the database as well as
    # by the service (idempotent re-import).
    __table_args__ = (UniqueConstraint("feed", "digest"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    feed: Mapped[str] = mapped_column(String(64), index=True)
    department: Mapped[str] = mapped_column(String(64), index=True)
    """The department owning the feed when the batch was made: reviewers and department
    tokens read their own department's batches by this column (``feeds/repository.py``)."""
    file_name: Mapped[str] = mapped_column(String(255))
    digest: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the file's bytes (or of the pushed records, canonical JSON)."""
    imported_by: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
    rows_read: Mapped[int]
    rows_imported: Mapped[int]
    rows_rejected: Mapped[int]
    facts_written: Mapped[int]
    facts_superseded: Mapped[int]
    residents_created: Mapped[int]
