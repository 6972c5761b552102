"""The console's accounts area (``/console/users…``, administrators only): accounts with their
role and binding in words, add one, enable and disable (disabling ends its sessions at once),
reset a password, and the departments' machine tokens (issue: shown once; revoke). Every
change is the auth service's, which audits it."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from luodi.auth import service as auth
from luodi.auth.actor import USER_ROLES, Actor
from luodi.auth.models import User
from luodi.errors import MAX_ID, Invalid, LuodiError, NotFound
from luodi.kernels.masking import mask_id_number
from luodi.registry import service as registry
from luodi.web import i18n
from luodi.web.dependencies import CurrentActor, DbSession
from luodi.web.i18n import _
from luodi.web.params import ObjectId
from luodi.web.rendering import check_form, console_actor, done, render, role_word

router = APIRouter(prefix="/console/users")

PAGE_SIZE = 50
CsrfField = Annotated[str, Form(max_length=100)]
FIELDS = ("username", "role", "town", "department", "id_number", "credit_code", "password")
"""The add form's fields, in order; their ids are their names (the error summary links them)."""


def field_errors(error: LuodiError, known: tuple[str, ...]) -> tuple[list[Any], dict[str, str]]:
    """An error as a form shows it: the summary's (field id, text) lines and each field's own
    text, in the page's language. A problem of a field the form does not have, or an error
    without field details, is a summary line with no link."""
    english = i18n.language() == "en"
    summary: list[tuple[str | None, str]] = []
    by_field: dict[str, str] = {}
    for problem in error.details:
        reason = problem.reason_en if english else problem.reason_zh
        if problem.field in known and problem.field not in by_field:
            by_field[problem.field] = reason
            summary.append((problem.field, reason))
        else:
            summary.append((None, i18n.problem_text(problem)))
    if not error.details:
        summary.append((None, i18n.error_message(error)))
    return summary, by_field


def _town_names(actor: Actor, session: Session) -> dict[str, str]:
    return {town.code: town.name for town in registry.list_towns(actor, session)}


def binding(user: User, towns: dict[str, str]) -> str:
    """What an account is bound to, in words: a town's name, a department, a resident's
    masked ID number, an employer's credit code; empty for the roles bound to nothing."""
    if user.town_code:
        return _("镇街：%(name)s", name=towns.get(user.town_code, user.town_code))
    if user.department:
        return _("部门：%(name)s", name=user.department)
    if user.id_number:
        return _("新市民：%(number)s", number=mask_id_number(user.id_number))
    if user.credit_code:
        return _("用人单位：%(code)s", code=user.credit_code)
    return ""


def _role_options() -> list[tuple[str, str]]:
    return [(str(role), role_word(role)) for role in USER_ROLES]


@router.get("", response_class=HTMLResponse)
def users_index(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    role: Annotated[str | None, Query(max_length=16)] = None,
    name: Annotated[str | None, Query(max_length=64)] = None,
    page: Annotated[int, Query(ge=1, le=MAX_ID // PAGE_SIZE)] = 1,
) -> HTMLResponse:
    console_actor(actor, "users")
    role = role if role in {str(r) for r in USER_ROLES} else None
    users, total = auth.users_page(actor, session, role, name, (page - 1) * PAGE_SIZE, PAGE_SIZE)
    towns = _town_names(actor, session)
    rows = [{"user": user, "binding": binding(user, towns)} for user in users]
    roles = _role_options()
    pages = max(1, -(-total // PAGE_SIZE))
    query = urlencode({key: value for key, value in (("role", role), ("name", name)) if value})
    return render(
        request,
        actor,
        "console/admin/users.html",
        {
            "rows": rows,
            "total": total,
            "page": page,
            "pages": pages,
            "pager_url": f"/console/users?{query}&" if query else "/console/users?",
            "roles": roles,
            "role": role or "",
            "name": name or "",
        },
    )


def _add_form(
    request: Request,
    actor: Actor,
    session: Session,
    values: dict[str, str],
    summary: list[Any],
    errors: dict[str, str],
    status_code: int = 200,
) -> HTMLResponse:
    towns = sorted(_town_names(actor, session).items())
    roles = _role_options()
    return render(
        request,
        actor,
        "console/admin/user_new.html",
        {
            "values": values,
            "summary": summary,
            "errors": errors,
            "roles": roles,
            "towns": towns,
        },
        status_code=status_code,
    )


@router.get("/new", response_class=HTMLResponse)
def new_user(request: Request, actor: CurrentActor, session: DbSession) -> HTMLResponse:
    console_actor(actor, "users")
    return _add_form(request, actor, session, {}, [], {})


@router.post("/new", response_class=HTMLResponse, response_model=None)
def add_user(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    username: Annotated[str, Form(max_length=200)] = "",
    role: Annotated[str, Form(max_length=32)] = "",
    password: Annotated[str, Form(max_length=auth.MAX_PASSWORD)] = "",
    town: Annotated[str, Form(max_length=32)] = "",
    department: Annotated[str, Form(max_length=100)] = "",
    id_number: Annotated[str, Form(max_length=40)] = "",
    credit_code: Annotated[str, Form(max_length=40)] = "",
    csrf_token: CsrfField = "",
) -> Response:
    console_actor(actor, "users")
    check_form(request, csrf_token)
    # Kept for the form after an error; never the password.
    values = {
        "username": username,
        "role": role,
        "town": town,
        "department": department,
        "id_number": id_number,
        "credit_code": credit_code,
    }
    try:
        user = auth.add_user(
            actor,
            session,
            username,
            role,
            password,
            town_code=town.strip() or None,
            department=department.strip() or None,
            id_number=id_number.strip() or None,
            credit_code=credit_code.strip() or None,
        )
    except LuodiError as error:
        session.rollback()
        summary, errors = field_errors(error, FIELDS)
        return _add_form(request, actor, session, values, summary, errors, 422)
    message = _("已添加账号 %(name)s", name=user.username)
    return done(f"/console/users/{user.id}", message)


# --- department tokens (before /{user_id}: "tokens" is no account's id) -------------------


def _tokens_page(
    request: Request,
    actor: Actor,
    session: Session,
    values: dict[str, str],
    summary: list[Any],
    errors: dict[str, str],
    status_code: int = 200,
) -> HTMLResponse:
    tokens = [
        token
        for token in auth.list_tokens(actor, session)
        if token.kind == auth.TokenKind.DEPARTMENT
    ]
    return render(
        request,
        actor,
        "console/admin/tokens.html",
        {
            "tokens": list(reversed(tokens)),
            "values": values,
            "summary": summary,
            "errors": errors,
            "default_days": auth.DEPARTMENT_TOKEN_DAYS,
            "max_days": auth.MAX_DEPARTMENT_TOKEN_DAYS,
        },
        status_code=status_code,
    )


@router.get("/tokens", response_class=HTMLResponse)
def tokens_index(request: Request, actor: CurrentActor, session: DbSession) -> HTMLResponse:
    console_actor(actor, "users")
    return _tokens_page(request, actor, session, {}, [], {})


@router.post("/tokens", response_class=HTMLResponse)
def issue_token(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    department: Annotated[str, Form(max_length=100)] = "",
    days: Annotated[str, Form(max_length=10)] = "",
    csrf_token: CsrfField = "",
) -> HTMLResponse:
    """The token is on this answer and nowhere else: not in a redirect, a flash message or a
    log (only its hash is stored), and the answer is not to be cached."""
    console_actor(actor, "users")
    check_form(request, csrf_token)
    values = {"department": department, "days": days}
    try:
        lifetime = int(days) if days.strip() else auth.DEPARTMENT_TOKEN_DAYS
    except ValueError:
        lifetime = 0  # refused by the service below, naming the field
    try:
        issued = auth.add_department_token(actor, session, department, lifetime)
    except LuodiError as error:
        session.rollback()
        summary, errors = field_errors(error, ("department", "days"))
        return _tokens_page(request, actor, session, values, summary, errors, 422)
    response = render(
        request,
        actor,
        "console/admin/token_issued.html",
        {"issued": issued, "department": department.strip()},
    )
    response.headers["cache-control"] = "no-store"
    return response


@router.get("/tokens/{token_id}/revoke", response_class=HTMLResponse)
def confirm_revoke(
    token_id: ObjectId, request: Request, actor: CurrentActor, session: DbSession
) -> HTMLResponse:
    console_actor(actor, "users")
    token = _token(actor, session, token_id)
    return render(request, actor, "console/admin/token_revoke.html", {"token": token})


@router.post("/tokens/{token_id}/revoke", response_class=HTMLResponse, response_model=None)
def revoke_token(
    token_id: ObjectId,
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    csrf_token: CsrfField = "",
) -> Response:
    console_actor(actor, "users")
    check_form(request, csrf_token)
    auth.revoke_token_by_id(actor, session, _token(actor, session, token_id).id)
    message = _("令牌 %(id)s 已撤销，即时失效", id=token_id)
    return done("/console/users/tokens", message)


def _token(actor: Actor, session: Session, token_id: int) -> auth.TokenInfo:
    """A department's token (this page revokes no web session: disabling the account or a
    new password ends those)."""
    token = auth.get_token(actor, session, token_id)
    if token.kind != auth.TokenKind.DEPARTMENT:
        raise NotFound(f"没有部门令牌 {token_id}", f"no department token {token_id}")
    return token


# --- one account ---------------------------------------------------------------------------


@router.get("/{user_id}", response_class=HTMLResponse)
def user_page(
    user_id: ObjectId, request: Request, actor: CurrentActor, session: DbSession
) -> HTMLResponse:
    console_actor(actor, "users")
    user = auth.get_user_by_id(actor, session, user_id)
    bound = binding(user, _town_names(actor, session))
    sessions = [
        token
        for token in auth.list_tokens(actor, session)
        if token.holder == user.username and token.kind != auth.TokenKind.DEPARTMENT
    ]
    return render(
        request,
        actor,
        "console/admin/user.html",
        {
            "user": user,
            "binding": bound,
            "sessions": sessions,
            "myself": user.username == actor.username,
        },
    )


@router.post("/{user_id}/enable", response_class=HTMLResponse, response_model=None)
def enable(
    user_id: ObjectId,
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    csrf_token: CsrfField = "",
) -> Response:
    console_actor(actor, "users")
    check_form(request, csrf_token)
    user = auth.get_user_by_id(actor, session, user_id)
    auth.enable_user(actor, session, user.username)
    message = _("账号 %(name)s 已启用，须用密码重新登录", name=user.username)
    return done(f"/console/users/{user.id}", message)


@router.get("/{user_id}/disable", response_class=HTMLResponse)
def confirm_disable(
    user_id: ObjectId, request: Request, actor: CurrentActor, session: DbSession
) -> HTMLResponse:
    console_actor(actor, "users")
    user = auth.get_user_by_id(actor, session, user_id)
    return render(request, actor, "console/admin/user_disable.html", {"user": user})


@router.post("/{user_id}/disable", response_class=HTMLResponse, response_model=None)
def disable(
    user_id: ObjectId,
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    csrf_token: CsrfField = "",
) -> Response:
    console_actor(actor, "users")
    check_form(request, csrf_token)
    user = auth.get_user_by_id(actor, session, user_id)
    auth.disable_user(actor, session, user.username)
    message = _("账号 %(name)s 已停用，其登录和令牌即时失效", name=user.username)
    return done(f"/console/users/{user.id}", message)


@router.get("/{user_id}/password", response_class=HTMLResponse)
def password_form(
    user_id: ObjectId, request: Request, actor: CurrentActor, session: DbSession
) -> HTMLResponse:
    console_actor(actor, "users")
    user = auth.get_user_by_id(actor, session, user_id)
    return render(
        request,
        actor,
        "console/admin/user_password.html",
        {"user": user, "summary": [], "errors": {}, "min_password": auth.MIN_PASSWORD},
    )


@router.post("/{user_id}/password", response_class=HTMLResponse, response_model=None)
def reset_password(
    user_id: ObjectId,
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    password: Annotated[str, Form(max_length=auth.MAX_PASSWORD)] = "",
    confirm: Annotated[str, Form(max_length=auth.MAX_PASSWORD)] = "",
    csrf_token: CsrfField = "",
) -> Response:
    console_actor(actor, "users")
    check_form(request, csrf_token)
    user = auth.get_user_by_id(actor, session, user_id)
    try:
        if password != confirm:
            raise Invalid.field(
                "confirm", "***", "两次输入的密码不一致", "the two passwords differ"
            )
        auth.reset_password(actor, session, user.username, password)
    except LuodiError as error:
        session.rollback()
        summary, errors = field_errors(error, ("password", "confirm"))
        return render(
            request,
            actor,
            "console/admin/user_password.html",
            {
                "user": user,
                "summary": summary,
                "errors": errors,
                "min_password": auth.MIN_PASSWORD,
            },
            status_code=422,
        )
    message = _("已为 %(name)s 设置新密码，其原有登录已失效", name=user.username)
    return done(f"/console/users/{user.id}", message)
