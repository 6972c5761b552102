"""The console's policy what-if (``/console/policies/whatif``): a draft policy against the
published one on the registry, as a job; the one-screen summary, the charts, the tables.

The draft is an uploaded YAML file or a text edited on the page (from a copy of the version
in force); the job (``policy_whatif``) reads the registry as of a date, scores both, decides
the next school cycle twice, and keeps its result: this page shows it and the workbook is
made from it when asked for (``policy.whatif_book``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from luodi import workdays
from luodi.analysis.service import threshold_numbers
from luodi.auth.actor import Actor
from luodi.auth.permissions import acts_as
from luodi.console import parse_day
from luodi.errors import Invalid, LuodiError, NotFound
from luodi.jobs import service as jobs
from luodi.jobs.models import Job
from luodi.kernels.policy import CompiledPolicy, PolicyError
from luodi.kernels.policy.whatif import BANDS, DEFAULT_THRESHOLDS
from luodi.policy.service import in_force, published_policies
from luodi.policy.whatif import (
    DRAFT_SUFFIXES,
    MAX_DRAFT_CHARACTERS,
    WHATIF_ROLES,
    baseline_of,
    check_thresholds,
)
from luodi.policy.whatif_book import workbook
from luodi.web.dependencies import CurrentActor, DbSession
from luodi.web.i18n import N_, _, language
from luodi.web.params import ObjectId
from luodi.web.rendering import check_form, console_actor, done, number, render

router = APIRouter(prefix="/console/policies/whatif")

KIND = "policy_whatif"
MAX_DRAFT = MAX_DRAFT_CHARACTERS
"""Characters of a draft (the shipped policies are about 20,000)."""
RECENT_JOBS = 10
JOB_STATES = {
    "queued": N_("排队中"),
    "running": N_("运行中"),
    "done": N_("已完成"),
    "failed": N_("失败"),
}
BAND_WORDS = {
    "lose_more": N_("减少超过 10 分"),
    "lose_less": N_("减少 10 分以内"),
    "same": N_("不变"),
    "gain_less": N_("增加 10 分以内"),
    "gain_more": N_("增加超过 10 分"),
}
BAND_COLOURS = {
    "lose_more": "#b2182b",
    "lose_less": "#ef8a62",
    "same": "#bababa",
    "gain_less": "#67a9cf",
    "gain_more": "#2166ac",
}
"""A diverging scale that reads without red/green (colour-blind safe); the table says it too."""

Errors = list[tuple[str | None, str]]


def whatif_actor(actor: Actor) -> Actor:
    """The policies area's staff who may run a what-if; another role finds no such page."""
    console_actor(actor, "policies")
    if not acts_as(actor, *WHATIF_ROLES):
        raise NotFound("没有这个页面", "no such page")
    return actor


def in_language(zh: str, en: str) -> str:
    return en if language() == "en" else zh


@dataclass(frozen=True)
class WhatIfForm:
    draft_text: str
    draft_name: str
    as_of: str
    thresholds: str


def current_version(policy_id: str | None = None) -> CompiledPolicy | None:
    today = workdays.today()
    current = [
        item
        for item in published_policies()
        if in_force(item.policy, today) and (policy_id is None or item.policy.id == policy_id)
    ]
    return current[-1] if current else None


def default_form(copy: CompiledPolicy | None = None) -> WhatIfForm:
    return WhatIfForm(
        copy.policy.text if copy else "",
        f"{copy.policy.id}-{copy.policy.version}-draft.yaml" if copy else "draft.yaml",
        workdays.today().isoformat(),
        ",".join(f"{value:g}" for value in DEFAULT_THRESHOLDS),
    )


def check_whatif_form(form: WhatIfForm) -> tuple[Errors, dict[str, Any] | None]:
    """The form's problems (field, text), a draft's each with its line and column; or the
    job's parameters."""
    errors: Errors = []
    as_of: date | None = None
    try:
        as_of = parse_day("as_of", form.as_of.strip() or None) or workdays.today()
    except Invalid as error:
        errors.append(("as_of", _("计分日期：%(reason)s", reason=reason_of(error))))
    thresholds: list[float] = []
    try:
        thresholds = check_thresholds(threshold_numbers(form.thresholds))
    except Invalid as error:
        errors.append(("thresholds", _("分数线：%(reason)s", reason=reason_of(error))))
    if not form.draft_text.strip():
        errors.append(("draft_text", _("请上传草稿文件，或在文本框中填写草稿")))
        return errors, None
    if len(form.draft_text) > MAX_DRAFT:
        errors.append(("draft_text", _("草稿太长（最多 %(most)s 个字符）", most=number(MAX_DRAFT))))
        return errors, None
    try:
        draft = CompiledPolicy.from_text(form.draft_text, form.draft_name)
    except PolicyError as error:
        for problem in error.problems:
            reason = in_language(problem.reason_zh, problem.reason_en)
            where = problem.path or ""
            if problem.line is not None:
                errors.append(
                    (
                        "draft_text",
                        _(
                            "草稿第 %(line)s 行第 %(column)s 列（%(path)s）：%(reason)s",
                            line=problem.line,
                            column=problem.column or 1,
                            path=where,
                            reason=reason,
                        ),
                    )
                )
            else:
                errors.append(
                    ("draft_text", _("草稿（%(path)s）：%(reason)s", path=where, reason=reason))
                )
        return errors, None
    if as_of is not None:
        try:
            baseline_of(draft, as_of)
        except Invalid as error:
            errors.append(("as_of", reason_of(error)))
    if errors or as_of is None:
        return errors, None
    return [], {
        "draft_text": form.draft_text,
        "draft_name": form.draft_name,
        "as_of": as_of.isoformat(),
        "thresholds": thresholds,
    }


def reason_of(error: LuodiError) -> str:
    if error.details:
        problem = error.details[0]
        return in_language(problem.reason_zh, problem.reason_en)
    return in_language(error.message_zh, error.message_en)


def form_page(
    request: Request,
    actor: Actor,
    session: Session,
    form: WhatIfForm,
    errors: Errors | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    current = current_version()
    recent = jobs.list_jobs(actor, session, KIND, RECENT_JOBS)
    return render(
        request,
        actor,
        "console/whatif/index.html",
        {
            "form": form,
            "errors": errors or [],
            "field_errors": {field: text for field, text in errors or [] if field},
            "current": current,
            "jobs": recent,
            "job_states": JOB_STATES,
            "max_draft": MAX_DRAFT,
        },
        status_code=status_code,
    )


@router.get("", response_class=HTMLResponse)
def whatif_index(
    request: Request, actor: CurrentActor, session: DbSession, copy: str | None = None
) -> HTMLResponse:
    """The form; ``?copy=<policy id>`` fills the text with the version in force today."""
    whatif_actor(actor)
    copied = current_version(copy) if copy else None
    if copy and copied is None:
        raise NotFound(f"没有施行中的策略 {copy}", f"no policy {copy} in force")
    return form_page(request, actor, session, default_form(copied))


@router.post("", response_class=HTMLResponse, response_model=None)
async def start_whatif(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    draft_file: Annotated[UploadFile | None, File()] = None,
    draft_text: Annotated[str, Form(max_length=MAX_DRAFT + 10_000)] = "",
    draft_name: Annotated[str, Form(max_length=255)] = "draft.yaml",
    as_of: Annotated[str, Form(max_length=40)] = "",
    thresholds: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    whatif_actor(actor)
    check_form(request, csrf_token)
    errors: Errors = []
    name = (draft_name or "draft.yaml").strip()[:255] or "draft.yaml"
    if draft_file is not None and draft_file.filename:
        content = await draft_file.read(MAX_DRAFT * 4 + 1)
        if len(content) > MAX_DRAFT * 4:  # more bytes than any draft's characters take
            errors.append(
                ("draft_file", _("草稿太长（最多 %(most)s 个字符）", most=number(MAX_DRAFT)))
            )
        else:
            try:
                # An uploaded file replaces the text; after an error the text shown is the file's.
                draft_text = content.decode("utf-8-sig")
                name = draft_file.filename[:255]
            except UnicodeDecodeError:
                errors.append(("draft_file", _("草稿文件不是 UTF-8 编码")))
            if not draft_file.filename.lower().endswith(DRAFT_SUFFIXES):
                errors.append(("draft_file", _("草稿应为 YAML 文件（.yaml 或 .yml）")))
    form = WhatIfForm(draft_text.replace("\r\n", "\n"), name, as_of, thresholds)
    params = None
    if not errors:
        errors, params = check_whatif_form(form)
    if not errors and params is not None:
        try:
            job = jobs.submit(actor, session, KIND, params)
        except Invalid as error:
            errors = [(None, reason_of(error))]
        else:
            return done(f"/console/policies/whatif/jobs/{job.id}", _("政策试算已提交，正在排队"))
    return form_page(request, actor, session, form, errors, 422)


def _whatif_job(actor: Actor, session: Session, job_id: int) -> Job:
    job = jobs.get_job(actor, session, job_id)
    if job.kind != KIND:
        raise NotFound(f"没有政策试算任务 {job_id}", f"no what-if job {job_id}")
    return job


def town_label(row: dict[str, Any]) -> str:
    return str(row.get("town_name") or row.get("town_code") or _("未登记镇街"))


def coloured_bars(
    x_axis: dict[str, Any], y_name: str, series: list[tuple[str, str, list[Any]]]
) -> dict[str, Any]:
    """A bar chart whose series take the colour of the band they stand for (gain, loss,
    unchanged): the threshold crossings and the school effect."""
    return {
        "aria": {"enabled": True},
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0},
        "grid": {"left": 8, "right": 8, "bottom": 8, "top": 40, "containLabel": True},
        "xAxis": x_axis,
        "yAxis": {"type": "value", "name": y_name},
        "series": [
            {"name": name, "type": "bar", "itemStyle": {"color": BAND_COLOURS[band]}, "data": data}
            for name, band, data in series
        ],
    }


def results_context(result: dict[str, Any]) -> dict[str, Any]:
    """The charts (ECharts options) and their tables, in the page's language."""
    bands = [_(BAND_WORDS[band]) for band in BANDS]
    towns = result["by_town"]
    town_chart = {
        "aria": {"enabled": True},
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "legend": {"top": 0},
        "grid": {"left": 8, "right": 16, "bottom": 8, "top": 56, "containLabel": True},
        "xAxis": {"type": "value", "name": _("人数")},
        # The first town on top, as in the table.
        "yAxis": {"type": "category", "inverse": True, "data": [town_label(row) for row in towns]},
        "series": [
            {
                "name": label,
                "type": "bar",
                "stack": "bands",
                "itemStyle": {"color": BAND_COLOURS[band]},
                "data": [row[band] for row in towns],
            }
            for band, label in zip(BANDS, bands, strict=True)
        ],
    }
    width = result["histogram_width"]
    bars = result["histogram"]
    labels = [f"{number(bar['start'])}–{number(bar['start'] + width)}" for bar in bars]
    distribution_chart = {
        "aria": {"enabled": True},
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0},
        "grid": {"left": 8, "right": 8, "bottom": 28, "top": 40, "containLabel": True},
        "xAxis": {"type": "category", "data": labels, "name": _("总分")},
        "yAxis": {"type": "value", "name": _("人数")},
        "series": [
            {"name": _("现行"), "type": "bar", "data": [bar["old"] for bar in bars]},
            {"name": _("草稿"), "type": "bar", "data": [bar["new"] for bar in bars]},
        ],
    }
    crossings = result["crossings"]
    crossing_chart = coloured_bars(
        {
            "type": "category",
            "data": [_("%(points)s 分", points=number(row["threshold"])) for row in crossings],
        },
        _("人数"),
        [
            (_("跨过"), "gain_more", [row["up"] for row in crossings]),
            (_("跌落"), "lose_more", [row["down"] for row in crossings]),
        ],
    )
    context: dict[str, Any] = {
        "summary": result["summary"]["en" if language() == "en" else "zh"],
        "band_headers": bands,
        "town_chart": town_chart,
        "town_rows": [
            [town_label(row), number(row["residents"]), *[number(row[band]) for band in BANDS]]
            for row in towns
        ],
        "overall_row": [number(result["residents"]), *[number(result["bands"][b]) for b in BANDS]],
        "origin_rows": [
            [
                row["origin_province"] or _("未知"),
                number(row["residents"]),
                *[number(row[band]) for band in BANDS],
            ]
            for row in result["by_origin"]
        ],
        "distribution_chart": distribution_chart,
        "distribution_rows": [
            [label, number(bar["old"]), number(bar["new"])]
            for label, bar in zip(labels, bars, strict=True)
        ],
        "histogram_width": number(width),
        "crossing_chart": crossing_chart,
        "crossing_rows": [
            [
                number(row["threshold"]),
                number(row["old"]),
                number(row["new"]),
                number(row["up"]),
                number(row["down"]),
            ]
            for row in crossings
        ],
        "school": None,
        "school_note": None,
    }
    school = result["school"]
    if school is None:
        note = result["school_note"] or {"zh": "", "en": ""}
        context["school_note"] = in_language(note["zh"], note["en"])
        return context
    school_towns = school["by_town"]
    context["school"] = school
    context["school_chart"] = coloured_bars(
        {
            "type": "category",
            "data": [town_label(row) for row in school_towns],
            "axisLabel": {"interval": 0, "rotate": 30},
        },
        _("儿童"),
        [
            (_("获得学位"), "gain_more", [row["gained"] for row in school_towns]),
            (_("失去学位"), "lose_more", [row["lost"] for row in school_towns]),
            (_("换校"), "same", [row["moved"] for row in school_towns]),
        ],
    )
    context["school_rows"] = [
        [town_label(row), number(row["gained"]), number(row["lost"]), number(row["moved"])]
        for row in school_towns
    ]
    context["cutoff_rows"] = [
        [
            row["name"] or row["target_id"],
            number(row["capacity"]),
            number(row["placed_old"]),
            number(row["placed_new"]),
            number(row["cutoff_old"]) or "—",
            number(row["cutoff_new"]) or "—",
        ]
        for row in school["schools"]
    ]
    return context


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(
    job_id: ObjectId, request: Request, actor: CurrentActor, session: DbSession
) -> HTMLResponse:
    """A what-if's progress and, once done, its results: the whole page, or (asked by HTMX
    every second while it runs) only the block that changes."""
    whatif_actor(actor)
    job = _whatif_job(actor, session, job_id)
    context: dict[str, Any] = {"job": job, "job_states": JOB_STATES}
    if job.state == "done" and job.result:
        context.update(results_context(job.result))
    template = (
        "console/whatif/job.html"
        if request.headers.get("hx-request") == "true"
        else "console/whatif/job_page.html"
    )
    return render(request, actor, template, context)


@router.get("/jobs/{job_id}/whatif.xlsx")
def job_workbook(job_id: ObjectId, actor: CurrentActor, session: DbSession) -> Response:
    """The workbook of a finished what-if, made from its kept result."""
    whatif_actor(actor)
    job = _whatif_job(actor, session, job_id)
    if job.state != "done" or not job.result:
        raise NotFound(f"政策试算任务 {job_id} 尚未完成", f"what-if job {job_id} is not done")
    return Response(
        workbook(job.result),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="whatif-{job.id}.xlsx"'},
    )
