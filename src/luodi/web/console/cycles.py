"""The console's cycles area (`/console/cycles…`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from luodi.web.dependencies import CurrentActor, DbSession
from luodi.web.rendering import console_actor, render

router = APIRouter(prefix="/console/cycles")


@router.get("", response_class=HTMLResponse)
def cycles_index(request: Request, actor: CurrentActor, session: DbSession) -> HTMLResponse:
    console_actor(actor, "cycles")
    return render(request, actor, "console/home.html", {})
