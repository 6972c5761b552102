"""The audit log for auditors and administrators."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from luodi.audit import service
from luodi.audit.models import AuditEntry
from luodi.web.dependencies import CurrentActor, DbSession

router = APIRouter(prefix="/api/v1/audit", tags=["audit 审计"])


def entry_dict(entry: AuditEntry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "at": entry.at,
        "actor": entry.actor,
        "role": entry.role,
        "action": entry.action,
        "object": f"{entry.object_type}:{entry.object_id}",
        "before_digest": entry.before_digest,
        "after_digest": entry.after_digest,
        "detail": entry.detail,
        "hash": entry.hash,
    }


@router.get("", summary="审计记录 / audit entries")
def entries(
    actor: CurrentActor,
    session: DbSession,
    object: Annotated[str | None, Query(max_length=120, description="类型:编号")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    if object is None:
        return [entry_dict(e) for e in service.recent(actor, session, limit)]
    object_type, object_id = service.parse_object(object)
    return [entry_dict(e) for e in service.history(actor, session, object_type, object_id)]


@router.get("/verify", summary="校验哈希链 / verify the chain")
def verify(actor: CurrentActor, session: DbSession) -> dict[str, Any]:
    check = service.verify(actor, session)
    return {
        "intact": check.intact,
        "entries": check.entries,
        "head": check.head,
        "broken_seq": check.broken_seq,
        "reason_zh": check.reason_zh,
        "reason_en": check.reason_en,
    }
