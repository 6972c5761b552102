"""The console's allocation runs: a cycle's runs (``/console/cycles/{id}/runs``, the fragment
the cycle page loads, or a page of its own), starting a run as a job with its progress, a
run's page (results by outcome, choice rank and town as charts with their tables, the masked
list a page at a time, the difference to the previous run), and the two irreversible steps
after it, each behind a confirmation page: publishing the notice (公示; public rental's 资格公示
first) and finalising (定案). Which runs a role reads is ``allocation.repository``; what it may
do is each service's ``require`` (a reviewer reads the own department's runs and does none of
the three)."""

from __future__ import annotations

import json
import secrets
from datetime import date
from typing import Annotated, Any

import polars as pl
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from luodi import workdays
from luodi.allocation import service as allocation
from luodi.allocation.models import AllocationRun, Outcome
from luodi.auth.actor import Actor, Role
from luodi.auth.permissions import acts_as
from luodi.errors import Forbidden, Invalid, LuodiError, NotFound
from luodi.jobs import service as jobs
from luodi.jobs.models import Job, JobState
from luodi.kernels.allocation.terms import Method
from luodi.notices import service as notices
from luodi.notices.models import Notice, NoticeKind, NoticeStatus
from luodi.programs import catalog
from luodi.programs import service as programs
from luodi.programs.models import ProgramCycle
from luodi.programs.spec import ProgramKind
from luodi.web import i18n
from luodi.web.dependencies import CurrentActor, DbSession
from luodi.web.i18n import N_, _
from luodi.web.params import MAX_ID, ObjectId
from luodi.web.rendering import check_form, console_actor, done, number, render

router = APIRouter()

AREA = "cycles"
PAGE_ROWS = 50
DIFF_ROWS = 100
MAX_SEED = 100
"""A run keeps its seed in 100 characters (``allocation_runs.seed``)."""
PageNumber = Annotated[int, Query(ge=1, le=MAX_ID)]
FormToken = Annotated[str, Form(max_length=100)]

PLACED_WORDS = {
    ProgramKind.SCHOOL_ADMISSION: N_("录取"),
    ProgramKind.PUBLIC_HOUSING: N_("配租"),
    ProgramKind.QUOTA_BENEFIT: N_("核准"),
    ProgramKind.TIERED_BENEFIT: N_("核准"),
    ProgramKind.ENTITLEMENT: N_("核准"),
}
OUTCOME_WORDS = {
    Outcome.SUBSIDY: N_("租赁补贴"),
    Outcome.WAITLISTED: N_("轮候"),
    Outcome.UNPLACED: N_("未安排（名额已满）"),
    Outcome.INELIGIBLE: N_("不符合条件"),
}
OUTCOME_ORDER = (
    Outcome.PLACED,
    Outcome.SUBSIDY,
    Outcome.WAITLISTED,
    Outcome.UNPLACED,
    Outcome.INELIGIBLE,
)
OUTCOME_COLOURS = {
    Outcome.PLACED: "#1e7b34",
    Outcome.SUBSIDY: "#4f8f5f",
    Outcome.WAITLISTED: "#c98a00",
    Outcome.UNPLACED: "#7b8794",
    Outcome.INELIGIBLE: "#a40000",
}
"""The same colour for an outcome in every chart (the tables beside them carry the words)."""
OUTCOME_CLASSES = {
    Outcome.PLACED: "ok",
    Outcome.SUBSIDY: "ok",
    Outcome.WAITLISTED: "warn",
    Outcome.UNPLACED: "warn",
    Outcome.INELIGIBLE: "bad",
}
METHOD_WORDS = {
    Method.DEFERRED_ACCEPTANCE.value: N_("延迟接受（志愿优先、积分排序）"),
    Method.SERIAL_DICTATORSHIP.value: N_("顺序选择（按排名依次选房）"),
    Method.RANKED_QUOTA.value: N_("按名额排序录取"),
    Method.LOTTERY.value: N_("摇号（组内随机顺序）"),
    "entitlement": N_("逐一核准（无名额）"),
    "tiers": N_("分档核准"),
}
NOTICE_KIND_WORDS = {
    NoticeKind.ALLOCATION: N_("分配结果公示"),
    NoticeKind.QUALIFICATION: N_("资格审核结果公示"),
    NoticeKind.SCORING: N_("积分排名公示"),
}
NOTICE_STATUS_WORDS = {NoticeStatus.OPEN: N_("公示中"), NoticeStatus.FINAL: N_("已确定")}
JOB_STATE_WORDS = {
    JobState.QUEUED: N_("排队中"),
    JobState.RUNNING: N_("运行中"),
    JobState.DONE: N_("已完成"),
    JobState.FAILED: N_("失败"),
}


def outcome_word(kind: ProgramKind, outcome: str) -> str:
    if outcome == Outcome.PLACED:
        return _(PLACED_WORDS[kind])
    word = OUTCOME_WORDS.get(outcome)  # type: ignore[call-overload]
    return _(word) if word else outcome


def is_fragment(request: Request) -> bool:
    """Asked by HTMX (the cycle page loading its runs): the fragment, not a whole page."""
    return request.headers.get("hx-request") == "true"


def may_act(actor: Actor) -> bool:
    """Whether to offer starting, publishing and finalising (the services still decide)."""
    return acts_as(actor, Role.ADMIN, Role.OPERATOR)


def default_seed() -> str:
    """A seed nobody could know before the run (published with it): today and six random
    hex digits; the operator may keep it or write the one announced beforehand."""
    return f"{workdays.today():%Y%m%d}-{secrets.token_hex(3)}"


def job_view(job: Job) -> dict[str, Any]:
    """A job as the progress macro reads it, with its state in words."""
    return {
        "id": job.id,
        "state": job.state,
        "state_word": _(JOB_STATE_WORDS.get(JobState(job.state), N_("排队中"))),
        "phase_zh": job.phase_zh,
        "phase_en": job.phase_en,
        "done": job.done,
        "total": job.total,
        "error_zh": job.error_zh,
        "error_en": job.error_en,
        "result": job.result or {},
    }


def cycle_jobs(actor: Actor, session: DbSession, cycle_id: int) -> list[Job]:
    """The cycle's allocations still queued or running (their bars survive a reload), and
    the last one if it failed (it says why)."""
    of_cycle = [
        job
        for job in jobs.list_jobs(actor, session, "allocate", 50)
        if job.params.get("cycle_id") == cycle_id
    ]
    shown = [job for job in of_cycle if job.state in (JobState.QUEUED, JobState.RUNNING)]
    if of_cycle and of_cycle[0].state == JobState.FAILED:
        shown.append(of_cycle[0])
    return shown


def run_summary(run: AllocationRun, kind: ProgramKind) -> list[tuple[str, int]]:
    """The run's counts by outcome (as the run recorded them), in words."""
    summary = json.loads(run.summary or "{}")
    return [
        (outcome_word(kind, outcome), int(summary.get(outcome.value, 0)))
        for outcome in OUTCOME_ORDER
        if summary.get(outcome.value)
    ]


def _cycle_context(
    request: Request,
    actor: Actor,
    session: DbSession,
    cycle: ProgramCycle,
    runs: list[AllocationRun],
    seed: str | None = None,
    errors: dict[str, str] | None = None,
) -> dict[str, Any]:
    kind = catalog.cycle_spec(cycle).kind
    cycle_notices = notices.cycle_notices(actor, session, cycle.id)
    return {
        "cycle": cycle,
        "spec": catalog.cycle_spec(cycle),
        "runs": [(run, run_summary(run, kind)) for run in runs],
        "jobs": [job_view(job) for job in cycle_jobs(actor, session, cycle.id)],
        "may_act": may_act(actor),
        "seed": default_seed() if seed is None else seed,
        "max_seed": MAX_SEED,
        "errors": errors or {},
        "error_list": [(f"{name}", text) for name, text in (errors or {}).items()],
        "notices": cycle_notices,
        "open_notice": next((n for n in cycle_notices if n.status == NoticeStatus.OPEN), None),
        "notice_kind_words": NOTICE_KIND_WORDS,
        "notice_status_words": NOTICE_STATUS_WORDS,
    }


@router.get("/console/cycles/{cycle_id}/runs", response_class=HTMLResponse)
def cycle_runs(
    cycle_id: ObjectId, request: Request, actor: CurrentActor, session: DbSession
) -> HTMLResponse:
    """The cycle's runs and the start of a new one: a fragment for HTMX, else a page."""
    console_actor(actor, AREA)
    fragment = is_fragment(request)
    try:
        cycle, runs = allocation.cycle_runs(actor, session, cycle_id)
    except Forbidden:
        if not fragment:
            raise
        # A role of the area that reads no runs (town staff): the cycle page says so.
        response = render(request, actor, "console/runs/no_runs.html", {})
        response.headers["Vary"] = "HX-Request"
        return response
    context = _cycle_context(request, actor, session, cycle, runs)
    template = "console/runs/_cycle_runs.html" if fragment else "console/runs/cycle_runs.html"
    response = render(request, actor, template, context)
    response.headers["Vary"] = "HX-Request"
    return response


@router.post("/console/cycles/{cycle_id}/runs", response_class=HTMLResponse, response_model=None)
def start_run(
    cycle_id: ObjectId,
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    seed: Annotated[str, Form(max_length=1000)] = "",
    csrf_token: FormToken = "",
) -> Response:
    """Queue an allocation of the cycle (a job); its progress page follows it."""
    console_actor(actor, AREA)
    check_form(request, csrf_token)
    cycle, runs = allocation.cycle_runs(actor, session, cycle_id)
    seed = seed.strip()
    problem = None
    if not seed:
        problem = _("请填写摇号种子（公开发布，任何人可据此复算）")
    elif len(seed) > MAX_SEED:
        problem = _("摇号种子最多 %(n)s 个字符", n=MAX_SEED)
    if problem is None:
        try:
            job = jobs.submit(actor, session, "allocate", {"cycle_id": cycle.id, "seed": seed})
        except Invalid as error:
            problem = i18n.error_message(error)
        else:
            return done(f"/console/runs/jobs/{job.id}", _("已开始分配，完成后显示结果"))
    context = _cycle_context(request, actor, session, cycle, runs, seed, {"seed": problem})
    return render(request, actor, "console/runs/cycle_runs.html", context, status_code=422)


@router.get("/console/runs/jobs/{job_id}", response_class=HTMLResponse, response_model=None)
def job_progress(
    job_id: ObjectId, request: Request, actor: CurrentActor, session: DbSession
) -> Response:
    """An allocation's progress: the bar (a fragment polled every second, or a page that
    survives a reload); once done, the run's page."""
    console_actor(actor, AREA)
    job = jobs.get_job(actor, session, job_id)
    if job.kind != "allocate":
        raise NotFound(f"没有分配任务 {job_id}", f"no allocation job {job_id}")
    view = job_view(job)
    run_id = view["result"].get("run_id")
    if job.state == JobState.DONE and run_id:
        target = f"/console/runs/{run_id}"
        if is_fragment(request):
            response: Response = HTMLResponse("", headers={"HX-Redirect": target})
            return response
        return RedirectResponse(target, status_code=303)
    context = {"job": view, "cycle_id": job.params.get("cycle_id")}
    template = "console/runs/_job.html" if is_fragment(request) else "console/runs/job.html"
    response = render(request, actor, template, context)
    response.headers["Vary"] = "HX-Request"
    return response


def _tallies(
    actor: Actor, session: DbSession, run: AllocationRun, kind: ProgramKind
) -> dict[str, Any]:
    """The run's results counted three ways (outcome, the applicant's own choice rank of the
    place, the applicant's town), each as an ECharts option and the table beside it."""
    tallies = allocation.result_tallies(actor, session, run.id)
    town_names = dict(tallies.select("town_code", "town").unique().drop_nulls().iter_rows())
    present = [o for o in OUTCOME_ORDER if o.value in set(tallies["outcome"].to_list())]
    words = {o.value: outcome_word(kind, o.value) for o in present}

    counted = dict(tallies.group_by("outcome").agg(pl.col("results").sum()).iter_rows())
    outcome_rows = [[words[o.value], counted[o.value]] for o in present]
    total = int(tallies["results"].sum() or 0)
    outcome_table = [
        [word, f"{count:,}", f"{count * 100 / total:.1f}%" if total else "—"]
        for word, count in outcome_rows
    ]
    outcome_chart = {
        "tooltip": {"trigger": "item"},
        "series": [
            {
                "type": "pie",
                "radius": ["35%", "65%"],
                "data": [
                    {"name": words[o.value], "value": counted[o.value]}
                    | {"itemStyle": {"color": OUTCOME_COLOURS[o]}}
                    for o in present
                ],
            }
        ],
    }

    placed = allocation.stored_results(actor, session, run.id, Outcome.PLACED)
    ranks = notices.own_choice_ranks(actor, session, run.id, placed)
    placed = placed.drop("choice_rank").join(ranks, on="application_id", how="left")
    town_placed = placed.filter(pl.col("town_placement").fill_null(False))
    chosen = (
        placed.filter(~pl.col("town_placement").fill_null(False))
        .group_by("choice_rank")
        .len()
        .sort("choice_rank", nulls_last=True)
    )
    rank_rows: list[list[Any]] = [
        [_("第 %(n)s 志愿", n=rank) if rank is not None else _("不按志愿（名单）"), count]
        for rank, count in chosen.iter_rows()
    ]
    if town_placed.height:
        rank_rows.append([_("镇街统筹安排"), town_placed.height])
    rank_chart = {
        "tooltip": {"trigger": "axis"},
        "xAxis": {"type": "category", "data": [label for label, _c in rank_rows]},
        "yAxis": {"type": "value", "minInterval": 1},
        "series": [{"type": "bar", "data": [count for _l, count in rank_rows]}],
    }

    by_town = (
        tallies.with_columns(pl.col("town_code").fill_null(""))
        .group_by("town_code", "outcome")
        .agg(pl.col("results").sum())
    )
    towns = sorted(
        set(by_town["town_code"].to_list()),
        key=lambda code: (code == "", town_names.get(code, code)),
    )
    cell = {(code, outcome): count for code, outcome, count in by_town.iter_rows()}
    town_label = {code: town_names.get(code, code) or _("不详") for code in towns}
    town_rows = [
        [
            town_label[code],
            *[f"{cell.get((code, o.value), 0):,}" for o in present],
            f"{sum(cell.get((code, o.value), 0) for o in present):,}",
        ]
        for code in towns
    ]
    town_chart = {
        "tooltip": {"trigger": "axis"},
        "legend": {"type": "scroll"},
        "grid": {"containLabel": True},
        "xAxis": {"type": "value", "minInterval": 1},
        "yAxis": {"type": "category", "data": [town_label[code] for code in towns]},
        "series": [
            {
                "type": "bar",
                "stack": "total",
                "name": words[o.value],
                "itemStyle": {"color": OUTCOME_COLOURS[o]},
                "data": [cell.get((code, o.value), 0) for code in towns],
            }
            for o in present
        ],
    }
    return {
        "total": total,
        "outcome": (outcome_chart, [_("结果"), _("人数"), _("占比")], outcome_table),
        "rank": (rank_chart, [_("志愿"), _("人数")], [[r[0], f"{r[1]:,}"] for r in rank_rows]),
        "town": (
            town_chart,
            [_("镇街"), *[words[o.value] for o in present], _("合计")],
            town_rows,
        ),
        "town_height": max(240, 40 + 32 * len(towns)),
    }


def _diff_rows(
    actor: Actor, session: DbSession, run: AllocationRun, kind: ProgramKind, page: int
) -> tuple[list[dict[str, Any]], set[int], int]:
    """The applications whose result changed since the previous run (``run_diff``): a page
    of them, with the outcome in words and the school or flat by its name, the ids of all of
    them, and the number of pages."""
    if run.previous_run_id is None:
        return [], set(), 1
    changed = allocation.run_diff(actor, session, run.id).sort("application_id")
    target_names = {
        t.target_id: t.name for t in programs.published_targets(actor, session, run.cycle_id)
    }

    def said(text: str | None) -> str:
        outcome, _sep, target = (text or "—").partition(" ")
        if outcome == "—":
            return _("（不在该批次）")
        words = outcome_word(kind, outcome)
        return f"{words} · {target_names.get(target, target)}" if target else words

    pages = max(1, -(-changed.height // DIFF_ROWS))
    page = min(page, pages)
    shown = changed.slice((page - 1) * DIFF_ROWS, DIFF_ROWS)
    rows = [
        {
            "application_id": row["application_id"],
            "name": row["name"] or "",
            "before": said(row["before"]),
            "after": said(row["after"]),
        }
        for row in shown.iter_rows(named=True)
    ]
    return rows, set(changed["application_id"].to_list()), pages


def _run_notices(actor: Actor, session: DbSession, run: AllocationRun) -> list[dict[str, Any]]:
    return [
        {
            "notice": notice,
            "kind": _(NOTICE_KIND_WORDS[NoticeKind(notice.kind)]),
            "status": _(NOTICE_STATUS_WORDS[NoticeStatus(notice.status)]),
            "objections": notices.objection_counts(session, notice.id),
        }
        for notice in notices.cycle_notices(actor, session, run.cycle_id)
    ]


@router.get("/console/runs/{run_id}", response_class=HTMLResponse)
def run_page(
    run_id: ObjectId,
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    page: PageNumber = 1,
    diff_page: PageNumber = 1,
) -> HTMLResponse:
    console_actor(actor, AREA)
    run = allocation.get_run(actor, session, run_id)
    cycle, runs = allocation.cycle_runs(actor, session, run.cycle_id)
    spec = catalog.cycle_spec(cycle)
    kind = spec.kind
    tallies = _tallies(actor, session, run, kind)
    pages = max(1, -(-tallies["total"] // PAGE_ROWS))
    page = min(page, pages)
    total, listed = allocation.run_results_page(
        actor, session, run.id, (page - 1) * PAGE_ROWS, PAGE_ROWS
    )
    ranks = notices.own_choice_ranks(actor, session, run.id, listed)
    listed = listed.drop("choice_rank").join(
        ranks, on="application_id", how="left", maintain_order="left"
    )
    diff, changed_ids, diff_pages = _diff_rows(actor, session, run, kind, diff_page)
    english = i18n.language() == "en"
    rows = [
        {
            **row,
            "outcome_word": outcome_word(kind, row["outcome"]),
            "outcome_class": OUTCOME_CLASSES.get(row["outcome"], ""),
            "reason": row["reason_en"] if english else row["reason_zh"],
            "changed": row["application_id"] in changed_ids,
        }
        for row in listed.iter_rows(named=True)
    ]
    cycle_notices = _run_notices(actor, session, run)
    open_notice = next(
        (item["notice"] for item in cycle_notices if item["notice"].status == NoticeStatus.OPEN),
        None,
    )
    latest = runs[0] if runs else run
    return render(
        request,
        actor,
        "console/runs/run.html",
        {
            "run": run,
            "cycle": cycle,
            "spec": spec,
            "runs": runs,
            "is_latest": latest.id == run.id,
            "method_word": _(METHOD_WORDS[run.method])
            if run.method in METHOD_WORDS
            else run.method,
            "tallies": tallies,
            "rows": rows,
            "total": total,
            "page": page,
            "pages": pages,
            "has_children": any(row["child_name"] for row in rows),
            "diff": diff,
            "diff_total": len(changed_ids),
            "diff_page": min(diff_page, diff_pages),
            "diff_pages": diff_pages,
            "notices": cycle_notices,
            "open_notice": open_notice,
            "objections": sum(sum(item["objections"].values()) for item in cycle_notices),
            "may_act": may_act(actor),
            "final": run.final,
        },
    )


def _qualification(actor: Actor, session: DbSession, run_id: int) -> bool:
    """Public rental publishes its qualified list (资格公示) first: what the service says."""
    return notices.needs_qualification(actor, session, run_id)


def _publish_context(
    actor: Actor, session: DbSession, run_id: int, error: LuodiError | None = None
) -> dict[str, Any]:
    run = allocation.get_run(actor, session, run_id)
    qualification = _qualification(actor, session, run.id)
    preview = None
    refusal = error
    if refusal is None:
        try:
            preview = notices.publish_preview(actor, session, run.id, qualification)
        except Forbidden:
            raise
        except LuodiError as refused:
            refusal = refused
    return {
        "run": run,
        "qualification": qualification,
        "preview": preview,
        "kind_word": _(NOTICE_KIND_WORDS[preview.kind]) if preview else "",
        "error": i18n.error_message(refusal) if refusal else None,
    }


@router.get("/console/runs/{run_id}/publish", response_class=HTMLResponse)
def publish_page(
    run_id: ObjectId, request: Request, actor: CurrentActor, session: DbSession
) -> HTMLResponse:
    """What publishing will make public (title, rows, the period's dates), before it is."""
    console_actor(actor, AREA)
    context = _publish_context(actor, session, run_id)
    status = 409 if context["error"] else 200
    return render(request, actor, "console/runs/publish.html", context, status_code=status)


@router.post("/console/runs/{run_id}/publish", response_class=HTMLResponse, response_model=None)
def publish(
    run_id: ObjectId,
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    csrf_token: FormToken = "",
) -> Response:
    console_actor(actor, AREA)
    check_form(request, csrf_token)
    run = allocation.get_run(actor, session, run_id)
    qualification = _qualification(actor, session, run.id)
    try:
        notice = notices.publish(
            actor, session, allocation_run_id=run.id, qualification=qualification
        )
    except Forbidden:
        raise
    except LuodiError as error:
        context = _publish_context(actor, session, run.id, error)
        return render(
            request, actor, "console/runs/publish.html", context, status_code=error.status
        )
    message = _(
        "已发布公示 %(title)s（%(rows)s 条，%(start)s 至 %(end)s）",
        title=notice.title,
        rows=number(notice.row_count),
        start=notice.starts_on.isoformat(),
        end=notice.ends_on.isoformat(),
    )
    return done(f"/console/runs/{run.id}", message)


def _finalize_context(
    actor: Actor, session: DbSession, run_id: int, error: str | None = None
) -> dict[str, Any]:
    run = allocation.get_run(actor, session, run_id)
    cycle, _runs = allocation.cycle_runs(actor, session, run.cycle_id)
    notice = _open_notice(actor, session, run.cycle_id)
    return {
        "run": run,
        "cycle": cycle,
        "notice": notice,
        "kind_word": _(NOTICE_KIND_WORDS[NoticeKind(notice.kind)]) if notice else "",
        "objections": notices.objection_counts(session, notice.id) if notice else {},
        "error": error,
        "today": date.today(),
    }


def _open_notice(actor: Actor, session: DbSession, cycle_id: int) -> Notice | None:
    """The cycle's notice still open (an allocation's, or public rental's qualified list)."""
    return next(
        (n for n in notices.cycle_notices(actor, session, cycle_id) if n.status == "open"), None
    )


@router.get("/console/runs/{run_id}/finalize", response_class=HTMLResponse)
def finalize_page(
    run_id: ObjectId, request: Request, actor: CurrentActor, session: DbSession
) -> HTMLResponse:
    """Finalising (定案) states what becomes final before it does."""
    console_actor(actor, AREA)
    context = _finalize_context(actor, session, run_id)
    if not may_act(actor):
        # The page is a step of finalising, which ``notices.finalize`` refuses to this role.
        raise Forbidden("只有服务中心经办和管理员可以定案", "only the service centre finalises")
    return render(request, actor, "console/runs/finalize.html", context)


@router.post("/console/runs/{run_id}/finalize", response_class=HTMLResponse, response_model=None)
def finalize(
    run_id: ObjectId,
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    csrf_token: FormToken = "",
) -> Response:
    console_actor(actor, AREA)
    check_form(request, csrf_token)
    run = allocation.get_run(actor, session, run_id)
    notice = _open_notice(actor, session, run.cycle_id)
    try:
        if notice is None:
            # Says why: not published yet, or already final.
            final = notices.finalize_cycle(actor, session, run.cycle_id)
        else:
            final = notices.finalize(actor, session, notice.id)
    except Forbidden:
        raise
    except LuodiError as error:
        context = _finalize_context(actor, session, run.id, i18n.error_message(error))
        return render(
            request, actor, "console/runs/finalize.html", context, status_code=error.status
        )
    message = _("已定案：%(title)s", title=final.title)
    return done(f"/console/runs/{run.id}", message)
