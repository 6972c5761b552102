"""The console's residents area (`/console/residents…`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from luodi.web.dependencies import CurrentActor, DbSession
from luodi.web.rendering import console_actor, render

router = APIRouter(prefix="/console/residents")


@router.get("", response_class=HTMLResponse)
def residents_index(request: Request, actor: CurrentActor, session: DbSession) -> HTMLResponse:
    console_actor(actor, "residents")
    return render(request, actor, "console/home.html", {})
