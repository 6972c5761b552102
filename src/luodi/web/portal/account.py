"""A resident's account as the city runs it (public pages, before signing in):

- ``/activate``: the ID number, the one-time code (given at the service counter or texted to
  the registered phone) and a new password twice → the account is active, the resident is
  signed in and lands on ``/my``;
- ``/activate/code``: the ID number and the last four digits of the registered phone → a
  code is texted to that phone (the same answer whether or not anybody matches);
- ``/reset-password`` and ``/reset-password/code``: the same for a forgotten password (every
  other session of the account ends).

Nobody gets an account without a code; the codes' rules are ``auth.service`` (one-time
codes), their way to the phone is ``auth.codes``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from luodi.auth import service as auth
from luodi.auth.actor import Actor
from luodi.auth.codes import CodeSender, configured_sender, send_all
from luodi.errors import FieldProblem, LuodiError
from luodi.web import i18n
from luodi.web.dependencies import CurrentActor, DbSession, client_address
from luodi.web.i18n import N_, _
from luodi.web.pages import start_session
from luodi.web.rendering import check_form, done, render

router = APIRouter()


@dataclass(frozen=True)
class Flow:
    """One of the two ways a password is set with a code."""

    purpose: auth.CodePurpose
    path: str
    title: str
    code_title: str
    done_message: str


ACTIVATE = Flow(
    auth.CodePurpose.ACTIVATE,
    "/activate",
    N_("激活账户"),
    N_("获取激活验证码"),
    N_("账户已激活。以后可用身份证号和新密码登录。"),
)
RESET = Flow(
    auth.CodePurpose.RESET,
    "/reset-password",
    N_("忘记密码"),
    N_("获取重置密码验证码"),
    N_("密码已重设，其他设备上的登录已全部退出。"),
)
FIELD_LABELS = {
    "id_number": N_("身份证号"),
    "code": N_("验证码"),
    "password": N_("新密码"),
    "password_confirm": N_("再次输入新密码"),
    "phone_suffix": N_("登记手机号码后4位"),
}
SENT = N_(
    "如果您填写的信息与登记一致，验证码已发送到登记的手机，请在 15 分钟内使用。没有收到？请稍等一分钟再试，或到服务中心办理。"
)


def code_sender(request: Request) -> CodeSender:
    """The sender of this app (a test may set ``app.state.code_sender``), else the one
    ``LUODI_CODE_SENDER`` names."""
    chosen = getattr(request.app.state, "code_sender", None)
    return chosen if chosen is not None else configured_sender()


def _summary(problems: list[FieldProblem]) -> tuple[dict[str, str], list[tuple[str | None, str]]]:
    """Each problem's reason by field, and the error summary's (field, text) lines."""
    english = i18n.language() == "en"
    by_field: dict[str, str] = {}
    for problem in problems:
        by_field.setdefault(problem.field, problem.reason_en if english else problem.reason_zh)
    lines: list[tuple[str | None, str]] = [
        (
            name if name in FIELD_LABELS else None,
            _("%(label)s：%(reason)s", label=_(FIELD_LABELS[name]), reason=reason)
            if name in FIELD_LABELS
            else reason,
        )
        for name, reason in by_field.items()
    ]
    return by_field, lines


def _problems_of(error: LuodiError) -> list[FieldProblem]:
    """A refusal as form problems: its own per field; a wrong code (401) at the code; a
    refusal of the whole (too many tries) with no field."""
    if error.details:
        return error.details
    field = "code" if error.status == 401 else ""
    return [FieldProblem(field, None, error.message_zh, error.message_en)]


def _set_page(
    request: Request,
    actor: Actor,
    flow: Flow,
    values: dict[str, str],
    problems: list[FieldProblem],
    status_code: int = 200,
) -> HTMLResponse:
    errors, summary = _summary(problems)
    return render(
        request,
        actor,
        "portal/account_set.html",
        {"flow": flow, "values": values, "errors": errors, "summary": summary},
        status_code=status_code,
    )


def _code_page(
    request: Request,
    actor: Actor,
    flow: Flow,
    values: dict[str, str],
    problems: list[FieldProblem],
    status_code: int = 200,
) -> HTMLResponse:
    errors, summary = _summary(problems)
    return render(
        request,
        actor,
        "portal/account_code.html",
        {"flow": flow, "values": values, "errors": errors, "summary": summary},
        status_code=status_code,
    )


def _set_password(
    request: Request,
    actor: Actor,
    session: Session,
    flow: Flow,
    id_number: str,
    code: str,
    password: str,
    password_confirm: str,
    csrf_token: str,
) -> Response:
    check_form(request, csrf_token)
    values = {"id_number": id_number, "code": code}
    problems = []
    if password != password_confirm:
        problems.append(
            FieldProblem(
                "password_confirm", None, "两次输入的密码不一致", "the two passwords differ"
            )
        )
    if not problems:
        try:
            issued = auth.redeem_code(
                session, flow.purpose, id_number, code, password, client_address(request)
            )
        except LuodiError as error:
            problems = _problems_of(error)
            status = error.status
        else:
            return start_session(done("/my", _(flow.done_message)), issued)
    else:
        status = 422
    return _set_page(request, actor, flow, values, problems, status_code=status)


def _ask_for_code(
    request: Request,
    actor: Actor,
    session: Session,
    background: BackgroundTasks,
    flow: Flow,
    id_number: str,
    phone_suffix: str,
    csrf_token: str,
) -> Response:
    check_form(request, csrf_token)
    try:
        outgoing = auth.request_code(
            session, flow.purpose, id_number, phone_suffix, client_address(request)
        )
    except LuodiError as error:
        values = {"id_number": id_number, "phone_suffix": phone_suffix}
        return _code_page(
            request, actor, flow, values, _problems_of(error), status_code=error.status
        )
    if outgoing is not None:
        # Sent once the response is on its way: after the commit, and a slow gateway does
        # not make the answer slower (nor tell by its time whether anybody matched).
        background.add_task(send_all, code_sender(request), [outgoing])
    return done(flow.path, _(SENT))


IdNumber = Annotated[str, Form(max_length=40)]
Code = Annotated[str, Form(max_length=20)]
Password = Annotated[str, Form(max_length=auth.MAX_PASSWORD)]
PhoneSuffix = Annotated[str, Form(max_length=10)]
Csrf = Annotated[str, Form(max_length=100)]


@router.get("/activate", response_class=HTMLResponse)
def activate_page(request: Request, actor: CurrentActor) -> HTMLResponse:
    return _set_page(request, actor, ACTIVATE, {}, [])


@router.post("/activate", response_class=HTMLResponse, response_model=None)
def activate(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    id_number: IdNumber = "",
    code: Code = "",
    password: Password = "",
    password_confirm: Password = "",
    csrf_token: Csrf = "",
) -> Response:
    return _set_password(
        request, actor, session, ACTIVATE, id_number, code, password, password_confirm, csrf_token
    )


@router.get("/activate/code", response_class=HTMLResponse)
def activation_code_page(request: Request, actor: CurrentActor) -> HTMLResponse:
    return _code_page(request, actor, ACTIVATE, {}, [])


@router.post("/activate/code", response_class=HTMLResponse, response_model=None)
def ask_for_activation_code(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    background: BackgroundTasks,
    id_number: IdNumber = "",
    phone_suffix: PhoneSuffix = "",
    csrf_token: Csrf = "",
) -> Response:
    return _ask_for_code(
        request, actor, session, background, ACTIVATE, id_number, phone_suffix, csrf_token
    )


@router.get("/reset-password", response_class=HTMLResponse)
def reset_page(request: Request, actor: CurrentActor) -> HTMLResponse:
    return _set_page(request, actor, RESET, {}, [])


@router.post("/reset-password", response_class=HTMLResponse, response_model=None)
def reset_password(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    id_number: IdNumber = "",
    code: Code = "",
    password: Password = "",
    password_confirm: Password = "",
    csrf_token: Csrf = "",
) -> Response:
    return _set_password(
        request, actor, session, RESET, id_number, code, password, password_confirm, csrf_token
    )


@router.get("/reset-password/code", response_class=HTMLResponse)
def reset_code_page(request: Request, actor: CurrentActor) -> HTMLResponse:
    return _code_page(request, actor, RESET, {}, [])


@router.post("/reset-password/code", response_class=HTMLResponse, response_model=None)
def ask_for_reset_code(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    background: BackgroundTasks,
    id_number: IdNumber = "",
    phone_suffix: PhoneSuffix = "",
    csrf_token: Csrf = "",
) -> Response:
    return _ask_for_code(
        request, actor, session, background, RESET, id_number, phone_suffix, csrf_token
    )
