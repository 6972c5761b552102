"""Closed cases to rate: a health-check cycle (``tests.web.conftest.cycle``'s kind) published,
objected to by its first applicant, the objection dismissed and the notice final — so every
application is final and the objection decided."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Engine

from luodi.auth.actor import SYSTEM_ACTOR, Actor
from luodi.db import session_scope
from luodi.notices import service as notices


def close_cases(
    engine: Engine, run_id: int, row: int, resident: Actor, reviewer: Actor
) -> dict[str, Any]:
    """Publish run ``run_id``; ``resident`` objects to row ``row`` (their application); the
    ``reviewer`` dismisses it; the notice becomes final. Ids of the notice and objection."""
    with session_scope(engine) as session:
        notice = notices.publish(SYSTEM_ACTOR, session, allocation_run_id=run_id)
        objection = notices.file_objection(resident, session, notice.id, str(row), "社保月数有误")
        notices.review(reviewer, session, objection.id, uphold=False, reason="数据无误")
        notices.finalize(SYSTEM_ACTOR, session, notice.id, today=notice.ends_on + timedelta(days=1))
        return {"notice": notice.id, "objection": objection.id}
