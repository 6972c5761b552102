"""Resident portal: 好差评 — rate a closed case (a final application, a decided objection) in
five levels with an optional comment. The prompt is ``templates/portal/_rating_prompt.html``
(``/my`` includes it with ``prompt_context``); ``/my/ratings`` lists the same cases on a page
of its own, and ``POST /my/ratings`` stores one rating and goes back to ``/my``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from luodi.auth.actor import Actor
from luodi.errors import Invalid
from luodi.ratings import service as ratings
from luodi.ratings.schemas import MAX_COMMENT
from luodi.web import i18n
from luodi.web.dependencies import CurrentActor, DbSession
from luodi.web.i18n import _
from luodi.web.params import MAX_ID
from luodi.web.portal import own_resident_id, resident_actor
from luodi.web.rendering import check_form, done, render

router = APIRouter()


def prompt_context(actor: Actor, session: Session) -> dict[str, Any]:
    """What ``portal/_rating_prompt.html`` needs: the resident's closed cases not rated yet."""
    return {"rating_cases": ratings.pending(actor, session), "rating_failed": None}


@router.get("/my/ratings", response_class=HTMLResponse)
def rating_page(request: Request, actor: CurrentActor, session: DbSession) -> HTMLResponse:
    resident_actor(actor)
    own_resident_id(actor, session)
    return render(request, actor, "portal/ratings.html", prompt_context(actor, session))


@router.post("/my/ratings", response_class=HTMLResponse, response_model=None)
def submit_rating(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    case_kind: Annotated[str, Form(max_length=16)],
    case_id: Annotated[int, Form(ge=1, le=MAX_ID)],
    level: Annotated[str, Form(max_length=4)] = "",
    comment: Annotated[str, Form(max_length=MAX_COMMENT * 4)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    resident_actor(actor)
    check_form(request, csrf_token)
    key = f"{case_kind}-{case_id}"
    try:
        if level not in ("1", "2", "3", "4", "5"):  # "²".isdigit() is true, int("²") fails
            raise Invalid.field("level", None, "请选择一个评价等级", "choose one of the levels")
        ratings.rate(actor, session, case_kind, case_id, int(level), comment)
    except Invalid as error:
        english = i18n.language_of(request) == "en"
        problems = [
            (
                f"{problem.field}-{key}" if problem.field in ("level", "comment") else None,
                problem.reason_en if english else problem.reason_zh,
            )
            for problem in error.details
        ] or [(None, error.message_en if english else error.message_zh)]
        context = prompt_context(actor, session)
        context["rating_failed"] = {
            "case": key,
            "errors": problems,
            "level": level,
            "comment": comment,
        }
        return render(request, actor, "portal/ratings.html", context, status_code=422)
    return done("/my", _("感谢您的评价"))
