from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from luodi.scoring import service
from luodi.scoring.schemas import ResidentScoreRead, RunRead
from luodi.web.dependencies import CurrentActor, DbSession
from luodi.web.params import MAX_ID, ObjectId

router = APIRouter(prefix="/api/v1", tags=["scoring 积分"])


@router.get(
    "/residents/{resident_id}/score",
    response_model=ResidentScoreRead,
    responses={404: {"description": "居民不存在、不在范围内或未计分 / not found or not scored"}},
)
def resident_score(
    resident_id: ObjectId,
    actor: CurrentActor,
    session: DbSession,
    run: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="计分批次；默认最近一次 / run id")
    ] = None,
) -> ResidentScoreRead:
    """居民积分及逐项解释 / a resident's points with the explanation of every line."""
    return service.resident_score(actor, session, resident_id, run)


@router.get(
    "/scoring-runs",
    response_model=list[RunRead],
    responses={401: {"description": "未登录 / sign in first"}, 403: {"description": "非工作人员"}},
)
def scoring_runs(actor: CurrentActor, session: DbSession) -> list[RunRead]:
    """计分批次（工作人员）/ scoring runs, newest first (staff only)."""
    return service.list_runs(actor, session)
