"""The console's scoring area (`/console/scoring…`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from luodi.web.dependencies import CurrentActor, DbSession
from luodi.web.rendering import console_actor, render

router = APIRouter(prefix="/console/scoring")


@router.get("", response_class=HTMLResponse)
def scoring_index(request: Request, actor: CurrentActor, session: DbSession) -> HTMLResponse:
    console_actor(actor, "scoring")
    return render(request, actor, "console/home.html", {})
