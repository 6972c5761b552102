"""Submitting and reading jobs; the worker (``jobs/worker.py``) runs them.

``submit`` checks, in the caller's transaction, that the actor may ask for the work (the
handler's roles, then its ``authorize``: the object exists and is in reach) and that the
parameters are valid, then queues the job and audits it. The worker sees it once the caller
commits. Never commits.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any, BinaryIO

from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from luodi.audit import service as audit
from luodi.auth.actor import Actor, Role
from luodi.auth.permissions import require
from luodi.errors import FieldProblem, Invalid, NotFound, validation_reason
from luodi.files import safe_file_name
from luodi.jobs import live, repository
from luodi.jobs.handlers import HANDLERS, Handler, uploads_dir
from luodi.jobs.models import Job, JobState

QUEUED_PHASE = "排队等待 / waiting in the queue"
SIGNED_IN = tuple(role for role in Role if role != Role.PUBLIC)


def handler_for(kind: str) -> Handler:
    handler = HANDLERS.get(kind)
    if handler is None:
        raise Invalid.field(
            "kind", kind, f"应为以下之一：{', '.join(HANDLERS)}", f"one of {', '.join(HANDLERS)}"
        )
    return handler


def parse_params(handler: Handler, params: dict[str, Any]) -> BaseModel:
    """The parameters as the handler's model, or 422 naming each field (``params.cycle_id``)."""
    try:
        return handler.params.model_validate(params)
    except ValidationError as error:
        details = [
            FieldProblem(
                ".".join(["params", *(str(part) for part in problem["loc"])]),
                problem.get("input"),
                *validation_reason(problem),
            )
            for problem in error.errors()[:20]
        ]
        first = details[0]
        raise Invalid(
            f"任务参数无效：{first.describe('zh')}",
            f"the job's parameters are invalid: {first.describe('en')}",
            details,
        ) from None


def _prefixed(error: Invalid) -> Invalid:
    """An ``authorize`` refusal of one parameter, named as the submission names it."""
    details = [
        problem
        if problem.field.startswith("params.")
        else replace(problem, field=f"params.{problem.field}")
        for problem in error.details
    ]
    return Invalid(error.message_zh, error.message_en, details)


def submit(
    actor: Actor,
    session: Session,
    kind: str,
    params: dict[str, Any],
    *,
    department: str | None = None,
) -> Job:
    """Queue a job of ``kind`` for ``actor`` (403 when the actor may not ask for it, 404 when
    its object is out of reach, 422 naming the parameter that is wrong). ``department``: the
    department the job's object belongs to, when the caller knows better than the handler."""
    handler = handler_for(kind)
    require(actor, *handler.roles)
    parsed = parse_params(handler, params)
    try:
        reach = handler.authorize(actor, session, parsed)
    except Invalid as error:
        raise _prefixed(error) from None
    job = Job(
        kind=kind,
        params=parsed.model_dump(mode="json"),
        state=JobState.QUEUED,
        phase=QUEUED_PHASE,
        done=0,
        total=0,
        created_by=actor.username,
        created_role=str(actor.role),
        department=department or reach.department,
        town_id=reach.town_id,
    )
    session.add(job)
    session.flush()
    audit.record(
        session,
        actor,
        "job.submit",
        "job",
        job.id,
        detail={"kind": kind, "params": job.params, "department": job.department},
    )
    return job


def _with_live_progress(job: Job) -> Job:
    """A running job's progress as this process's worker knows it, when newer than the row
    (SQLite: the row cannot be written while the job holds the write lock). Set as loaded,
    never written back."""
    if job.state == JobState.RUNNING:
        now = live.current(job.id)
        if now is not None:
            set_committed_value(job, "phase", now.phase)
            set_committed_value(job, "done", now.done)
            set_committed_value(job, "total", now.total)
    return job


def get_job(actor: Actor, session: Session, job_id: int) -> Job:
    """A job the actor may read (its submitter, its department, staff who read everything);
    another's is "not found"."""
    require(actor, *SIGNED_IN)
    job = repository.job_by_id(session, actor, job_id)
    if job is None:
        raise NotFound(f"没有任务 {job_id}", f"no job {job_id}")
    return _with_live_progress(job)


def list_jobs(
    actor: Actor, session: Session, kind: str | None = None, limit: int = 20
) -> list[Job]:
    """The newest jobs the actor may read, of one kind or all."""
    require(actor, *SIGNED_IN)
    return [_with_live_progress(job) for job in repository.jobs(session, actor, kind, limit)]


def store_upload(source: BinaryIO, file_name: str) -> Path:
    """Keep an uploaded file for an import job (``feed_import``'s ``path``, its name the job's
    ``file_name``): in a folder of its own under the data directory's ``uploads``, named
    ``upload`` with the uploaded name's suffix (what tells CSV from XLSX)."""
    suffix = "".join(ch for ch in Path(safe_file_name(file_name)).suffix.lower() if ch.isalnum())
    folder = uploads_dir() / uuid.uuid4().hex
    folder.mkdir(parents=True)
    path = folder / f"upload.{suffix or 'csv'}"
    with path.open("wb") as target:
        shutil.copyfileobj(source, target, length=1 << 22)
    return path
