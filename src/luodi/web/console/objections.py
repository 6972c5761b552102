"""The console's objections area (`/console/objections…`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from luodi.web.dependencies import CurrentActor, DbSession
from luodi.web.rendering import console_actor, render

router = APIRouter(prefix="/console/objections")


@router.get("", response_class=HTMLResponse)
def objections_index(request: Request, actor: CurrentActor, session: DbSession) -> HTMLResponse:
    console_actor(actor, "objections")
    return render(request, actor, "console/home.html", {})
