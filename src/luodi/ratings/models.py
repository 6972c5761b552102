"""Ratings (好差评) of closed cases: one per case per resident."""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum, StrEnum

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from luodi.db import Base, UtcDateTime


class CaseKind(StrEnum):
    APPLICATION = "application"  # 申请：结果已确定
    OBJECTION = "objection"  # 异议：已复核


class Level(IntEnum):
    """The five levels of 好差评 (浙江政务服务“好差评”), best first."""

    VERY_SATISFIED = 5  # 非常满意
    SATISFIED = 4  # 满意
    FAIRLY_SATISFIED = 3  # 基本满意
    DISSATISFIED = 2  # 不满意
    VERY_DISSATISFIED = 1  # 非常不满意


LEVEL_WORDS = {
    Level.VERY_SATISFIED: "非常满意",
    Level.SATISFIED: "满意",
    Level.FAIRLY_SATISFIED: "基本满意",
    Level.DISSATISFIED: "不满意",
    Level.VERY_DISSATISFIED: "非常不满意",
}


class Rating(Base):
    """A resident's rating of one closed case. ``program_id`` and ``department`` are the
    case's (none for an objection to a score ranking), copied so that the summary groups in
    SQL and a department's reviewers read their own; ``month`` (``YYYY-MM``, China time) is
    the month it was given, for the summary by month on either database."""

    __tablename__ = "ratings"
    __table_args__ = (
        UniqueConstraint("case_kind", "case_id", "resident_id"),
        Index("ix_ratings_month_program_id", "month", "program_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)
    case_kind: Mapped[str] = mapped_column(String(16))
    case_id: Mapped[int] = mapped_column(Integer)
    program_id: Mapped[str | None] = mapped_column(String(64))
    department: Mapped[str | None] = mapped_column(String(32))
    level: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    """Shown to staff only (the console's summary), never on a public page."""
    month: Mapped[str] = mapped_column(String(7))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
    created_by: Mapped[str] = mapped_column(String(64))
