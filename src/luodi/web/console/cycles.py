"""The console's cycles area: the cycles (``/console/cycles``) and opening one, a cycle's
application queue (``/console/cycles/{id}``: filters and paging in SQL, bulk verification
with a confirmation), and the verification screen (``/console/applications/{id}``: what the
applicant declared beside what the departments' feeds say, the program's rules, verify /
return / correct). The allocation runs of a cycle are ``runs.py``'s fragment."""

from __future__ import annotations

import ast
import json
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import polars as pl
from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from luodi import workdays
from luodi.allocation import service as allocation
from luodi.auth.actor import Actor, Role
from luodi.auth.permissions import acts_as, require
from luodi.console import parse_day
from luodi.errors import MAX_ID, Invalid, LuodiError
from luodi.facts import service as facts_service
from luodi.feeds import catalog as feeds_catalog
from luodi.files import safe_file_name
from luodi.kernels.masking import mask_name
from luodi.programs import deadlines, intake, repository, service
from luodi.programs.catalog import cycle_spec, load_programs
from luodi.programs.models import Application, ApplicationStatus, CycleStatus, ProgramCycle
from luodi.programs.spec import KIND_LABELS, ProgramKind, ProgramSpec
from luodi.scoring import service as scoring_service
from luodi.web import i18n
from luodi.web.dependencies import CurrentActor, DbSession
from luodi.web.i18n import N_, _
from luodi.web.params import ObjectId
from luodi.web.rendering import check_form, console_actor, done, render
from luodi.web.words import APPLICATION_STATUS_WORDS, CYCLE_STATUS_WORDS, KIND_WORDS

router = APIRouter()

assert KIND_WORDS == KIND_LABELS
DEADLINE_WORDS = {"overdue": N_("已逾期"), "soon": N_("即将到期")}
DUE_DAYS = (3, 5, 10)
"""The "due within N days" choices of the queue's deadline filter."""
BULK_LIMIT = 1000
"""At most this many applications in one bulk verification (the confirmation lists each)."""
MAX_NAME = 100


# --- words -----------------------------------------------------------------------------


def _status_word(status: str) -> str:
    return _(APPLICATION_STATUS_WORDS.get(status, status))


def _counts_in_words(counts: Mapping[str, int]) -> list[tuple[str, int]]:
    """Applications by status, in the order of the statuses' life (the actor's own scope)."""
    return [
        (_(word), counts[status])
        for status, word in APPLICATION_STATUS_WORDS.items()
        if status in counts
    ]


def _program_name(program_id: str) -> str:
    found = load_programs().get(program_id)
    return i18n.text_of(found[0].name) if found else program_id


def _town_names(session: Session) -> dict[str, str]:
    return dict(repository.town_names(session))


# --- the list of cycles and opening one ---------------------------------------------------


@router.get("/console/cycles", response_class=HTMLResponse)
def cycles_index(request: Request, actor: CurrentActor, session: DbSession) -> HTMLResponse:
    console_actor(actor, "cycles")
    cycles = service.list_cycles(actor, session)
    counts = repository.application_counts(session, actor, [cycle.id for cycle in cycles])
    rows = [
        {
            "cycle": cycle,
            "program": _program_name(cycle.program_id),
            "status": _(CYCLE_STATUS_WORDS.get(cycle.status, cycle.status)),
            "counts": _counts_in_words(counts.get(cycle.id, {})),
        }
        for cycle in cycles
    ]
    return render(
        request,
        actor,
        "console/cycles/index.html",
        {"rows": rows, "may_open": acts_as(actor, Role.ADMIN, Role.OPERATOR)},
    )


@dataclass
class OpenForm:
    program: str = ""
    name: str = ""
    opens: str = ""
    closes: str = ""
    as_of: str = ""
    notice_days: str = ""
    places: str = ""
    entry_grade: str = ""
    carry_waitlist_from: str = ""


def _open_context(
    session: Session, actor: Actor, form: OpenForm, errors: list[tuple[str | None, str]]
) -> dict[str, Any]:
    programs = load_programs()
    spec = programs[form.program][0] if form.program in programs else None
    carry = []
    if spec is not None and spec.kind is ProgramKind.PUBLIC_HOUSING:
        carry = [
            (cycle.id, f"{cycle.name}（{cycle.opens} – {cycle.closes}）")
            for cycle in service.list_cycles(actor, session)
            if cycle.program_id == spec.id
        ]
    return {
        "form": form,
        "spec": spec,
        "kind": _(KIND_WORDS[spec.kind]) if spec else "",
        "programs": [
            (program_id, i18n.text_of(found.name))
            for program_id, (found, _text_) in programs.items()
        ],
        "program_name": i18n.text_of(spec.name) if spec else "",
        "needs_file": spec is not None
        and spec.kind in (ProgramKind.SCHOOL_ADMISSION, ProgramKind.PUBLIC_HOUSING),
        "school": spec is not None and spec.kind is ProgramKind.SCHOOL_ADMISSION,
        "quota": spec is not None and spec.kind is ProgramKind.QUOTA_BENEFIT,
        "carry": carry,
        "program_settings": [
            (name, ", ".join(map(str, value)) if isinstance(value, list) else str(value))
            for name, value in (spec.settings.items() if spec else ())
        ],
        "errors": errors,
        "field_errors": {field: text for field, text in errors if field},
    }


@router.get("/console/cycles/new", response_class=HTMLResponse)
def open_form(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    program: Annotated[str, Query(max_length=64)] = "",
) -> HTMLResponse:
    console_actor(actor, "cycles")
    require(actor, Role.ADMIN, Role.OPERATOR)
    form = OpenForm(program=program)
    programs = load_programs()
    if program in programs:
        spec = programs[program][0]
        form.notice_days = str(spec.notice_days)
        form.places = str(spec.places or "")
        form.entry_grade = "1" if spec.kind is ProgramKind.SCHOOL_ADMISSION else ""
    context = _open_context(session, actor, form, [])
    return render(request, actor, "console/cycles/open.html", context)


OPEN_FIELDS = (
    "program",
    "name",
    "opens",
    "closes",
    "as_of",
    "notice_days",
    "places",
    "entry_grade",
    "targets",
    "carry_waitlist_from",
)
"""The open form's fields, by the names ``open_cycle``'s errors give them."""


def _problems(
    error: LuodiError, fields: Mapping[str, str], file_field: str | None = None
) -> list[tuple[str | None, str]]:
    """An error's problems for an error summary: each linked to the form field it names
    (``fields``: the service's name → the field's id), a file's problems (row, column, value
    and reason) to the file field."""
    found: list[tuple[str | None, str]] = []
    for problem in error.details[:20]:
        if problem.file is not None and file_field is not None:
            found.append((file_field, i18n.problem_text(problem)))
        elif problem.field in fields:
            reason = problem.reason_en if i18n.language() == "en" else problem.reason_zh
            found.append((fields[problem.field], reason))
        else:
            found.append((None, i18n.problem_text(problem)))
    return found or [(None, i18n.error_message(error))]


def _day(value: str, field: str, label: str, errors: list[tuple[str | None, str]]) -> date | None:
    if not value.strip():
        return None
    try:
        return parse_day(field, value.strip())  # the one date parser
    except Invalid:
        errors.append((field, _("%(label)s应为日期（年-月-日）", label=label)))
        return None


def _whole(value: str, field: str, label: str, errors: list[tuple[str | None, str]]) -> int | None:
    if not value.strip():
        return None
    if not re.fullmatch(r"[0-9]{1,9}", value.strip()):
        errors.append((field, _("%(label)s应为整数", label=label)))
        return None
    return int(value.strip())


@router.post("/console/cycles", response_class=HTMLResponse, response_model=None)
def open_cycle(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    program: Annotated[str, Form(max_length=64)] = "",
    name: Annotated[str, Form(max_length=500)] = "",
    opens: Annotated[str, Form(max_length=20)] = "",
    closes: Annotated[str, Form(max_length=20)] = "",
    as_of: Annotated[str, Form(max_length=20)] = "",
    notice_days: Annotated[str, Form(max_length=20)] = "",
    places: Annotated[str, Form(max_length=20)] = "",
    entry_grade: Annotated[str, Form(max_length=4)] = "",
    carry_waitlist_from: Annotated[str, Form(max_length=20)] = "",
    targets: Annotated[UploadFile | None, File()] = None,
) -> Response:
    console_actor(actor, "cycles")
    check_form(request, csrf_token)
    require(actor, Role.ADMIN, Role.OPERATOR)
    form = OpenForm(
        program, name, opens, closes, as_of, notice_days, places, entry_grade, carry_waitlist_from
    )
    errors: list[tuple[str | None, str]] = []
    if program not in load_programs():
        errors.append(("program", _("请选择项目")))
    if not name.strip():
        errors.append(("name", _("请填写周期名称")))
    elif len(name.strip()) > MAX_NAME:
        errors.append(("name", _("周期名称最多 %(n)s 个字", n=MAX_NAME)))
    opens_day = _day(opens, "opens", _("受理开始日期"), errors)
    closes_day = _day(closes, "closes", _("受理截止日期"), errors)
    as_of_day = _day(as_of, "as_of", _("条件计算日"), errors)
    if not opens.strip():
        errors.append(("opens", _("请填写受理开始日期")))
    if not closes.strip():
        errors.append(("closes", _("请填写受理截止日期")))
    notice = _whole(notice_days, "notice_days", _("公示工作日数"), errors)
    place_count = _whole(places, "places", _("名额"), errors)
    grade = _whole(entry_grade, "entry_grade", _("入学年级"), errors)
    carried = _whole(carry_waitlist_from, "carry_waitlist_from", _("承接轮候名单"), errors)
    if errors or opens_day is None or closes_day is None:
        context = _open_context(session, actor, form, errors)
        return render(request, actor, "console/cycles/open.html", context, 422)
    with tempfile.TemporaryDirectory(prefix="luodi-targets-") as folder:
        path = None
        if targets is not None and targets.filename:
            # The file under its own name (messages name it), never a path it carries.
            path = Path(folder) / safe_file_name(targets.filename)
            with path.open("wb") as handle:
                while chunk := targets.file.read(1 << 20):
                    handle.write(chunk)
        try:
            cycle = service.open_cycle(
                actor,
                session,
                program,
                name.strip(),
                opens_day,
                closes_day,
                as_of_day,
                notice,
                path,
                place_count,
                grade,
                carried,
            )
        except LuodiError as error:
            if error.status in (401, 403):
                raise
            session.rollback()  # nothing of a refused cycle is kept
            context = _open_context(
                session,
                actor,
                form,
                _problems(error, {name: name for name in OPEN_FIELDS}, "targets"),
            )
            return render(request, actor, "console/cycles/open.html", context, 422)
    message = _("已开设周期：%(name)s", name=cycle.name)
    return done(f"/console/cycles/{cycle.id}", message)


# --- a cycle and its application queue ----------------------------------------------------


@dataclass
class QueueFilters:
    status: str = ""
    route: str = ""
    town: str = ""
    deadline: str = ""
    within: int = 5

    def query(self) -> str:
        pairs = {
            "status": self.status,
            "route": self.route,
            "town": self.town,
            "deadline": self.deadline,
            "within": str(self.within) if self.deadline == "soon" else "",
        }
        return urlencode({key: value for key, value in pairs.items() if value})


def _queue_statement(
    session: Session, actor: Actor, cycle: ProgramCycle, filters: QueueFilters
) -> Select[tuple[Application]]:
    due = None
    today = workdays.today()
    if filters.deadline == "overdue":
        due = deadlines.due_between(session, cycle.id, None, today - timedelta(days=1))
    elif filters.deadline == "soon":
        due = deadlines.due_between(
            session, cycle.id, today, today + timedelta(days=filters.within)
        )
    return repository.application_queue(
        actor,
        cycle.id,
        [filters.status] if filters.status else [],
        filters.route or None,
        filters.town or None,
        due,
    )


def _queue_rows(
    session: Session, applications: list[Application], towns: dict[str, str], spec: ProgramSpec
) -> list[dict[str, Any]]:
    applicants = repository.applicants_of(session, [a.resident_id for a in applications])
    due = deadlines.due_dates(session, applications)
    today = workdays.today()
    route_field = spec.fields.get("route")
    rows = []
    for application in applications:
        name, town = applicants.get(application.resident_id, ("", ""))
        route = json.loads(application.fields or "{}").get("route")
        waiting = application.status == ApplicationStatus.SUBMITTED
        rows.append(
            {
                "id": application.id,
                "name": mask_name(name),
                "town": towns.get(town, town),
                "route": (route_field.values or {}).get(route, route)
                if route_field and route
                else "",
                "status": application.status,
                "status_word": _status_word(application.status),
                "due": due.get(application.id) if waiting else None,
                "overdue": waiting and due.get(application.id, today) < today,
            }
        )
    return rows


def _route_options(spec: ProgramSpec) -> list[tuple[str, str]]:
    field = spec.fields.get("route")
    return list((field.values or {}).items()) if field and field.type == "enum" else []


def _filters(
    status: str, route: str, town: str, deadline: str, within: int, spec: ProgramSpec
) -> QueueFilters:
    """The queue's filters, each kept only when it is one of its choices."""
    return QueueFilters(
        status if status in APPLICATION_STATUS_WORDS else "",
        route if route in dict(_route_options(spec)) else "",
        town if re.fullmatch(r"[0-9]{1,12}", town) else "",
        deadline if deadline in DEADLINE_WORDS else "",
        within if within in DUE_DAYS else 5,
    )


FilterStatus = Annotated[str, Query(max_length=16)]
FilterRoute = Annotated[str, Query(max_length=32)]
FilterTown = Annotated[str, Query(max_length=12)]
FilterDeadline = Annotated[str, Query(max_length=10)]
FilterWithin = Annotated[int, Query(ge=1, le=60)]


@router.get("/console/cycles/{cycle_id}", response_class=HTMLResponse)
def cycle_page(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    cycle_id: ObjectId,
    status: FilterStatus = "",
    route: FilterRoute = "",
    town: FilterTown = "",
    deadline: FilterDeadline = "",
    within: FilterWithin = 5,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    console_actor(actor, "cycles")
    cycle = repository.get_cycle(actor, session, cycle_id)
    spec = cycle_spec(cycle)
    filters = _filters(status, route, town, deadline, within, spec)
    towns = _town_names(session)
    applications, total = repository.queue_page(
        session,
        _queue_statement(session, actor, cycle, filters),
        page,
        repository.QUEUE_PAGE_SIZE,
    )
    rows = _queue_rows(session, applications, towns, spec)
    targets = service.published_targets(actor, session, cycle.id)
    context = {
        "cycle": cycle,
        "spec": spec,
        "program": i18n.text_of(spec.name),
        "kind": _(KIND_WORDS[spec.kind]),
        "cycle_status": _(CYCLE_STATUS_WORDS.get(cycle.status, cycle.status)),
        "counts": _counts_in_words(
            repository.application_counts(session, actor, [cycle.id]).get(cycle.id, {})
        ),
        "rows": rows,
        "total": total,
        "page": page,
        "pages": max(1, -(-total // repository.QUEUE_PAGE_SIZE)),
        "filters": filters,
        "page_url": f"/console/cycles/{cycle.id}?"
        + (filters.query() + "&" if filters.query() else ""),
        "status_options": [(str(key), _(word)) for key, word in APPLICATION_STATUS_WORDS.items()],
        "route_options": _route_options(spec),
        "town_options": sorted(towns.items()),
        "deadline_options": [(key, _(word)) for key, word in DEADLINE_WORDS.items()],
        "within_options": [(str(n), _("%(n)s 天内", n=n)) for n in DUE_DAYS],
        "targets": targets,
        "hot": [target for target in targets if target.hot],
        "school": spec.kind is ProgramKind.SCHOOL_ADMISSION,
        "hot_basis": {key: _(word) for key, word in HOT_BASIS.items()},
        "target_towns": towns,
        "may_verify": acts_as(actor, Role.ADMIN, Role.REVIEWER),
        # A reviewer reads its own department's applications, town staff their town's:
        # the counts and the queue say so rather than look like the whole cycle.
        "partial_view": acts_as(actor, Role.REVIEWER, Role.TOWN_STAFF),
    }
    return render(request, actor, "console/cycles/cycle.html", context)


HOT_BASIS = {"listed": N_("教育局公布"), "previous": N_("上一周期第一志愿人数超过学位")}


# --- bulk verification ------------------------------------------------------------------


def _bulk_ids(
    session: Session,
    actor: Actor,
    cycle: ProgramCycle,
    filters: QueueFilters,
    ids: list[int],
    every: bool,
) -> tuple[list[Application], int]:
    """The applications a bulk verification would verify: the ones chosen (or all matching
    the filter), of those only the submitted ones the actor may verify (its department's);
    at most ``BULK_LIMIT``, and how many matched in all."""
    statement = _queue_statement(session, actor, cycle, filters).where(
        Application.status == ApplicationStatus.SUBMITTED,
        Application.id.in_(
            repository.writable_applications(actor).with_only_columns(Application.id)
        ),
    )
    if not every:
        statement = statement.where(Application.id.in_(ids[:BULK_LIMIT]))
    return repository.queue_page(session, statement, 1, BULK_LIMIT)


@router.get("/console/cycles/{cycle_id}/verify", response_class=HTMLResponse)
def bulk_confirm(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    cycle_id: ObjectId,
    ids: Annotated[list[Annotated[int, Query(ge=1, le=MAX_ID)]], Query(max_length=BULK_LIMIT)] = [],  # noqa: B006
    every: Annotated[str, Query(alias="all", max_length=1)] = "",
    status: FilterStatus = "",
    route: FilterRoute = "",
    town: FilterTown = "",
    deadline: FilterDeadline = "",
    within: FilterWithin = 5,
) -> HTMLResponse:
    """The confirmation of a bulk verification: how many, and which."""
    console_actor(actor, "cycles")
    require(actor, Role.ADMIN, Role.REVIEWER)
    cycle = repository.writable_cycle(actor, session, cycle_id)
    spec = cycle_spec(cycle)
    filters = _filters(status, route, town, deadline, within, spec)
    chosen, total = _bulk_ids(session, actor, cycle, filters, ids, every == "1")
    rows = _queue_rows(session, chosen, _town_names(session), spec)
    return render(
        request,
        actor,
        "console/cycles/bulk.html",
        {
            "cycle": cycle,
            "program": _program_name(cycle.program_id),
            "rows": rows,
            "total": total,
            "limit": BULK_LIMIT,
            "back": f"/console/cycles/{cycle.id}?{filters.query()}",
        },
    )


@router.post("/console/cycles/{cycle_id}/verify", response_model=None)
def bulk_verify(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    cycle_id: ObjectId,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    ids: Annotated[list[int], Form(max_length=BULK_LIMIT)] = [],  # noqa: B006
) -> Response:
    console_actor(actor, "cycles")
    check_form(request, csrf_token)
    cycle = repository.writable_cycle(actor, session, cycle_id)
    if not ids:
        return done(f"/console/cycles/{cycle.id}", _("没有选择申请"))
    # Only what the confirmation could have listed: this cycle's applications still
    # waiting (an id of another cycle, or one decided meanwhile, is left alone).
    asked = [i for i in ids if 1 <= i <= MAX_ID]
    waiting = session.scalars(
        repository.application_queue(actor, cycle.id, (ApplicationStatus.SUBMITTED,))
        .where(Application.id.in_(asked))
        .with_only_columns(Application.id)
    ).all()
    count = intake.verify(actor, session, list(waiting), approve=True) if waiting else 0
    message = (
        _("已审核通过 %(n)s 份申请", n=count)
        if count
        else _("没有可审核通过的申请：所选申请不在本周期待审核之列")
    )
    return done(f"/console/cycles/{cycle.id}", message)


# --- the verification screen -------------------------------------------------------------


def _names_in(text: str) -> list[str]:
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        return []
    return sorted({node.id for node in ast.walk(tree) if isinstance(node, ast.Name)})


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return _("是") if value else _("否")
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    if isinstance(value, list):
        return "、".join(_shown(item) for item in value)
    return str(value)


def _in_words(value: Any, towns: Mapping[str, str]) -> str:
    """A value a rule read, a town's code as the town's name."""
    if isinstance(value, list):
        return "、".join(_in_words(item, towns) for item in value)
    if isinstance(value, str) and value in towns:
        return towns[value]
    return _shown(value)


def _eligibility(
    actor: Actor,
    session: Session,
    cycle: ProgramCycle,
    spec: ProgramSpec,
    application_id: int,
    towns: Mapping[str, str],
) -> tuple[list[dict[str, Any]], dict[str, Any] | None, str | None]:
    """Each eligibility rule: holds or not, as written, and the values it read (of the
    person whose points count); the application's row; or why it cannot be said yet."""
    try:
        evaluated, decided = allocation.application_rules(actor, session, cycle, application_id)
    except LuodiError as error:
        return [], None, i18n.error_message(error)
    if decided.height == 0:
        return [], None, _("申请人不在最新的计分批次中（没有有效居住证），不能判断条件")
    row = decided.row(0, named=True)
    person = (
        evaluated.filter(pl.col("resident_id") == row.get("points_person", row.get("resident_id")))
        if "resident_id" in evaluated.columns
        else evaluated
    )
    # What a rule reads: the person's row, the cycle's date and the program's settings.
    values = {
        **(person.row(0, named=True) if person.height else {}),
        "as_of": cycle.as_of,
        **spec.settings,
    }
    found = [
        {
            "label": i18n.text_of(rule.label),
            "holds": bool(row.get(f"rule:{rule.id}")),
            "rule": rule.rule,
            "read": [
                (name, _in_words(values[name], towns))
                for name in _names_in(rule.rule)
                if name in values
            ],
        }
        for rule in spec.eligibility
    ]
    return found, row, None


def _variable_label(variables: Mapping[str, feeds_catalog.Variable], name: str) -> str:
    """A fact's name in words (the feeds declare a label for each)."""
    variable = variables.get(name)
    if variable is None:
        return name
    return (
        (variable.label_en or variable.label_zh) if i18n.language() == "en" else variable.label_zh
    )


def _feed_facts(actor: Actor, session: Session, resident_id: int) -> list[dict[str, Any]]:
    """The departments' current facts about the applicant, with feed, batch and row."""
    variables = feeds_catalog.fact_variables()
    feeds = feeds_catalog.load_feeds()
    facts = []
    for source in facts_service.fact_sources(actor, session, resident_id):
        if source.superseded_by is not None:
            continue
        feed = feeds.get(source.feed or "")
        value = source.value
        if feed is not None and i18n.language() == "zh":
            # An enum's code as the feed's first spelling of it (associate → 大专).
            for fact in feed.facts:
                column = (
                    feed.columns.get(fact.value or "") if fact.variable == source.name else None
                )
                if column is not None and column.values and source.value in column.values:
                    value = column.values[source.value][0]
        facts.append(
            {
                "name": source.name,
                "label": _variable_label(variables, source.name),
                "value": value,
                "valid_from": source.valid_from,
                "valid_to": source.valid_to,
                "feed": i18n.text_of(feed.title) if feed else (source.feed or ""),
                "batch_id": source.batch_id,
                "file": source.file_name,
                "row": source.source_row,
            }
        )
    # The latest record of each item first (the page folds the earlier ones under it).
    facts.sort(key=lambda fact: fact["valid_from"] or date.min, reverse=True)
    return facts


def _differences(
    actor: Actor,
    session: Session,
    spec: ProgramSpec,
    resident_id: int,
    declared: Mapping[str, Any],
) -> tuple[list[dict[str, Any]], str | None]:
    """Each declared field that is also a scoring input the departments' records give, where
    the two differ, with the points the difference changes: the resident re-scored through
    the policy with the declared value in place of the one the latest run used. Or why it
    cannot be said."""
    labels = feeds_catalog.fact_variables()
    try:
        found = scoring_service.what_if(actor, session, resident_id, spec.policy, declared)
    except LuodiError as error:
        return [], i18n.error_message(error)
    return [
        {
            "label": i18n.text_of(spec.fields[item.name].label)
            if item.name in spec.fields
            else _variable_label(labels, item.name),
            "declared": _shown(declared[item.name]),
            "recorded": _shown(item.recorded),
            "change": item.total_with - item.total,
        }
        for item in found
    ], None


def _declared(
    session: Session, spec: ProgramSpec, application: Application
) -> list[tuple[str, str]]:
    """The application's fields and choices in words (enum values and school names)."""
    values = json.loads(application.fields or "{}")
    shown = []
    for name, field in spec.fields.items():
        value = values.get(name, field.default)
        if field.type == "enum" and value is not None:
            value = (field.values or {}).get(str(value), value)
        shown.append((i18n.text_of(field.label), _shown(value)))
    return shown


def _choices(
    actor: Actor, session: Session, cycle: ProgramCycle, application: Application
) -> list[tuple[str, str, bool]]:
    names: dict[str, str] = {}
    hot: set[str] = set()
    for target in service.published_targets(actor, session, cycle.id):
        key = target.group_id or target.target_id
        names.setdefault(key, target.name)
        if target.hot:
            hot.add(key)
    return [
        (choice, names.get(choice, choice), choice in hot)
        for choice in (application.choices or "").split(";")
        if choice
    ]


def _next_in_queue(session: Session, actor: Actor, application: Application) -> int | None:
    statement = (
        repository.application_queue(actor, application.cycle_id, [ApplicationStatus.SUBMITTED])
        .where(Application.id > application.id)
        .with_only_columns(Application.id)
        .limit(1)
    )
    return session.scalar(statement)


def _application_page(
    request: Request,
    actor: Actor,
    session: Session,
    application_id: int,
    errors: list[tuple[str | None, str]] | None = None,
    kept: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    application = intake.get_application(actor, session, application_id)
    cycle = repository.get_cycle(actor, session, application.cycle_id)
    spec = cycle_spec(cycle)
    towns = _town_names(session)
    applicant = repository.applicants_of(session, [application.resident_id])
    name, town = applicant.get(application.resident_id, ("", ""))
    facts = _feed_facts(actor, session, application.resident_id)
    declared_values = json.loads(application.fields or "{}")
    differences, differences_note = _differences(
        actor, session, spec, application.resident_id, declared_values
    )
    eligibility, decided, not_decided = _eligibility(
        actor, session, cycle, spec, application.id, towns
    )
    due = deadlines.due_dates(session, [application]).get(application.id)
    waiting = application.status == ApplicationStatus.SUBMITTED
    open_cycle = cycle.status != CycleStatus.FINAL
    field_values = {
        name: "" if value is None else str(value) for name, value in declared_values.items()
    }
    context = {
        "application": application,
        "cycle": cycle,
        "spec": spec,
        "program": i18n.text_of(spec.name),
        "name": mask_name(name),
        "town": towns.get(town, town),
        "status_word": _status_word(application.status),
        "declared": _declared(session, spec, application),
        "choices": _choices(actor, session, cycle, application),
        "facts": facts,
        "differences": differences,
        "differences_note": differences_note,
        "eligibility": eligibility,
        "eligible": None if decided is None else bool(decided.get("eligible")),
        "points": None if decided is None else decided.get("points"),
        "not_decided": not_decided,
        "due": due,
        "overdue": waiting and due is not None and due < workdays.today(),
        "next_id": _next_in_queue(session, actor, application),
        "may_verify": acts_as(actor, Role.ADMIN, Role.REVIEWER)
        and open_cycle
        and application.status in (ApplicationStatus.SUBMITTED, ApplicationStatus.VERIFIED),
        "may_correct": acts_as(actor, Role.ADMIN, Role.OPERATOR) and open_cycle,
        "correct_fields": [
            {
                "name": field_name,
                "label": i18n.text_of(field.label),
                "type": field.type,
                "options": list((field.values or {}).items()),
                "value": (kept or {}).get(f"field_{field_name}", field_values.get(field_name, "")),
            }
            for field_name, field in spec.fields.items()
        ],
        "choosing": spec.kind in intake.CHOOSING,
        "kept": kept or {"choices": application.choices or ""},
        "errors": errors or [],
        "field_errors": {field: text for field, text in errors or [] if field},
    }
    return render(request, actor, "console/cycles/application.html", context, status_code)


@router.get("/console/applications/{application_id}", response_class=HTMLResponse)
def application_page(
    request: Request, actor: CurrentActor, session: DbSession, application_id: ObjectId
) -> HTMLResponse:
    console_actor(actor, "cycles")
    return _application_page(request, actor, session, application_id)


@router.post("/console/applications/{application_id}/verify", response_model=None)
def verify_application(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    application_id: ObjectId,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    decision: Annotated[str, Form(pattern="^(verify|return)$")] = "verify",
    reason: Annotated[str, Form(max_length=2000)] = "",
    next_id: Annotated[int | None, Form(ge=1, le=MAX_ID)] = None,
) -> Response:
    console_actor(actor, "cycles")
    check_form(request, csrf_token)
    approve = decision == "verify"
    if not approve and not reason.strip():
        intake.get_application(actor, session, application_id)  # out of scope: 404 first
        return _application_page(
            request,
            actor,
            session,
            application_id,
            [("reason", _("退回必须写明原因"))],
            {"reason": reason},
            422,
        )
    intake.verify(actor, session, [application_id], approve, reason.strip() or None)
    message = (
        _("申请 %(id)s 已审核通过", id=application_id)
        if approve
        else _("申请 %(id)s 已退回", id=application_id)
    )
    target = next_id if approve and next_id else application_id
    return done(f"/console/applications/{target}", message)


@router.post("/console/applications/{application_id}/correct", response_model=None)
async def correct_application(
    request: Request, actor: CurrentActor, session: DbSession, application_id: ObjectId
) -> Response:
    # Async only to read a form whose fields are the program's own; the work (the database,
    # a re-score on an error) runs in a thread, never on the event loop every request shares.
    form = await request.form()
    submitted = {key: str(value)[:500] for key, value in form.items() if isinstance(value, str)}
    return await run_in_threadpool(
        _correct_application, request, actor, session, application_id, submitted
    )


def _correct_application(
    request: Request,
    actor: Actor,
    session: Session,
    application_id: int,
    submitted: dict[str, str],
) -> Response:
    console_actor(actor, "cycles")
    check_form(request, submitted.get("csrf_token"))
    application = intake.get_application(actor, session, application_id)
    spec = cycle_spec(repository.get_cycle(actor, session, application.cycle_id))
    fields = {
        name: submitted[f"field_{name}"] for name in spec.fields if f"field_{name}" in submitted
    }
    choices = submitted.get("choices") if spec.kind in intake.CHOOSING else None
    try:
        intake.correct(actor, session, application_id, choices, fields or None)
    except Invalid as error:
        session.rollback()
        names = {"choices": "choices", **{name: f"field_{name}" for name in spec.fields}}
        return _application_page(
            request, actor, session, application_id, _problems(error, names), submitted, 422
        )
    return done(
        f"/console/applications/{application_id}",
        _("申请 %(id)s 已更正，待重新审核", id=application_id),
    )
