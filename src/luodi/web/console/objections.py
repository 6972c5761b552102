"""The console's objections area (``/console/objections…``): the reviewer's queue ordered by
the 复核 deadline; one objection beside the published row it is about, with the application
and the points behind the row; uphold or dismiss with a reason; after upheld objections, the
re-run (a confirmation first) and the rows it changed.

Who reads which objection is ``notices.repository.readable_objections`` (a reviewer: their
department's; another department's is "not found"); who decides is ``notices.service``."""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from luodi.auth.actor import Actor, Role
from luodi.auth.permissions import acts_as, require
from luodi.errors import Invalid, LuodiError
from luodi.feeds import catalog as feeds
from luodi.notices import service as notices
from luodi.notices.models import NoticeKind, NoticeStatus, ObjectionStatus, notice_columns
from luodi.programs.models import ApplicationStatus
from luodi.scoring import service as scoring
from luodi.web import i18n
from luodi.web.dependencies import CurrentActor, DbSession
from luodi.web.i18n import N_, _
from luodi.web.params import MAX_ID, ObjectId
from luodi.web.rendering import check_form, console_actor, done, render
from luodi.web.words import OBJECTION_STATUS_WORDS

router = APIRouter(prefix="/console/objections")

PAGE_SIZE = 50
PAGE_CHANGES = 100
PageNumber = Annotated[int, Query(ge=1, le=MAX_ID)]

STATUS_CLASSES = {
    ObjectionStatus.OPEN: "pending",
    ObjectionStatus.UPHELD: "ok",
    ObjectionStatus.DISMISSED: "refused",
}
FILTERS = {
    "pending": ObjectionStatus.OPEN,
    "upheld": ObjectionStatus.UPHELD,
    "dismissed": ObjectionStatus.DISMISSED,
    "all": None,
}
"""The queue's status filter (``?status=``) → the objections' status; ``pending`` by default."""
FILTER_WORDS = {
    "pending": N_("待复核"),
    "upheld": N_("异议成立"),
    "dismissed": N_("异议不成立"),
    "all": N_("全部"),
}
APPLICATION_WORDS = {
    ApplicationStatus.SUBMITTED: N_("已提交，待审核"),
    ApplicationStatus.VERIFIED: N_("已审核"),
    ApplicationStatus.RETURNED: N_("已退回"),
    ApplicationStatus.PLACED: N_("已安排"),
    ApplicationStatus.WAITLISTED: N_("轮候"),
    ApplicationStatus.UNPLACED: N_("未安排"),
    ApplicationStatus.FINAL: N_("结果已确定"),
}
CHANGE_KEYS = ("outcome", "target_name", "unit", "amount", "points", "rank")
"""What an amendment compares of a row, in this order (``notices.service._row_changes``)."""


def _status_word(status: str) -> str:
    return _(OBJECTION_STATUS_WORDS[ObjectionStatus(status)])


def _may_rerun(actor: Actor) -> bool:
    return acts_as(actor, Role.ADMIN, Role.OPERATOR)


@router.get("", response_class=HTMLResponse)
def objection_queue(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    status: Annotated[str, Query(max_length=20)] = "pending",
    notice: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    page: PageNumber = 1,
) -> HTMLResponse:
    """The objections the actor reads, earliest 复核 deadline first; overdue ones marked."""
    console_actor(actor, "objections")
    if status not in FILTERS:
        status = "pending"  # a filter this page does not offer: the default, not an error
    total, items = notices.objection_queue(
        actor, session, FILTERS[status], notice, (page - 1) * PAGE_SIZE, PAGE_SIZE
    )
    pages = max(1, -(-total // PAGE_SIZE))
    if page > pages and total:
        page = pages
        total, items = notices.objection_queue(
            actor, session, FILTERS[status], notice, (page - 1) * PAGE_SIZE, PAGE_SIZE
        )
    kept = {"status": status} | ({"notice": str(notice)} if notice else {})
    return render(
        request,
        actor,
        "console/objections/queue.html",
        {
            "items": items,
            "total": total,
            "page": page,
            "pages": pages,
            "status": status,
            "notice": notice,
            "filters": FILTER_WORDS,
            "notices": notices.objected_notices(actor, session),
            "page_url": f"/console/objections?{urlencode(kept)}&",
            "status_word": _status_word,
            "status_class": STATUS_CLASSES,
        },
    )


def _case_page(
    request: Request,
    actor: Actor,
    session: DbSession,
    objection_id: int,
    errors: list[tuple[str | None, str]] | None = None,
    field_errors: dict[str, str] | None = None,
    reason: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    case = notices.objection_case(actor, session, objection_id)
    return render(
        request,
        actor,
        "console/objections/detail.html",
        {
            "case": case,
            "feed_titles": {feed_id: spec.title for feed_id, spec in feeds.load_feeds().items()},
            "o": case.objection,
            "notice": case.notice,
            "status_word": _status_word,
            "status_class": STATUS_CLASSES,
            "application_word": lambda status: _(APPLICATION_WORDS[ApplicationStatus(status)]),
            "may_rerun": _may_rerun(actor)
            and case.upheld_waiting > 0
            and case.notice.status == NoticeStatus.OPEN,
            "errors": errors or [],
            "field_errors": field_errors or {},
            "reason": reason,
        },
        status_code=status_code,
    )


@router.get("/{objection_id}", response_class=HTMLResponse)
def objection_page(
    objection_id: ObjectId, request: Request, actor: CurrentActor, session: DbSession
) -> HTMLResponse:
    console_actor(actor, "objections")
    return _case_page(request, actor, session, objection_id)


@router.post("/{objection_id}/review", response_class=HTMLResponse, response_model=None)
def review(
    objection_id: ObjectId,
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    decision: Annotated[str, Form(max_length=10)] = "",
    reason: Annotated[str, Form(max_length=notices.MAX_REASON + 100)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Uphold or dismiss with a reason the resident reads; the form comes back with its
    errors and the reason kept."""
    console_actor(actor, "objections")
    check_form(request, csrf_token)
    try:
        if decision not in ("uphold", "dismiss"):
            raise Invalid.field(
                "decision", decision, "请选择异议成立或不成立", "choose uphold or dismiss"
            )
        with session.begin_nested():
            objection = notices.review(actor, session, objection_id, decision == "uphold", reason)
    except LuodiError as error:
        if error.status == 404:
            raise
        summary, field_errors = _form_errors(error)
        return _case_page(
            request,
            actor,
            session,
            objection_id,
            summary,
            field_errors,
            reason,
            status_code=error.status,
        )
    message = (
        _("已记录：异议 %(id)s 成立", id=objection.id)
        if objection.status == ObjectionStatus.UPHELD
        else _("已记录：异议 %(id)s 不成立", id=objection.id)
    )
    return done(f"/console/objections/{objection.id}", message)


def _form_errors(error: LuodiError) -> tuple[list[tuple[str | None, str]], dict[str, str]]:
    """A refused form's error summary (each problem linking to its field, or the message)
    and each field's own error, in the page's language."""
    english = i18n.language() == "en"
    field_errors = {
        problem.field: problem.reason_en if english else problem.reason_zh
        for problem in error.details
    }
    summary: list[tuple[str | None, str]] = list(field_errors.items())
    message = error.message_en if english else error.message_zh
    return summary or [(None, message)], field_errors


@router.get("/{objection_id}/attachments/{attachment_id}")
def attachment(
    objection_id: ObjectId,
    attachment_id: ObjectId,
    actor: CurrentActor,
    session: DbSession,
) -> Response:
    """An attachment of an objection the actor reads, always as a download (never shown
    inline: a file from a resident is not this site's content)."""
    console_actor(actor, "objections")
    found = notices.attachment_file(actor, session, objection_id, attachment_id)
    suffix = found.file_name.rsplit(".", 1)[-1].lower() if "." in found.file_name else ""
    extension = suffix if re.fullmatch(r"[a-z0-9]{1,8}", suffix) else "bin"
    ascii_name = f"objection-{objection_id}-{found.id}.{extension}"
    return Response(
        found.content,
        media_type=found.content_type,
        headers={
            # The ASCII name for every client, the uploaded name (percent-encoded) for those
            # that read RFC 6266's filename*; never the raw name in a header.
            "Content-Disposition": (
                f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''"
                f"{quote(found.file_name, safe='')}"
            ),
            "Cache-Control": "private, no-store",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


def _rerun_page(
    request: Request,
    actor: Actor,
    session: DbSession,
    notice_id: int,
    errors: list[tuple[str | None, str]] | None = None,
    field_errors: dict[str, str] | None = None,
    chosen_run: int | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    notice = notices.get_notice(actor, session, notice_id)
    waiting = notices.upheld_waiting(actor, session, notice.id)
    runs = scoring.list_runs(actor, session) if notice.kind == NoticeKind.SCORING else []
    return render(
        request,
        actor,
        "console/objections/rerun.html",
        {
            "notice": notice,
            "waiting": waiting,
            "runs": runs,
            "chosen_run": chosen_run,
            "errors": errors or [],
            "field_errors": field_errors or {},
        },
        status_code=status_code,
    )


@router.get("/notices/{notice_id}/rerun", response_class=HTMLResponse)
def rerun_confirmation(
    notice_id: ObjectId, request: Request, actor: CurrentActor, session: DbSession
) -> HTMLResponse:
    """What a re-run will do, before it is done: allocate again on the notice's scoring run
    with its published seed, replace the published rows and record each changed row."""
    console_actor(actor, "objections")
    require(actor, Role.ADMIN, Role.OPERATOR)
    return _rerun_page(request, actor, session, notice_id)


@router.post("/notices/{notice_id}/rerun", response_class=HTMLResponse, response_model=None)
def rerun(
    notice_id: ObjectId,
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    scoring_run: Annotated[str, Form(max_length=12)] = "",
    confirm_other_run: Annotated[str, Form(max_length=5)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    console_actor(actor, "objections")
    check_form(request, csrf_token)
    chosen = int(scoring_run) if scoring_run.isdigit() and int(scoring_run) <= MAX_ID else None
    try:
        if scoring_run and chosen is None:
            raise Invalid.field("scoring_run", scoring_run, "请选择计分批次", "choose a run")
        with session.begin_nested():
            amendment = notices.rerun(
                actor,
                session,
                notice_id,
                chosen,
                confirm_other_scoring_run=confirm_other_run == "yes",
            )
    except LuodiError as error:
        if error.status in (403, 404):
            raise
        summary, field_errors = _form_errors(error)
        return _rerun_page(
            request,
            actor,
            session,
            notice_id,
            summary,
            field_errors,
            chosen,
            status_code=error.status,
        )
    message = _("已重新分配并更正公示：%(n)s 条变化", n=amendment.changed)
    return done(f"/console/objections/notices/{notice_id}/amendments/{amendment.id}", message)


def _compared(
    change: dict[str, Any], keys: list[str], labels: dict[str, str]
) -> list[dict[str, Any]]:
    """The compared values of a changed row, each with its column's label and whether it
    changed: the stored before/after are the values joined by `` | `` ("—" for no row)."""

    def parts(text: str) -> list[str]:
        return ["—"] * len(keys) if text == "—" else text.split(" | ")

    before, after = parts(change["before"]), parts(change["after"])
    if len(before) != len(keys) or len(after) != len(keys):
        return [
            {"label": "", "before": change["before"], "after": change["after"], "changed": True}
        ]
    return [
        {"label": labels[key], "before": old, "after": new, "changed": old != new}
        for key, old, new in zip(keys, before, after, strict=True)
    ]


@router.get("/notices/{notice_id}/amendments/{amendment_id}", response_class=HTMLResponse)
def amendment_page(
    notice_id: ObjectId,
    amendment_id: ObjectId,
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    page: PageNumber = 1,
) -> HTMLResponse:
    """The rows a re-run changed, before and after, the differing values marked."""
    console_actor(actor, "objections")
    notice = notices.get_notice(actor, session, notice_id)
    amendment = notices.amendment_of(actor, session, notice.id, amendment_id)
    pages = max(1, -(-amendment.changed // PAGE_CHANGES))
    page = min(page, pages)
    changes = notices.amendment_changes(
        session, notice, amendment.id, (page - 1) * PAGE_CHANGES, PAGE_CHANGES
    )
    labels = notice_columns(notice)
    keys = [key for key in CHANGE_KEYS if key in labels]
    resolved = [
        objection
        for objection in notices.list_objections(actor, session, notice.id)
        if objection.amendment_id == amendment.id
    ]
    return render(
        request,
        actor,
        "console/objections/amendment.html",
        {
            "notice": notice,
            "amendment": amendment,
            "rows": [
                {"ref": c["ref"], "name": c["name"], "values": _compared(c, keys, labels)}
                for c in changes
            ],
            "labels": [labels[key] for key in keys],
            "resolved": resolved,
            "page": page,
            "pages": pages,
            "page_url": f"/console/objections/notices/{notice.id}/amendments/{amendment.id}?",
            "status_word": _status_word,
        },
    )
