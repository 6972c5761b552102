from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class RunRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    policy_id: str
    policy_version: str
    policy_digest: str
    as_of: date
    created_at: datetime
    created_by: str
    residents_scored: int
    residents_skipped: int
    mean_total: float
    defaulted_inputs: str
    frame_digest: str
    """SHA-256 of the run's stored frame (typed inputs and points of everyone scored)."""


class ResidentScoreRead(BaseModel):
    resident_id: int
    run: RunRead
    total: float
    points: dict[str, float]
    explanation: dict[str, Any]


class ScoreOfRun(BaseModel):
    """A resident's total in one scoring run."""

    run: RunRead
    total: float
