"""Resident portal: ``/my`` — my points now, my permit and its next endorsement, my
applications and their next step, the notices that concern me (filled in by issue 17)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from luodi.notices import service as notices
from luodi.web.dependencies import CurrentActor, DbSession
from luodi.web.portal import own_resident_id, resident_actor
from luodi.web.rendering import render

router = APIRouter()


@router.get("/my", response_class=HTMLResponse)
def my_home(request: Request, actor: CurrentActor, session: DbSession) -> HTMLResponse:
    resident_actor(actor)
    own_resident_id(actor, session)
    return render(
        request, actor, "portal/home.html", {"objections": notices.list_objections(actor, session)}
    )
