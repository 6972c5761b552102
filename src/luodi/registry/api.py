"""Registry endpoints: thin — parse, call the service, return."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from luodi.auth.actor import PUBLIC_ACTOR
from luodi.registry import service
from luodi.registry.schemas import ResidentRead, TownSummary
from luodi.web.dependencies import CurrentActor, DbSession

router = APIRouter(prefix="/api/v1", tags=["registry 登记"])


@router.get("/towns", response_model=list[TownSummary], summary="镇街及人数 / towns with counts")
def list_towns(session: DbSession) -> list[TownSummary]:
    return service.list_towns(PUBLIC_ACTOR, session)


@router.get(
    "/residents/{resident_id}",
    response_model=ResidentRead,
    summary="居民（范围内）/ a resident within the caller's scope",
    responses={404: {"description": "居民不存在或不在范围内 / not found or out of scope"}},
)
def get_resident(resident_id: int, actor: CurrentActor, session: DbSession) -> ResidentRead:
    return service.get_resident(actor, session, resident_id)


@router.get(
    "/residents",
    response_model=list[ResidentRead],
    summary="居民列表（范围内）/ residents within the caller's scope",
)
def list_residents(
    actor: CurrentActor,
    session: DbSession,
    town: Annotated[str | None, Query(max_length=20, description="镇街代码")] = None,
    limit: Annotated[int, Query()] = 100,
    offset: Annotated[int, Query()] = 0,
) -> list[ResidentRead]:
    return service.list_residents(actor, session, town, limit, offset)
