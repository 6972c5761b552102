"""What a job is asked with and what it answers: the submission, each kind's parameters, and
the job as read (state, phase in each language, progress, result or error)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, computed_field

from luodi.errors import MAX_ID
from luodi.jobs.models import split_phase


class JobSubmit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(
        max_length=32, description="score | allocate | feed_import | audit_verify | policy_whatif"
    )
    params: dict[str, Any] = Field(default_factory=dict)


class ScoreParams(BaseModel):
    """Score the registry as of a date with a published policy (``luodi score``)."""

    model_config = ConfigDict(extra="forbid")

    policy_id: str = Field(min_length=1, max_length=64)
    version: str | None = Field(default=None, min_length=1, max_length=32)
    """The version to use (default: the one in force on ``as_of``)."""
    as_of: date | None = None
    """The scoring date (default: today in China)."""


class AllocateParams(BaseModel):
    """A new allocation run of a cycle (``luodi program allocate``)."""

    model_config = ConfigDict(extra="forbid")

    cycle_id: int = Field(ge=1, le=MAX_ID)
    seed: str = Field(min_length=1, max_length=200)
    scoring_run_id: int | None = Field(default=None, ge=1, le=MAX_ID)


class AuditVerifyParams(BaseModel):
    """Walk the whole audit chain and record what was found (``luodi audit verify``)."""

    model_config = ConfigDict(extra="forbid")


class FeedImportParams(BaseModel):
    """A department's file, stored by ``jobs.service.store_upload``, imported into a feed."""

    model_config = ConfigDict(extra="forbid")

    feed_id: str = Field(min_length=1, max_length=64)
    path: str = Field(min_length=1, max_length=1000)
    """Where ``store_upload`` put the file (only files there are read); kept relative to the
    uploads folder once submitted."""
    file_name: str | None = Field(default=None, max_length=255)
    """The name the file was uploaded with (shown in the batch and messages)."""
    accept_partial: bool = False
    dry_run: bool = False
    """Check only: the result lists what would be accepted and refused; the file is kept for
    the import that follows."""
    sheet: str | None = Field(default=None, max_length=100)


class WhatIfParams(BaseModel):
    """A draft policy against the published one on the registry (``luodi policy whatif``).
    The draft's text is kept with the job: the audit of its submission says exactly what
    was tried."""

    model_config = ConfigDict(extra="forbid")

    draft_text: str = Field(min_length=1, max_length=200_000)
    draft_name: str = Field(default="draft.yaml", min_length=1, max_length=255)
    as_of: date | None = None
    """The date the registry is read and both policies score (default: today in China)."""
    thresholds: list[float] | None = Field(default=None, max_length=12)
    """Thresholds to count crossings of (default 60, 90, 120, 150)."""


class JobRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    params: dict[str, Any]
    state: str
    phase: str
    done: int
    total: int
    result: dict[str, Any] | None
    error_zh: str | None
    error_en: str | None
    error_details: list[dict[str, Any]] | None
    created_by: str
    department: str | None
    town_id: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def phase_zh(self) -> str:
        return split_phase(self.phase)[0]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def phase_en(self) -> str:
        return split_phase(self.phase)[1]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def percent(self) -> int | None:
        """0–100 of the current phase, None while its size is unknown."""
        if self.total <= 0:
            return None
        return max(0, min(100, self.done * 100 // self.total))

    @computed_field  # type: ignore[prop-decorator]
    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed")
