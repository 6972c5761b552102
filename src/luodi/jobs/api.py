"""Jobs over HTTP: submit long work (202, the job to follow), read its progress and outcome."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from luodi.jobs import service
from luodi.jobs.schemas import JobRead, JobSubmit
from luodi.web.dependencies import CurrentActor, DbSession
from luodi.web.params import ObjectId

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs 任务"])


@router.post("", status_code=202, response_model=JobRead)
def submit_job(body: JobSubmit, actor: CurrentActor, session: DbSession) -> JobRead:
    """提交任务（计分、分配、导入），排队后由后台执行 / queue long work; follow it by its id."""
    return JobRead.model_validate(service.submit(actor, session, body.kind, body.params))


@router.get("", response_model=list[JobRead])
def list_jobs(
    actor: CurrentActor,
    session: DbSession,
    kind: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> list[JobRead]:
    """可见的任务，最新在前 / the jobs you may read, newest first."""
    return [JobRead.model_validate(job) for job in service.list_jobs(actor, session, kind, limit)]


@router.get("/{job_id}", response_model=JobRead)
def get_job(job_id: ObjectId, actor: CurrentActor, session: DbSession) -> JobRead:
    """任务的状态、进度、结果或错误 / a job's state, progress, result or error."""
    return JobRead.model_validate(service.get_job(actor, session, job_id))
