"""The worker: takes queued jobs one at a time, oldest first, and runs each as its submitter.

- **Claiming** is one conditional ``UPDATE … WHERE state = 'queued'`` per candidate: two
  workers (two processes, or ``luodi job run-pending`` beside ``luodi serve``) never take the
  same job, on SQLite and PostgreSQL alike.
- **The work** runs in a unit of work of its own (``db.session_scope``) as the actor who
  submitted it, rebuilt from the account (``auth.service.actor_again``: a disabled account's
  job fails saying so). The job is marked done in that same transaction, so the work and
  "done" land together; on any exception everything the job wrote is rolled back and the job
  is marked failed in a short transaction of its own, with the error's own words (a
  ``LuodiError``) or its kind only (anything else, logged with its traceback; the user never
  sees one).
- **Progress** is written in separate short transactions, at most ``PROGRESS_PER_SECOND``
  times a second (a new phase at once), so that a page or ``luodi job watch`` in another
  process sees it while the work's transaction is open. On PostgreSQL that always works (the
  work never locks the job's row before it ends). On SQLite the work holds the database's one
  write lock from its first write until it commits: a progress write then waits at most
  ``PROGRESS_WAIT_MS`` and is skipped (never a deadlock, never a failed job), and the next
  one is tried ``LOCKED_PAUSE_SECONDS`` later (measured: 58 ms per skipped write, against
  5 s and "database is locked" with the usual busy timeout). The progress is also kept in
  memory (``jobs.live``), where the pages of the same process read it.
- **A restart**: jobs left running by a server that was killed are marked failed
  ("服务重启，任务中断") when a worker starts; their work was rolled back by the database.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import OperationalError

from luodi.auth import service as auth_service
from luodi.db import database_failure, session_scope, utcnow
from luodi.errors import LuodiError
from luodi.jobs import live
from luodi.jobs.handlers import HANDLERS, Handler
from luodi.jobs.models import Job, JobState

logger = logging.getLogger("luodi.jobs")

POLL_SECONDS = 0.5
PROGRESS_PER_SECOND = 2
PROGRESS_WAIT_MS = 50
"""How long a progress write waits for SQLite's write lock before it is skipped."""
LOCKED_PAUSE_SECONDS = 2.0
"""After a skipped write, how long progress stays in memory only before trying again."""
CLAIM_TRIES = 20
STARTING_PHASE = "开始 / starting"
DONE_PHASE = "完成 / done"
FAILED_PHASE = "失败 / failed"
INTERRUPTED = ("服务重启，任务中断", "interrupted by a restart")
PHASE_CHARS = 200


class Reporter:
    """The ``progress(phase, done, total)`` a job's work calls (see the module docstring)."""

    def __init__(self, engine: Engine, job_id: int) -> None:
        self.engine = engine
        self.job_id = job_id
        self.written = 0
        self.skipped = 0
        self._phase: str | None = None
        self._last_write = 0.0
        self._locked_until = 0.0

    def __call__(self, phase: str, done: int, total: int) -> None:
        phase = phase[:PHASE_CHARS]
        live.report(self.job_id, live.Progress(phase, done, total))
        now = time.monotonic()
        if now < self._locked_until:
            return
        if phase == self._phase and now - self._last_write < 1 / PROGRESS_PER_SECOND:
            return
        self._phase, self._last_write = phase, now
        if not self._write(phase, done, total):
            # Most likely the work's own write lock, held until it commits: trying at every
            # call would cost PROGRESS_WAIT_MS each time.
            self._locked_until = now + LOCKED_PAUSE_SECONDS

    def _write(self, phase: str, done: int, total: int) -> bool:
        try:
            with self.engine.connect() as connection:
                sqlite = connection.dialect.name == "sqlite"
                waited = None
                if sqlite:
                    waited = connection.exec_driver_sql("PRAGMA busy_timeout").scalar()
                    connection.exec_driver_sql(f"PRAGMA busy_timeout = {PROGRESS_WAIT_MS}")
                try:
                    connection.execute(
                        update(Job)
                        .where(Job.id == self.job_id, Job.state == JobState.RUNNING)
                        .values(phase=phase, done=done, total=total)
                    )
                    connection.commit()
                finally:
                    if sqlite:
                        connection.rollback()
                        connection.exec_driver_sql(f"PRAGMA busy_timeout = {int(waited or 0)}")
                        connection.commit()
        except OperationalError:
            # SQLite: the job's own transaction holds the write lock (the page of this
            # process reads ``jobs.live``). PostgreSQL unreachable: the work fails on its own.
            self.skipped += 1
            return False
        self.written += 1
        return True


def fail_interrupted(engine: Engine) -> int:
    """Mark the jobs a killed server left running as failed; how many there were."""
    with session_scope(engine) as session:
        result = session.execute(
            update(Job)
            .where(Job.state == JobState.RUNNING)
            .values(
                state=JobState.FAILED,
                phase=FAILED_PHASE,
                error_zh=INTERRUPTED[0],
                error_en=INTERRUPTED[1],
                finished_at=utcnow(),
            )
        )
        count = int(getattr(result, "rowcount", 0) or 0)
    if count:
        logger.warning("%d job(s) interrupted by a restart marked failed", count)
    return count


def claim(engine: Engine) -> int | None:
    """Take the oldest queued job (its id), or None when there is none. The ``UPDATE`` that
    takes it changes it only while it is still queued: a job another worker took meanwhile
    is passed over for the next."""
    with session_scope(engine) as session:
        for _ in range(CLAIM_TRIES):
            candidate = session.scalar(
                select(Job.id).where(Job.state == JobState.QUEUED).order_by(Job.id).limit(1)
            )
            if candidate is None:
                return None
            taken = session.execute(
                update(Job)
                .where(Job.id == candidate, Job.state == JobState.QUEUED)
                .values(state=JobState.RUNNING, started_at=utcnow(), phase=STARTING_PHASE)
            )
            if getattr(taken, "rowcount", 0) == 1:
                return int(candidate)
    return None


def _as_json(value: dict[str, Any]) -> dict[str, Any]:
    """The result as JSON holds it (dates as text), whatever the handler returned."""
    loaded = json.loads(json.dumps(value, ensure_ascii=False, default=str))
    return loaded if isinstance(loaded, dict) else {"value": loaded}


def _failure_words(job_id: int, error: BaseException) -> LuodiError:
    known = error if isinstance(error, LuodiError) else database_failure(error)
    if known is not None:
        logger.warning("job %d failed: %s", job_id, known)
        return known
    kind = type(error).__name__
    logger.error("job %d failed", job_id, exc_info=error)
    return LuodiError(
        f"任务出错（{kind}），未写入任何数据；详情见服务器日志",
        f"the job failed ({kind}); nothing was written; the server's log has the details",
        500,
    )


def mark_failed(engine: Engine, job_id: int, error: BaseException) -> None:
    words = _failure_words(job_id, error)
    details = [problem.as_dict() for problem in words.details] or None
    try:
        with session_scope(engine) as session:
            session.execute(
                update(Job)
                .where(Job.id == job_id)
                .values(
                    state=JobState.FAILED,
                    phase=FAILED_PHASE,
                    error_zh=words.message_zh,
                    error_en=words.message_en,
                    error_details=_as_json({"details": details})["details"],
                    finished_at=utcnow(),
                )
            )
    except Exception:
        # The database is gone: the job stays "running" until a worker starts again and
        # marks it interrupted.
        logger.exception("job %d: could not record its failure", job_id)


def run_job(engine: Engine, job_id: int) -> None:
    """Run a claimed job to its end (done or failed); never raises for the job's errors."""
    with session_scope(engine) as reading:
        job = reading.get(Job, job_id)
        if job is None:
            return
        kind, raw, username, role = job.kind, job.params, job.created_by, job.created_role
    handler: Handler | None = HANDLERS.get(kind)
    reporter = Reporter(engine, job_id)
    params: Any = None
    started = time.perf_counter()
    try:
        if handler is None:
            raise LuodiError(f"未知的任务类型 {kind}", f"unknown kind of job {kind}", 422)
        params = handler.params.model_validate(raw)
        with session_scope(engine) as work:
            actor = auth_service.actor_again(work, username, role)
            result = handler.run(actor, work, params, reporter)
            last = live.current(job_id)
            size = last.total if last is not None and last.total > 0 else 1
            work.execute(
                update(Job)
                .where(Job.id == job_id)
                .values(
                    state=JobState.DONE,
                    phase=DONE_PHASE,
                    done=size,
                    total=size,
                    result=_as_json(result),
                    finished_at=utcnow(),
                )
            )
    except Exception as error:
        mark_failed(engine, job_id, error)
    finally:
        live.forget(job_id)
        logger.info(
            "job %d (%s) ended in %.2f s; progress written %d, skipped %d",
            job_id,
            kind,
            time.perf_counter() - started,
            reporter.written,
            reporter.skipped,
        )
        if handler is not None and params is not None:
            try:
                handler.finish(params)
            except Exception:
                logger.exception("job %d: clean-up failed", job_id)


def run_next(engine: Engine) -> bool:
    """Claim and run the oldest queued job; False when there was none."""
    job_id = claim(engine)
    if job_id is None:
        return False
    run_job(engine, job_id)
    return True


def run_pending(engine: Engine) -> int:
    """Run every queued job, one after another, in this thread; how many ran."""
    count = 0
    while run_next(engine):
        count += 1
    return count


class Worker:
    """A daemon thread that runs queued jobs, looking for one every ``poll_seconds``."""

    def __init__(self, engine: Engine, poll_seconds: float = POLL_SECONDS) -> None:
        self.engine = engine
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        fail_interrupted(self.engine)
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="luodi-jobs", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop looking for jobs; wait up to ``timeout`` for the running one to end (past
        it, the process's exit rolls its work back and the next start marks it
        interrupted)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                ran = run_next(self.engine)
            except Exception:
                logger.exception("job worker: could not take a job")
                ran = False
            if not ran:
                self._stop.wait(self.poll_seconds)
