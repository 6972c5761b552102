"""``luodi job list | show | watch | run-pending``: the jobs the pages and the CLI queue, with
the same progress the pages show (a Rich bar)."""

from __future__ import annotations

import json
import threading
import time
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from luodi.auth.actor import SYSTEM_ACTOR
from luodi.console import console
from luodi.db import ready_engine, session_scope
from luodi.errors import Invalid, LuodiError
from luodi.jobs import service, worker
from luodi.jobs.handlers import HANDLERS
from luodi.jobs.models import STATE_LABELS, JobState
from luodi.jobs.schemas import JobRead

job_app = typer.Typer(
    help="后台任务：计分、分配、导入的进度 / background jobs", no_args_is_help=True
)
WATCH_SECONDS = 0.5


def _kind(kind: str) -> str:
    handler = HANDLERS.get(kind)
    return f"{handler.label[0]} {kind}" if handler else kind


def _state(state: str) -> str:
    zh, en = STATE_LABELS.get(JobState(state), (state, state))
    return f"{zh} {en}"


def _progress(job: JobRead) -> str:
    if job.total <= 0:
        return job.phase
    return f"{job.phase} {job.done:,}/{job.total:,}"


def _read(job_id: int) -> JobRead:
    with session_scope() as session:
        return JobRead.model_validate(service.get_job(SYSTEM_ACTOR, session, job_id))


@job_app.command("list")
def job_list(
    kind: Annotated[str | None, typer.Option("--kind", help="任务类型 / kind")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=200)] = 20,
) -> None:
    """最近的任务 / the latest jobs."""
    with session_scope() as session:
        jobs = [
            JobRead.model_validate(job)
            for job in service.list_jobs(SYSTEM_ACTOR, session, kind, limit)
        ]
    table = Table("id", "类型 kind", "状态 state", "进度 progress", "提交人 by", "提交时间 at")
    for job in jobs:
        table.add_row(
            str(job.id),
            _kind(job.kind),
            _state(job.state),
            escape(_progress(job)),
            escape(job.created_by),
            f"{job.created_at:%Y-%m-%d %H:%M:%S}",
        )
    console.print(table)


@job_app.command("show")
def job_show(job_id: Annotated[int, typer.Argument(help="任务 id")]) -> None:
    """一个任务的参数、进度、结果或错误 / one job in full."""
    job = _read(job_id)
    console.print(
        f"任务 job {job.id} · {_kind(job.kind)} · {_state(job.state)} · "
        f"{escape(job.created_by)} {job.created_at:%Y-%m-%d %H:%M:%S}",
        highlight=False,
    )
    console.print(f"参数 params: {json.dumps(job.params, ensure_ascii=False)}", highlight=False)
    console.print(f"进度 progress: {escape(_progress(job))}", highlight=False)
    if job.result is not None:
        shown = {key: value for key, value in job.result.items() if key != "rejections"}
        console.print(f"结果 result: {json.dumps(shown, ensure_ascii=False)}", highlight=False)
    if job.state == JobState.FAILED:
        console.print(
            f"[red]错误 error[/] {escape(job.error_zh or '')} / {escape(job.error_en or '')}",
            highlight=False,
        )
        for problem in (job.error_details or [])[:10]:
            console.print(f"  - {problem}", highlight=False, markup=False)


def _failed(job: JobRead) -> LuodiError:
    return LuodiError(
        f"任务 {job.id} 失败：{job.error_zh or ''}", f"job {job.id} failed: {job.error_en or ''}"
    )


def follow(job_id: int, interval: float = WATCH_SECONDS) -> JobRead:
    """Follow a job with a progress bar until it ends; its last state."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    job = _read(job_id)
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(escape(job.phase), total=None)
        while True:
            bar.update(
                task,
                description=escape(job.phase),
                completed=job.done,
                total=job.total if job.total > 0 else None,
            )
            if job.finished:
                break
            time.sleep(interval)
            job = _read(job_id)
    return job


def _params(pairs: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key.strip():
            raise Invalid.field(
                "--param", pair, "应写作 名称=值", "write it as name=value (cycle_id=3)"
            )
        params[key.strip()] = value
    return params


@job_app.command("submit")
def job_submit(
    kind: Annotated[str, typer.Argument(help="score | allocate | feed_import")],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="参数 名称=值，可重复 / name=value, repeatable"),
    ] = None,
    watch: Annotated[
        bool, typer.Option("--watch", help="排队后跟随进度 / follow it once queued")
    ] = False,
) -> None:
    """排队一个任务，由 luodi serve 或 luodi job run-pending 执行 / queue a job."""
    with session_scope() as session:
        job_id = service.submit(SYSTEM_ACTOR, session, kind, _params(param or [])).id
    console.print(f"任务 {job_id} 已排队 / job {job_id} queued", highlight=False)
    if watch:
        job = follow(job_id)
        if job.state == JobState.FAILED:
            raise _failed(job)


@job_app.command("watch")
def job_watch(
    job_id: Annotated[int, typer.Argument(help="任务 id")],
    interval: Annotated[
        float, typer.Option("--interval", min=0.1, help="刷新间隔（秒）")
    ] = WATCH_SECONDS,
) -> None:
    """跟随任务的进度直到完成；失败时退出码为 1 / follow a job until it ends."""
    job = follow(job_id, interval)
    if job.state == JobState.FAILED:
        raise _failed(job)
    console.print(
        f"任务 {job.id} 已完成 / done: {json.dumps(job.result, ensure_ascii=False)}"[:2000],
        highlight=False,
    )


@job_app.command("run-pending")
def job_run_pending() -> None:
    """在本进程中运行全部排队的任务（没有运行 luodi serve 时）/ run every queued job here."""
    engine = ready_engine()
    ran: list[int] = []
    while True:
        job_id = worker.claim(engine)
        if job_id is None:
            break
        # The work in a thread, the bar here: the same progress a page shows.
        running = threading.Thread(target=worker.run_job, args=(engine, job_id), daemon=True)
        running.start()
        job = follow(job_id)
        running.join()
        ran.append(job_id)
        if job.state == JobState.FAILED:
            console.print(
                f"任务 {job.id} {_kind(job.kind)}：[red]失败 failed[/] "
                f"{escape(job.error_zh or '')} / {escape(job.error_en or '')}",
                highlight=False,
            )
        else:
            console.print(f"任务 {job.id} {_kind(job.kind)}：完成 done", highlight=False)
    console.print(f"运行了 {len(ran)} 个任务 / ran {len(ran)} jobs", highlight=False)
