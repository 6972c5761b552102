"""Program tables: cycles with their targets, applications, and immutable allocation runs."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Date, Float, ForeignKey, Integer, String, Text, UniqueConstraint, func
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


class Outcome(StrEnum):
    PLACED = "placed"
    WAITLISTED = "waitlisted"
    UNPLACED = "unplaced"
    INELIGIBLE = "ineligible"


OUTCOME_LABELS = {
    "placed": "录取/配租/享受 placed",
    "waitlisted": "轮候 waitlisted",
    "unplaced": "未录取 unplaced",
    "ineligible": "不符合条件 ineligible",
}


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


class AllocationRun(Base):
    """One allocation of a cycle. Never updated but for ``final``: the seed, the scoring run
    and the digest of every input are kept, so anybody can recompute the result."""

    __tablename__ = "allocation_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("program_cycles.id"), index=True)
    previous_run_id: Mapped[int | None] = mapped_column(ForeignKey("allocation_runs.id"))
    scoring_run_id: Mapped[int] = mapped_column(ForeignKey("scoring_runs.id"))
    method: Mapped[str] = mapped_column(String(32))
    seed: Mapped[str] = mapped_column(String(100))
    inputs_digest: Mapped[str] = mapped_column(String(64))
    summary: Mapped[str] = mapped_column(Text)
    final: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
    created_by: Mapped[str] = mapped_column(String(64))


class AllocationResult(Base):
    __tablename__ = "allocation_results"

    run_id: Mapped[int] = mapped_column(ForeignKey("allocation_runs.id"), primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[str | None] = mapped_column(String(64))
    unit: Mapped[str | None] = mapped_column(String(64))
    choice_rank: Mapped[int | None] = mapped_column(Integer)
    town_placement: Mapped[bool] = mapped_column(default=False)
    points: Mapped[float | None] = mapped_column(Float)
    priority_group: Mapped[int | None] = mapped_column(Integer)
    rank: Mapped[int | None] = mapped_column(Integer)
    lottery: Mapped[str] = mapped_column(String(20))
    """Unsigned 64-bit: kept as text (databases' integers are signed)."""
    entitlement: Mapped[float | None] = mapped_column(Float)
    reason_zh: Mapped[str | None] = mapped_column(Text)
    reason_en: Mapped[str | None] = mapped_column(Text)
