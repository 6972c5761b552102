"""The console's feeds area (`/console/feeds…`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from luodi.web.dependencies import CurrentActor, DbSession
from luodi.web.rendering import console_actor, render

router = APIRouter(prefix="/console/feeds")


@router.get("", response_class=HTMLResponse)
def feeds_index(request: Request, actor: CurrentActor, session: DbSession) -> HTMLResponse:
    console_actor(actor, "feeds")
    return render(request, actor, "console/home.html", {})
