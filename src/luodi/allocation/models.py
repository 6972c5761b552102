"""Allocation tables: immutable runs of a program cycle and each application's result."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from luodi.db import Base, UtcDateTime
from luodi.kernels.allocation.programs import Outcome

__all__ = ["OUTCOME_LABELS", "AllocationResult", "AllocationRun", "Outcome"]

OUTCOME_LABELS = {
    Outcome.PLACED.value: "录取/配租/享受 placed",
    Outcome.WAITLISTED.value: "轮候 waitlisted",
    Outcome.UNPLACED.value: "未录取 unplaced",
    Outcome.INELIGIBLE.value: "不符合条件 ineligible",
    Outcome.SUBSIDY.value: "租赁补贴 rent subsidy",
}


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
    placement: Mapped[str | None] = mapped_column(String(16))
    """How it was placed (``kernels.allocation.programs.Placement``): choice, direct, town
    (就近) or coordinated (统筹)."""
    points: Mapped[float | None] = mapped_column(Float)
    priority_group: Mapped[int | None] = mapped_column(Integer)
    rank: Mapped[int | None] = mapped_column(Integer)
    lottery: Mapped[str] = mapped_column(String(20))
    """Unsigned 64-bit: kept as text (databases' integers are signed)."""
    entitlement: Mapped[float | None] = mapped_column(Float)
    granted_for: Mapped[str | None] = mapped_column(String(64))
    """What a once-only benefit was granted for (``once_per``: the graduation level), so that
    a later cycle of the program does not grant it again."""
    rate: Mapped[float | None] = mapped_column(Float)
    """A tiered benefit's annual rate in per cent (a loan's), with its amount."""
    term_months: Mapped[int | None] = mapped_column(Integer)
    reason_zh: Mapped[str | None] = mapped_column(Text)
    reason_en: Mapped[str | None] = mapped_column(Text)
    points_resident_id: Mapped[int | None] = mapped_column(Integer)
    """A school place: the parent whose points the child ranked with (the higher of the two);
    null for a person's own application. Not a foreign key: results are never joined to a
    deleted resident, and SQLite's batch migration would rebuild the table for one."""
