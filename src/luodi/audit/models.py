"""The audit log: an append-only hash chain. No code path updates or deletes an entry."""

from __future__ import annotations

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from luodi.db import Base


class AuditEntry(Base):
    __tablename__ = "audit_entries"
    # An object's entries (an application's time line) by one index, not the whole type's.
    __table_args__ = (Index("ix_audit_entries_object", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # seq is unique: two writers racing for the same place in the chain cannot both land,
    # so the chain never forks (PostgreSQL also takes an advisory lock before appending).
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    # The time as the exact text that was hashed (a timestamp column could round-trip to a
    # different text on another database and break the chain on its own).
    at: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(40), index=True)
    object_id: Mapped[str] = mapped_column(String(64))
    before_digest: Mapped[str | None] = mapped_column(String(64))
    after_digest: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
