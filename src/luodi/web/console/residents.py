"""The console's residents area (``/console/residents…``): town staff and the service centre
find a resident (name, part or masked form of the ID number, phone suffix), register one and
correct one in their own towns, and read a resident's record: identity, household, the
permit time line, the departments' facts with their batch and row, and every score with
the explanation of its lines. Which residents a role reaches is ``registry.repository
.readable``; another town's resident is "no such page"."""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, BackgroundTasks, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from luodi import workdays
from luodi.auth import service as auth
from luodi.auth.actor import Actor
from luodi.auth.codes import send_all
from luodi.errors import Conflict, FieldProblem, Invalid, LuodiError, NotFound
from luodi.facts import service as facts_service
from luodi.feeds import catalog
from luodi.kernels.timeline.permits import PermitState
from luodi.registry import service as registry
from luodi.registry.models import PermitStatus, Relation
from luodi.registry.schemas import ResidentCreate, ResidentSearch, ResidentUpdate
from luodi.scoring import service as scoring
from luodi.scoring.schemas import ResidentScoreRead
from luodi.web import i18n
from luodi.web.dependencies import CurrentActor, DbSession
from luodi.web.i18n import N_, _
from luodi.web.params import MAX_ID, ObjectId
from luodi.web.portal.account import code_sender
from luodi.web.rendering import check_form, console_actor, done, render

router = APIRouter(prefix="/console/residents")

SEX_WORDS = {"male": N_("男"), "female": N_("女")}
RELATION_WORDS = {
    Relation.HEAD: N_("户主"),
    Relation.SPOUSE: N_("配偶"),
    Relation.CHILD: N_("子女"),
    Relation.PARENT: N_("父母"),
    Relation.SIBLING: N_("兄弟姐妹"),
    Relation.OTHER: N_("其他"),
}
PERMIT_STATUS_WORDS = {
    PermitStatus.VALID: N_("有效"),
    PermitStatus.EXPIRED: N_("已过期"),
    PermitStatus.CANCELLED: N_("已注销"),
}
PERMIT_STATE_WORDS = {
    PermitState.VALID: N_("有效"),
    PermitState.SUSPENDED: N_("中止（逾期未签注）"),
    PermitState.EXPIRED: N_("已过期"),
    PermitState.CANCELLED: N_("已注销"),
    PermitState.NONE: N_("无居住证"),
}
STATE_BADGES = {PermitState.VALID: "ok", PermitState.SUSPENDED: "warn"}
KIND_WORDS = {"basic": N_("基础分"), "bonus": N_("加分"), "deduction": N_("减分")}
FIELD_LABELS = {
    "name": N_("姓名"),
    "id_number": N_("身份证号"),
    "phone": N_("手机号码"),
    "town_code": N_("居住镇街"),
    "page": N_("页码"),
}
SOURCES_SHOWN = 5
"""Facts listed under an explanation line before "and n more" (insurance has one a month)."""


def words(table: dict[Any, str], value: Any) -> str:
    """A stored code in words (translated); the code itself when it has none."""
    return _(table[value]) if value in table else ("" if value is None else str(value))


def _field_errors(problems: list[FieldProblem]) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Each problem's reason by form field, and the error summary's (field, text) lines."""
    english = i18n.language() == "en"
    by_field: dict[str, str] = {}
    for problem in problems:
        reason = problem.reason_en if english else problem.reason_zh
        by_field.setdefault(problem.field, reason)
    summary = [
        (
            name,
            _("%(label)s：%(reason)s", label=_(FIELD_LABELS[name]), reason=reason)
            if name in FIELD_LABELS
            else reason,
        )
        for name, reason in by_field.items()
    ]
    return by_field, summary


# ----------------------------------------------------------------------------------- the list


@router.get("", response_class=HTMLResponse)
def residents_index(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    name: Annotated[str | None, Query(max_length=100)] = None,
    id_number: Annotated[str | None, Query(max_length=40)] = None,
    phone: Annotated[str | None, Query(max_length=40)] = None,
    town_code: Annotated[str | None, Query(max_length=12)] = None,
    page: Annotated[int, Query(ge=1, le=registry.MAX_SEARCH_PAGE)] = 1,
) -> HTMLResponse:
    console_actor(actor, "residents")
    search = ResidentSearch(
        name=name, id_number=id_number, phone=phone, town_code=town_code or None
    )
    towns = registry.resident_towns(actor, session)
    context: dict[str, Any] = {
        "search": search,
        "towns": towns,
        "town_choices": [(choice.code, choice.name) for choice in towns],
        "may_register": registry.may_register(actor),
        "errors": {},
        "summary": [],
        "found": None,
        "words": words,
        "SEX_WORDS": SEX_WORDS,
    }
    try:
        context["found"] = registry.search_residents(actor, session, search, page)
    except Invalid as error:
        context["errors"], context["summary"] = _field_errors(error.details)
    given = {
        key: value
        for key, value in (
            ("name", name),
            ("id_number", id_number),
            ("phone", phone),
            ("town_code", town_code),
        )
        if value
    }
    context["pager_url"] = "/console/residents?" + (urlencode(given) + "&" if given else "")
    return render(
        request,
        actor,
        "console/residents/index.html",
        context,
        status_code=422 if context["summary"] else 200,
    )


# ------------------------------------------------------------------------ register and correct


def _form_page(
    request: Request,
    actor: Actor,
    session: Session,
    values: dict[str, str],
    problems: list[FieldProblem],
    resident_id: int | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    errors, summary = _field_errors(problems)
    resident = registry.get_resident(actor, session, resident_id) if resident_id else None
    return render(
        request,
        actor,
        "console/residents/form.html",
        {
            "values": values,
            "errors": errors,
            "summary": summary,
            "towns": [
                (town.code, town.name) for town in registry.registrable_towns(actor, session)
            ],
            "resident": resident,
        },
        status_code=status_code,
    )


def _problems_of(error: LuodiError, field: str) -> list[FieldProblem]:
    """A refusal as form problems: its own per field, else the whole message at ``field``."""
    if error.details:
        return error.details
    return [FieldProblem(field, None, error.message_zh, error.message_en)]


@router.get("/new", response_class=HTMLResponse)
def new_resident(request: Request, actor: CurrentActor, session: DbSession) -> HTMLResponse:
    console_actor(actor, "residents")
    return _form_page(request, actor, session, {}, [])


@router.post("", response_class=HTMLResponse, response_model=None)
def register_resident(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    id_number: Annotated[str, Form(max_length=40)] = "",
    name: Annotated[str, Form(max_length=100)] = "",
    phone: Annotated[str, Form(max_length=40)] = "",
    town_code: Annotated[str, Form(max_length=12)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    console_actor(actor, "residents")
    check_form(request, csrf_token)
    values = {"id_number": id_number, "name": name, "phone": phone, "town_code": town_code}
    data = ResidentCreate(id_number=id_number, name=name, phone=phone or None, town_code=town_code)
    problems = registry.registration_problems(actor, session, data)
    if not problems:
        try:
            with session.begin_nested():
                resident = registry.register_resident(actor, session, data)
        except LuodiError as error:
            if isinstance(error, NotFound):
                raise
            problems = _problems_of(error, "id_number")
    if problems:
        return _form_page(request, actor, session, values, problems, status_code=422)
    message = _("已登记居民 %(name)s", name=resident.name)
    return done(f"/console/residents/{resident.id}", message)


@router.get("/{resident_id}/edit", response_class=HTMLResponse)
def edit_resident(
    request: Request, resident_id: ObjectId, actor: CurrentActor, session: DbSession
) -> HTMLResponse:
    console_actor(actor, "residents")
    if not registry.may_correct(actor, session, resident_id):
        raise NotFound(f"居民 {resident_id} 不存在", f"resident {resident_id} not found")
    resident = registry.get_resident(actor, session, resident_id)
    values = {"name": resident.name or "", "phone": "", "town_code": resident.town_code}
    return _form_page(request, actor, session, values, [], resident_id)


@router.post("/{resident_id}", response_class=HTMLResponse, response_model=None)
def correct_resident(
    request: Request,
    resident_id: ObjectId,
    actor: CurrentActor,
    session: DbSession,
    name: Annotated[str, Form(max_length=100)] = "",
    phone: Annotated[str, Form(max_length=40)] = "",
    town_code: Annotated[str, Form(max_length=12)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    console_actor(actor, "residents")
    check_form(request, csrf_token)
    if not registry.may_correct(actor, session, resident_id):
        raise NotFound(f"居民 {resident_id} 不存在", f"resident {resident_id} not found")
    values = {"name": name, "phone": phone, "town_code": town_code}
    # A blank phone keeps the one registered (the form never shows it in full).
    data = ResidentUpdate(name=name, phone=phone or None, town_code=town_code or None)
    problems = registry.correction_problems(actor, session, data)
    if not problems:
        try:
            with session.begin_nested():
                registry.correct_resident(actor, session, resident_id, data)
        except LuodiError as error:
            if isinstance(error, NotFound):
                raise
            problems = _problems_of(error, "town_code")
    if problems:
        return _form_page(request, actor, session, values, problems, resident_id, status_code=422)
    message = _("已更正居民信息")
    return done(f"/console/residents/{resident_id}", message)


@router.post("/{resident_id}/id-number", response_class=HTMLResponse)
def show_id_number(
    request: Request,
    resident_id: ObjectId,
    actor: CurrentActor,
    session: DbSession,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> HTMLResponse:
    """The whole ID number, for a registrar of the resident's town; each showing audited. An
    HTMX request gets the number's cell; a plain form the page with the number in it."""
    console_actor(actor, "residents")
    check_form(request, csrf_token)
    number = registry.reveal_id_number(actor, session, resident_id)
    if request.headers.get("hx-request"):
        return render(request, actor, "console/residents/id_number.html", {"id_number": number})
    return _resident_page(request, actor, session, resident_id, None, number)


# -------------------------------------------------------------------------------- a resident


def _facts_by_feed(actor: Actor, session: Session, resident_id: int) -> list[dict[str, Any]]:
    """The resident's facts (superseded ones too) grouped by feed, each feed titled in the
    page's language, each fact with its variable's label, batch, file and row."""
    feeds = catalog.load_feeds()
    variables = catalog.fact_variables()
    english = i18n.language() == "en"
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for source in facts_service.fact_sources(actor, session, resident_id):
        variable = variables.get(source.name)
        label = (variable.label_en if english else variable.label_zh) if variable else source.name
        grouped[source.feed or ""].append({"label": label, "source": source})
    shown = []
    for feed, facts in sorted(grouped.items()):
        spec = feeds.get(feed)
        title = (spec.title.en if english else spec.title.zh) if spec else feed
        shown.append(
            {
                "feed": feed,
                "title": title or _("未注明数据源"),
                "department": spec.department if spec else "",
                "facts": facts,
                "current": sum(1 for fact in facts if fact["source"].superseded_by is None),
            }
        )
    return shown


def _explanation(
    actor: Actor, session: Session, resident_id: int, run_id: int
) -> tuple[ResidentScoreRead | None, str | None]:
    try:
        return scoring.resident_score(actor, session, resident_id, run_id), None
    except NotFound as error:
        return None, i18n.error_message(error)


def _input_labels(actor: Actor, session: Session, run_id: int | None) -> dict[str, str]:
    """Each input's words: the run's policy's label, else the feed variable's."""
    english = i18n.language() == "en"
    labels = {
        name: variable.label_en if english else variable.label_zh
        for name, variable in catalog.fact_variables().items()
    }
    if run_id is not None:
        for name, (zh, en) in scoring.input_labels(actor, session, run_id).items():
            labels[name] = en if english else zh
    return labels


def _feed_titles() -> dict[str, str]:
    english = i18n.language() == "en"
    return {
        feed: spec.title.en if english else spec.title.zh
        for feed, spec in catalog.load_feeds().items()
    }


def _resident_page(
    request: Request,
    actor: Actor,
    session: Session,
    resident_id: int,
    run: int | None,
    id_number: str | None = None,
    activation: auth.IssuedCode | None = None,
) -> HTMLResponse:
    resident = registry.get_resident(actor, session, resident_id)  # 404 out of scope
    today = workdays.today()
    history = scoring.score_history(actor, session, resident_id)
    chosen = next((item for item in history if item.run.id == run), None)
    if run is not None and chosen is None:
        raise NotFound(f"没有计分批次 {run}", f"no scoring run {run}")
    chosen = chosen or (history[0] if history else None)
    score, score_problem = (
        _explanation(actor, session, resident_id, chosen.run.id) if chosen else (None, None)
    )
    context = {
        "resident": resident,
        "id_number": id_number,
        "activation": activation,
        "may_correct": registry.may_correct(actor, session, resident_id),
        "household": registry.household_of(actor, session, resident_id),
        "span": registry.residence_span(actor, session, resident_id, today),
        "today": today,
        "feeds": _facts_by_feed(actor, session, resident_id),
        "history": history,
        "chosen": chosen,
        "score": score,
        "score_problem": score_problem,
        "input_labels": _input_labels(actor, session, chosen.run.id if chosen else None),
        "feed_titles": _feed_titles(),
        "words": words,
        "SEX_WORDS": SEX_WORDS,
        "RELATION_WORDS": RELATION_WORDS,
        "PERMIT_STATUS_WORDS": PERMIT_STATUS_WORDS,
        "PERMIT_STATE_WORDS": PERMIT_STATE_WORDS,
        "STATE_BADGES": STATE_BADGES,
        "KIND_WORDS": KIND_WORDS,
        "SOURCES_SHOWN": SOURCES_SHOWN,
    }
    return render(request, actor, "console/residents/resident.html", context)


@router.get("/{resident_id}", response_class=HTMLResponse)
def resident_page(
    request: Request,
    resident_id: ObjectId,
    actor: CurrentActor,
    session: DbSession,
    run: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> HTMLResponse:
    console_actor(actor, "residents")
    return _resident_page(request, actor, session, resident_id, run)


@router.post("/{resident_id}/activation-code", response_class=HTMLResponse, response_model=None)
def activation_code(
    request: Request,
    resident_id: ObjectId,
    actor: CurrentActor,
    session: DbSession,
    background: BackgroundTasks,
    send: Annotated[str, Form(max_length=1)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """An activation code for the resident's account (made, awaiting activation, if they have
    none), by a registrar whose scope holds them: shown once on the page to give at the
    counter, or (``send``) texted to the registered phone after the commit."""
    console_actor(actor, "residents")
    check_form(request, csrf_token)
    try:
        with session.begin_nested():
            issued = auth.issue_counter_code(actor, session, resident_id, send=send == "1")
    except (Conflict, Invalid) as error:
        return done(f"/console/residents/{resident_id}#account", i18n.error_message(error))
    if issued.outgoing is not None:
        # Sent after the commit (never a text for a code that was rolled back).
        background.add_task(send_all, code_sender(request), [issued.outgoing])
        message = _("激活验证码已发送到登记手机 %(phone)s", phone=issued.phone_masked or "")
        return done(f"/console/residents/{resident_id}#account", message)
    return _resident_page(request, actor, session, resident_id, None, activation=issued)
