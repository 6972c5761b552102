"""Resident portal: ``/my`` — my points now (the total and its parts), my permit and its next
endorsement (签注; warned 30 days before, and once overdue), my applications with their status
and the next step in words, the notices that concern me, my objections. Cards, phone first.

Every part is read by indexed keys: my scores (``scoring.service.score_history``, the stored
frame's part that holds me), my permits and endorsements, my applications and their cycles'
notices; nothing is recomputed for the population."""

from __future__ import annotations

from datetime import date
from typing import Any, cast

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from luodi import workdays
from luodi.auth.actor import Actor
from luodi.kernels.timeline.permits import PermitState
from luodi.notices import service as notices
from luodi.notices.models import Notice, NoticeStatus, Objection
from luodi.programs import intake
from luodi.programs import service as programs
from luodi.programs.models import Application, ApplicationStatus, ProgramCycle
from luodi.programs.numbers import application_number
from luodi.programs.timeline import number_of
from luodi.registry import service as registry
from luodi.scoring import repository as scoring_repository
from luodi.web.dependencies import CurrentActor, DbSession
from luodi.web.i18n import N_
from luodi.web.portal import own_resident_id, resident_actor
from luodi.web.portal.points import my_score, score_parts
from luodi.web.portal.ratings import prompt_context
from luodi.web.rendering import render
from luodi.web.words import APPLICATION_STATUS_WORDS, OBJECTION_STATUS_WORDS

router = APIRouter()

ENDORSEMENT_WARNING_DAYS = 30
"""A permit's yearly endorsement is announced this many days before it is due."""
PERMIT_STATE_WORDS: dict[str, str] = {
    PermitState.VALID: N_("有效"),
    PermitState.SUSPENDED: N_("中止（逾期未签注）"),
    PermitState.EXPIRED: N_("已过期"),
    PermitState.CANCELLED: N_("已注销"),
    PermitState.NONE: N_("无居住证"),
}
NEXT_STEP_WORDS: dict[str, str] = {
    ApplicationStatus.SUBMITTED: N_("等待主管部门审核材料"),
    ApplicationStatus.RETURNED: N_("按退回原因补正材料后再次提交"),
    ApplicationStatus.VERIFIED: N_("审核已通过，等待申报截止后统一排序分配"),
    ApplicationStatus.PLACED: N_("留意结果公示；公示期内可对结果提出异议"),
    ApplicationStatus.WAITLISTED: N_("已进入轮候名单，有空余名额时按顺序递补"),
    ApplicationStatus.UNPLACED: N_("留意结果公示；对结果有异议可在公示期内提出"),
    ApplicationStatus.FINAL: N_("结果已确定，无需再办理"),
}
APPLICATION_BADGES: dict[str, str] = {
    ApplicationStatus.RETURNED: "returned",
    ApplicationStatus.PLACED: "placed",
    ApplicationStatus.VERIFIED: "verified",
    ApplicationStatus.FINAL: "final",
    ApplicationStatus.UNPLACED: "bad",
}
NOTICES_SHOWN = 10


def permit_card(actor: Actor, session: Session, resident_id: int, today: date) -> dict[str, Any]:
    """My permit on ``today`` and its next endorsement: ``warning`` is ``soon`` within 30 days
    of the date, ``overdue`` after it (or once the permit is suspended for it)."""
    span = registry.residence_span(actor, session, resident_id, today)
    due_text = span.get("next_endorsement_due")
    due = date.fromisoformat(str(due_text)) if due_text else None
    warning = None
    days = None
    if due is not None:
        days = (due - today).days
        if days < 0:
            warning = "overdue"
        elif days <= ENDORSEMENT_WARNING_DAYS:
            warning = "soon"
    if span["permit_state"] == PermitState.SUSPENDED:
        warning = "overdue"
    permits = cast(list[dict[str, Any]], span.get("permits") or [])
    current = next(
        (item for item in permits if item["permit_number"] == span.get("permit_number")), None
    )
    return {
        "state": span["permit_state"],
        "state_words": PERMIT_STATE_WORDS.get(str(span["permit_state"]), N_("无居住证")),
        "number": span.get("permit_number"),
        "expiry": current["expiry_date"] if current else None,
        "endorsed": current["endorsed_on"][-1] if current and current["endorsed_on"] else None,
        "due": due,
        "days": days,
        "warning": warning,
        "since": span.get("span_start"),
    }


def application_cards(
    actor: Actor, session: Session, mine: list[Application]
) -> list[dict[str, Any]]:
    """My applications (newest first) with their status and next step in words."""
    if not mine:
        return []
    cycles = {cycle.id: cycle for cycle in programs.list_cycles(actor, session)}
    cards = []
    for application in mine:
        cycle = cycles.get(application.cycle_id)
        cards.append(
            {
                "id": application.id,
                "number": number_of(application, cycle) if cycle else str(application.id),
                "cycle": cycle.name if cycle else str(application.cycle_id),
                "for_child": application.child_id is not None,
                "status": application.status,
                "status_words": APPLICATION_STATUS_WORDS.get(
                    application.status, application.status
                ),
                "next_step": NEXT_STEP_WORDS.get(application.status),
                "reason": application.reason,
                "badge": APPLICATION_BADGES.get(application.status, ""),
                "submitted": application.submitted_at,
            }
        )
    return cards


def my_notices(
    actor: Actor,
    session: Session,
    resident_id: int,
    mine: list[Application],
    scoring_run_id: int | None,
) -> list[dict[str, Any]]:
    """The notices that hold a row of mine, newest first: those of the cycles I applied in
    whose rows include one of my applications (a row's ``ref`` is the application number),
    and the score ranking of the run that scored me (``ref``: my registry id). Each row is
    found by the index on (notice, ref)."""
    refs: dict[int, set[str]] = {}
    for application in mine:
        refs.setdefault(application.cycle_id, set()).add(str(application.id))
    candidates: list[tuple[Notice, set[str]]] = []
    for cycle_id, cycle_refs in sorted(refs.items()):
        candidates += [
            (notice, cycle_refs) for notice in notices.cycle_notices(actor, session, cycle_id)
        ]
    if scoring_run_id is not None:
        candidates += [
            (notice, {str(resident_id)})
            for notice in notices.score_ranking_notices(actor, session, scoring_run_id)
        ]
    found: dict[int, dict[str, Any]] = {}
    for notice, wanted in sorted(candidates, key=lambda pair: -pair[0].id):
        if notice.id in found or len(found) >= NOTICES_SHOWN:
            continue
        held = sorted(
            ref for ref in wanted if notices.rows_page(session, notice, limit=1, ref=ref).height
        )
        if held:
            found[notice.id] = {"notice": notice, "refs": held}
    return list(found.values())


def objection_cards(
    actor: Actor, session: Session, objections: list[Objection]
) -> list[dict[str, Any]]:
    """My objections with the notice's title and the row as the notice shows it (a cycle's
    row by its 受理编号), not their internal numbers."""
    titles: dict[int, tuple[str, ProgramCycle | None]] = {}
    cards = []
    for objection in objections:
        if objection.notice_id not in titles:
            notice = notices.get_notice(actor, session, objection.notice_id)
            cycle = session.get(ProgramCycle, notice.cycle_id) if notice.cycle_id else None
            titles[objection.notice_id] = (notice.title, cycle)
        title, cycle = titles[objection.notice_id]
        ref = objection.row_ref
        cards.append(
            {
                "id": objection.id,
                "notice_id": objection.notice_id,
                "notice_title": title,
                "row": application_number(cycle.program_id, cycle.opens, int(ref))
                if cycle is not None and ref.isdigit()
                else ref,
                "reason": objection.reason,
                "status": objection.status,
                "decision_reason": objection.decision_reason,
            }
        )
    return cards


@router.get("/my", response_class=HTMLResponse)
def my_home(request: Request, actor: CurrentActor, session: DbSession) -> HTMLResponse:
    resident_id = own_resident_id(resident_actor(actor), session)
    today = workdays.today()
    score = my_score(actor, session, resident_id)
    mine = intake.my_applications(actor, session)
    applications = application_cards(actor, session, mine)
    # A newer run that left me out (no valid permit on its date): my newest score is older,
    # and the page says so rather than show it as my points now.
    newer = scoring_repository.newest_run_after(session, score.run.id) if score else None
    context = {
        "score": score,
        "left_out_on": newer[1] if newer else None,
        "parts": score_parts(score.compiled.policy, score.points) if score else [],
        "permit": permit_card(actor, session, resident_id, today),
        "applications": applications,
        "notices": my_notices(actor, session, resident_id, mine, score.run.id if score else None),
        "objections": objection_cards(actor, session, notices.list_objections(actor, session)),
        "today": today,
        "OPEN": NoticeStatus.OPEN,
        "OBJECTION_STATUS_WORDS": OBJECTION_STATUS_WORDS,
        **prompt_context(actor, session),  # 好差评 of the cases that closed
    }
    return render(request, actor, "portal/home.html", context)
