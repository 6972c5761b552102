"""Jobs run by the worker: score, allocate and import as their submitter; a failure leaves
nothing behind and says why; two workers never take one job; progress is seen while the work
runs; a restart marks an interrupted job failed; scoping."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from pydantic import BaseModel
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from luodi.allocation.models import AllocationRun
from luodi.audit import service as audit
from luodi.audit.models import AuditEntry
from luodi.auth import service as auth_service
from luodi.auth.actor import SYSTEM_ACTOR, Actor, Role
from luodi.db import session_scope
from luodi.errors import Forbidden, Invalid, NotFound, Unauthorized
from luodi.feeds.models import FeedBatch
from luodi.jobs import handlers, service, worker
from luodi.jobs.handlers import Handler, Reach
from luodi.jobs.models import Job
from luodi.jobs.schemas import JobRead
from luodi.programs import intake
from luodi.programs import service as programs
from luodi.scoring import service as scoring_service
from tests.web.conftest import AS_OF, PASSWORD


class Nothing(BaseModel):
    pass


def submit(engine: Engine, actor: Actor, kind: str, params: dict[str, Any]) -> int:
    with session_scope(engine) as session:
        return service.submit(actor, session, kind, params).id


def read(engine: Engine, job_id: int, actor: Actor = SYSTEM_ACTOR) -> JobRead:
    with session_scope(engine) as session:
        return JobRead.model_validate(service.get_job(actor, session, job_id))


def raw_row(engine: Engine, job_id: int) -> tuple[str, str, int, int]:
    """The row as stored (no live progress laid over it)."""
    with engine.connect() as connection:
        row = connection.execute(
            select(Job.state, Job.phase, Job.done, Job.total).where(Job.id == job_id)
        ).one()
    return row[0], row[1], row[2], row[3]


def count(engine: Engine, model: Any) -> int:
    with session_scope(engine) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
def test_handler() -> Iterator[dict[str, Handler]]:
    """Kinds of the test's own, removed afterwards."""
    added: dict[str, Handler] = {}
    yield added
    for kind in list(handlers.HANDLERS):
        if kind.startswith("test_"):
            del handlers.HANDLERS[kind]


def add_kind(kind: str, run: Any) -> None:
    handlers.HANDLERS[kind] = Handler(
        label=("测试", "test"),
        roles=(Role.ADMIN, Role.OPERATOR),
        params=Nothing,
        authorize=lambda _actor, _session, _params: Reach(),
        run=run,
    )


def test_a_score_job_stores_a_run(loaded_engine: Engine, accounts: dict[str, Actor]) -> None:
    job_id = submit(
        loaded_engine,
        accounts["operator"],
        "score",
        {"policy_id": "zj-cixi", "as_of": AS_OF.isoformat()},
    )
    queued = read(loaded_engine, job_id)
    assert (queued.state, queued.created_by, queued.department) == ("queued", "operator", None)
    assert worker.run_pending(loaded_engine) == 1
    job = read(loaded_engine, job_id)
    assert job.state == "done", job.error_en
    assert job.done == job.total == 3 and job.phase_en == "done" and job.finished_at
    assert job.started_at and job.started_at <= job.finished_at
    with session_scope(loaded_engine) as session:
        run = scoring_service.get_run(SYSTEM_ACTOR, session, job.result["run_id"])
        assert run.created_by == "operator" and run.as_of == AS_OF
        assert run.residents_scored == job.result["residents_scored"] > 0
        submitted = session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "job.submit", AuditEntry.object_id == str(job_id)
            )
        ).one()
        assert submitted.actor == "operator"


def test_an_allocate_job_makes_a_new_run(
    loaded_engine: Engine, accounts: dict[str, Actor], cycle: dict[str, Any]
) -> None:
    job_id = submit(
        loaded_engine, accounts["operator"], "allocate", {"cycle_id": cycle["cycle"], "seed": "job"}
    )
    assert read(loaded_engine, job_id).department == "总工会"
    worker.run_pending(loaded_engine)
    job = read(loaded_engine, job_id)
    assert job.state == "done", job.error_en
    with session_scope(loaded_engine) as session:
        run = session.get(AllocationRun, job.result["run_id"])
        assert run is not None and run.seed == "job" and run.created_by == "operator"
        assert run.previous_run_id is not None and run.cycle_id == cycle["cycle"]


def volunteering(numbers: list[str], bad_date: bool = False) -> bytes:
    lines = ["记录编号,身份证号,类别,日期,服务时长"]
    for index, number in enumerate(numbers):
        day = "2025-13-01" if bad_date and index == 1 else "2025-06-01"
        lines.append(f"JOB-{index},{number},志愿服务,{day},2.5")
    return ("\n".join(lines) + "\n").encode()


def test_a_feed_import_job_imports_and_removes_the_upload(
    loaded_engine: Engine, city: pl.DataFrame
) -> None:
    path = service.store_upload(
        io.BytesIO(volunteering(city["id_number"].head(3).to_list())), "志愿.csv"
    )
    job_id = submit(
        loaded_engine,
        SYSTEM_ACTOR,
        "feed_import",
        {"feed_id": "volunteering_honours", "path": str(path), "file_name": "志愿.csv"},
    )
    queued = read(loaded_engine, job_id)
    assert queued.department == "文明办"
    assert queued.params["path"] == f"{path.parent.name}/{path.name}"  # no server path shown
    worker.run_pending(loaded_engine)
    job = read(loaded_engine, job_id)
    assert job.state == "done", job.error_en
    assert (job.result["status"], job.result["rows_imported"]) == ("imported", 3)
    with session_scope(loaded_engine) as session:
        batch = session.get(FeedBatch, job.result["batch_id"])
        assert batch is not None and batch.file_name == "志愿.csv" and batch.imported_by == "system"
    assert not path.exists()


def test_a_refused_file_fails_the_job_with_its_problems_and_writes_nothing(
    loaded_engine: Engine, city: pl.DataFrame
) -> None:
    numbers = city["id_number"].slice(10, 3).to_list()
    path = service.store_upload(io.BytesIO(volunteering(numbers, bad_date=True)), "bad.csv")
    batches = count(loaded_engine, FeedBatch)
    job_id = submit(
        loaded_engine,
        SYSTEM_ACTOR,
        "feed_import",
        {"feed_id": "volunteering_honours", "path": str(path), "file_name": "bad.csv"},
    )
    worker.run_pending(loaded_engine)
    job = read(loaded_engine, job_id)
    assert job.state == "failed" and "未写入任何数据" in (job.error_zh or "")
    assert job.error_details and job.error_details[0]["row"] == 3
    assert job.error_details[0]["field"] == "record_date"
    assert count(loaded_engine, FeedBatch) == batches


def test_an_upload_path_must_be_one_of_ours(loaded_engine: Engine, tmp_path: Path) -> None:
    elsewhere = tmp_path / "passwd.csv"
    elsewhere.write_text("x\n")
    with session_scope(loaded_engine) as session, pytest.raises(Invalid) as refused:
        service.submit(
            SYSTEM_ACTOR,
            session,
            "feed_import",
            {"feed_id": "volunteering_honours", "path": str(elsewhere)},
        )
    assert refused.value.details[0].field == "params.path"
    with session_scope(loaded_engine) as session, pytest.raises(Invalid):
        service.submit(
            SYSTEM_ACTOR,
            session,
            "feed_import",
            {"feed_id": "volunteering_honours", "path": f"../{elsewhere}"},
        )


def final_cycle(engine: Engine, accounts: dict[str, Actor], numbers: list[str]) -> int:
    today = date.today()
    with session_scope(engine) as session:
        opened = programs.open_cycle(
            SYSTEM_ACTOR, session, "health-check", "final", today - timedelta(days=1),
            today + timedelta(days=1), AS_OF, places=2,
        )  # fmt: skip
        intake.submit_applications(
            SYSTEM_ACTOR, session, opened.id, [{"id_number": n} for n in numbers]
        )
        intake.verify_all(accounts["health"], session, opened.id)
    with session_scope(engine) as session:
        from luodi.allocation import service as allocation

        allocation.allocate_cycle(SYSTEM_ACTOR, session, opened.id, "s")
        programs.finalize(SYSTEM_ACTOR, session, opened.id)
        return opened.id


def test_an_allocation_the_cycle_forbids_fails_and_says_why(
    loaded_engine: Engine, accounts: dict[str, Actor], cycle: dict[str, Any], city: pl.DataFrame
) -> None:
    final = final_cycle(loaded_engine, accounts, city["id_number"].slice(40, 4).to_list())
    runs = count(loaded_engine, AllocationRun)
    job_id = submit(
        loaded_engine, accounts["operator"], "allocate", {"cycle_id": final, "seed": "x"}
    )
    worker.run_pending(loaded_engine)
    job = read(loaded_engine, job_id)
    assert job.state == "failed"
    assert (job.error_zh, job.error_en) == (
        f"周期 {final} 结果已确定，不能再分配",
        f"cycle {final} is final",
    )
    assert count(loaded_engine, AllocationRun) == runs


def test_a_job_that_fails_after_writing_leaves_nothing(
    loaded_engine: Engine, test_handler: dict[str, Handler]
) -> None:
    def write_then_fail(
        actor: Actor, session: Session, _params: Any, progress: Any
    ) -> dict[str, Any]:
        audit.record(session, actor, "test.write", "test", 1)
        progress("写入 / writing", 1, 2)
        raise RuntimeError("/srv/secret/path broke")

    add_kind("test_fail", write_then_fail)
    job_id = submit(loaded_engine, SYSTEM_ACTOR, "test_fail", {})
    entries = count(loaded_engine, AuditEntry)
    worker.run_pending(loaded_engine)
    job = read(loaded_engine, job_id)
    assert job.state == "failed" and "RuntimeError" in (job.error_en or "")
    assert "secret" not in (job.error_zh or "") + (job.error_en or "")
    assert "未写入任何数据" in (job.error_zh or "")
    assert count(loaded_engine, AuditEntry) == entries


def test_a_disabled_account_s_job_fails_saying_so(
    loaded_engine: Engine, accounts: dict[str, Actor]
) -> None:
    with session_scope(loaded_engine) as session:
        auth_service.add_user(SYSTEM_ACTOR, session, "leaver", "operator", PASSWORD)
    leaver = Actor(username="leaver", role=Role.OPERATOR)
    job_id = submit(loaded_engine, leaver, "score", {"policy_id": "zj-cixi", "as_of": str(AS_OF)})
    with session_scope(loaded_engine) as session:
        auth_service.disable_user(SYSTEM_ACTOR, session, "leaver")
    worker.run_pending(loaded_engine)
    job = read(loaded_engine, job_id)
    assert job.state == "failed" and job.error_en == "the account leaver is disabled"


def test_two_workers_never_run_the_same_job(
    loaded_engine: Engine, test_handler: dict[str, Handler]
) -> None:
    ran: list[int] = []
    lock = threading.Lock()

    def note(_actor: Actor, _session: Session, _params: Any, _progress: Any) -> dict[str, Any]:
        time.sleep(0.02)
        with lock:
            ran.append(len(ran))
        return {}

    add_kind("test_count", note)
    ids = [submit(loaded_engine, SYSTEM_ACTOR, "test_count", {}) for _ in range(12)]
    taken: dict[str, list[int]] = {"a": [], "b": []}

    def drain(name: str) -> None:
        while True:
            job_id = worker.claim(loaded_engine)
            if job_id is None:
                return
            taken[name].append(job_id)
            worker.run_job(loaded_engine, job_id)

    threads = [threading.Thread(target=drain, args=(name,)) for name in taken]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(taken["a"] + taken["b"]) == ids
    assert len(ran) == len(ids)
    assert {read(loaded_engine, job_id).state for job_id in ids} == {"done"}


def test_progress_is_seen_while_the_work_runs(
    loaded_engine: Engine, test_handler: dict[str, Handler]
) -> None:
    written = threading.Event()
    release = threading.Event()
    timings: dict[str, float] = {}

    def block(actor: Actor, session: Session, _params: Any, progress: Any) -> dict[str, Any]:
        progress("读取 / reading", 1, 10)
        audit.record(session, actor, "test.block", "test", 2)  # holds SQLite's write lock
        started = time.perf_counter()
        progress("写入 / writing", 5, 10)
        timings["progress"] = time.perf_counter() - started
        written.set()
        assert release.wait(30)
        return {"ok": True}

    add_kind("test_block", block)
    job_id = submit(loaded_engine, SYSTEM_ACTOR, "test_block", {})
    running = threading.Thread(target=worker.run_pending, args=(loaded_engine,))
    running.start()
    try:
        assert written.wait(30)
        seen = read(loaded_engine, job_id)
        assert (seen.state, seen.phase_zh, seen.done, seen.total, seen.percent) == (
            "running", "写入", 5, 10, 50,
        )  # fmt: skip
        state, phase, done, _total = raw_row(loaded_engine, job_id)
        if loaded_engine.dialect.name == "postgresql":
            assert (state, phase, done) == ("running", "写入 / writing", 5)
        else:
            # The job holds the write lock: the row keeps the phase before it, the page of
            # this process reads the live one.
            assert (state, phase, done) == ("running", "读取 / reading", 1)
        # Never a wait for the lock held by the work itself.
        assert timings["progress"] < 1.0
    finally:
        release.set()
        running.join(30)
    job = read(loaded_engine, job_id)
    assert job.state == "done" and job.result == {"ok": True}
    assert job.done == job.total == 10


def test_a_job_left_running_by_a_killed_server_is_marked_failed(
    loaded_engine: Engine, test_handler: dict[str, Handler]
) -> None:
    add_kind("test_noop", lambda *_args: {})
    job_id = submit(loaded_engine, SYSTEM_ACTOR, "test_noop", {})
    assert worker.claim(loaded_engine) == job_id  # taken, then the server "dies"
    jobs_worker = worker.Worker(loaded_engine, poll_seconds=0.05)
    jobs_worker.start()
    try:
        job = read(loaded_engine, job_id)
        assert job.state == "failed"
        assert (job.error_zh, job.error_en) == worker.INTERRUPTED
        # The running worker takes what is queued next.
        later = submit(loaded_engine, SYSTEM_ACTOR, "test_noop", {})
        deadline = time.monotonic() + 10
        while read(loaded_engine, later).state != "done" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert read(loaded_engine, later).state == "done"
    finally:
        jobs_worker.stop()
    assert not jobs_worker.alive


def test_jobs_are_scoped(
    loaded_engine: Engine, accounts: dict[str, Actor], cycle: dict[str, Any]
) -> None:
    job_id = submit(
        loaded_engine, accounts["operator"], "allocate", {"cycle_id": cycle["cycle"], "seed": "z"}
    )
    assert read(loaded_engine, job_id, accounts["health"]).id == job_id  # the cycle's department
    assert read(loaded_engine, job_id, accounts["auditor"]).id == job_id
    for outsider in ("edu", "town", "resident"):
        with pytest.raises(NotFound):
            read(loaded_engine, job_id, accounts[outsider])
    with session_scope(loaded_engine) as session:
        assert job_id not in [job.id for job in service.list_jobs(accounts["edu"], session)]
        assert job_id in [
            job.id for job in service.list_jobs(accounts["health"], session, "allocate")
        ]
        with pytest.raises(Forbidden):
            service.submit(accounts["resident"], session, "score", {"policy_id": "zj-cixi"})
        with pytest.raises(Forbidden):
            service.submit(accounts["auditor"], session, "score", {"policy_id": "zj-cixi"})
        with pytest.raises(Forbidden):  # another department's feed, as the feeds say
            service.submit(
                accounts["edu"],
                session,
                "feed_import",
                {"feed_id": "volunteering_honours", "path": "x"},
            )
        with pytest.raises(Forbidden):  # a reviewer allocates nothing
            service.submit(
                accounts["health"], session, "allocate", {"cycle_id": cycle["cycle"], "seed": "x"}
            )
    worker.run_pending(loaded_engine)


def test_the_submitter_reads_its_own_job(
    loaded_engine: Engine, accounts: dict[str, Actor], city: pl.DataFrame
) -> None:
    """A reviewer of 文明办 imports its feed; nobody of another department sees the job."""
    with session_scope(loaded_engine) as session:
        auth_service.add_user(
            SYSTEM_ACTOR, session, "civility", "reviewer", PASSWORD, department="文明办"
        )
    civility = Actor(username="civility", role=Role.REVIEWER, department="文明办")
    path = service.store_upload(
        io.BytesIO(volunteering(city["id_number"].slice(20, 2).to_list())), "v.csv"
    )
    job_id = submit(
        loaded_engine,
        civility,
        "feed_import",
        {"feed_id": "volunteering_honours", "path": str(path)},
    )
    assert read(loaded_engine, job_id, civility).created_by == "civility"
    with pytest.raises(NotFound):
        read(loaded_engine, job_id, accounts["edu"])
    with pytest.raises(Unauthorized):
        read(loaded_engine, job_id, Actor(username="public", role=Role.PUBLIC))
    worker.run_pending(loaded_engine)
    assert read(loaded_engine, job_id, civility).state == "done"


def test_parameters_are_checked_before_queuing(
    loaded_engine: Engine, accounts: dict[str, Actor]
) -> None:
    with session_scope(loaded_engine) as session:
        before = session.scalar(select(func.count()).select_from(Job))
        cases = [
            ("allocate", {"cycle_id": "one", "seed": "x"}, "params.cycle_id"),
            ("allocate", {"seed": "x"}, "params.cycle_id"),
            ("allocate", {"cycle_id": 1, "seed": "x", "extra": 1}, "params.extra"),
            ("score", {"policy_id": "nope"}, "params.policy_id"),
            ("score", {"policy_id": "zj-cixi", "version": "0.0"}, "params.version"),
            ("score", {"policy_id": "zj-cixi", "as_of": "1990-01-01"}, "params.as_of"),
            ("nonsense", {}, "kind"),
        ]
        for kind, params, field in cases:
            with pytest.raises(Invalid) as refused:
                service.submit(accounts["operator"], session, kind, params)
            assert refused.value.details[0].field == field, (kind, params)
        assert session.scalar(select(func.count()).select_from(Job)) == before
