"""Server-rendered pages (Jinja2; Chinese first)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from luodi.auth.actor import PUBLIC_ACTOR
from luodi.registry import service as registry
from luodi.web.dependencies import DbSession

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, session: DbSession) -> HTMLResponse:
    towns = registry.list_towns(PUBLIC_ACTOR, session)
    largest = max((town.residents for town in towns), default=0) or 1
    totals = {
        "residents": sum(town.residents for town in towns),
        "valid_permits": sum(town.valid_permits for town in towns),
        "children": sum(town.children for town in towns),
    }
    return TEMPLATES.TemplateResponse(
        request, "home.html", {"towns": towns, "largest": largest, "totals": totals}
    )
