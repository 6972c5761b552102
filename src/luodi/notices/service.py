"""Public notices (公示) and objections (异议/复核).

An operator publishes an allocation run or a score ranking for a window of working days.
What is published is frozen at that moment as masked rows (JSON, with its digest): anybody
may read and download it without signing in, and no full name, ID number or phone is in it.
During the window a resident objects to a row that concerns them; the owning department
upholds (the data is corrected through the feeds and the operator re-runs: the new run
replaces the rows and the difference is recorded on the notice) or dismisses with a reason.
After the window, with no open objection, the notice and its allocation become final.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl
from sqlalchemy import Select, false, select
from sqlalchemy.orm import Session

from luodi.audit import service as audit
from luodi.auth.actor import Actor, Role
from luodi.auth.permissions import reads_all, require, require_department
from luodi.errors import Conflict, Invalid, NotFound
from luodi.files import safe_file_name
from luodi.kernels.masking import mask_id_number, mask_name
from luodi.notices.models import (
    Notice,
    NoticeAmendment,
    NoticeKind,
    NoticeStatus,
    Objection,
    ObjectionAttachment,
    ObjectionStatus,
)
from luodi.programs import service as programs
from luodi.programs.models import OUTCOME_LABELS
from luodi.registry import service as registry
from luodi.scoring import service as scoring

DEFAULT_WORKING_DAYS = 5
MAX_REASON = 2000
MAX_ATTACHMENTS = 3
MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024
MAX_TITLE = 200

ALLOCATION_COLUMNS = {
    "ref": "申请编号",
    "name": "申请人",
    "id_number": "身份证号",
    "child_name": "子女",
    "child_id_number": "子女身份证号",
    "outcome": "结果",
    "target_name": "学校/房源",
    "unit": "房号",
    "choice_rank": "志愿",
    "priority_group": "类别",
    "points": "积分",
    "rank": "排名",
    "lottery": "摇号号码",
    "reason_zh": "说明",
}
SCORING_COLUMNS = {
    "ref": "编号",
    "name": "姓名",
    "id_number": "身份证号",
    "town_code": "镇街",
    "points": "积分",
    "rank": "排名",
}
PUBLIC_COLUMNS = {NoticeKind.ALLOCATION: ALLOCATION_COLUMNS, NoticeKind.SCORING: SCORING_COLUMNS}


def working_days_end(start: date, working_days: int) -> date:
    """The last day of a window of ``working_days`` Monday-to-Friday days from ``start``
    (``start`` counts when it is a working day). Public holidays are not known to luodi:
    an operator who publishes before a holiday lengthens the window by hand."""
    day, counted = start, 0
    while True:
        if day.weekday() < 5:
            counted += 1
            if counted == working_days:
                return day
        day += timedelta(days=1)


def _digest(rows: list[dict[str, Any]]) -> str:
    text = json.dumps(rows, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _freeze(frame: pl.DataFrame) -> tuple[str, str, int]:
    rows = frame.to_dicts()
    return json.dumps(rows, ensure_ascii=False, default=str), _digest(rows), len(rows)


def _allocation_rows(actor: Actor, session: Session, run_id: int) -> pl.DataFrame:
    frame = programs.run_results(actor, session, run_id, masked=True)
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
    ).sort("rank", "ref", nulls_last=True)


def _scoring_rows(actor: Actor, session: Session, run_id: int) -> pl.DataFrame:
    people = registry.people(actor, session)
    scores = scoring.run_totals(actor, session, run_id)
    frame = scores.join(people, on="resident_id", how="left").sort(
        ["total", "resident_id"], descending=[True, False]
    )
    return frame.select(
        pl.col("resident_id").cast(pl.String).alias("ref"),
        pl.col("name").map_elements(mask_name, return_dtype=pl.String),
        pl.col("id_number").map_elements(mask_id_number, return_dtype=pl.String),
        "town_code",
        pl.col("total").alias("points"),
        pl.col("total").rank("min", descending=True).cast(pl.Int64).alias("rank"),
    )


def publish(
    actor: Actor,
    session: Session,
    *,
    allocation_run_id: int | None = None,
    scoring_run_id: int | None = None,
    starts_on: date | None = None,
    working_days: int = DEFAULT_WORKING_DAYS,
    title: str | None = None,
    today: date | None = None,
) -> Notice:
    """Publish one allocation run or one score ranking; the window starts today or later
    (a notice is never back-dated: that would shorten the time to object)."""
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
    if not 1 <= working_days <= 30:
        raise Invalid.field("working_days", working_days, "应为1–30个工作日", "1–30 working days")
    if title is not None and not (0 < len(title.strip()) <= MAX_TITLE):
        raise Invalid.field("title", title, f"标题为1–{MAX_TITLE}个字", f"1–{MAX_TITLE} chars")
    if allocation_run_id is not None:
        run = programs.get_run(actor, session, allocation_run_id)
        cycle = programs.get_cycle(actor, session, run.cycle_id)
        if run.final:
            raise Conflict(f"分配批次 {run.id} 已确定", f"allocation run {run.id} is final")
        if programs.latest_run(actor, session, cycle.id).id != run.id:
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
        spec = programs.cycle_spec(cycle)
        rows_json, digest, count = _freeze(_allocation_rows(actor, session, run.id))
        notice = Notice(
            kind=NoticeKind.ALLOCATION,
            title=(title or f"{spec.name.zh}（{cycle.name}）分配结果公示").strip(),
            department=spec.department,
            cycle_id=cycle.id,
            allocation_run_id=run.id,
            seed=run.seed,
        )
    else:
        assert scoring_run_id is not None
        run_read = scoring.get_run(actor, session, scoring_run_id)
        rows_json, digest, count = _freeze(_scoring_rows(actor, session, run_read.id))
        notice = Notice(
            kind=NoticeKind.SCORING,
            title=(title or f"积分排名公示（{run_read.policy_id} {run_read.as_of}）").strip(),
            department=None,
            scoring_run_id=run_read.id,
        )
    notice.starts_on = starts_on
    notice.ends_on = working_days_end(starts_on, working_days)
    notice.status = NoticeStatus.OPEN
    notice.rows_json, notice.rows_digest, notice.row_count = rows_json, digest, count
    notice.published_by = actor.username
    session.add(notice)
    session.flush()
    audit.record(
        session,
        actor,
        "notice.publish",
        "notice",
        notice.id,
        after={"rows_digest": digest, "starts_on": starts_on, "ends_on": notice.ends_on},
        detail={"kind": notice.kind, "run": allocation_run_id or scoring_run_id, "rows": count},
    )
    return notice


def list_notices(session: Session, search: str | None = None) -> list[Notice]:
    """Every notice, newest first (public); ``search`` matches the title."""
    statement = select(Notice).order_by(Notice.id.desc())
    if search:
        statement = statement.where(Notice.title.contains(search.strip()[:100], autoescape=True))
    return list(session.scalars(statement.limit(500)))


def get_notice(session: Session, notice_id: int) -> Notice:
    notice = session.get(Notice, notice_id)
    if notice is None:
        raise NotFound(f"没有公示 {notice_id}", f"no notice {notice_id}")
    return notice


def notice_rows(notice: Notice) -> pl.DataFrame:
    """The published (masked) rows, in the published order."""
    columns = list(PUBLIC_COLUMNS[NoticeKind(notice.kind)])
    rows = json.loads(notice.rows_json)
    if not rows:
        return pl.DataFrame(schema=dict.fromkeys(columns, pl.String))
    return pl.DataFrame(rows, infer_schema_length=None).select(columns)


def _open_notice(session: Session, notice_id: int) -> Notice:
    """A notice that is not final yet (nothing final can be objected to, decided or re-run)."""
    notice = get_notice(session, notice_id)
    if notice.status == NoticeStatus.FINAL:
        raise Conflict(f"公示 {notice.id} 已结束", f"notice {notice.id} is final")
    return notice


def _given_reason(reason: str | None, missing_zh: str, missing_en: str) -> str:
    """A reason of 1 to ``MAX_REASON`` characters, stripped."""
    text = (reason or "").strip()
    if not text or len(text) > MAX_REASON:
        raise Invalid.field("reason", text[:50], missing_zh, missing_en)
    return text


def in_window(notice: Notice, today: date) -> bool:
    return notice.starts_on <= today <= notice.ends_on


def amendments(session: Session, notice_id: int) -> list[NoticeAmendment]:
    return list(
        session.scalars(
            select(NoticeAmendment)
            .where(NoticeAmendment.notice_id == notice_id)
            .order_by(NoticeAmendment.id)
        )
    )


def objection_counts(session: Session, notice_id: int) -> dict[str, int]:
    statuses = session.scalars(select(Objection.status).where(Objection.notice_id == notice_id))
    counts = dict.fromkeys(ObjectionStatus, 0)
    for status in statuses:
        counts[ObjectionStatus(status)] += 1
    return {str(key): value for key, value in counts.items()}


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
    if notice.kind == NoticeKind.ALLOCATION:
        try:
            application = programs.get_application(actor, session, int(row_ref))
        except NotFound:
            return None
        return application.resident_id if application.cycle_id == notice.cycle_id else None
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
    notice = _open_notice(session, notice_id)
    if not in_window(notice, today):
        raise Conflict(
            f"公示期为 {notice.starts_on} 至 {notice.ends_on}，今天不受理异议",
            f"objections are taken from {notice.starts_on} to {notice.ends_on}",
        )
    reason = _given_reason(reason, f"请写明理由（1–{MAX_REASON}字）", f"1–{MAX_REASON} characters")
    row_ref = str(row_ref).strip()
    published = set(notice_rows(notice)["ref"].cast(pl.String).to_list())
    resident_id = _row_resident(actor, session, notice, row_ref) if row_ref in published else None
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


def _readable_objections(actor: Actor, session: Session) -> Select[tuple[Objection]]:
    """Objections the actor may see, as one query: a resident their own, a reviewer the
    department's notices', service-centre staff and auditors all, anybody else none."""
    statement = select(Objection)
    if actor.role == Role.RESIDENT:
        own = registry.people(actor, session)["resident_id"].to_list()
        return statement.where(Objection.resident_id.in_(own))
    if actor.role == Role.REVIEWER:
        return statement.join(Notice, Notice.id == Objection.notice_id).where(
            Notice.department == actor.department
        )
    return statement if reads_all(actor) else statement.where(false())


def get_objection(actor: Actor, session: Session, objection_id: int) -> Objection:
    objection = session.scalars(
        _readable_objections(actor, session).where(Objection.id == objection_id)
    ).one_or_none()
    if objection is None:
        raise NotFound(f"没有异议 {objection_id}", f"no objection {objection_id}")
    return objection


def list_objections(
    actor: Actor, session: Session, notice_id: int | None = None
) -> list[Objection]:
    """Objections the actor may see: a resident their own, a reviewer the department's,
    service-centre staff and auditors all."""
    require(actor, Role.ADMIN, Role.OPERATOR, Role.REVIEWER, Role.AUDITOR, Role.RESIDENT)
    statement = _readable_objections(actor, session).order_by(Objection.id)
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


def review(
    actor: Actor, session: Session, objection_id: int, uphold: bool, reason: str
) -> Objection:
    """The owning department decides (a score ranking: the service centre). The reason is
    shown to the resident either way."""
    objection = get_objection(actor, session, objection_id)
    notice = get_notice(session, objection.notice_id)
    if notice.department:
        require_department(actor, notice.department)
    else:
        require(actor, Role.ADMIN, Role.OPERATOR)
    _open_notice(session, notice.id)
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
) -> NoticeAmendment:
    """After upheld objections (and the data corrected through the feeds): allocate again
    with the published seed (or a new scoring run), replace the published rows and record
    what changed on the notice. A score ranking takes the new scoring run to publish."""
    require(actor, Role.ADMIN, Role.OPERATOR)
    notice = _open_notice(session, notice_id)
    upheld = _pending_upheld(session, notice.id)
    if not upheld:
        raise Conflict(
            f"公示 {notice.id} 没有待处理的成立异议", f"notice {notice.id} has no upheld objection"
        )
    before_rows = notice_rows(notice)
    if notice.kind == NoticeKind.ALLOCATION:
        assert notice.cycle_id is not None and notice.allocation_run_id is not None
        previous = notice.allocation_run_id
        run = programs.allocate_cycle(
            actor, session, notice.cycle_id, seed or notice.seed or "", scoring_run_id
        )
        new_id, after_rows = run.id, _allocation_rows(actor, session, run.id)
        notice.allocation_run_id, notice.seed = run.id, run.seed
    else:
        if scoring_run_id is None:
            raise Invalid.field(
                "scoring_run", None, "请指定更正数据后的新计分批次", "give the new scoring run"
            )
        assert notice.scoring_run_id is not None
        previous = notice.scoring_run_id
        new_id = scoring.get_run(actor, session, scoring_run_id).id
        after_rows = _scoring_rows(actor, session, new_id)
        notice.scoring_run_id = new_id
    changes = _row_changes(before_rows, after_rows)
    notice.rows_json, notice.rows_digest, notice.row_count = _freeze(after_rows)
    amendment = NoticeAmendment(
        notice_id=notice.id,
        previous_run_id=previous,
        new_run_id=new_id,
        changed=changes.height,
        changes_json=json.dumps(changes.to_dicts(), ensure_ascii=False, default=str),
        created_by=actor.username,
    )
    session.add(amendment)
    session.flush()
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
        detail={"previous_run": previous, "new_run": new_id, "changed": changes.height},
    )
    return amendment


def _row_changes(before: pl.DataFrame, after: pl.DataFrame) -> pl.DataFrame:
    """Published rows that differ between two versions (by ref): before and after, masked."""
    keys = [c for c in ("outcome", "target_name", "unit", "points", "rank") if c in after.columns]

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
    notice = get_notice(session, notice_id)
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
        latest = programs.latest_run(actor, session, notice.cycle_id)
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
    notice = session.scalars(
        select(Notice).where(Notice.cycle_id == cycle_id).order_by(Notice.id.desc()).limit(1)
    ).first()
    if notice is None:
        programs.get_cycle(actor, session, cycle_id)
        raise Conflict(
            f"周期 {cycle_id} 的结果还没有公示（luodi notice publish）",
            f"cycle {cycle_id}'s result has not been published (luodi notice publish)",
        )
    return finalize(actor, session, notice.id, today)
