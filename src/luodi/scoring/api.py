from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from luodi.scoring import service
from luodi.scoring.schemas import ResidentScoreRead, RunRead
from luodi.web.dependencies import CurrentActor, DbSession

router = APIRouter(prefix="/api/v1", tags=["scoring 积分"])


@router.get("/residents/{resident_id}/score", response_model=ResidentScoreRead)
def resident_score(
    resident_id: int,
    actor: CurrentActor,
    session: DbSession,
    run: Annotated[int | None, Query(description="计分批次；默认最近一次 / run id")] = None,
) -> ResidentScoreRead:
    """居民积分及逐项解释 / a resident's points with the explanation of every line."""
    return service.resident_score(actor, session, resident_id, run)


@router.get("/scoring-runs", response_model=list[RunRead])
def scoring_runs(actor: CurrentActor, session: DbSession) -> list[RunRead]:
    """计分批次 / scoring runs, newest first."""
    return service.list_runs(actor, session)
