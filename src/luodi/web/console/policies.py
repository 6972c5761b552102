"""The console's policies area (`/console/policies…`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from luodi.web.dependencies import CurrentActor, DbSession
from luodi.web.rendering import console_actor, render

router = APIRouter(prefix="/console/policies")


@router.get("", response_class=HTMLResponse)
def policies_index(request: Request, actor: CurrentActor, session: DbSession) -> HTMLResponse:
    console_actor(actor, "policies")
    return render(request, actor, "console/home.html", {})
