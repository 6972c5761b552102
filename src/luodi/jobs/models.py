"""A job: long work (scoring a city, allocating, a large import) queued by a page or the CLI
and run by the worker (``jobs/worker.py``), with its progress and its outcome."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from luodi.db import Base, UtcDateTime


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


STATE_LABELS = {
    JobState.QUEUED: ("排队中", "queued"),
    JobState.RUNNING: ("运行中", "running"),
    JobState.DONE: ("已完成", "done"),
    JobState.FAILED: ("失败", "failed"),
}


def split_phase(phase: str) -> tuple[str, str]:
    """(Chinese, English) of a phase written "中文 / English" (one language: both the same)."""
    zh, _, en = (phase or "").partition(" / ")
    return zh, en or zh


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The handler's parameters as validated at submission (JSON)."""
    state: Mapped[str] = mapped_column(String(16), index=True, default=JobState.QUEUED)
    phase: Mapped[str] = mapped_column(String(200), default="")
    """What the work is doing now, in both languages ("读取 / reading")."""
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    """Of the phase's units (rows, steps); 0 while unknown."""
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    """What the work made ({"run_id": 5}, {"batch_id": 9} …), once done."""
    error_zh: Mapped[str | None] = mapped_column(Text)
    error_en: Mapped[str | None] = mapped_column(Text)
    error_details: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON(none_as_null=True))
    """A refusal's problems (file, row, field, value masked, reason), as the API returns them."""
    created_by: Mapped[str] = mapped_column(String(64), index=True)
    created_role: Mapped[str] = mapped_column(String(16))
    """The role the submitter had: the worker runs the job as that account again, only if it
    still has it (``auth.service.actor_again``)."""
    department: Mapped[str | None] = mapped_column(String(32), index=True)
    """The department the job's object belongs to (a cycle's, a feed's): who else reads it."""
    town_id: Mapped[int | None] = mapped_column(ForeignKey("towns.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    @property
    def phase_zh(self) -> str:
        return split_phase(self.phase)[0]

    @property
    def phase_en(self) -> str:
        return split_phase(self.phase)[1]
