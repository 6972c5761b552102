"""Request bodies and query limits of the notices API. Every text has a length limit here,
in the schema, so an oversized value is a 422 before any service runs."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from luodi.errors import MAX_ID

MAX_REASON = 2000
MAX_TITLE = 200
MAX_REF = 40
DEFAULT_WORKING_DAYS = 5
NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"
"""A one-line text: no NUL or other control character (PostgreSQL cannot even store NUL)."""


class PublishRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    allocation_run_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    scoring_run_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    starts_on: date | None = None
    working_days: int | None = Field(
        default=None, ge=1, le=30, description="默认：周期的公示期 / default: the cycle's period"
    )
    title: str | None = Field(default=None, min_length=1, max_length=MAX_TITLE, pattern=NO_CONTROL)
    qualification: bool = Field(
        default=False,
        description="只公示资格审核结果（公租房配租前）/ the qualified list only (before 配租)",
    )


class ReviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    uphold: bool
    reason: str = Field(min_length=1, max_length=MAX_REASON, description="复核意见（居民可见）")


class RerunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scoring_run_id: int | None = Field(
        default=None,
        ge=1,
        le=MAX_ID,
        description="默认：公示所依据的计分批次 / default: the scoring run the notice was built on",
    )
    confirm_other_scoring_run: bool = Field(
        default=False,
        description="改用其他计分批次时必须为 true / must be true to use another scoring run",
    )
    seed: str | None = Field(default=None, min_length=1, max_length=100, pattern=NO_CONTROL)
