"""Registry endpoints: thin — parse, call the service, return."""

from __future__ import annotations

from fastapi import APIRouter

from luodi.auth.actor import PUBLIC_ACTOR
from luodi.registry import service
from luodi.registry.schemas import ResidentRead, TownSummary
from luodi.web.dependencies import DbSession

router = APIRouter(prefix="/api/v1", tags=["registry 登记"])


@router.get("/towns", response_model=list[TownSummary], summary="镇街及人数 / towns with counts")
def list_towns(session: DbSession) -> list[TownSummary]:
    return service.list_towns(PUBLIC_ACTOR, session)


@router.get(
    "/residents/{resident_id}",
    response_model=ResidentRead,
    summary="居民（脱敏）/ a resident, masked",
    responses={404: {"description": "居民不存在 / not found"}},
)
def get_resident(resident_id: int, session: DbSession) -> ResidentRead:
    return service.get_resident(PUBLIC_ACTOR, session, resident_id)
