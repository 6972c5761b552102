"""Resident portal: ``/my/apply/{cycle}`` — an application as a task list (GOV.UK / 一网通办):
1 the service guide (办事指南), 2 for whom (self or an own child, from the registry), 3 the
prefilled facts the resident confirms, 4 the program's own fields, 5 choices (with last
cycle's 录取线), 6 check your answers, 7 the declaration (承诺) and submission, then the
confirmation with the 受理编号.

The answers are kept as a draft (``programs.drafts``) at every step, so that saving midway
and coming back works; the submission goes through ``intake`` (its checks, not a copy)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from luodi.errors import Conflict, Invalid, LuodiError, NotFound
from luodi.feeds import catalog as feeds_catalog
from luodi.kernels.masking import mask_id_number
from luodi.programs import deadlines, drafts, intake, repository
from luodi.programs.catalog import cycle_spec
from luodi.programs.drafts import Answers, Person
from luodi.programs.models import ProgramCycle
from luodi.programs.spec import ProgramKind, ProgramSpec
from luodi.programs.timeline import Choice, number_of, own_application
from luodi.programs.timeline import choices as choice_list
from luodi.scoring import service as scoring_service
from luodi.web import i18n
from luodi.web.dependencies import CurrentActor, DbSession
from luodi.web.i18n import N_, _
from luodi.web.params import ObjectId
from luodi.web.portal import own_resident_id, resident_actor
from luodi.web.rendering import check_form, done, number, render
from luodi.web.words import KIND_WORDS

router = APIRouter()

NOT_STARTED, IN_PROGRESS, COMPLETED, CANNOT_START = (
    "not_started",
    "in_progress",
    "completed",
    "cannot_start",
)
STATE_WORDS = {
    NOT_STARTED: N_("未开始"),
    IN_PROGRESS: N_("进行中"),
    COMPLETED: N_("已完成"),
    CANNOT_START: N_("暂不能开始"),
}
SECTIONS = (
    ("guide", N_("阅读办事指南")),
    ("whom", N_("选择申请对象")),
    ("facts", N_("核对登记信息")),
    ("fields", N_("填写申请信息")),
    ("choices", N_("选择志愿")),
    ("check", N_("检查您的回答")),
    ("declare", N_("承诺并提交")),
)
FOR = Annotated[str, Query(alias="for", max_length=40)]
"""The person a step is for (``self`` or ``child:<id>``), carried in each step's URL."""
FormText = Annotated[str, Form(max_length=500)]


def _cycle(actor: Any, session: Session, cycle_id: int) -> tuple[ProgramCycle, ProgramSpec]:
    resident_actor(actor)
    own_resident_id(actor, session)
    cycle = repository.get_cycle(actor, session, cycle_id)
    return cycle, cycle_spec(cycle)


def _url(cycle_id: int, step: str = "", person: str = "") -> str:
    path = f"/my/apply/{cycle_id}" + (f"/{step}" if step else "")
    return path + (f"?for={quote(person)}" if person else "")


def _section_states(
    spec: ProgramSpec, person: Person | None, answers: Answers, closed: bool
) -> list[dict[str, Any]]:
    fields_needed = bool(drafts.own_fields(spec))
    choosing = spec.kind in intake.CHOOSING
    states = {
        "guide": COMPLETED if answers.guide else NOT_STARTED,
        "whom": COMPLETED if person is not None else NOT_STARTED,
    }
    if person is None:
        for key in ("facts", "fields", "choices"):
            states[key] = CANNOT_START
    else:
        states["facts"] = COMPLETED if answers.facts else NOT_STARTED
        states["fields"] = (
            COMPLETED
            if answers.fields_done or not fields_needed
            else IN_PROGRESS
            if answers.fields
            else NOT_STARTED
        )
        states["choices"] = (
            COMPLETED
            if answers.choices_done or not choosing
            else IN_PROGRESS
            if answers.choices
            else NOT_STARTED
        )
    ready = all(states[key] == COMPLETED for key in states)
    states["check"] = NOT_STARTED if ready and not closed else CANNOT_START
    states["declare"] = CANNOT_START if not ready or closed else NOT_STARTED
    shown = []
    for key, label in SECTIONS:
        if (key == "fields" and not fields_needed) or (key == "choices" and not choosing):
            continue  # nothing of it in this program: not a task
        state = states[key]
        shown.append(
            {
                "key": key,
                "label": _(label),
                "state": state,
                "state_word": _(STATE_WORDS[state]),
                "link": state != CANNOT_START and not (closed and key not in ("guide",)),
            }
        )
    for position, section in enumerate(shown, start=1):
        section["number"] = position
    return shown


def _ready(spec: ProgramSpec, answers: Answers) -> bool:
    return (
        answers.guide
        and answers.facts
        and (answers.fields_done or not drafts.own_fields(spec))
        and (answers.choices_done or spec.kind not in intake.CHOOSING)
    )


def _person(actor: Any, session: Session, cycle: ProgramCycle, key: str) -> Person:
    if not key:
        raise NotFound("请先选择申请对象", "choose whom the application is for first")
    return drafts.person_of(actor, session, cycle, key)


def _closed_problem(cycle: ProgramCycle, spec: ProgramSpec) -> str | None:
    if spec.kind is ProgramKind.ENTITLEMENT:
        return _("本项目无需申请：名单由服务中心根据登记信息生成")
    problem = drafts.window_problem(cycle)
    if problem is None:
        return None
    return problem[1] if i18n.language() == "en" else problem[0]


def _base(cycle: ProgramCycle, spec: ProgramSpec) -> dict[str, Any]:
    return {
        "cycle": cycle,
        "spec": spec,
        "program": i18n.text_of(spec.name),
        "kind_word": _(KIND_WORDS[spec.kind]),
        "closed": _closed_problem(cycle, spec),
    }


# --- the task list ---------------------------------------------------------------------


@router.get("/my/apply/{cycle_id}", response_class=HTMLResponse)
def task_list(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    cycle_id: ObjectId,
    person_key: FOR = "",
) -> HTMLResponse:
    cycle, spec = _cycle(actor, session, cycle_id)
    people = drafts.persons(actor, session, cycle)
    kept = drafts.drafts(actor, session, cycle.id)
    if not person_key and kept:
        # The latest draft of a person still applicable (a child re-registered elsewhere
        # leaves a draft that must not lock the task list).
        still = {person.key for person in people}
        person_key = next((draft.person for draft in kept if draft.person in still), "")
    person = drafts.person_of(actor, session, cycle, person_key) if person_key else None
    draft = drafts.draft_of(actor, session, cycle.id, person.key) if person else None
    answers = Answers.of(draft)
    if person is None and not answers.guide:
        answers.guide = request.query_params.get("guide") == "1"
    applied = drafts.existing_application(actor, session, cycle, person) if person else None
    context = _base(cycle, spec) | {
        "people": people,
        "person": person,
        "draft": draft,
        "others": [d for d in kept if person is None or d.person != person.key],
        "person_names": {p.key: p.name for p in people},
        "applied": applied,
        "submitted": [
            (application, number_of(application, cycle))
            for application in drafts.cycle_applications(actor, session, cycle.id)
        ],
        "applied_number": number_of(applied, cycle) if applied else None,
        "sections": _section_states(spec, person, answers, bool(_closed_problem(cycle, spec))),
        "key": person.key if person else "",
    }
    return render(request, actor, "portal/apply/tasks.html", context)


# --- 1 the service guide ------------------------------------------------------------------


@router.get("/my/apply/{cycle_id}/guide", response_class=HTMLResponse)
def guide(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    cycle_id: ObjectId,
    person_key: FOR = "",
) -> HTMLResponse:
    cycle, spec = _cycle(actor, session, cycle_id)
    offered = choice_list(actor, session, cycle)
    context = _base(cycle, spec) | {
        "key": person_key,
        "rules": [i18n.text_of(rule.label) for rule in spec.eligibility]
        + (
            [
                i18n.text_of(spec.school.full_year_rule.label),
                i18n.text_of(spec.school.current_rule.label),
            ]
            if spec.school
            else []
        ),
        "materials": [(i18n.text_of(m.label), m.after_enrolment) for m in spec.materials],
        "groups": [(i18n.text_of(g.label), g.direct) for g in spec.groups],
        "tie_breaks": [i18n.text_of(t.label) for t in spec.tie_breaks],
        "choices": offered if spec.kind in intake.CHOOSING else [],
        "places": sum(choice.capacity for choice in offered),
    }
    return render(request, actor, "portal/apply/guide.html", context)


@router.post("/my/apply/{cycle_id}/guide", response_model=None)
def guide_read(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    cycle_id: ObjectId,
    csrf_token: FormText = "",
    person_key: Annotated[str, Form(alias="for", max_length=40)] = "",
) -> Response:
    cycle, _spec = _cycle(actor, session, cycle_id)
    check_form(request, csrf_token)
    if not person_key:
        return done(_url(cycle.id, "whom") + "?guide=1", _("已阅读办事指南"))
    person = _person(actor, session, cycle, person_key)
    answers = Answers.of(drafts.draft_of(actor, session, cycle.id, person.key))
    answers.guide = True
    drafts.save(actor, session, cycle, person, answers)
    return done(_url(cycle.id, "", person.key), _("已阅读办事指南"))


# --- 2 for whom -------------------------------------------------------------------------


def _whom_page(
    request: Request,
    actor: Any,
    session: Session,
    cycle: ProgramCycle,
    spec: ProgramSpec,
    chosen: str,
    guide_read: bool,
    errors: list[tuple[str | None, str]] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    people = drafts.persons(actor, session, cycle)
    context = _base(cycle, spec) | {
        "people": [
            {
                "key": p.key,
                "name": p.name,
                "id_number": mask_id_number(p.child.id_number if p.child else p.resident.id_number),
                "birth_date": p.child.birth_date if p.child else None,
                "relation": _("子女") if p.child else _("本人"),
            }
            for p in people
        ],
        "chosen": chosen,
        "guide_read": guide_read,
        "for_children": drafts.applies_for_children(spec),
        "errors": errors or [],
    }
    return render(request, actor, "portal/apply/whom.html", context, status_code)


@router.get("/my/apply/{cycle_id}/whom", response_class=HTMLResponse)
def whom(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    cycle_id: ObjectId,
    person_key: FOR = "",
    guide_read: Annotated[str, Query(alias="guide", max_length=1)] = "",
) -> HTMLResponse:
    cycle, spec = _cycle(actor, session, cycle_id)
    return _whom_page(request, actor, session, cycle, spec, person_key, guide_read == "1")


@router.post("/my/apply/{cycle_id}/whom", response_model=None)
def whom_chosen(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    cycle_id: ObjectId,
    csrf_token: FormText = "",
    person_key: Annotated[str, Form(alias="person", max_length=40)] = "",
    guide_read: Annotated[str, Form(alias="guide", max_length=1)] = "",
) -> Response:
    cycle, spec = _cycle(actor, session, cycle_id)
    check_form(request, csrf_token)
    closed = _closed_problem(cycle, spec)
    if closed:
        return done(_url(cycle.id), closed)
    if not person_key:
        return _whom_page(
            request,
            actor,
            session,
            cycle,
            spec,
            "",
            guide_read == "1",
            [("person", _("请选择为谁申请"))],
            422,
        )
    person = drafts.person_of(actor, session, cycle, person_key)  # not own: 404
    answers = Answers.of(drafts.draft_of(actor, session, cycle.id, person.key))
    answers.guide = answers.guide or guide_read == "1"
    drafts.save(actor, session, cycle, person, answers)
    return done(_url(cycle.id, "", person.key), _("已选择申请对象：%(name)s", name=person.name))


# --- 3 the prefilled facts ----------------------------------------------------------------


def _facts(actor: Any, session: Session, spec: ProgramSpec, person: Person) -> dict[str, Any]:
    """What the registry and the stored score say, each with where it comes from."""
    resident = person.resident
    registry = _("居民登记（服务中心）")
    rows: list[tuple[str, str, str]] = [
        (_("申请人"), resident.name, registry),
        (_("申请人身份证号"), mask_id_number(resident.id_number), registry),
    ]
    if person.child is not None:
        children = _("随迁子女登记（服务中心）")
        child = person.child
        rows += [
            (_("子女姓名"), child.name, children),
            (_("子女身份证号"), mask_id_number(child.id_number), children),
            (_("出生日期"), child.birth_date.isoformat(), children),
            (_("在读学校"), child.school_name or "—", children),
            (_("年级"), str(child.grade) if child.grade else "—", children),
        ]
    note = None
    try:
        stored = scoring_service.stored_scores(actor, session, [resident.id], policy_id=spec.policy)
    except LuodiError as error:
        stored, note = None, i18n.error_message(error)
    if stored is not None and stored.frame.height:
        row = stored.frame.row(0, named=True)
        source = _(
            "积分计算批次 %(run)s（条件计算至 %(day)s）", run=stored.run.id, day=stored.run.as_of
        )
        rows.append((_("当前积分"), f"{row['points']:g}", source))
        labels = feeds_catalog.fact_variables()
        inputs = stored.compiled.policy.inputs
        for name in _names_read(spec):
            if name in row and name != "points":
                label = inputs[name].label if name in inputs else None
                shown_label = (
                    i18n.text_of(label) if label is not None else _fact_label(labels, name)
                )
                rows.append((shown_label, _shown(row[name]), source))
    elif stored is not None:
        note = _("您不在最新的积分计算批次中（没有有效的居住证）")
    return {"rows": rows, "note": note}


def _fact_label(labels: Mapping[str, Any], name: str) -> str:
    """A fact's name in words (the feeds declare a label for each)."""
    variable = labels.get(name)
    if variable is None:
        return name
    return (
        (variable.label_en or variable.label_zh) if i18n.language() == "en" else variable.label_zh
    )


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return _("是") if value else _("否")
    return str(value)


def _names_read(spec: ProgramSpec) -> list[str]:
    """The words the program's conditions and tie-breaks read, in the document's order."""
    texts = [rule.rule for rule in spec.eligibility]
    if spec.school is not None:
        texts += [spec.school.full_year_rule.rule, spec.school.current_rule.rule]
    texts += [key.key for key in spec.tie_breaks]
    found: list[str] = []
    for text in texts:
        for name in re.findall(r"[a-z_][a-z0-9_]*", text):
            if name not in found:
                found.append(name)
    return found


def _facts_page(
    request: Request,
    actor: Any,
    session: Session,
    cycle: ProgramCycle,
    spec: ProgramSpec,
    person: Person,
    errors: list[tuple[str | None, str]] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    answers = Answers.of(drafts.draft_of(actor, session, cycle.id, person.key))
    context = _base(cycle, spec) | {
        "person": person,
        "key": person.key,
        "facts": _facts(actor, session, spec, person),
        "confirmed": answers.facts,
        "errors": errors or [],
    }
    return render(request, actor, "portal/apply/facts.html", context, status_code)


@router.get("/my/apply/{cycle_id}/facts", response_class=HTMLResponse)
def facts(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    cycle_id: ObjectId,
    person_key: FOR = "",
) -> HTMLResponse:
    cycle, spec = _cycle(actor, session, cycle_id)
    person = _person(actor, session, cycle, person_key)
    return _facts_page(request, actor, session, cycle, spec, person)


@router.post("/my/apply/{cycle_id}/facts", response_model=None)
def facts_confirmed(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    cycle_id: ObjectId,
    csrf_token: FormText = "",
    person_key: Annotated[str, Form(alias="for", max_length=40)] = "",
    confirm: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    cycle, spec = _cycle(actor, session, cycle_id)
    check_form(request, csrf_token)
    person = _person(actor, session, cycle, person_key)
    if confirm != "yes":
        problem = _("请确认以上信息属实；信息有误请到服务中心更正")
        return _facts_page(
            request, actor, session, cycle, spec, person, [("confirm", problem)], 422
        )
    answers = Answers.of(drafts.draft_of(actor, session, cycle.id, person.key))
    answers.facts = True
    drafts.save(actor, session, cycle, person, answers)
    return done(_url(cycle.id, "", person.key), _("已确认登记信息"))


# --- 4 the program's own fields -----------------------------------------------------------


def _fields_page(
    request: Request,
    actor: Any,
    session: Session,
    cycle: ProgramCycle,
    spec: ProgramSpec,
    person: Person,
    values: dict[str, str] | None = None,
    errors: list[tuple[str | None, str]] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    answers = Answers.of(drafts.draft_of(actor, session, cycle.id, person.key))
    kept = answers.fields if values is None else values
    context = _base(cycle, spec) | {
        "person": person,
        "key": person.key,
        "fields": [
            {
                "name": name,
                "id": f"field_{name}",
                "label": i18n.text_of(f.label),
                "type": f.type,
                "options": list((f.values or {}).items()),
                "value": kept.get(name, "" if f.default is None else str(f.default)),
            }
            for name, f in drafts.own_fields(spec).items()
        ],
        "errors": errors or [],
        "field_errors": {field: text for field, text in errors or [] if field},
    }
    return render(request, actor, "portal/apply/fields.html", context, status_code)


@router.get("/my/apply/{cycle_id}/fields", response_class=HTMLResponse)
def fields(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    cycle_id: ObjectId,
    person_key: FOR = "",
) -> HTMLResponse:
    cycle, spec = _cycle(actor, session, cycle_id)
    person = _person(actor, session, cycle, person_key)
    return _fields_page(request, actor, session, cycle, spec, person)


@router.post("/my/apply/{cycle_id}/fields", response_model=None)
async def fields_saved(
    request: Request, actor: CurrentActor, session: DbSession, cycle_id: ObjectId
) -> Response:
    # Async only to read a form whose fields are the program's own; the work runs in a thread.
    form = await request.form()
    submitted = {key: str(value)[:500] for key, value in form.items() if isinstance(value, str)}
    return await run_in_threadpool(_fields_saved, request, actor, session, cycle_id, submitted)


def _problems(error: LuodiError, names: dict[str, str]) -> list[tuple[str | None, str]]:
    found: list[tuple[str | None, str]] = []
    for problem in error.details[:20]:
        reason = problem.reason_en if i18n.language() == "en" else problem.reason_zh
        if problem.field in names:
            found.append((names[problem.field], reason))
        else:
            found.append((None, i18n.problem_text(problem)))
    return found or [(None, i18n.error_message(error))]


def _fields_saved(
    request: Request, actor: Any, session: Session, cycle_id: int, submitted: dict[str, str]
) -> Response:
    cycle, spec = _cycle(actor, session, cycle_id)
    check_form(request, submitted.get("csrf_token"))
    person = _person(actor, session, cycle, submitted.get("for", ""))
    own = drafts.own_fields(spec)
    values = {name: submitted.get(f"field_{name}", "").strip() for name in own}
    answers = Answers.of(drafts.draft_of(actor, session, cycle.id, person.key))
    answers.fields = values
    answers.fields_done = False
    if submitted.get("action") != "save":
        try:
            intake.checked_fields(spec, False, values, "申请")
        except Invalid as error:
            names = {name: f"field_{name}" for name in own}
            return _fields_page(
                request, actor, session, cycle, spec, person, values, _problems(error, names), 422
            )
        answers.fields_done = True
    drafts.save(actor, session, cycle, person, answers)
    message = _("申请信息已保存") if answers.fields_done else _("草稿已保存，可稍后继续")
    return done(_url(cycle.id, "", person.key), message)


# --- 5 choices --------------------------------------------------------------------------


def _choice_label(option: Choice) -> str:
    """A school or project as an option: its name, 学位紧张, and last cycle's 录取线."""
    label = option.name
    if option.hot:
        label += " · " + _("学位紧张")
    if option.cut_off is not None:
        label += " · " + _("上一周期录取线 %(points)s 分", points=number(option.cut_off, 2))
    return label


def _choices_page(
    request: Request,
    actor: Any,
    session: Session,
    cycle: ProgramCycle,
    spec: ProgramSpec,
    person: Person,
    chosen: list[str] | None = None,
    errors: list[tuple[str | None, str]] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    answers = Answers.of(drafts.draft_of(actor, session, cycle.id, person.key))
    kept = answers.choices if chosen is None else chosen
    options = choice_list(actor, session, cycle)
    context = _base(cycle, spec) | {
        "person": person,
        "key": person.key,
        "options": options,
        "option_pairs": [(option.id, _choice_label(option)) for option in options],
        "slots": [
            (index, kept[index - 1] if index <= len(kept) else "")
            for index in range(1, spec.max_choices + 1)
        ],
        "errors": errors or [],
        "field_errors": {field: text for field, text in errors or [] if field},
    }
    return render(request, actor, "portal/apply/choices.html", context, status_code)


@router.get("/my/apply/{cycle_id}/choices", response_class=HTMLResponse)
def choices(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    cycle_id: ObjectId,
    person_key: FOR = "",
) -> HTMLResponse:
    cycle, spec = _cycle(actor, session, cycle_id)
    person = _person(actor, session, cycle, person_key)
    return _choices_page(request, actor, session, cycle, spec, person)


@router.post("/my/apply/{cycle_id}/choices", response_model=None)
async def choices_saved(
    request: Request, actor: CurrentActor, session: DbSession, cycle_id: ObjectId
) -> Response:
    form = await request.form()
    submitted = {key: str(value)[:100] for key, value in form.items() if isinstance(value, str)}
    return await run_in_threadpool(_choices_saved, request, actor, session, cycle_id, submitted)


def _choices_saved(
    request: Request, actor: Any, session: Session, cycle_id: int, submitted: dict[str, str]
) -> Response:
    cycle, spec = _cycle(actor, session, cycle_id)
    check_form(request, submitted.get("csrf_token"))
    person = _person(actor, session, cycle, submitted.get("for", ""))
    slots = [submitted.get(f"choice_{i}", "").strip() for i in range(1, spec.max_choices + 1)]
    chosen = [choice for choice in slots if choice]
    answers = Answers.of(drafts.draft_of(actor, session, cycle.id, person.key))
    answers.choices = chosen
    answers.choices_done = False
    if submitted.get("action") != "save":
        errors: list[tuple[str | None, str]] = []
        offered = set(intake.offered_choices(session, cycle))
        if not chosen:
            errors = [("choice_1", _("请至少选择一个志愿"))]
        elif any(choice not in offered for choice in chosen):
            # Each slot is one school of the list (a tampered "a;b" would read as two).
            errors = [("choice_1", _("志愿无效（未开设、重复或过多）"))]
        else:
            try:
                intake.checked_choices(session, cycle, spec, ";".join(chosen))
            except Invalid as error:
                errors = _problems(error, {"choices": "choice_1"})
        if errors:
            return _choices_page(request, actor, session, cycle, spec, person, slots, errors, 422)
        answers.choices_done = True
    drafts.save(actor, session, cycle, person, answers)
    message = _("志愿已保存") if answers.choices_done else _("草稿已保存，可稍后继续")
    return done(_url(cycle.id, "", person.key), message)


# --- 6 check your answers, 7 the declaration ----------------------------------------------


def _answers_rows(
    actor: Any, session: Session, cycle: ProgramCycle, spec: ProgramSpec, person: Person
) -> list[dict[str, Any]]:
    answers = Answers.of(drafts.draft_of(actor, session, cycle.id, person.key))
    rows = [
        {
            "label": _("申请对象"),
            "value": person.name + (" · " + _("子女") if person.child else ""),
            "step": "whom",
        },
        {
            "label": _("登记信息"),
            "value": _("已确认") if answers.facts else _("未确认"),
            "step": "facts",
        },
    ]
    for name, f in drafts.own_fields(spec).items():
        value = answers.fields.get(name, "")
        if f.type == "enum":
            value = (f.values or {}).get(value, value)
        rows.append({"label": i18n.text_of(f.label), "value": value or "—", "step": "fields"})
    if spec.kind in intake.CHOOSING:
        offered = choice_list(actor, session, cycle, cut_offs=False)
        names = {choice.id: choice.name for choice in offered}
        for index, choice in enumerate(answers.choices, start=1):
            rows.append(
                {
                    "label": _("第 %(n)s 志愿", n=index),
                    "value": names.get(choice, choice),
                    "step": "choices",
                }
            )
    return rows


@router.get("/my/apply/{cycle_id}/check", response_class=HTMLResponse)
def check(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    cycle_id: ObjectId,
    person_key: FOR = "",
) -> HTMLResponse:
    cycle, spec = _cycle(actor, session, cycle_id)
    person = _person(actor, session, cycle, person_key)
    answers = Answers.of(drafts.draft_of(actor, session, cycle.id, person.key))
    context = _base(cycle, spec) | {
        "person": person,
        "key": person.key,
        "rows": _answers_rows(actor, session, cycle, spec, person),
        "ready": _ready(spec, answers),
    }
    return render(request, actor, "portal/apply/check.html", context)


def _declare_page(
    request: Request,
    actor: Any,
    session: Session,
    cycle: ProgramCycle,
    spec: ProgramSpec,
    person: Person,
    errors: list[tuple[str | None, str]] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    answers = Answers.of(drafts.draft_of(actor, session, cycle.id, person.key))
    context = _base(cycle, spec) | {
        "person": person,
        "key": person.key,
        "ready": _ready(spec, answers),
        "errors": errors or [],
    }
    return render(request, actor, "portal/apply/declare.html", context, status_code)


@router.get("/my/apply/{cycle_id}/declare", response_class=HTMLResponse)
def declare(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    cycle_id: ObjectId,
    person_key: FOR = "",
) -> HTMLResponse:
    cycle, spec = _cycle(actor, session, cycle_id)
    person = _person(actor, session, cycle, person_key)
    return _declare_page(request, actor, session, cycle, spec, person)


@router.post("/my/apply/{cycle_id}/declare", response_model=None)
def submit(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    cycle_id: ObjectId,
    csrf_token: FormText = "",
    person_key: Annotated[str, Form(alias="for", max_length=40)] = "",
    promise: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    cycle, spec = _cycle(actor, session, cycle_id)
    check_form(request, csrf_token)
    person = _person(actor, session, cycle, person_key)
    closed = _closed_problem(cycle, spec)
    if closed:
        return _declare_page(request, actor, session, cycle, spec, person, [(None, closed)], 409)
    answers = Answers.of(drafts.draft_of(actor, session, cycle.id, person.key))
    if not _ready(spec, answers):
        problem = _("还有未完成的事项，请先完成任务清单中的各项")
        return _declare_page(request, actor, session, cycle, spec, person, [(None, problem)], 409)
    if promise != "yes":
        problem = _("请勾选承诺后再提交")
        return _declare_page(
            request, actor, session, cycle, spec, person, [("promise", problem)], 422
        )
    try:
        application_id = drafts.submit(actor, session, cycle, person)
    except (Invalid, Conflict) as error:
        session.rollback()  # nothing of a refused application is kept; the draft stays
        return _declare_page(
            request, actor, session, cycle, spec, person, _problems(error, {}), error.status
        )
    return done(f"/my/apply/{cycle.id}/submitted/{application_id}", _("申请已提交"))


@router.post("/my/apply/{cycle_id}/discard", response_model=None)
def discard(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    cycle_id: ObjectId,
    csrf_token: FormText = "",
    person_key: Annotated[str, Form(alias="for", max_length=40)] = "",
) -> Response:
    cycle, _spec = _cycle(actor, session, cycle_id)
    check_form(request, csrf_token)
    person = _person(actor, session, cycle, person_key)
    drafts.discard(actor, session, cycle, person)
    return done(_url(cycle.id), _("草稿已删除"))


# --- the confirmation ---------------------------------------------------------------------


@router.get("/my/apply/{cycle_id}/submitted/{application_id}", response_class=HTMLResponse)
def submitted(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    cycle_id: ObjectId,
    application_id: ObjectId,
) -> HTMLResponse:
    cycle, spec = _cycle(actor, session, cycle_id)
    application = own_application(actor, session, application_id)
    if application.cycle_id != cycle.id:
        raise NotFound(f"没有申请 {application_id}", f"no application {application_id}")
    context = _base(cycle, spec) | {
        "application": application,
        "number": number_of(application, cycle),
        "review_due": deadlines.review_due_on(session, application),
        "review_days": spec.review_days,
        "notice_days": cycle.notice_days,
        "objection_review_days": spec.objection_review_days,
    }
    return render(request, actor, "portal/apply/submitted.html", context)
