"""Resident portal: ``/my/entitlements`` — the entitlement finder (可享待遇). For the resident
and each of their children, every program of the city: eligible now, not yet, or not
eligible, the conditions missing in words and how far away, last cycle's cut-off and today's
rank, decided by the allocation's own rules (``programs.finder``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from luodi.programs import finder
from luodi.web.dependencies import CurrentActor, DbSession
from luodi.web.i18n import N_
from luodi.web.portal import own_resident_id, resident_actor
from luodi.web.rendering import render

router = APIRouter()

STANDING_WORDS = {
    finder.Standing.ELIGIBLE: N_("现在符合"),
    finder.Standing.NOT_YET: N_("暂不符合，等待可满足"),
    finder.Standing.NOT_ELIGIBLE: N_("不符合"),
}
STANDING_CLASSES = {
    finder.Standing.ELIGIBLE: "ok",
    finder.Standing.NOT_YET: "warn",
    finder.Standing.NOT_ELIGIBLE: "bad",
}


@router.get("/my/entitlements", response_class=HTMLResponse)
def my_entitlements(request: Request, actor: CurrentActor, session: DbSession) -> HTMLResponse:
    resident_actor(actor)
    own_resident_id(actor, session)
    return render(
        request,
        actor,
        "portal/entitlements.html",
        {
            "finding": finder.find(actor, session),
            "standing_words": STANDING_WORDS,
            "standing_classes": STANDING_CLASSES,
            "State": finder.State,
        },
    )
