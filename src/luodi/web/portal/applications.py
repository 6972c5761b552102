"""Resident portal: ``/my/applications/{id}`` — one application's time line (submitted,
verified or returned with the department's reason, corrected, ranked, outcome, notice,
objection and decision, final), and, while it is returned, its correction and resubmission
(``intake.correct``: the resident's own, back to the department). Only an application the
resident filed, or of their own child, is found; any other is 404."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from luodi.errors import Invalid, LuodiError
from luodi.programs import drafts, intake
from luodi.programs.catalog import cycle_spec
from luodi.programs.models import Application, ApplicationStatus, CycleStatus, ProgramCycle
from luodi.programs.timeline import (
    application_steps,
    choices,
    cycle_of,
    number_of,
    own_application,
)
from luodi.registry.models import Child
from luodi.web import i18n
from luodi.web.dependencies import CurrentActor, DbSession
from luodi.web.i18n import N_, _
from luodi.web.params import ObjectId
from luodi.web.portal import own_resident_id, resident_actor
from luodi.web.rendering import check_form, done, render
from luodi.web.words import APPLICATION_STATUS_WORDS, KIND_WORDS, OBJECTION_STATUS_WORDS

router = APIRouter()

STEP_WORDS = {
    "submitted": N_("已提交"),
    "verified": N_("审核通过"),
    "returned": N_("被退回"),
    "corrected": N_("已更正并重新提交"),
    "review": N_("等待部门审核"),
    "allocation": N_("等待分配"),
    "ranked": N_("排序"),
    "outcome": N_("分配结果"),
    "notice": N_("结果公示"),
    "objection": N_("提出异议"),
    "decision": N_("异议复核"),
    "final": N_("结果确定"),
}


def _page(
    request: Request,
    actor: Any,
    session: Session,
    application: Application,
    cycle: ProgramCycle,
    errors: list[tuple[str | None, str]] | None = None,
    kept: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    spec = cycle_spec(cycle)
    child = session.get(Child, application.child_id) if application.child_id else None
    returned = application.status == ApplicationStatus.RETURNED
    correctable = returned and cycle.status != CycleStatus.FINAL
    values = json.loads(application.fields or "{}")
    chosen = (kept or {}).get("choices")
    current = chosen.split(";") if chosen is not None else application.choices.split(";")
    choosing = correctable and spec.kind in intake.CHOOSING
    options = choices(actor, session, cycle, cut_offs=False) if choosing else []
    context = {
        "application": application,
        "cycle": cycle,
        "program": i18n.text_of(spec.name),
        "kind_word": _(KIND_WORDS[spec.kind]),
        "number": number_of(application, cycle),
        "status_word": _(APPLICATION_STATUS_WORDS[application.status]),
        "child_name": child.name if child else None,
        "steps": application_steps(actor, session, application, cycle),
        "step_words": STEP_WORDS,
        "objection_words": OBJECTION_STATUS_WORDS,
        "correctable": correctable,
        "fields": [
            {
                "name": name,
                "id": f"field_{name}",
                "label": i18n.text_of(f.label),
                "type": f.type,
                "options": list((f.values or {}).items()),
                "value": (kept or {}).get(
                    f"field_{name}", "" if values.get(name) is None else str(values.get(name))
                ),
            }
            for name, f in drafts.own_fields(spec).items()
        ]
        if correctable
        else [],
        "option_pairs": [(o.id, o.name) for o in options],
        "slots": [
            (i, current[i - 1] if i <= len(current) else "") for i in range(1, spec.max_choices + 1)
        ]
        if options
        else [],
        "errors": errors or [],
        "field_errors": {field: text for field, text in errors or [] if field},
    }
    return render(request, actor, "portal/application.html", context, status_code)


@router.get("/my/applications/{application_id}", response_class=HTMLResponse)
def application_page(
    request: Request, actor: CurrentActor, session: DbSession, application_id: ObjectId
) -> HTMLResponse:
    resident_actor(actor)
    own_resident_id(actor, session)
    application = own_application(actor, session, application_id)
    return _page(request, actor, session, application, cycle_of(actor, session, application))


@router.post("/my/applications/{application_id}/correct", response_model=None)
async def correct(
    request: Request, actor: CurrentActor, session: DbSession, application_id: ObjectId
) -> Response:
    # Async only to read a form whose fields are the program's own; the work runs in a thread.
    form = await request.form()
    submitted = {key: str(value)[:500] for key, value in form.items() if isinstance(value, str)}
    return await run_in_threadpool(_correct, request, actor, session, application_id, submitted)


def _correct(
    request: Request, actor: Any, session: Session, application_id: int, submitted: dict[str, str]
) -> Response:
    resident_actor(actor)
    own_resident_id(actor, session)
    check_form(request, submitted.get("csrf_token"))
    application = own_application(actor, session, application_id)
    cycle = cycle_of(actor, session, application)
    spec = cycle_spec(cycle)
    own = drafts.own_fields(spec)
    fields = {name: submitted.get(f"field_{name}", "").strip() for name in own}
    chosen = None
    if spec.kind in intake.CHOOSING:
        slots = [submitted.get(f"choice_{i}", "").strip() for i in range(1, spec.max_choices + 1)]
        chosen = ";".join(choice for choice in slots if choice)
    try:
        intake.correct(actor, session, application.id, chosen, fields or None)
    except (Invalid, LuodiError) as error:
        if error.status in (401, 403, 404):
            raise
        session.rollback()
        names = {"choices": "choice_1", **{name: f"field_{name}" for name in own}}
        problems = [
            (
                names.get(problem.field),
                problem.reason_en if i18n.language() == "en" else problem.reason_zh,
            )
            for problem in error.details[:20]
        ] or [(None, i18n.error_message(error))]
        kept = dict(submitted)
        if chosen is not None:
            kept["choices"] = chosen
        application = own_application(actor, session, application_id)
        return _page(request, actor, session, application, cycle, problems, kept, error.status)
    return done(f"/my/applications/{application.id}", _("申请已更正并重新提交，等待部门审核"))
