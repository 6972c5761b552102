"""The console's scoring area (``/console/scoring…``): the scoring runs, starting one (a job
with a progress bar that survives a reload), a run's distribution of totals (overall and by
town) and its score ranking notice, published from here after a confirmation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from luodi import workdays
from luodi.auth.actor import Actor, Role
from luodi.auth.permissions import acts_as, require
from luodi.console import parse_day
from luodi.errors import Invalid, LuodiError, NotFound
from luodi.jobs import service as jobs
from luodi.kernels.policy import CompiledPolicy
from luodi.notices import service as notices
from luodi.notices.schemas import DEFAULT_WORKING_DAYS, MAX_TITLE
from luodi.policy.service import in_force, published_policies
from luodi.scoring import service as scoring
from luodi.web.dependencies import CurrentActor, DbSession
from luodi.web.i18n import N_, _, language
from luodi.web.params import ObjectId
from luodi.web.rendering import check_form, console_actor, done, number, render

router = APIRouter(prefix="/console/scoring")

SCORERS = (Role.ADMIN, Role.OPERATOR)
"""Who starts runs and publishes their notices (``scoring.service.score_registry`` and
``notices.service.publish`` require the same)."""
RECENT_JOBS = 10
JOB_STATES = {
    "queued": N_("排队中"),
    "running": N_("运行中"),
    "done": N_("已完成"),
    "failed": N_("失败"),
}

Errors = list[tuple[str | None, str]]


def may_score(actor: Actor) -> bool:
    return acts_as(actor, *SCORERS)


def reason_of(error: LuodiError) -> str:
    """The first reason of a typed error, in the page's language."""
    if error.details:
        problem = error.details[0]
        return problem.reason_en if language() == "en" else problem.reason_zh
    return error.message_en if language() == "en" else error.message_zh


# ----------------------------------------------------------------------------- versions


def policy_name(compiled: CompiledPolicy) -> str:
    policy = compiled.policy
    return policy.name.en if language() == "en" else policy.name.zh


def version_words(compiled: CompiledPolicy) -> str:
    """ "慈溪市新市民量化积分 2026.1 版（2026-01-01 起施行）": a version as people name it."""
    policy = compiled.policy
    if policy.effective_to is None:
        return _(
            "%(name)s %(version)s 版（%(start)s 起施行）",
            name=policy_name(compiled),
            version=policy.version,
            start=policy.effective_from.isoformat(),
        )
    return _(
        "%(name)s %(version)s 版（%(start)s 至 %(end)s 施行）",
        name=policy_name(compiled),
        version=policy.version,
        start=policy.effective_from.isoformat(),
        end=policy.effective_to.isoformat(),
    )


def version_key(compiled: CompiledPolicy) -> str:
    return f"{compiled.policy.id}|{compiled.policy.version}"


@dataclass(frozen=True)
class RunForm:
    as_of: str
    policy: str


def default_form(versions: list[CompiledPolicy]) -> RunForm:
    today = workdays.today()
    current = [item for item in versions if in_force(item.policy, today)]
    chosen = current[-1] if current else (versions[-1] if versions else None)
    return RunForm(today.isoformat(), version_key(chosen) if chosen else "")


def check_run_form(form: RunForm, versions: list[CompiledPolicy]) -> tuple[Errors, Any]:
    """The form's problems (field, text) in the page's language, or the parameters of the
    'score' job."""
    errors: Errors = []
    as_of: date | None = None
    if not form.as_of.strip():
        errors.append(("as_of", _("请填写计分日期")))
    else:
        try:
            as_of = parse_day("as_of", form.as_of.strip())
        except Invalid as error:
            errors.append(("as_of", _("计分日期：%(reason)s", reason=reason_of(error))))
    chosen = next((item for item in versions if version_key(item) == form.policy), None)
    if chosen is None:
        errors.append(("policy", _("请选择一个已发布的策略版本")))
    if errors or as_of is None or chosen is None:
        return errors, None
    policy = chosen.policy
    if not in_force(policy, as_of):
        covering = [
            item
            for item in versions
            if item.policy.id == policy.id and in_force(item.policy, as_of)
        ]
        advice = (
            _("该日施行的是 %(version)s", version=version_words(covering[-1]))
            if covering
            else _("没有哪个已发布的版本在该日施行")
        )
        errors.append(
            (
                "as_of",
                _(
                    "%(version)s 不适用于计分日 %(day)s：%(advice)s",
                    version=version_words(chosen),
                    day=as_of.isoformat(),
                    advice=advice,
                ),
            )
        )
        return errors, None
    return [], {"policy_id": policy.id, "version": policy.version, "as_of": as_of.isoformat()}


# ----------------------------------------------------------------------------- pages


def index_context(actor: Actor, session: Session) -> dict[str, Any]:
    runs = scoring.list_runs(actor, session)
    with_notice: dict[int, int] = {}
    for notice in notices.score_ranking_notices(actor, session):
        if notice.scoring_run_id is not None:
            with_notice.setdefault(notice.scoring_run_id, notice.id)
    recent = [
        job
        for job in jobs.list_jobs(actor, session, "score", RECENT_JOBS)
        if job.state in ("queued", "running", "failed")
    ]
    return {"runs": runs, "with_notice": with_notice, "jobs": recent, "job_states": JOB_STATES}


def run_form_page(
    request: Request,
    actor: Actor,
    session: Session,
    form: RunForm | None = None,
    errors: Errors | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    versions = published_policies()
    context = index_context(actor, session)
    may = may_score(actor)
    return render(
        request,
        actor,
        "console/scoring/index.html",
        {
            **context,
            "may_score": may,
            "versions": [(version_key(item), version_words(item)) for item in versions],
            "policy_labels": {
                version_key(item): f"{policy_name(item)} {item.policy.version}" for item in versions
            },
            "form": form or default_form(versions),
            "errors": errors or [],
            "field_errors": {field: text for field, text in errors or [] if field},
        },
        status_code=status_code,
    )


@router.get("", response_class=HTMLResponse)
def scoring_index(request: Request, actor: CurrentActor, session: DbSession) -> HTMLResponse:
    console_actor(actor, "scoring")
    return run_form_page(request, actor, session)


@router.post("/runs", response_class=HTMLResponse, response_model=None)
def start_run(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    as_of: Annotated[str, Form(max_length=40)] = "",
    policy: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    console_actor(actor, "scoring")
    check_form(request, csrf_token)
    require(actor, *SCORERS)
    form = RunForm(as_of, policy)
    errors, params = check_run_form(form, published_policies())
    if not errors:
        try:
            job = jobs.submit(actor, session, "score", params)
        except Invalid as error:
            # The jobs domain checks again (a policy file replaced since the page was read).
            field = error.details[0].field if error.details else ""
            errors = [("as_of" if "as_of" in field else "policy", reason_of(error))]
        else:
            return done(f"/console/scoring/jobs/{job.id}", _("计分任务已提交，正在排队"))
    return run_form_page(request, actor, session, form, errors, 422)


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(
    job_id: ObjectId, request: Request, actor: CurrentActor, session: DbSession
) -> HTMLResponse:
    """A scoring job's progress: the whole page, or (asked by HTMX every second while it
    runs) only its progress block."""
    console_actor(actor, "scoring")
    job = jobs.get_job(actor, session, job_id)
    if job.kind != "score":
        raise NotFound(f"没有计分任务 {job_id}", f"no scoring job {job_id}")
    template = (
        "console/scoring/job.html"
        if request.headers.get("hx-request") == "true"
        else "console/scoring/job_page.html"
    )
    return render(request, actor, template, {"job": job, "job_states": JOB_STATES})


def town_chart(distribution: scoring.Distribution) -> dict[str, Any]:
    names = [town.name or _("未登记镇街") for town in distribution.towns]
    return {
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0},
        "grid": {"left": 8, "right": 8, "bottom": 8, "top": 32, "containLabel": True},
        "xAxis": {"type": "category", "data": names, "axisLabel": {"interval": 0, "rotate": 30}},
        "yAxis": {"type": "value", "name": _("分")},
        "series": [
            {
                "name": _("平均分"),
                "type": "bar",
                "data": [round(town.mean, 2) for town in distribution.towns],
            },
            {
                "name": _("中位数"),
                "type": "bar",
                "data": [round(town.median, 2) for town in distribution.towns],
            },
        ],
    }


def bin_label(start: float, width: float) -> str:
    return f"{number(start)}–{number(start + width)}"


def histogram(distribution: scoring.Distribution) -> dict[str, Any]:
    return {
        "tooltip": {"trigger": "axis"},
        "grid": {"left": 8, "right": 8, "bottom": 28, "top": 24, "containLabel": True},
        "xAxis": {
            "type": "category",
            "name": _("总分"),
            "nameLocation": "middle",
            "nameGap": 28,
            "data": [bin_label(start, distribution.width) for start, _count in distribution.bins],
        },
        "yAxis": {"type": "value", "name": _("人数")},
        "series": [
            {
                "name": _("人数"),
                "type": "bar",
                "barCategoryGap": "2%",
                "data": [count for _start, count in distribution.bins],
            }
        ],
    }


@router.get("/{run_id}", response_class=HTMLResponse)
def run_page(
    run_id: ObjectId, request: Request, actor: CurrentActor, session: DbSession
) -> HTMLResponse:
    console_actor(actor, "scoring")
    distribution = scoring.run_distribution(actor, session, run_id)
    versions = {version_key(item): item for item in published_policies()}
    run = distribution.run
    shown = versions.get(f"{run.policy_id}|{run.policy_version}")
    inputs = shown.policy.inputs if shown else {}
    defaulted = [
        (
            (label.en if language() == "en" else label.zh)
            if (label := getattr(inputs.get(name), "label", None))
            else name
        )
        for name in run.defaulted_inputs.split(",")
        if name
    ]
    return render(
        request,
        actor,
        "console/scoring/run.html",
        {
            "run": run,
            "policy_words": version_words(shown)
            if shown
            else f"{run.policy_id} {run.policy_version}",
            "policy_link": f"/console/policies/{run.policy_id}/{run.policy_version}"
            if shown
            else None,
            "defaulted": defaulted,
            "distribution": distribution,
            "histogram": histogram(distribution),
            "bins": [
                (bin_label(start, distribution.width), number(count))
                for start, count in distribution.bins
            ],
            "town_chart": town_chart(distribution),
            "town_chart_rows": [
                (town.name or _("未登记镇街"), number(town.mean), number(town.median))
                for town in distribution.towns
            ],
            "notices": notices.score_ranking_notices(actor, session, run.id),
            "may_publish": may_score(actor),
        },
    )


# ----------------------------------------------------------------------------- the notice


@dataclass(frozen=True)
class NoticeForm:
    title: str
    starts_on: str
    working_days: str


def publish_page(
    request: Request,
    actor: Actor,
    session: Session,
    run_id: int,
    form: NoticeForm | None = None,
    errors: Errors | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    run = scoring.get_run(actor, session, run_id)
    shown = next(
        (
            item
            for item in published_policies()
            if version_key(item) == f"{run.policy_id}|{run.policy_version}"
        ),
        None,
    )
    default_title = f"积分排名公示（{run.policy_id} {run.as_of}）"
    return render(
        request,
        actor,
        "console/scoring/publish.html",
        {
            "run": run,
            "policy_words": version_words(shown)
            if shown
            else f"{run.policy_id} {run.policy_version}",
            "form": form
            or NoticeForm(default_title, workdays.today().isoformat(), str(DEFAULT_WORKING_DAYS)),
            "errors": errors or [],
            "field_errors": {field: text for field, text in errors or [] if field},
            "existing": notices.score_ranking_notices(actor, session, run.id),
        },
        status_code=status_code,
    )


@router.get("/{run_id}/publish", response_class=HTMLResponse)
def confirm_publish(
    run_id: ObjectId, request: Request, actor: CurrentActor, session: DbSession
) -> HTMLResponse:
    """What publishing will do, before it is done (it cannot be undone)."""
    console_actor(actor, "scoring")
    require(actor, *SCORERS)
    return publish_page(request, actor, session, run_id)


def check_notice_form(form: NoticeForm) -> tuple[Errors, dict[str, Any]]:
    errors: Errors = []
    values: dict[str, Any] = {}
    title = form.title.strip()
    if not title or len(title) > MAX_TITLE:
        errors.append(("title", _("标题应为 1–%(most)s 个字", most=MAX_TITLE)))
    values["title"] = title
    try:
        values["starts_on"] = parse_day("starts_on", form.starts_on.strip() or None)
    except Invalid as error:
        errors.append(("starts_on", _("公示开始日期：%(reason)s", reason=reason_of(error))))
    text = form.working_days.strip()
    if not text.isdigit() or not 1 <= int(text) <= 30:
        errors.append(("working_days", _("公示期应为 1–30 个工作日")))
    else:
        values["working_days"] = int(text)
    return errors, values


@router.post("/{run_id}/publish", response_class=HTMLResponse, response_model=None)
def publish_notice(
    run_id: ObjectId,
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    title: Annotated[str, Form(max_length=400)] = "",
    starts_on: Annotated[str, Form(max_length=40)] = "",
    working_days: Annotated[str, Form(max_length=10)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    console_actor(actor, "scoring")
    check_form(request, csrf_token)
    require(actor, *SCORERS)
    form = NoticeForm(title, starts_on, working_days)
    errors, values = check_notice_form(form)
    if not errors:
        try:
            with session.begin_nested():
                notice = notices.publish(
                    actor,
                    session,
                    scoring_run_id=run_id,
                    starts_on=values["starts_on"],
                    working_days=values["working_days"],
                    title=values["title"],
                    today=workdays.today(),
                )
        except Invalid as error:
            field = error.details[0].field if error.details else None
            errors = [
                (
                    field if field in ("title", "starts_on", "working_days") else None,
                    reason_of(error),
                )
            ]
        else:
            return done(
                f"/console/scoring/{run_id}",
                _("积分排名公示已发布（公示 %(id)s）", id=notice.id),
            )
    return publish_page(request, actor, session, run_id, form, errors, 422)
