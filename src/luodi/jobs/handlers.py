"""What each kind of job does: who may ask for it, its parameters, and the work.

``HANDLERS`` maps a kind to its ``Handler``. ``authorize`` runs when the job is submitted, in
the request's transaction (refuse before queuing: the actor may not, the object is out of
reach or missing); ``run`` runs later in the worker's own unit of work, as the same actor,
and returns the job's result (JSON). ``run`` calls the domain's service, which checks the
actor again: what changed between submission and run (a cycle made final) fails the job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session

from luodi import workdays
from luodi.allocation import service as allocation
from luodi.audit import service as audit
from luodi.auth.actor import Actor, Role
from luodi.auth.permissions import require_department
from luodi.errors import Invalid, NotFound
from luodi.feeds import catalog
from luodi.feeds import service as feeds
from luodi.feeds.schemas import ImportStatus
from luodi.jobs.schemas import (
    AllocateParams,
    AuditVerifyParams,
    FeedImportParams,
    ScoreParams,
    WhatIfParams,
)
from luodi.kernels.policy import CompiledPolicy
from luodi.policy import whatif
from luodi.policy.service import find_policy, in_force, published_policies
from luodi.programs import repository as programs_repository
from luodi.scoring import service as scoring
from luodi.settings import get_settings

Progress = Callable[[str, int, int], None]
"""(phase "中文 / English", done, total): total 0 while unknown."""


@dataclass(frozen=True)
class Reach:
    """Who besides the submitter and the staff who read everything may read a job: the
    department (and town) of the object it works on."""

    department: str | None = None
    town_id: int | None = None


@dataclass(frozen=True)
class Handler:
    label: tuple[str, str]
    """What the job does, in Chinese and English (a page's list)."""
    roles: tuple[Role, ...]
    """Who may ask for it at all (then ``authorize`` looks at the object)."""
    params: type[BaseModel]
    authorize: Callable[[Actor, Session, Any], Reach]
    run: Callable[[Actor, Session, Any, Progress], dict[str, Any]]
    finish: Callable[[Any], None] = field(default=lambda _params: None)
    """Called once the job is over, done or failed (an upload removed)."""


# --- score -------------------------------------------------------------------------------


def _policy(params: ScoreParams) -> CompiledPolicy:
    """The version to score with, or a refusal naming the parameter that is wrong."""
    as_of = params.as_of or workdays.today()
    try:
        compiled = find_policy(params.policy_id, as_of, params.version)
    except NotFound as error:
        known = {item.policy.id for item in published_policies()}
        name = (
            "policy_id"
            if params.policy_id not in known
            else "version"
            if params.version
            else "as_of"
        )
        value = {"policy_id": params.policy_id, "version": params.version, "as_of": str(as_of)}
        raise Invalid.field(name, value[name], error.message_zh, error.message_en) from None
    if not in_force(compiled.policy, as_of):
        # A stored run rests on the rules in force on its date (score_registry says the same).
        policy = compiled.policy
        raise Invalid.field(
            "as_of",
            as_of.isoformat(),
            f"策略 {policy.id} {policy.version} 在 {as_of} 不在有效期内",
            f"policy {policy.id} {policy.version} is not in force on {as_of}",
        )
    return compiled


def _authorize_score(_actor: Actor, _session: Session, params: ScoreParams) -> Reach:
    _policy(params)
    return Reach()


def _run_score(
    actor: Actor, session: Session, params: ScoreParams, progress: Progress
) -> dict[str, Any]:
    as_of = params.as_of or workdays.today()
    compiled = _policy(params)
    steps = 3  # reading, scoring, storing: what score_registry says, in order
    said = 0

    def say(text: str) -> None:
        nonlocal said
        progress(text, min(said, steps - 1), steps)
        said += 1

    outcome = scoring.score_registry(actor, session, compiled, as_of, progress=say)
    run = outcome.run
    return {
        "run_id": run.id,
        "policy_id": run.policy_id,
        "policy_version": run.policy_version,
        "as_of": run.as_of.isoformat(),
        "residents_scored": run.residents_scored,
        "residents_skipped": run.residents_skipped,
        "mean_total": run.mean_total,
    }


# --- allocate ----------------------------------------------------------------------------


def _authorize_allocate(actor: Actor, session: Session, params: AllocateParams) -> Reach:
    # Out of reach looks missing (404), as everywhere.
    cycle = programs_repository.writable_cycle(actor, session, params.cycle_id)
    if not params.seed.strip():
        raise Invalid.field("seed", params.seed, "需要公开的摇号种子", "a published seed is needed")
    return Reach(department=cycle.department)


def _run_allocate(
    actor: Actor, session: Session, params: AllocateParams, progress: Progress
) -> dict[str, Any]:
    run = allocation.allocate_cycle(
        actor, session, params.cycle_id, params.seed, params.scoring_run_id, progress=progress
    )
    return {
        "run_id": run.id,
        "cycle_id": run.cycle_id,
        "previous_run_id": run.previous_run_id,
        "scoring_run_id": run.scoring_run_id,
    }


# --- feed_import -------------------------------------------------------------------------


def uploads_dir() -> Path:
    """Where uploaded files wait for their import job (``service.store_upload``)."""
    return (get_settings().data_dir / "uploads").resolve()


def upload_path(text: str) -> Path:
    """The stored upload ``text`` names (absolute, or relative to ``uploads_dir``); refused
    unless it is a file there (a job's parameters never name another file of the server)."""
    folder = uploads_dir()
    path = (folder / text).resolve()  # an absolute ``text`` stays itself
    if not path.is_relative_to(folder) or not path.is_file():
        raise Invalid.field(
            "path",
            Path(text).name,
            "不是已上传的文件（先上传，再导入）",
            "not an uploaded file (upload it first, then import)",
        )
    return path


def _authorize_feed_import(actor: Actor, _session: Session, params: FeedImportParams) -> Reach:
    try:
        spec = catalog.find_feed(params.feed_id)
    except NotFound as error:
        raise Invalid.field("feed_id", params.feed_id, error.message_zh, error.message_en) from None
    require_department(actor, spec.department)
    # Kept relative to the uploads folder: the job's parameters (read back by the API) do
    # not show where the server keeps its files.
    params.path = str(upload_path(params.path).relative_to(uploads_dir()))
    return Reach(department=spec.department)


def _run_feed_import(
    actor: Actor, session: Session, params: FeedImportParams, progress: Progress
) -> dict[str, Any]:
    result = feeds.import_file(
        actor,
        session,
        params.feed_id,
        upload_path(params.path),
        dry_run=params.dry_run,
        accept_partial=params.accept_partial,
        sheet=params.sheet,
        write_reports=False,
        file_name=params.file_name,
        progress=progress,
    )
    # A refused file fails the job with every listed problem (nothing was written).
    feeds.raise_if_rejected(result)
    if result.status == ImportStatus.IMPORTED:
        progress("完成 / finished", result.rows_imported, result.rows_imported)
    return result.model_dump(mode="json", exclude={"report_files"})


def _finish_feed_import(params: FeedImportParams) -> None:
    """The upload is removed once imported (or refused); a dry run keeps it for the import
    that follows."""
    if params.dry_run:
        return
    try:
        path = upload_path(params.path)
    except Invalid:
        return
    path.unlink(missing_ok=True)
    if path.parent != uploads_dir() and not any(path.parent.iterdir()):
        path.parent.rmdir()


# --- audit_verify ------------------------------------------------------------------------


def _authorize_audit_verify(_actor: Actor, _session: Session, _params: AuditVerifyParams) -> Reach:
    return Reach()


def _run_audit_verify(
    actor: Actor, session: Session, _params: AuditVerifyParams, progress: Progress
) -> dict[str, Any]:
    check = audit.verify_and_record(actor, session, progress)
    return {
        "intact": check.intact,
        "entries": check.entries,
        "broken_seq": check.broken_seq,
        "reason_zh": check.reason_zh,
        "reason_en": check.reason_en,
    }


# --- policy_whatif ------------------------------------------------------------------------


def _authorize_whatif(_actor: Actor, _session: Session, params: WhatIfParams) -> Reach:
    # A draft that does not compile, or nothing published to compare it with, is refused
    # before it is queued (the form shows the line and column).
    whatif.check_thresholds(params.thresholds)
    draft = whatif.compile_draft(params.draft_text, params.draft_name)
    whatif.baseline_of(draft, params.as_of or workdays.today())
    return Reach()


def _run_whatif(
    actor: Actor, session: Session, params: WhatIfParams, progress: Progress
) -> dict[str, Any]:
    return whatif.run_whatif(
        actor,
        session,
        params.draft_text,
        params.draft_name,
        params.as_of or workdays.today(),
        params.thresholds,
        progress,
    )


HANDLERS: dict[str, Handler] = {
    "score": Handler(
        label=("计分", "scoring"),
        roles=(Role.ADMIN, Role.OPERATOR),
        params=ScoreParams,
        authorize=_authorize_score,
        run=_run_score,
    ),
    "allocate": Handler(
        label=("分配", "allocation"),
        roles=(Role.ADMIN, Role.OPERATOR),
        params=AllocateParams,
        authorize=_authorize_allocate,
        run=_run_allocate,
    ),
    "feed_import": Handler(
        label=("导入部门数据", "feed import"),
        roles=(Role.ADMIN, Role.REVIEWER, Role.DEPARTMENT),
        params=FeedImportParams,
        authorize=_authorize_feed_import,
        run=_run_feed_import,
        finish=_finish_feed_import,
    ),
    "audit_verify": Handler(
        label=("校验审计链", "audit chain check"),
        roles=(Role.ADMIN, Role.AUDITOR),
        params=AuditVerifyParams,
        authorize=_authorize_audit_verify,
        run=_run_audit_verify,
    ),
    # Aggregates only (counts by band, town, origin, threshold, school), yet computed from
    # every permit holder's data: the roles of the console's analysis, not a town's desk.
    "policy_whatif": Handler(
        label=("政策试算", "policy what-if"),
        roles=(Role.ADMIN, Role.OPERATOR, Role.REVIEWER, Role.AUDITOR),
        params=WhatIfParams,
        authorize=_authorize_whatif,
        run=_run_whatif,
    ),
}
"""kind → what it does. Tests (and later domains) add theirs with ``HANDLERS[kind] = …``."""
