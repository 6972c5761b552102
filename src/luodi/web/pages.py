"""Server-rendered pages (Jinja2 with autoescaping; Chinese first). Every form carries a CSRF
token checked against its cookie (double submit); the session cookie is HttpOnly and
SameSite=Lax."""

from __future__ import annotations

import secrets
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from luodi.auth import service as auth
from luodi.auth.actor import PUBLIC_ACTOR, Role
from luodi.auth.permissions import acts_as, may_open
from luodi.errors import LuodiError
from luodi.notices import service as notices
from luodi.notices.models import NoticeStatus, notice_columns
from luodi.notices.schemas import MAX_REASON, MAX_REF, NO_CONTROL
from luodi.programs import intake
from luodi.programs.catalog import cycle_spec, load_programs
from luodi.programs.models import ProgramCycle
from luodi.programs.numbers import application_number
from luodi.registry import service as registry
from luodi.settings import get_settings
from luodi.web import i18n
from luodi.web.dependencies import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    CurrentActor,
    DbSession,
    check_csrf,
    client_address,
)
from luodi.web.i18n import LANGUAGE_COOKIE, LARGE_TEXT_COOKIE
from luodi.web.params import MAX_ID, ObjectId
from luodi.web.rendering import local_path, render

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, actor: CurrentActor, session: DbSession) -> HTMLResponse:
    towns = registry.list_towns(PUBLIC_ACTOR, session)
    largest = max((town.residents for town in towns), default=0) or 1
    totals = {
        "residents": sum(town.residents for town in towns),
        "valid_permits": sum(town.valid_permits for town in towns),
        "children": sum(town.children for town in towns),
    }
    return render(
        request, actor, "home.html", {"towns": towns, "largest": largest, "totals": totals}
    )


@router.get("/preferences")
def preferences(
    lang: Annotated[str | None, Query(pattern="^(zh|en)$")] = None,
    large: Annotated[str | None, Query(pattern="^[01]$")] = None,
    next: Annotated[str | None, Query(max_length=500)] = None,
) -> RedirectResponse:
    """The language (中文 / English) and 长辈版 (larger type) switches of the footer: a cookie
    each, then back to the page the visitor was on (on this site only)."""
    response = RedirectResponse(local_path(next, "/"), status_code=303)
    year = 365 * 24 * 3600
    if lang is not None:
        response.set_cookie(LANGUAGE_COOKIE, lang, max_age=year, samesite="lax", httponly=True)
    if large is not None:
        response.set_cookie(LARGE_TEXT_COOKIE, large, max_age=year, samesite="lax", httponly=True)
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(
    request: Request,
    actor: CurrentActor,
    next: Annotated[str | None, Query(max_length=500)] = None,
) -> HTMLResponse:
    return render(request, actor, "login.html", {"error": None, "next": local_path(next, "")})


@router.post("/login", response_class=HTMLResponse, response_model=None)
def login(
    request: Request,
    session: DbSession,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    check_csrf(request, csrf_token)
    try:
        issued = auth.sign_in(
            session, username, password, client_address(request), auth.TokenKind.SESSION
        )
    except LuodiError as error:
        return render(
            request,
            PUBLIC_ACTOR,
            "login.html",
            {"error": error, "username": username, "next": local_path(next, "")},
            status_code=error.status,
        )
    # Staff land on their console, residents on their portal, unless a page sent them here.
    signed_in = auth.actor_for_token(session, issued.token, (auth.TokenKind.SESSION,))
    landing = (
        "/console"
        if may_open(signed_in, "home")
        else "/my"
        if acts_as(signed_in, Role.RESIDENT)
        else "/me"
    )
    return start_session(RedirectResponse(local_path(next, landing), status_code=303), issued)


def start_session(response: Response, issued: auth.IssuedToken) -> Response:
    """``response`` signing the browser in with the web session ``issued`` (the sign-in
    form, an account's activation and a password reset by code all end here)."""
    response.set_cookie(
        SESSION_COOKIE,
        issued.token,
        max_age=int(auth.SIGN_IN_TTL.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=get_settings().secure_cookies,
    )
    # A new CSRF token for the signed-in session: one planted or seen before signing in
    # (on a shared computer, say) does not carry over.
    response.set_cookie(
        CSRF_COOKIE,
        secrets.token_urlsafe(32),
        httponly=True,
        samesite="strict",
        secure=get_settings().secure_cookies,
    )
    return response


@router.post("/logout")
def logout(
    request: Request,
    session: DbSession,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> RedirectResponse:
    check_csrf(request, csrf_token)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        auth.revoke_token(session, token)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/me", response_class=HTMLResponse, response_model=None)
def me(request: Request, actor: CurrentActor, session: DbSession) -> Response:
    if actor == PUBLIC_ACTOR:
        return RedirectResponse("/login", status_code=303)
    if acts_as(actor, Role.RESIDENT):
        return RedirectResponse("/my", status_code=303)  # a resident's page is the portal
    applications = intake.my_applications(actor, session) if acts_as(actor, Role.RESIDENT) else []
    objections = (
        notices.list_objections(actor, session)
        if acts_as(actor, *notices.OBJECTION_READERS)
        else []
    )
    return render(
        request,
        actor,
        "me.html",
        {"applications": applications, "objections": objections},
    )


PAGE_ROWS = 50
PAGE_NOTICES = 20
PAGE_CHANGES = 100
PageNumber = Annotated[int, Query(ge=1, le=MAX_ID)]
NoticeSearch = Annotated[
    str | None, Query(max_length=notices.MAX_QUERY, pattern=NO_CONTROL, description="查找")
]


def _pages(total: int, size: int) -> int:
    return max(1, -(-total // size))


def _query_url(path: str, **values: Any) -> str:
    """``path`` with the given (non-empty) query values, ending in ``?`` or ``&`` for the
    pager to add ``page=``."""
    given = {key: value for key, value in values.items() if value not in (None, "")}
    return f"{path}?{urlencode(given)}&" if given else f"{path}?"


@router.get("/notices", response_class=HTMLResponse)
def notice_list(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    q: Annotated[str | None, Query(max_length=100, pattern=NO_CONTROL)] = None,
    program: Annotated[str | None, Query(max_length=64, pattern=r"^[0-9A-Za-z_-]*$")] = None,
    status: Annotated[str | None, Query(pattern="^(open|upcoming|ended|final)?$")] = None,
    page: PageNumber = 1,
) -> HTMLResponse:
    """Every published notice, newest first, a page at a time: by program (or the score
    rankings), by state today and by words of the title."""
    today = date.today()
    chosen = notices.ListStatus(status) if status else None
    filters = {"program": program or None, "status": chosen, "search": q}
    total, _ignored = notices.notice_listing(actor, session, **filters, limit=1, today=today)
    pages = _pages(total, PAGE_NOTICES)
    page = min(page, pages)
    total, items = notices.notice_listing(
        actor, session, **filters, offset=(page - 1) * PAGE_NOTICES, limit=PAGE_NOTICES, today=today
    )
    english = i18n.language_of(request) == "en"
    programs = load_programs()
    choices = [
        (
            program_id,
            programs[program_id][0].name.en if english else programs[program_id][0].name.zh,
        )
        for program_id in notices.notice_programs(session)
        if program_id in programs
    ]
    return render(
        request,
        actor,
        "notices.html",
        {
            "notices": items,
            "today": today,
            "total": total,
            "page": page,
            "pages": pages,
            "programs": choices,
            "score_ranking": notices.SCORE_RANKING,
            "chosen": {"q": q or "", "program": program or "", "status": status or ""},
            "pager_url": _query_url("/notices", q=q, program=program, status=status),
        },
    )


@router.get("/notices/{notice_id}", response_class=HTMLResponse)
def notice_page(
    notice_id: ObjectId,
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    q: NoticeSearch = None,
    page: PageNumber = 1,
    amendment: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    changes_page: PageNumber = 1,
) -> HTMLResponse:
    """One page of rows read from the stored rows (or of the rows a search finds: by
    application number, or by masked name and the last four of the ID), the signed-in
    resident's own rows first with the objection form on each, and every amendment with its
    changed rows, a page at a time (``amendment`` and ``changes_page`` page through one)."""
    return _notice_response(request, actor, session, notice_id, q, page, amendment, changes_page)


def _notice_response(
    request: Request,
    actor: Any,
    session: Any,
    notice_id: int,
    q: str | None = None,
    page: int = 1,
    amendment: int | None = None,
    changes_page: int = 1,
    refused: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The notice page; ``refused``: an objection not taken (its row, error and typed reason),
    shown at its row's form with the reason kept."""
    notice = notices.get_notice(actor, session, notice_id)
    search_error = None
    try:
        query = notices.parse_row_query(q)
    except LuodiError as error:
        query, search_error = None, error
    if query is None:
        total = notice.row_count
        pages = _pages(total, PAGE_ROWS)
        page = min(page, pages)
        rows = notices.positioned_page(session, notice, (page - 1) * PAGE_ROWS, PAGE_ROWS)
    else:
        total, _ignored = notices.search_rows(session, notice, query, 0, 1)
        pages = _pages(total, PAGE_ROWS)
        page = min(page, pages)
        total, rows = notices.search_rows(session, notice, query, (page - 1) * PAGE_ROWS, PAGE_ROWS)
    own = notices.own_rows(actor, session, notice)
    amended = []
    for item in notices.amendments(session, notice.id):
        change_pages = _pages(item.changed, PAGE_CHANGES)
        shown = min(changes_page, change_pages) if item.id == amendment else 1
        changes = notices.amendment_changes(
            session, notice, item.id, (shown - 1) * PAGE_CHANGES, PAGE_CHANGES
        )
        amended.append(
            {"amendment": item, "changes": changes, "page": shown, "pages": change_pages}
        )
    # A cycle's rows are its applications: shown by the 受理编号 the applicant was given
    # (the stored ref stays the application id; a search takes either).
    cycle = session.get(ProgramCycle, notice.cycle_id) if notice.cycle_id else None
    row_dicts, own_dicts = rows.to_dicts(), own.to_dicts()
    ref_numbers = (
        {
            str(row["ref"]): application_number(cycle.program_id, cycle.opens, int(row["ref"]))
            for row in [*row_dicts, *own_dicts]
            if str(row["ref"]).isdigit()
        }
        if cycle is not None
        else {}
    )
    return render(
        request,
        actor,
        "notice.html",
        {
            "notice": notice,
            "columns": notice_columns(notice),
            "rows": row_dicts,
            "page": page,
            "pages": pages,
            "total": total,
            "page_rows": PAGE_ROWS,
            "query": query.shown() if query else "",
            "searching": query is not None,
            "search_error": search_error,
            "own_rows": own_dicts,
            "own_refs": set(own["ref"].to_list()),
            "ref_numbers": ref_numbers,
            # The priority group by its program's name for it (积分排序), not its number.
            "group_words": {
                str(group.group): i18n.text_of(group.label) for group in cycle_spec(cycle).groups
            }
            if cycle is not None
            else {},
            "pager_url": _query_url(f"/notices/{notice.id}", q=query.shown() if query else None),
            "amendments": amended,
            "counts": notices.objection_counts(session, notice.id),
            "open_for_objection": notice.status == NoticeStatus.OPEN
            and notices.in_window(notice, date.today()),
            "refused": refused,
        },
        status_code=status_code,
    )


@router.post("/notices/{notice_id}/objections", response_class=HTMLResponse, response_model=None)
def object_to_row(
    notice_id: ObjectId,
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    row: Annotated[str, Form(max_length=MAX_REF)],
    reason: Annotated[str, Form(max_length=MAX_REASON)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    files: Annotated[list[UploadFile] | None, File()] = None,
) -> Response:
    check_csrf(request, csrf_token)
    uploads = [
        notices.Upload(upload.filename or "", upload.file.read(notices.MAX_ATTACHMENT_BYTES + 1))
        for upload in files or []
        if upload.filename  # a form's empty file input sends a nameless empty part
    ]
    try:
        objection = notices.file_objection(actor, session, notice_id, row, reason, uploads)
    except LuodiError as error:
        # Back to the notice, the row's form open with the error and the reason as typed.
        session.rollback()
        return _notice_response(
            request,
            actor,
            session,
            notice_id,
            refused={"row": row, "error": error, "reason": reason},
            status_code=error.status,
        )
    return RedirectResponse(f"/my#objection-{objection.id}", status_code=303)
