from __future__ import annotations

from datetime import UTC, date, datetime
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
    source: str | None = None
    """None: scored here; else the scored dataset it was imported from and its engine."""


def unstored_run(
    policy_id: str,
    policy_version: str,
    policy_digest: str,
    as_of: date,
    residents: int,
    mean: float,
    created_by: str,
    frame_digest: str = "",
) -> RunRead:
    """A scoring run that was never stored (id 0: nothing to read back): what a what-if's
    allocation or a scored dataset's analysis is told the points come from."""
    return RunRead(
        id=0,
        policy_id=policy_id,
        policy_version=policy_version,
        policy_digest=policy_digest,
        as_of=as_of,
        created_at=datetime.now(UTC),
        created_by=created_by,
        residents_scored=residents,
        residents_skipped=0,
        mean_total=mean,
        defaulted_inputs="",
        frame_digest=frame_digest,
    )


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
