"""``/console``: what needs me now, by role."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from luodi.web.dependencies import CurrentActor, DbSession
from luodi.web.rendering import console_actor, render

router = APIRouter()


@router.get("/console", response_class=HTMLResponse)
def console_home(request: Request, actor: CurrentActor, session: DbSession) -> HTMLResponse:
    console_actor(actor, "home")
    return render(request, actor, "console/home.html", {})
