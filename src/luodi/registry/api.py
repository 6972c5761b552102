"""Registry endpoints: thin — parse, call the service, return."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from luodi.auth.actor import PUBLIC_ACTOR
from luodi.registry import service
from luodi.registry.schemas import ResidentCreate, ResidentRead, ResidentUpdate, TownSummary
from luodi.web.dependencies import CurrentActor, DbSession
from luodi.web.params import ObjectId

router = APIRouter(prefix="/api/v1", tags=["registry 登记"])

MAX_OFFSET = 10**9


@router.get("/towns", response_model=list[TownSummary], summary="镇街及人数 / towns with counts")
def list_towns(session: DbSession) -> list[TownSummary]:
    return service.list_towns(PUBLIC_ACTOR, session)


@router.get(
    "/residents/{resident_id}",
    response_model=ResidentRead,
    summary="居民（范围内）/ a resident within the caller's scope",
    responses={404: {"description": "居民不存在或不在范围内 / not found or out of scope"}},
)
def get_resident(resident_id: ObjectId, actor: CurrentActor, session: DbSession) -> ResidentRead:
    return service.get_resident(actor, session, resident_id)


@router.get(
    "/residents",
    response_model=list[ResidentRead],
    summary="居民列表（范围内）/ residents within the caller's scope",
)
def list_residents(
    actor: CurrentActor,
    session: DbSession,
    town: Annotated[str | None, Query(max_length=12, description="镇街代码")] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIST)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[ResidentRead]:
    return service.list_residents(actor, session, town, limit, offset)


@router.post(
    "/residents",
    response_model=ResidentRead,
    status_code=201,
    summary="登记居民 / register a resident (town staff: in their own town)",
    responses={403: {"description": "不能在其他镇街登记 / not in another town"}},
)
def register_resident(
    data: ResidentCreate, actor: CurrentActor, session: DbSession
) -> ResidentRead:
    resident = service.register_resident(actor, session, data)
    return service.get_resident(actor, session, resident.id)


@router.patch(
    "/residents/{resident_id}",
    response_model=ResidentRead,
    summary="更正居民信息或迁入其他镇街 / correct a resident or move them to another town",
    responses={404: {"description": "居民不存在或不在范围内 / not found or out of scope"}},
)
def correct_resident(
    resident_id: ObjectId, data: ResidentUpdate, actor: CurrentActor, session: DbSession
) -> ResidentRead:
    resident = service.correct_resident(actor, session, resident_id, data)
    return service.get_resident(actor, session, resident.id)
