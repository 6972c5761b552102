"""Program tables: cycles with their targets, and applications (runs: ``allocation.models``)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Date, ForeignKey, Integer, String, Text, UniqueConstraint, false, func
from sqlalchemy.orm import Mapped, mapped_column

from luodi.db import Base, UtcDateTime


class CycleStatus(StrEnum):
    OPEN = "open"  # 受理中
    ALLOCATED = "allocated"  # 已分配（公示中）
    FINAL = "final"  # 结果已确定


class ApplicationStatus(StrEnum):
    SUBMITTED = "submitted"  # 已提交
    VERIFIED = "verified"  # 已审核
    RETURNED = "returned"  # 退回（附原因）
    PLACED = "placed"  # 已录取 / 已配租 / 已享受
    WAITLISTED = "waitlisted"  # 轮候
    UNPLACED = "unplaced"  # 未录取
    FINAL = "final"  # 结果确定


class ProgramCycle(Base):
    """One round of a program. The program document is copied in, so that a later edit of
    the YAML never changes how this cycle was decided."""

    __tablename__ = "program_cycles"

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[str] = mapped_column(String(64), index=True)
    program_text: Mapped[str] = mapped_column(Text)
    program_digest: Mapped[str] = mapped_column(String(64))
    department: Mapped[str] = mapped_column(String(32), index=True)
    """The department that owns the cycle (from the program document), so that a reviewer's
    scope is a column comparison in SQL."""
    name: Mapped[str] = mapped_column(String(100))
    opens: Mapped[date] = mapped_column(Date)
    closes: Mapped[date] = mapped_column(Date)
    as_of: Mapped[date] = mapped_column(Date)
    """Conditions are counted to this date (宁波: 30 April)."""
    notice_days: Mapped[int] = mapped_column(Integer, default=5)
    entry_grade: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=CycleStatus.OPEN)
    carried_from_id: Mapped[int | None] = mapped_column(ForeignKey("program_cycles.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
    created_by: Mapped[str] = mapped_column(String(64))


class CycleTarget(Base):
    """A school (seats of the entry grade), a housing project's flats of one layout, or the
    single list of a quota benefit."""

    __tablename__ = "cycle_targets"
    __table_args__ = (UniqueConstraint("cycle_id", "target_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("program_cycles.id"), index=True)
    target_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    town_code: Mapped[str | None] = mapped_column(String(12))
    group_id: Mapped[str | None] = mapped_column(String(64))
    """What an applicant chooses: the school, or the housing project whose layouts these are."""
    layout: Mapped[str | None] = mapped_column(String(32))
    capacity: Mapped[int] = mapped_column(Integer)
    units: Mapped[str | None] = mapped_column(Text)
    """Housing: the flat numbers of this project and layout, ';'-separated."""
    hot: Mapped[bool] = mapped_column(default=False, server_default=false())
    """A school: 学位紧张, declared when the cycle opens (the full-year rule applies here)."""
    hot_source: Mapped[str | None] = mapped_column(String(16))
    """Why it is hot or not: ``listed`` (the targets file says), ``previous`` (derived from
    the previous cycle's first-choice demand), null (neither: not hot)."""


class Application(Base):
    __tablename__ = "applications"
    __table_args__ = (UniqueConstraint("cycle_id", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("program_cycles.id"), index=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)
    child_id: Mapped[int | None] = mapped_column(ForeignKey("children.id"))
    subject: Mapped[str] = mapped_column(String(40))
    """Who the place is for: ``child:<id>`` or ``resident:<id>`` (one application each)."""
    choices: Mapped[str] = mapped_column(Text, default="")
    fields: Mapped[str] = mapped_column(Text, default="{}")
    status: Mapped[str] = mapped_column(String(16), default=ApplicationStatus.SUBMITTED)
    reason: Mapped[str | None] = mapped_column(Text)
    submitted_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
    submitted_by: Mapped[str] = mapped_column(String(64))
    verified_by: Mapped[str | None] = mapped_column(String(64))
    verified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    carried_from_id: Mapped[int | None] = mapped_column(ForeignKey("applications.id"))


class ApplicationDraft(Base):
    """A resident's application not yet submitted (``programs.drafts``): the answers of the
    task list so far, one per account, cycle and person applied for, so that saving midway
    and coming back works. Deleted when the application is submitted."""

    __tablename__ = "application_drafts"
    __table_args__ = (UniqueConstraint("username", "cycle_id", "person"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    """The signed-in account that keeps it (its resident is ``resident_id``)."""
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("program_cycles.id"), index=True)
    person: Mapped[str] = mapped_column(String(40))
    """Who it is for: ``self``, or ``child:<id>`` (one of the resident's own children)."""
    answers: Mapped[str] = mapped_column(Text, default="{}")
    """The task list's answers as JSON (``drafts.Answers``), as typed: checked on each step
    and again, by ``intake``, on submission."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
