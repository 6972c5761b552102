"""Public notices (公示) of allocation runs and score rankings, objections (异议) with their
attachments, and the amendments an upheld objection led to."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Date, ForeignKey, Integer, LargeBinary, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from luodi.db import Base, UtcDateTime


class NoticeKind(StrEnum):
    ALLOCATION = "allocation"  # 分配结果公示
    SCORING = "scoring"  # 积分排名公示


class NoticeStatus(StrEnum):
    OPEN = "open"  # 公示中（或待开始）
    FINAL = "final"  # 公示结束，结果确定


class ObjectionStatus(StrEnum):
    OPEN = "open"  # 待复核
    UPHELD = "upheld"  # 异议成立
    DISMISSED = "dismissed"  # 异议不成立


class Notice(Base):
    """What was published, frozen: the masked rows as JSON with their digest, so that the
    list anyone downloaded can be checked against the one on record."""

    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    department: Mapped[str | None] = mapped_column(String(32))
    cycle_id: Mapped[int | None] = mapped_column(ForeignKey("program_cycles.id"), index=True)
    allocation_run_id: Mapped[int | None] = mapped_column(ForeignKey("allocation_runs.id"))
    scoring_run_id: Mapped[int | None] = mapped_column(ForeignKey("scoring_runs.id"))
    seed: Mapped[str | None] = mapped_column(String(100))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default=NoticeStatus.OPEN)
    row_count: Mapped[int] = mapped_column(Integer)
    rows_json: Mapped[str] = mapped_column(Text)
    rows_digest: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
    published_by: Mapped[str] = mapped_column(String(64))
    finalized_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Objection(Base):
    __tablename__ = "objections"

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id"), index=True)
    row_ref: Mapped[str] = mapped_column(String(40))
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=ObjectionStatus.OPEN)
    decision_reason: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    amendment_id: Mapped[int | None] = mapped_column(ForeignKey("notice_amendments.id"))
    filed_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
    filed_by: Mapped[str] = mapped_column(String(64))


class ObjectionAttachment(Base):
    """Kept in the database (not on disk): stored with the objection in one transaction, and
    no uploaded name ever becomes a path."""

    __tablename__ = "objection_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    objection_id: Mapped[int] = mapped_column(ForeignKey("objections.id"), index=True)
    file_name: Mapped[str] = mapped_column(String(120))
    content_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)


class NoticeAmendment(Base):
    """A re-run after upheld objections: which run replaced which, and what changed."""

    __tablename__ = "notice_amendments"

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id"), index=True)
    previous_run_id: Mapped[int] = mapped_column(Integer)
    new_run_id: Mapped[int] = mapped_column(Integer)
    changed: Mapped[int] = mapped_column(Integer)
    changes_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
    created_by: Mapped[str] = mapped_column(String(64))
