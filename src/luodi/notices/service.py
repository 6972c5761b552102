"""Public notices (公示) and objections (异议/复核).

An operator publishes an allocation run or a score ranking for a window of working days.
What is published is frozen at that moment as masked rows (``notice_rows``, with their
digest) and rendered once as XLSX and PDF: anybody may read (page by page, in SQL) and
download it without signing in, and no full name, ID number or phone is in it. During the
window a resident objects to a row that concerns them; the owning department upholds (the
application or the data is corrected and the operator re-runs on the notice's own scoring
run: the new run replaces the rows and every changed row is recorded on the notice) or
dismisses with a reason. After the window, with no open objection, the notice and its
allocation become final.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from luodi import workdays
from luodi.allocation import service as allocation
from luodi.allocation.models import OUTCOME_LABELS, AllocationRun, Outcome
from luodi.audit import service as audit
from luodi.auth.actor import Actor, Role
from luodi.auth.permissions import acts_as, require, require_department
from luodi.auth.scopes import resident_of_actor
from luodi.errors import (
    Conflict,
    FieldProblem,
    Forbidden,
    Invalid,
    LuodiError,
    NotFound,
    Unauthorized,
)
from luodi.files import safe_file_name
from luodi.kernels.masking import mask_id_number, mask_name
from luodi.kernels.text import FORBIDDEN_PATTERN, check_name
from luodi.notices import deadlines, exports, reasons, repository
from luodi.notices.models import (
    LAYOUT_COLUMNS,
    Notice,
    NoticeAmendment,
    NoticeExport,
    NoticeKind,
    NoticeLayout,
    NoticeStatus,
    Objection,
    ObjectionAttachment,
    ObjectionStatus,
    layout_of,
)
from luodi.notices.models import notice_columns as columns_of
from luodi.notices.schemas import DEFAULT_WORKING_DAYS, MAX_REASON, MAX_REF, MAX_TITLE
from luodi.programs import catalog, intake, targets
from luodi.programs import repository as programs_repository
from luodi.programs import service as programs
from luodi.programs.models import ProgramCycle
from luodi.programs.numbers import parse_application_number
from luodi.programs.spec import ProgramKind, ProgramSpec
from luodi.registry import service as registry
from luodi.scoring import service as scoring

MAX_ATTACHMENTS = 3
MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024
MAX_FILE_NAME = 255
REASON_FORBIDDEN = re.compile(
    FORBIDDEN_PATTERN.replace("\\x00-\\x1f", "\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f")
)
"""A reason may span lines and hold tabs; otherwise the characters a name may not have."""
MAX_PAGE_ROWS = 20_000
EXPORT_MEDIA_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}
OBJECTION_READERS = (Role.ADMIN, Role.OPERATOR, Role.REVIEWER, Role.AUDITOR, Role.RESIDENT)
"""Who lists objections at all (which ones: ``repository.readable_objections``)."""


MAX_DAYS_AHEAD = 366
"""A notice starting further ahead than this is a typing error (and past year 9999 a date
cannot even be computed)."""


def working_days_end(start: date, working_days: int) -> date:
    """The last day of a window of ``working_days`` working days from ``start`` (``start``
    counts when it is a working day), by the legal calendar: statutory holidays, the State
    Council's arrangement (调休 weekends count) and the city's calendar file
    (``luodi.workdays``)."""
    return workdays.current().window_end(start, working_days)


def rows_digest(rows: pl.DataFrame) -> str:
    """SHA-256 of the published rows as a JSON list of objects (keys sorted, UTF-8): what a
    notice's ``rows_digest`` is, so anyone holding the rows can recompute it."""
    text = json.dumps(rows.to_dicts(), ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _typed(notice: Notice, frame: pl.DataFrame) -> pl.DataFrame:
    """The notice's columns in order, typed as ``notice_rows`` gives them back."""
    return frame.select(
        pl.col(name).cast(repository.ROW_DTYPES[name]) for name in repository.notice_columns(notice)
    )


SEARCH_TAILS = ("id_tail", "child_id_tail")
"""The unpublished search keys a frame of rows may carry beside its published columns."""


def _tail(column: str) -> pl.Expr:
    """The last four characters of an ID number (an ``x`` check character as ``X``)."""
    return pl.col(column).str.slice(-4).str.to_uppercase()


def _masked_people(frame: pl.DataFrame) -> pl.DataFrame:
    """An unmasked frame of an allocation run's results with the search keys
    (``SEARCH_TAILS``) taken, then masked as ``allocation.run_results`` masks it."""
    masked = [
        pl.col("id_number").map_elements(mask_id_number, return_dtype=pl.String),
        pl.col("name").map_elements(mask_name, return_dtype=pl.String),
        pl.col("child_id_number").map_elements(mask_id_number, return_dtype=pl.String),
        pl.col("child_name").map_elements(mask_name, return_dtype=pl.String),
    ]
    if "points_name" in frame.columns:
        masked.append(pl.col("points_name").map_elements(mask_name, return_dtype=pl.String))
    return frame.with_columns(
        id_tail=_tail("id_number"), child_id_tail=_tail("child_id_number")
    ).with_columns(masked)


def _published_results(actor: Actor, session: Session, run_id: int) -> pl.DataFrame:
    """A run's results as published (masked), with the search keys beside them."""
    return _masked_people(allocation.run_results(actor, session, run_id, masked=False))


def _store_rows(session: Session, notice: Notice, frame: pl.DataFrame) -> pl.DataFrame:
    """Freeze ``frame`` as the notice's rows: digest, rows and both files, in this
    transaction; the search keys (``SEARCH_TAILS``) it carries are stored beside the rows,
    outside the digest and the files."""
    rows = _typed(notice, frame)
    notice.rows_digest, notice.row_count = rows_digest(rows), rows.height
    session.add(notice)
    session.flush()
    tails = [pl.col(name).cast(pl.String) for name in SEARCH_TAILS if name in frame.columns]
    repository.replace_rows(session, notice, rows.with_columns(frame.select(tails)))
    render_exports(session, notice, rows)
    return rows


def render_exports(session: Session, notice: Notice, rows: pl.DataFrame | None = None) -> list[str]:
    """Render the notice's XLSX and PDF from its rows and store them under its digest; the
    formats that could not be rendered (the PDF without its font) are returned, and their
    downloads answer 503 until ``luodi notice render``."""
    rows = repository.all_rows(session, notice) if rows is None else rows
    missing = []
    for kind, render in (("xlsx", exports.to_xlsx), ("pdf", exports.to_pdf)):
        try:
            content = render(notice, rows)
        except LuodiError as error:
            if error.status != 503:
                raise
            missing.append(kind)
            continue
        repository.replace_export(session, notice, kind, content)
    session.flush()
    return missing


def notices_missing_exports(session: Session) -> list[Notice]:
    return repository.notices_missing_exports(session)


def render_again(actor: Actor, session: Session, notice_id: int) -> list[str]:
    """Render and store a notice's files from its stored rows (published before the files
    were stored, or while the PDF font was missing); the formats still missing."""
    require(actor, Role.ADMIN, Role.OPERATOR)
    notice = get_notice(actor, session, notice_id)
    missing = render_exports(session, notice)
    audit.record(
        session,
        actor,
        "notice.render",
        "notice",
        notice.id,
        after={"rows_digest": notice.rows_digest, "missing": missing},
    )
    return missing


def has_export(session: Session, notice: Notice, kind: str) -> bool:
    """Whether the file of the notice's current rows is stored (its content is not read)."""
    return repository.export_digest(session, notice, kind) is not None


def stored_export(session: Session, notice: Notice, kind: str) -> NoticeExport:
    """The stored XLSX or PDF of the notice's current rows (never rendered here)."""
    export = repository.stored_export(session, notice, kind)
    if export is None:
        if kind == "pdf":
            exports.font_path()
        raise LuodiError(
            f"公示 {notice.id} 的 {kind.upper()} 文件尚未生成（运行 luodi notice render {notice.id}）",
            f"notice {notice.id} has no {kind.upper()} file yet (run luodi notice render)",
            503,
        )
    return export


def _legacy_allocation_rows(actor: Actor, session: Session, run_id: int) -> pl.DataFrame:
    """The rows of a notice published before layouts (``Notice.layout`` null), as they were
    then: a re-run of such a notice keeps its columns."""
    frame = _published_results(actor, session, run_id)
    return frame.select(
        pl.col("application_id").cast(pl.String).alias("ref"),
        "name",
        "id_number",
        "child_name",
        "child_id_number",
        pl.col("outcome").replace_strict(OUTCOME_LABELS, default=pl.col("outcome")),
        "target_name",
        "unit",
        "choice_rank",
        "priority_group",
        "points",
        "rank",
        "lottery",
        "reason_zh",
        *SEARCH_TAILS,
    ).sort("rank", "ref", nulls_last=True)


def _own_choice_rank(session: Session, cycle_id: int, frame: pl.DataFrame) -> pl.Series:
    """The applicant's own preference rank (1 = first) of the place given: the position of
    the school, or of the housing project (``group_id``) whose flat was given, in the list
    the applicant wrote. The allocation's ``choice_rank`` counts in the list it allocated
    from (a school the child may not enter there dropped; a project expanded into its
    layouts), so a child placed at the second choice showed 志愿 1. Empty for a place the
    town gave (镇街统筹) and for no place."""
    written = (
        repository.application_choices(session, cycle_id)
        .with_columns(chosen=pl.col("choices").str.split(";"))
        .explode("chosen")
        .filter(pl.col("chosen").is_not_null() & (pl.col("chosen") != ""))
        .with_columns(own_rank=(pl.int_range(pl.len()).over("application_id") + 1).cast(pl.Int64))
        .unique(["application_id", "chosen"], keep="first")
        .select("application_id", "chosen", "own_rank")
    )
    keyed = frame.select(
        "application_id",
        chosen=pl.when(~pl.col("town_placement").fill_null(False)).then(pl.col("choice_key")),
    )
    return keyed.join(written, on=["application_id", "chosen"], how="left", maintain_order="left")[
        "own_rank"
    ]


def _allocation_rows(
    actor: Actor, session: Session, run_id: int, cycle_id: int, spec: ProgramSpec
) -> pl.DataFrame:
    """The published rows of an allocation run in the layout of the program's kind
    (``LAYOUT_COLUMNS``): the outcome in the program's words, the applicant's own 志愿, the
    town's name, the amount of a tiered benefit, and a short public reason code."""
    frame = _published_results(actor, session, run_id)
    cycle_targets = targets.cycle_targets(session, cycle_id)
    project = {t.target_id: t.group_id or t.target_id for t in cycle_targets}
    names = repository.town_names(session)
    town = {t.target_id: names.get(t.town_code or "", t.town_code) for t in cycle_targets}
    frame = frame.with_columns(
        choice_key=pl.col("target_id").replace_strict(
            project, default=None, return_dtype=pl.String
        ),
        town=pl.col("target_id").replace_strict(town, default=None, return_dtype=pl.String),
        public_reason=reasons.public_reasons(spec, frame["outcome"], frame["reason_zh"]),
    )
    frame = frame.with_columns(own_rank=_own_choice_rank(session, cycle_id, frame))
    words = reasons.OUTCOME_WORDS[spec.kind]
    said = pl.col("outcome").replace_strict(words, default=pl.col("outcome"))
    explained = pl.col("public_reason")
    if spec.kind is ProgramKind.PUBLIC_HOUSING:
        # The rent subsidy's amount goes in 说明 after why there is no flat (the housing
        # layout has no amount column, and notices published before the subsidy keep their
        # columns and digests; 结果 is too narrow a column on the PDF page).
        explained = (
            pl.when(pl.col("outcome") == Outcome.SUBSIDY.value)
            .then(
                pl.format(
                    "{}；补贴{}元/月",
                    explained,
                    pl.col("entitlement").round(2).cast(pl.String).str.replace(r"\.0$", ""),
                )
            )
            .otherwise(explained)
        )
    rows = frame.select(
        pl.col("application_id").cast(pl.String).alias("ref"),
        "name",
        "id_number",
        "child_name",
        "child_id_number",
        said.alias("outcome"),
        "target_name",
        "town",
        "unit",
        pl.col("own_rank").alias("choice_rank"),
        "priority_group",
        "points",
        "rank",
        pl.when(pl.col("lottery") != "").then(pl.col("lottery")).alias("lottery"),
        explained.alias("reason_zh"),
        pl.col("entitlement").alias("amount"),
        (
            pl.col("points_name")
            if "points_name" in frame.columns
            else pl.lit(None, dtype=pl.String)
        ).alias("points_from"),
        *SEARCH_TAILS,
    ).sort("rank", "ref", nulls_last=True)
    return rows.select(*LAYOUT_COLUMNS[layout_of(spec.kind)], *SEARCH_TAILS)


def _qualification_rows(
    actor: Actor, session: Session, run_id: int, spec: ProgramSpec
) -> pl.DataFrame:
    """The published rows of a qualification notice (资格公示): each application qualified
    or not, with the group, points and order (the qualified only) and, for the refused, the
    short public reason; no flat, school or amount (those are decided after it)."""
    frame = _published_results(actor, session, run_id)
    refused = pl.col("outcome") == Outcome.INELIGIBLE.value
    frame = frame.with_columns(
        public_reason=reasons.public_reasons(spec, frame["outcome"], frame["reason_zh"]),
    )
    rows = frame.select(
        pl.col("application_id").cast(pl.String).alias("ref"),
        "name",
        "id_number",
        pl.when(refused)
        .then(pl.lit(reasons.NOT_QUALIFIED))
        .otherwise(pl.lit(reasons.QUALIFIED))
        .alias("outcome"),
        "priority_group",
        "points",
        pl.when(~refused).then(pl.col("rank")).alias("rank"),
        pl.when(refused).then(pl.col("public_reason")).alias("reason_zh"),
        *SEARCH_TAILS,
    ).sort("rank", "ref", nulls_last=True)
    return rows.select(*LAYOUT_COLUMNS[NoticeLayout.QUALIFICATION], *SEARCH_TAILS)


def qualification_notice(session: Session, cycle_id: int) -> Notice | None:
    """The cycle's latest qualification notice (资格公示), if any."""
    return session.scalars(
        select(Notice)
        .where(Notice.cycle_id == cycle_id, Notice.kind == NoticeKind.QUALIFICATION)
        .order_by(Notice.id.desc())
        .limit(1)
    ).first()


def needs_qualification(actor: Actor, session: Session, allocation_run_id: int) -> bool:
    """Whether the run's cycle must first publish its qualified list (public housing whose
    qualification notice is not final yet)."""
    run = allocation.get_run(actor, session, allocation_run_id)
    cycle = programs_repository.get_cycle(actor, session, run.cycle_id)
    if catalog.cycle_spec(cycle).kind is not ProgramKind.PUBLIC_HOUSING:
        return False
    qualified = qualification_notice(session, cycle.id)
    return qualified is None or qualified.status != NoticeStatus.FINAL


def _scoring_rows(
    actor: Actor, session: Session, run_id: int, legacy: bool = False
) -> pl.DataFrame:
    """A score ranking's rows; ``legacy``: with the town's code, as notices published before
    layouts had it (the town's name otherwise)."""
    people = registry.people(actor, session)
    scores = scoring.run_totals(actor, session, run_id)
    frame = scores.join(people, on="resident_id", how="left").sort(
        ["total", "resident_id"], descending=[True, False]
    )
    names = repository.town_names(session)
    return frame.select(
        pl.col("resident_id").cast(pl.String).alias("ref"),
        pl.col("name").map_elements(mask_name, return_dtype=pl.String),
        pl.col("id_number").map_elements(mask_id_number, return_dtype=pl.String),
        pl.col("town_code")
        if legacy
        else pl.col("town_code")
        .replace_strict(names, default=pl.col("town_code"), return_dtype=pl.String)
        .alias("town"),
        pl.col("total").alias("points"),
        pl.col("total").rank("min", descending=True).cast(pl.Int64).alias("rank"),
        _tail("id_number").alias("id_tail"),
    )


@dataclass(frozen=True)
class AllocationPlan:
    """What publishing an allocation run would make: checked, nothing written."""

    run: AllocationRun
    cycle: ProgramCycle
    spec: ProgramSpec
    kind: NoticeKind
    layout: NoticeLayout
    title: str
    """The default title (``publish`` takes another if given)."""


def _allocation_plan(
    actor: Actor, session: Session, allocation_run_id: int, qualification: bool
) -> AllocationPlan:
    """The checks of publishing an allocation run (the latest of its cycle, not final, no
    notice of the cycle open, public housing's qualified list first) and the notice's kind,
    layout and default title."""
    run = allocation.get_run(actor, session, allocation_run_id)
    cycle = programs_repository.get_cycle(actor, session, run.cycle_id)
    if run.final:
        raise Conflict(f"分配批次 {run.id} 已确定", f"allocation run {run.id} is final")
    if allocation.latest_run(actor, session, cycle.id).id != run.id:
        raise Conflict(
            f"批次 {run.id} 不是周期 {cycle.id} 的最新分配",
            f"run {run.id} is not the latest of cycle {cycle.id}",
        )
    current = session.scalars(
        select(Notice).where(Notice.cycle_id == cycle.id, Notice.status == NoticeStatus.OPEN)
    ).first()
    if current is not None:
        raise Conflict(
            f"周期 {cycle.id} 已有公示 {current.id}，请在其上重新分配",
            f"cycle {cycle.id} already has notice {current.id}: re-run on it",
        )
    spec = catalog.cycle_spec(cycle)
    if qualification:
        words = reasons.QUALIFICATION_TITLE
        kind, layout = NoticeKind.QUALIFICATION, NoticeLayout.QUALIFICATION
    else:
        if needs_qualification(actor, session, run.id):
            raise Conflict(
                f"公租房须先公示资格审核结果并待公示期满确定，才能公示配租结果（周期 {cycle.id}："
                f"luodi notice publish --run {run.id} --qualification）",
                f"public housing publishes its qualified list, and sees it final, before "
                f"the allocation (cycle {cycle.id}: publish --qualification first)",
            )
        words = reasons.TITLE_WORDS[spec.kind]
        kind, layout = NoticeKind.ALLOCATION, layout_of(spec.kind)
    title = f"{spec.name.zh}（{cycle.name}）{words}公示"
    return AllocationPlan(run, cycle, spec, kind, layout, title)


@dataclass(frozen=True)
class PublishPreview:
    """What publishing a run today would make public, before anything is written (the
    confirmation page states it)."""

    kind: NoticeKind
    title: str
    rows: int
    starts_on: date
    ends_on: date
    working_days: int


def publish_preview(
    actor: Actor,
    session: Session,
    allocation_run_id: int,
    qualification: bool = False,
    today: date | None = None,
) -> PublishPreview:
    """The notice ``publish`` would make of this run today, with the same checks (403 for a
    role that may not publish, 409 for a run that cannot be published now)."""
    require(actor, Role.ADMIN, Role.OPERATOR)
    plan = _allocation_plan(actor, session, allocation_run_id, qualification)
    starts_on = today or date.today()
    return PublishPreview(
        kind=plan.kind,
        title=plan.title,
        rows=allocation.result_count(actor, session, plan.run.id),
        starts_on=starts_on,
        ends_on=working_days_end(starts_on, plan.cycle.notice_days),
        working_days=plan.cycle.notice_days,
    )


def cycle_notices(actor: Actor, session: Session, cycle_id: int) -> list[Notice]:
    """The notices of a cycle the actor reads (every published one), newest first."""
    return list(
        session.scalars(
            repository.readable_notices(actor)
            .where(Notice.cycle_id == cycle_id)
            .order_by(Notice.id.desc())
        )
    )


def own_choice_ranks(
    actor: Actor, session: Session, run_id: int, results: pl.DataFrame | None = None
) -> pl.DataFrame:
    """``application_id``, ``choice_rank``: each result's place as the applicant's own
    preference rank (what the notice's 志愿 says; empty for a place the town gave and for
    no place). ``results``: the run's stored results already in hand."""
    run = allocation.get_run(actor, session, run_id)
    frame = allocation.stored_results(actor, session, run.id) if results is None else results
    project = {
        t.target_id: t.group_id or t.target_id for t in targets.cycle_targets(session, run.cycle_id)
    }
    frame = frame.with_columns(
        choice_key=pl.col("target_id").replace_strict(project, default=None, return_dtype=pl.String)
    )
    return frame.select(
        "application_id", choice_rank=_own_choice_rank(session, run.cycle_id, frame)
    )


def publish(
    actor: Actor,
    session: Session,
    *,
    allocation_run_id: int | None = None,
    scoring_run_id: int | None = None,
    starts_on: date | None = None,
    working_days: int | None = None,
    title: str | None = None,
    today: date | None = None,
    qualification: bool = False,
) -> Notice:
    """Publish one allocation run or one score ranking; ``qualification``: the run's
    qualified list only (资格公示), which public housing publishes, and sees final, before
    its 配租 result (住建部令第11号: the qualified are 公示 and, with no objection upheld,
    registered as 轮候对象; then 配租); the window starts today or later
    (a notice is never back-dated: that would shorten the time to object) and within a year.
    It lasts ``working_days``: by default the cycle's own notice period (``notice_days``), or
    DEFAULT_WORKING_DAYS for a score ranking."""
    require(actor, Role.ADMIN, Role.OPERATOR)
    today = today or date.today()
    if (allocation_run_id is None) == (scoring_run_id is None):
        raise Invalid(
            "请指定一个分配批次或一个计分批次", "give one allocation run or one scoring run"
        )
    starts_on = starts_on or today
    if starts_on < today:
        raise Invalid.field(
            "starts_on", starts_on.isoformat(), "公示不能早于今天开始", "cannot start in the past"
        )
    if starts_on > today + timedelta(days=MAX_DAYS_AHEAD):
        raise Invalid.field(
            "starts_on",
            starts_on.isoformat(),
            f"公示最迟在 {MAX_DAYS_AHEAD} 天内开始",
            f"a notice starts within {MAX_DAYS_AHEAD} days",
        )
    if working_days is not None and not 1 <= working_days <= 30:
        raise Invalid.field("working_days", working_days, "应为1–30个工作日", "1–30 working days")
    if title is not None and not (0 < len(title.strip()) <= MAX_TITLE):
        raise Invalid.field("title", title, f"标题为1–{MAX_TITLE}个字", f"1–{MAX_TITLE} chars")
    if allocation_run_id is not None:
        plan = _allocation_plan(actor, session, allocation_run_id, qualification)
        run, cycle, spec = plan.run, plan.cycle, plan.spec
        if plan.kind == NoticeKind.QUALIFICATION:
            rows = _qualification_rows(actor, session, run.id, spec)
        else:
            rows = _allocation_rows(actor, session, run.id, cycle.id, spec)
        notice = Notice(
            kind=plan.kind,
            layout=plan.layout,
            title=(title or plan.title).strip(),
            department=spec.department,
            cycle_id=cycle.id,
            allocation_run_id=run.id,
            scoring_run_id=run.scoring_run_id,
            seed=run.seed,
        )
        working_days = working_days or cycle.notice_days
    else:
        assert scoring_run_id is not None
        run_read = scoring.get_run(actor, session, scoring_run_id)
        rows = _scoring_rows(actor, session, run_read.id)
        notice = Notice(
            kind=NoticeKind.SCORING,
            layout=NoticeLayout.SCORE_RANKING,
            title=(title or f"积分排名公示（{run_read.policy_id} {run_read.as_of}）").strip(),
            department=None,
            scoring_run_id=run_read.id,
        )
    notice.starts_on = starts_on
    notice.ends_on = working_days_end(starts_on, working_days or DEFAULT_WORKING_DAYS)
    notice.status = NoticeStatus.OPEN
    notice.published_by = actor.username
    _store_rows(session, notice, rows)
    audit.record(
        session,
        actor,
        "notice.publish",
        "notice",
        notice.id,
        after={
            "rows_digest": notice.rows_digest,
            "starts_on": starts_on,
            "ends_on": notice.ends_on,
        },
        detail={
            "kind": notice.kind,
            "run": allocation_run_id or scoring_run_id,
            "rows": notice.row_count,
        },
    )
    return notice


class ListStatus(StrEnum):
    """What the list of notices filters by: a notice's state as the public reads it today."""

    OPEN = "open"  # 公示中
    UPCOMING = "upcoming"  # 待开始
    ENDED = "ended"  # 公示期满，待确定
    FINAL = "final"  # 已确定


SCORE_RANKING = "score-ranking"
"""The program filter's value for the score rankings (积分排名公示: of no program)."""


def notice_listing(
    actor: Actor,
    session: Session,
    *,
    program: str | None = None,
    status: ListStatus | None = None,
    search: str | None = None,
    offset: int = 0,
    limit: int = 20,
    today: date | None = None,
) -> tuple[int, list[Notice]]:
    """The notices the actor reads of one program (``SCORE_RANKING``: the score rankings) and
    one state today, their titles holding ``search``, newest first: (how many in all, one
    page), counted and paged in SQL."""
    _check_page(offset, limit)
    statement = repository.notice_filter(
        actor,
        program=program,
        score_ranking=program == SCORE_RANKING,
        status=None if status is None else status.value,
        search=search.strip()[:100] if search and search.strip() else None,
        today=today or date.today(),
    )
    return repository.notice_count(session, statement), list(
        session.scalars(statement.order_by(Notice.id.desc()).offset(offset).limit(limit))
    )


def notice_programs(session: Session) -> list[str]:
    """The ids of the programs that have a notice (for the list's filter), sorted."""
    return repository.notice_program_ids(session)


@dataclass(frozen=True)
class RowQuery:
    """What a search of a notice's rows asks: one application number (``ref``), or a masked
    name with the last four characters of an ID number (never the four alone: that would
    list everybody whose number ends so)."""

    ref: str | None = None
    masked_name: str | None = None
    tail: str | None = None

    def shown(self) -> str:
        """The search as it was understood, masked (a full ID number typed is not echoed)."""
        return self.ref if self.ref is not None else f"{self.masked_name} {self.tail}"


MAX_QUERY = 60
_NAME_AND_ID = re.compile(r"^(?P<name>[^\d\s,，]+)[\s,，]*(?P<id>\d{3,17}[\dXx])$")
_ID_AND_NAME = re.compile(r"^(?P<id>\d{3,17}[\dXx])[\s,，]+(?P<name>[^\d\s,，]+)$")
_REF = re.compile(r"^[0-9A-Za-z:_-]{1,40}$")


def parse_row_query(text: str | None) -> RowQuery | None:
    """A search box's text as a ``RowQuery`` (none when empty): ``12345`` or its 受理编号
    ``SE-2026-012345`` is an application number; ``张三 1234``, ``张** 1234`` or ``张三 330282…1234`` a name (masked here, as
    published) with the last four of an ID number. Anything else is refused without echoing
    it (it may hold a whole ID number)."""
    query = (text or "").strip()
    if not query:
        return None
    # A 受理编号 first (SE-2026-000123, SE2026000123): the letters would read as a name.
    numbered = parse_application_number(query)
    if numbered is not None:
        return RowQuery(ref=str(numbered))
    found = (
        None if len(query) > MAX_QUERY else (_NAME_AND_ID.match(query) or _ID_AND_NAME.match(query))
    )
    if found is not None:
        return RowQuery(masked_name=mask_name(found["name"]), tail=found["id"][-4:].upper())
    if _REF.match(query):
        return RowQuery(ref=query)
    raise Invalid(
        "请输入申请编号，或姓名和身份证号后四位（如：张三 1234）",
        "enter an application number, or a name and the last four of the ID number "
        "(e.g. 张三 1234)",
        [FieldProblem("q", None, "无法识别的查询", "not a search this page understands")],
    )


def search_rows(
    session: Session, notice: Notice, query: RowQuery, offset: int = 0, limit: int = 1000
) -> tuple[int, pl.DataFrame]:
    """The rows a search finds (``position`` first, then the published columns, masked), in
    the published order: (how many in all, one page). An index lookup in SQL either way; a
    row is found by a masked name only together with the last four of its ID number."""
    _check_page(offset, limit)
    if query.ref is not None:
        found = repository.rows_by_ref(session, notice, [query.ref])
        return found.height, found.slice(offset, limit)
    assert query.masked_name is not None and query.tail is not None
    return repository.row_search(session, notice, query.masked_name, query.tail, offset, limit)


def positioned_page(session: Session, notice: Notice, offset: int, limit: int) -> pl.DataFrame:
    """``rows_page`` with each row's ``position`` first."""
    _check_page(offset, limit)
    return repository.positioned_page(session, notice, offset, limit)


def own_refs(actor: Actor, session: Session, notice: Notice) -> list[str]:
    """The refs of the rows of ``notice`` about the signed-in resident: the applications of
    its cycle that are theirs or their children's, or their own score; none for anybody
    else. Who that is comes from the account and the registry only."""
    if not acts_as(actor, Role.RESIDENT):
        return []
    if notice.kind in (NoticeKind.ALLOCATION, NoticeKind.QUALIFICATION):
        return [
            str(application.id)
            for application in intake.my_applications(actor, session)
            if application.cycle_id == notice.cycle_id
        ]
    resident_id = session.scalar(select(resident_of_actor(actor)))
    return [] if resident_id is None else [str(resident_id)]


def own_rows(actor: Actor, session: Session, notice: Notice) -> pl.DataFrame:
    """The rows of ``notice`` about the signed-in resident (``own_refs``), as published."""
    return repository.rows_by_ref(session, notice, own_refs(actor, session, notice))


def list_notices(actor: Actor, session: Session, search: str | None = None) -> list[Notice]:
    """The notices the actor reads (every published one), newest first; ``search`` matches
    the title."""
    statement = repository.readable_notices(actor).order_by(Notice.id.desc())
    if search:
        statement = statement.where(Notice.title.contains(search.strip()[:100], autoescape=True))
    return list(session.scalars(statement.limit(500)))


def score_ranking_notices(
    actor: Actor, session: Session, scoring_run_id: int | None = None
) -> list[Notice]:
    """The score ranking notices (积分排名公示) the actor reads, newest first: of one scoring
    run (the one its rows are now, after any re-run), or of every run."""
    statement = repository.readable_notices(actor).where(Notice.kind == NoticeKind.SCORING)
    if scoring_run_id is not None:
        statement = statement.where(Notice.scoring_run_id == scoring_run_id)
    return list(session.scalars(statement.order_by(Notice.id.desc()).limit(500)))


def get_notice(actor: Actor, session: Session, notice_id: int) -> Notice:
    notice = session.scalars(
        repository.readable_notices(actor).where(Notice.id == notice_id)
    ).one_or_none()
    if notice is None:
        raise NotFound(f"没有公示 {notice_id}", f"no notice {notice_id}")
    return notice


def _check_page(offset: int, limit: int) -> None:
    if offset < 0 or not 1 <= limit <= MAX_PAGE_ROWS:
        raise Invalid.field(
            "limit", limit, f"每页1–{MAX_PAGE_ROWS}条，起点≥0", f"1–{MAX_PAGE_ROWS} rows from ≥ 0"
        )


def rows_page(
    session: Session, notice: Notice, offset: int = 0, limit: int = 1000, ref: str | None = None
) -> pl.DataFrame:
    """One page of the published (masked) rows in the published order, or the rows with
    ``ref``; read from ``notice_rows`` without loading the rest."""
    _check_page(offset, limit)
    return repository.row_page(session, notice, offset, limit, ref)


def verify_digest(session: Session, notice: Notice) -> bool:
    """Whether the stored rows still have the digest that was published."""
    return rows_digest(repository.all_rows(session, notice)) == notice.rows_digest


def _open_notice(actor: Actor, session: Session, notice_id: int) -> Notice:
    """A notice that is not final yet (nothing final can be objected to, decided or re-run)."""
    notice = get_notice(actor, session, notice_id)
    if notice.status == NoticeStatus.FINAL:
        raise Conflict(f"公示 {notice.id} 已结束", f"notice {notice.id} is final")
    return notice


def _given_reason(reason: str | None, missing_zh: str, missing_en: str) -> str:
    """A reason of 1 to ``MAX_REASON`` characters, stripped, with no control character
    other than line breaks and tabs (a NUL cannot even be stored in PostgreSQL text)."""
    text = (reason or "").strip()
    if not text or len(text) > MAX_REASON:
        raise Invalid.field("reason", text[:50], missing_zh, missing_en)
    if REASON_FORBIDDEN.search(text):
        raise Invalid.field(
            "reason",
            text[:50],
            "理由含有不可见的控制字符或方向控制字符",
            "the reason contains invisible control or bidirectional characters",
        )
    return text


def in_window(notice: Notice, today: date) -> bool:
    return notice.starts_on <= today <= notice.ends_on


def amendments(session: Session, notice_id: int) -> list[NoticeAmendment]:
    return repository.amendments(session, notice_id)


def amendment_changes(
    session: Session, notice: Notice, amendment_id: int, offset: int = 0, limit: int = 1000
) -> list[dict[str, Any]]:
    """One page of the rows an amendment of ``notice`` changed (before and after, masked)."""
    if not any(a.id == amendment_id for a in repository.amendments(session, notice.id)):
        raise NotFound(
            f"公示 {notice.id} 没有更正 {amendment_id}",
            f"notice {notice.id} has no amendment {amendment_id}",
        )
    _check_page(offset, limit)
    return repository.change_page(session, amendment_id, offset, limit)


def objection_counts(session: Session, notice_id: int) -> dict[str, int]:
    return repository.objection_counts(session, notice_id)


# --- objections ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    file_name: str
    content: bytes


ALLOWED_TYPES = {
    # extension → (content type, how the content must begin)
    ".pdf": ("application/pdf", (b"%PDF-",)),
    ".png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
    ".jpg": ("image/jpeg", (b"\xff\xd8\xff",)),
    ".jpeg": ("image/jpeg", (b"\xff\xd8\xff",)),
}


def _checked_upload(upload: Upload, index: int) -> ObjectionAttachment:
    field = f"attachments[{index}]"
    # A right-to-left override makes "gpj.exe" read as "exe.jpg": refused, not cleaned.
    named = check_name(upload.file_name, MAX_FILE_NAME)
    if not named.valid:
        assert named.reason_zh is not None and named.reason_en is not None
        shown = upload.file_name.encode("unicode_escape").decode()[:MAX_FILE_NAME]
        raise Invalid.field(
            field, shown, f"附件名{named.reason_zh}", f"file name {named.reason_en}"
        )
    name = safe_file_name(upload.file_name)
    extension = ("." + name.rsplit(".", 1)[-1].lower()) if "." in name else ""
    if extension not in ALLOWED_TYPES:
        raise Invalid.field(
            field, name, "附件只能是 PDF、PNG 或 JPEG", "attachments are PDF, PNG or JPEG only"
        )
    if not upload.content:
        raise Invalid.field(field, name, "附件是空文件", "the attachment is empty")
    if len(upload.content) > MAX_ATTACHMENT_BYTES:
        raise Invalid.field(
            field,
            name,
            f"附件超过 {MAX_ATTACHMENT_BYTES // 1024 // 1024} MB",
            f"larger than {MAX_ATTACHMENT_BYTES // 1024 // 1024} MB",
        )
    content_type, magics = ALLOWED_TYPES[extension]
    if not upload.content.startswith(magics):
        raise Invalid.field(
            field,
            name,
            f"文件内容不是 {extension[1:].upper()}（与扩展名不符）",
            f"the content is not {extension[1:].upper()} (does not match the extension)",
        )
    return ObjectionAttachment(
        file_name=name,
        content_type=content_type,
        size=len(upload.content),
        sha256=hashlib.sha256(upload.content).hexdigest(),
        content=upload.content,
    )


def _row_resident(actor: Actor, session: Session, notice: Notice, row_ref: str) -> int | None:
    """The resident a published row is about, if the actor may see that resident."""
    if not row_ref.isdigit():
        return None
    if notice.kind in (NoticeKind.ALLOCATION, NoticeKind.QUALIFICATION):
        try:
            application = intake.get_application(actor, session, int(row_ref))
        except NotFound:
            return None
        if application.cycle_id != notice.cycle_id:
            return None
        # The objector, not the applicant: a child's other parent reads the application too,
        # and objects (and follows the decision) as themselves.
        objector = session.execute(select(resident_of_actor(actor))).scalar_one_or_none()
        return int(objector) if objector is not None else application.resident_id
    resident_id = int(row_ref)
    return resident_id if registry.resident_exists(actor, session, resident_id) else None


def file_objection(
    actor: Actor,
    session: Session,
    notice_id: int,
    row_ref: str,
    reason: str,
    uploads: list[Upload] | None = None,
    today: date | None = None,
) -> Objection:
    """A resident objects to a row about them (their application, or their own score),
    within the window; at most 3 attachments (PDF, PNG, JPEG; content checked)."""
    require(actor, Role.RESIDENT)
    today = today or date.today()
    notice = _open_notice(actor, session, notice_id)
    if not in_window(notice, today):
        raise Conflict(
            f"公示期为 {notice.starts_on} 至 {notice.ends_on}，今天不受理异议",
            f"objections are taken from {notice.starts_on} to {notice.ends_on}",
        )
    reason = _given_reason(reason, f"请写明理由（1–{MAX_REASON}字）", f"1–{MAX_REASON} characters")
    row_ref = str(row_ref).strip()
    if not check_name(row_ref, MAX_REF).valid:
        raise Invalid.field("row", row_ref[:MAX_REF], "编号无效", "not a row number")
    published = repository.has_row(session, notice.id, row_ref)
    resident_id = _row_resident(actor, session, notice, row_ref) if published else None
    if resident_id is None:
        # Rows of others and rows not in the notice answer alike: nothing is leaked.
        raise NotFound(
            f"公示 {notice.id} 中没有与您有关的第 {row_ref} 条",
            f"notice {notice.id} has no row {row_ref} about you",
        )
    pending = session.scalars(
        select(Objection.id).where(
            Objection.notice_id == notice.id,
            Objection.row_ref == row_ref,
            Objection.status == ObjectionStatus.OPEN,
        )
    ).first()
    if pending is not None:
        raise Conflict(
            f"该条已有待复核的异议 {pending}", f"objection {pending} on this row is still open"
        )
    uploads = uploads or []
    if len(uploads) > MAX_ATTACHMENTS:
        raise Invalid.field(
            "attachments",
            len(uploads),
            f"最多 {MAX_ATTACHMENTS} 个附件",
            f"at most {MAX_ATTACHMENTS} attachments",
        )
    attachments = [_checked_upload(upload, index) for index, upload in enumerate(uploads)]
    objection = Objection(
        notice_id=notice.id,
        row_ref=row_ref,
        resident_id=resident_id,
        reason=reason,
        status=ObjectionStatus.OPEN,
        filed_by=actor.username,
    )
    session.add(objection)
    session.flush()
    for attachment in attachments:
        attachment.objection_id = objection.id
        session.add(attachment)
    session.flush()
    audit.record(
        session,
        actor,
        "objection.file",
        "objection",
        objection.id,
        after={
            "notice": notice.id,
            "row": row_ref,
            "reason": reason,
            "attachments": [a.sha256 for a in attachments],
        },
    )
    return objection


def get_objection(actor: Actor, session: Session, objection_id: int) -> Objection:
    """An objection the actor may read (``repository.readable_objections``); any other is
    "not found"."""
    require(actor, *OBJECTION_READERS)
    objection = session.scalars(
        repository.readable_objections(actor).where(Objection.id == objection_id)
    ).one_or_none()
    if objection is None:
        raise NotFound(f"没有异议 {objection_id}", f"no objection {objection_id}")
    return objection


def list_objections(
    actor: Actor, session: Session, notice_id: int | None = None
) -> list[Objection]:
    """Objections the actor may see: a resident their own, a reviewer the department's,
    service-centre staff and auditors all."""
    require(actor, *OBJECTION_READERS)
    statement = repository.readable_objections(actor).order_by(Objection.id)
    if notice_id is not None:
        statement = statement.where(Objection.notice_id == notice_id)
    return list(session.scalars(statement))


def attachments_of(session: Session, objection_id: int) -> list[ObjectionAttachment]:
    return list(
        session.scalars(
            select(ObjectionAttachment)
            .where(ObjectionAttachment.objection_id == objection_id)
            .order_by(ObjectionAttachment.id)
        )
    )


def _require_reviewer(actor: Actor, notice: Notice) -> None:
    """Who decides the objections of ``notice``: its department (a score ranking has none:
    the service centre)."""
    if notice.department:
        require_department(actor, notice.department)
    else:
        require(actor, Role.ADMIN, Role.OPERATOR)


def may_review(actor: Actor, notice: Notice) -> bool:
    """Whether ``actor`` decides the objections of ``notice`` while it is open (the page
    offers the decision only then; ``review`` checks it again)."""
    if notice.status == NoticeStatus.FINAL:
        return False
    try:
        _require_reviewer(actor, notice)
    except (Forbidden, Unauthorized):
        return False
    return True


def review(
    actor: Actor, session: Session, objection_id: int, uphold: bool, reason: str
) -> Objection:
    """The owning department decides (a score ranking: the service centre). The reason is
    shown to the resident either way."""
    objection = get_objection(actor, session, objection_id)
    notice = get_notice(actor, session, objection.notice_id)
    _require_reviewer(actor, notice)
    objection = session.scalars(
        repository.writable_objections(actor).where(Objection.id == objection.id)
    ).one()
    _open_notice(actor, session, notice.id)
    if objection.status != ObjectionStatus.OPEN:
        raise Conflict(
            f"异议 {objection.id} 已复核（{objection.status}）",
            f"objection {objection.id} was already decided ({objection.status})",
        )
    reason = _given_reason(
        reason, "复核必须写明理由", "a decision needs a reason the resident reads"
    )
    before = audit.row_state(objection)
    objection.status = ObjectionStatus.UPHELD if uphold else ObjectionStatus.DISMISSED
    objection.decision_reason = reason
    objection.decided_by = actor.username
    objection.decided_at = datetime.now(UTC)
    session.flush()
    audit.record(
        session,
        actor,
        "objection.uphold" if uphold else "objection.dismiss",
        "objection",
        objection.id,
        before,
        audit.row_state(objection),
    )
    return objection


def _pending_upheld(session: Session, notice_id: int) -> list[Objection]:
    return list(
        session.scalars(
            select(Objection).where(
                Objection.notice_id == notice_id,
                Objection.status == ObjectionStatus.UPHELD,
                Objection.amendment_id.is_(None),
            )
        )
    )


def rerun(
    actor: Actor,
    session: Session,
    notice_id: int,
    scoring_run_id: int | None = None,
    seed: str | None = None,
    confirm_other_scoring_run: bool = False,
) -> NoticeAmendment:
    """After upheld objections (and the application or data corrected): allocate again on
    the notice's own scoring run with the published seed, replace the published rows and
    record every changed row on the notice.

    The scoring run is the one the notice was built on, not the policy's latest: a city
    re-scored in the meantime would otherwise change rows nobody objected to. Naming another
    scoring run (a score ranking always does: its rows are the run) needs
    ``confirm_other_scoring_run``; the amendment then lists every row it changed."""
    require(actor, Role.ADMIN, Role.OPERATOR)
    notice = _open_notice(actor, session, notice_id)
    upheld = _pending_upheld(session, notice.id)
    if not upheld:
        raise Conflict(
            f"公示 {notice.id} 没有待处理的成立异议", f"notice {notice.id} has no upheld objection"
        )
    if notice.kind == NoticeKind.SCORING and scoring_run_id is None:
        raise Invalid.field(
            "scoring_run", None, "请指定更正数据后的新计分批次", "give the new scoring run"
        )
    built_on = notice.scoring_run_id
    chosen = built_on if scoring_run_id is None else scoring_run_id
    other = chosen != built_on
    if other and not confirm_other_scoring_run:
        raise Conflict(
            f"公示 {notice.id} 基于计分批次 {built_on}。改用计分批次 {chosen} 会按其数据重算"
            "每一条（不只是异议所涉条目），名单中多条可能随之变化；确需如此请明确确认"
            "（--confirm-scoring-run / confirm_other_scoring_run: true）",
            f"notice {notice.id} was built on scoring run {built_on}; re-running on scoring run "
            f"{chosen} recomputes every row from that run (not only the objected ones), so "
            "many rows may change: confirm it explicitly (--confirm-scoring-run / "
            "confirm_other_scoring_run: true)",
        )
    before_rows = repository.all_rows(session, notice)
    if notice.kind in (NoticeKind.ALLOCATION, NoticeKind.QUALIFICATION):
        assert notice.cycle_id is not None and notice.allocation_run_id is not None
        previous = notice.allocation_run_id
        run = allocation.allocate_cycle(
            actor, session, notice.cycle_id, seed or notice.seed or "", chosen
        )
        if notice.kind == NoticeKind.QUALIFICATION:
            spec = catalog.cycle_spec(programs_repository.get_cycle(actor, session, run.cycle_id))
            after_rows = _qualification_rows(actor, session, run.id, spec)
        elif notice.layout:
            spec = catalog.cycle_spec(programs_repository.get_cycle(actor, session, run.cycle_id))
            after_rows = _allocation_rows(actor, session, run.id, run.cycle_id, spec)
        else:
            after_rows = _legacy_allocation_rows(actor, session, run.id)
        new_id = run.id
        notice.allocation_run_id, notice.seed = run.id, run.seed
        notice.scoring_run_id = run.scoring_run_id
    else:
        assert built_on is not None and chosen is not None
        previous = built_on
        new_id = scoring.get_run(actor, session, chosen).id
        after_rows = _scoring_rows(actor, session, new_id, legacy=not notice.layout)
        notice.scoring_run_id = new_id
    after_rows = _store_rows(session, notice, after_rows)
    changes = _row_changes(before_rows, after_rows)
    amendment = NoticeAmendment(
        notice_id=notice.id,
        previous_run_id=previous,
        new_run_id=new_id,
        scoring_run_id=notice.scoring_run_id,
        other_scoring_run=other,
        changed=changes.height,
        created_by=actor.username,
    )
    session.add(amendment)
    session.flush()
    repository.store_changes(session, amendment.id, changes)
    for objection in upheld:
        objection.amendment_id = amendment.id
    session.flush()
    audit.record(
        session,
        actor,
        "notice.amend",
        "notice",
        notice.id,
        after={"rows_digest": notice.rows_digest, "amendment": amendment.id},
        detail={
            "previous_run": previous,
            "new_run": new_id,
            "scoring_run": notice.scoring_run_id,
            "other_scoring_run": other,
            "changed": changes.height,
        },
    )
    return amendment


def _row_changes(before: pl.DataFrame, after: pl.DataFrame) -> pl.DataFrame:
    """Published rows that differ between two versions (by ref): before and after, masked."""
    keys = [
        c
        for c in ("outcome", "target_name", "unit", "amount", "points", "rank")
        if c in after.columns
    ]

    def summary(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.select(
            pl.col("ref").cast(pl.String),
            "name",
            pl.concat_str(
                [pl.col(k).cast(pl.String).fill_null("—") for k in keys], separator=" | "
            ).alias("text"),
        )

    joined = summary(before).join(
        summary(after), on="ref", how="full", suffix="_after", coalesce=True
    )
    return (
        joined.filter(pl.col("text").ne_missing(pl.col("text_after")))
        .select(
            "ref",
            pl.coalesce("name_after", "name").alias("name"),
            pl.col("text").fill_null("—").alias("before"),
            pl.col("text_after").fill_null("—").alias("after"),
        )
        .sort("ref")
    )


def finalize(actor: Actor, session: Session, notice_id: int, today: date | None = None) -> Notice:
    """After the window, with no open objection and every upheld one followed by a re-run,
    the notice is final and so is its allocation (nothing final can be edited)."""
    require(actor, Role.ADMIN, Role.OPERATOR)
    today = today or date.today()
    notice = get_notice(actor, session, notice_id)
    if notice.status == NoticeStatus.FINAL:
        raise Conflict(f"公示 {notice.id} 已确定", f"notice {notice.id} is already final")
    if today <= notice.ends_on:
        raise Conflict(
            f"公示期至 {notice.ends_on} 结束，之后才能确定",
            f"the notice runs until {notice.ends_on}; finalise after it",
        )
    open_ids = [
        o.id
        for o in session.scalars(
            select(Objection).where(
                Objection.notice_id == notice.id, Objection.status == ObjectionStatus.OPEN
            )
        )
    ]
    if open_ids:
        raise Conflict(
            f"还有未复核的异议：{', '.join(map(str, open_ids))}",
            f"objections still open: {', '.join(map(str, open_ids))}",
        )
    if _pending_upheld(session, notice.id):
        raise Conflict(
            "有成立的异议尚未重新分配（luodi notice rerun）",
            "upheld objections are waiting for a re-run (luodi notice rerun)",
        )
    if notice.kind == NoticeKind.ALLOCATION:
        assert notice.cycle_id is not None
        latest = allocation.latest_run(actor, session, notice.cycle_id)
        if latest.id != notice.allocation_run_id:
            raise Conflict(
                f"周期的最新分配 {latest.id} 未公示（公示的是 {notice.allocation_run_id}）",
                f"the cycle's latest run {latest.id} is not the published one",
            )
        programs.finalize(actor, session, notice.cycle_id)
    notice.status = NoticeStatus.FINAL
    notice.finalized_at = datetime.now(UTC)
    session.flush()
    audit.record(
        session, actor, "notice.finalize", "notice", notice.id, after={"rows": notice.rows_digest}
    )
    return notice


def finalize_cycle(
    actor: Actor, session: Session, cycle_id: int, today: date | None = None
) -> Notice:
    """A program cycle becomes final through its notice (a result is always published for
    objection first)."""
    require(actor, Role.ADMIN, Role.OPERATOR)  # who may, before what state the cycle is in
    notice = session.scalars(
        select(Notice)
        .where(Notice.cycle_id == cycle_id, Notice.kind == NoticeKind.ALLOCATION)
        .order_by(Notice.id.desc())
        .limit(1)
    ).first()
    if notice is None:
        programs_repository.get_cycle(actor, session, cycle_id)
        raise Conflict(
            f"周期 {cycle_id} 的结果还没有公示（luodi notice publish）",
            f"cycle {cycle_id}'s result has not been published (luodi notice publish)",
        )
    return finalize(actor, session, notice.id, today)


# --- the reviewer's queue and one objection's case (the console) --------------------------


@dataclass(frozen=True)
class QueueItem:
    objection: Objection
    notice_title: str
    name: str | None
    """The row's name as published (masked)."""
    due_on: date
    overdue: bool
    """Still open after its 复核 deadline."""


def objection_queue(
    actor: Actor,
    session: Session,
    status: ObjectionStatus | None = None,
    notice_id: int | None = None,
    offset: int = 0,
    limit: int = 50,
    today: date | None = None,
) -> tuple[int, list[QueueItem]]:
    """The objections the actor reads (of one status and one notice if given), earliest 复核
    deadline first, one page: (how many in all, the page).

    A deadline is computed when read, by the legal calendar and each program's
    ``objection_review_days`` (``deadlines``), so it is no column SQL could sort on: the
    order is decided over the keys of the filtered objections (id, notice, filing moment;
    no text), and only the page's objections are loaded."""
    require(actor, *OBJECTION_READERS)
    _check_page(offset, limit)
    today = today or workdays.today()
    keys = session.execute(repository.objection_keys(actor, status, notice_id)).all()
    if not keys:
        return 0, []
    filed = pl.DataFrame(
        [tuple(key) for key in keys], schema=["id", "notice_id", "filed_at"], orient="row"
    )
    page = deadlines.with_due_on(session, filed).sort("due_on", "id").slice(offset, limit)
    due: dict[int, date] = dict(zip(page["id"].to_list(), page["due_on"].to_list(), strict=True))
    loaded = {
        objection.id: objection
        for objection in session.scalars(repository.objections_with_ids(actor, list(due)))
    }
    titles = repository.notice_titles(
        session, actor, sorted({objection.notice_id for objection in loaded.values()})
    )
    names = repository.row_names(session, [(o.notice_id, o.row_ref) for o in loaded.values()])
    items = [
        QueueItem(
            objection=objection,
            notice_title=titles.get(objection.notice_id, ""),
            name=names.get((objection.notice_id, objection.row_ref)),
            due_on=due_on,
            overdue=objection.status == ObjectionStatus.OPEN and due_on < today,
        )
        for objection_id, due_on in due.items()
        if (objection := loaded.get(objection_id)) is not None
    ]
    return len(keys), items


def objected_notices(actor: Actor, session: Session) -> list[tuple[int, str]]:
    """(id, title) of the notices the actor's readable objections are about, newest first."""
    require(actor, *OBJECTION_READERS)
    # Two queries: the objections' scope names their notice in a subquery, which an outer
    # query on notices would correlate away.
    ids = list(session.scalars(repository.objected_notice_ids(actor)))
    titles = repository.notice_titles(session, actor, ids)
    return sorted(titles.items(), reverse=True)


@dataclass(frozen=True)
class ObjectionAttachmentInfo:
    id: int
    file_name: str
    content_type: str
    size: int


@dataclass(frozen=True)
class ObjectionCase:
    """What a reviewer decides an objection on: the objection, the published row it is
    about (masked, as it stands now), the applicant (masked as the registry shows them to
    this actor), the application and the points behind the row."""

    objection: Objection
    notice: Notice
    due_on: date
    overdue: bool
    columns: dict[str, str]
    row: dict[str, Any] | None
    applicant: Any
    application: Any
    fields: list[tuple[Any, Any]]
    """(label: ``spec.Text``, value) of each field the application carries."""
    choices: list[str]
    """The applicant's choices by name."""
    score: Any
    score_problem: LuodiError | None
    attachments: list[ObjectionAttachmentInfo]
    may_review: bool
    upheld_waiting: int
    """Upheld objections of the notice not yet followed by a re-run."""


def objection_case(
    actor: Actor, session: Session, objection_id: int, today: date | None = None
) -> ObjectionCase:
    objection = get_objection(actor, session, objection_id)
    notice = get_notice(actor, session, objection.notice_id)
    due_on = deadlines.review_due_on(session, objection)
    rows = repository.row_page(session, notice, 0, 1, ref=objection.row_ref)
    application, fields, choices = None, [], []
    if notice.kind in (NoticeKind.ALLOCATION, NoticeKind.QUALIFICATION) and (
        objection.row_ref.isdigit()
    ):
        application = intake.get_application(actor, session, int(objection.row_ref))
        cycle = programs_repository.get_cycle(actor, session, application.cycle_id)
        spec = catalog.cycle_spec(cycle)
        values = json.loads(application.fields or "{}")
        fields = [
            (item.label, values[name]) for name, item in spec.fields.items() if name in values
        ]
        named = {
            t.group_id or t.target_id: t.name for t in targets.cycle_targets(session, cycle.id)
        }
        choices = [named.get(c, c) for c in application.choices.split(";") if c]
    score, problem = None, None
    try:
        score = scoring.resident_score(
            actor, session, objection.resident_id, run_id=notice.scoring_run_id
        )
    except NotFound as missing:
        problem = missing
    return ObjectionCase(
        objection=objection,
        notice=notice,
        due_on=due_on,
        overdue=objection.status == ObjectionStatus.OPEN and due_on < (today or workdays.today()),
        columns=dict(columns_of(notice)),
        row=rows.row(0, named=True) if rows.height else None,
        applicant=registry.get_resident(actor, session, objection.resident_id),
        application=application,
        fields=fields,
        choices=choices,
        score=score,
        score_problem=problem,
        attachments=[
            ObjectionAttachmentInfo(*row)
            for row in repository.attachment_list(session, objection.id)
        ],
        may_review=may_review(actor, notice),
        upheld_waiting=len(_pending_upheld(session, notice.id)),
    )


def attachment_file(
    actor: Actor, session: Session, objection_id: int, attachment_id: int
) -> ObjectionAttachment:
    """One attachment of an objection the actor reads (any other: not found)."""
    objection = get_objection(actor, session, objection_id)
    found = repository.attachment(session, objection.id, attachment_id)
    if found is None:
        raise NotFound(f"没有附件 {attachment_id}", f"no attachment {attachment_id}")
    return found


def upheld_waiting(actor: Actor, session: Session, notice_id: int) -> list[Objection]:
    """The upheld objections of a notice that a re-run has not yet followed."""
    notice = get_notice(actor, session, notice_id)
    return _pending_upheld(session, notice.id)


def amendment_of(
    actor: Actor, session: Session, notice_id: int, amendment_id: int
) -> NoticeAmendment:
    notice = get_notice(actor, session, notice_id)
    for amendment in repository.amendments(session, notice.id):
        if amendment.id == amendment_id:
            return amendment
    raise NotFound(
        f"公示 {notice.id} 没有更正 {amendment_id}",
        f"notice {notice.id} has no amendment {amendment_id}",
    )
