"""Public notices (公示) of allocation runs and score rankings, objections (异议) with their
attachments, and the amendments an upheld objection led to."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from luodi.db import Base, UtcDateTime
from luodi.programs.spec import ProgramKind


class NoticeKind(StrEnum):
    ALLOCATION = "allocation"  # 分配结果公示
    SCORING = "scoring"  # 积分排名公示
    QUALIFICATION = "qualification"  # 资格审核结果公示（公租房：配租之前）


class NoticeStatus(StrEnum):
    OPEN = "open"  # 公示中（或待开始）
    FINAL = "final"  # 公示结束，结果确定


class ObjectionStatus(StrEnum):
    OPEN = "open"  # 待复核
    UPHELD = "upheld"  # 异议成立
    DISMISSED = "dismissed"  # 异议不成立


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
"""The published columns of each kind of notice published before layouts (``Notice.layout``
is null), in order, with their Chinese labels: the columns of ``notice_rows`` such a notice
fills, and the keys its digest covers. Kept as they were, so those notices still verify."""


class NoticeLayout(StrEnum):
    """What a notice's rows say, by the program's kind (``programs.spec.ProgramKind``) or a
    score ranking: each has its own columns (``LAYOUT_COLUMNS``)."""

    SCHOOL_ADMISSION = "school_admission"  # 录取结果, published before 积分所用父母
    SCHOOL_PLACES = "school_places"  # 录取结果
    PUBLIC_HOUSING = "public_housing"  # 配租结果
    QUOTA_BENEFIT = "quota_benefit"  # 核准名单
    TIERED_BENEFIT = "tiered_benefit"  # 核准名单（金额）
    ENTITLEMENT = "entitlement"  # 核准名单（子女，无积分）
    SCORE_RANKING = "score_ranking"  # 积分排名
    QUALIFICATION = "qualification"  # 资格审核结果（不含房源）


_PERSON = {"ref": "申请编号", "name": "申请人", "id_number": "身份证号"}
_RANKED = {"points": "积分", "rank": "排名", "lottery": "摇号号码", "reason_zh": "说明"}
LAYOUT_COLUMNS: dict[NoticeLayout, dict[str, str]] = {
    NoticeLayout.SCHOOL_ADMISSION: {
        **_PERSON,
        "child_name": "子女",
        "child_id_number": "子女身份证号",
        "outcome": "结果",
        "target_name": "录取学校",
        "town": "镇街",
        "choice_rank": "志愿",
        "priority_group": "类别",
        **_RANKED,
    },
    NoticeLayout.SCHOOL_PLACES: {
        **_PERSON,
        "child_name": "子女",
        "child_id_number": "子女身份证号",
        "outcome": "结果",
        "target_name": "录取学校",
        "town": "镇街",
        "choice_rank": "志愿",
        "priority_group": "类别",
        **_RANKED,
        "points_from": "积分所用父母",
    },
    NoticeLayout.PUBLIC_HOUSING: {
        **_PERSON,
        "outcome": "结果",
        "target_name": "项目及房型",
        "town": "镇街",
        "unit": "房号",
        "choice_rank": "志愿（项目）",
        "priority_group": "类别",
        **_RANKED,
    },
    NoticeLayout.QUOTA_BENEFIT: {**_PERSON, "outcome": "结果", **_RANKED},
    NoticeLayout.TIERED_BENEFIT: {
        **_PERSON,
        "outcome": "结果",
        "amount": "核准金额",
        "points": "积分",
        "reason_zh": "说明",
    },
    NoticeLayout.ENTITLEMENT: {
        "ref": "编号",
        "child_name": "子女",
        "child_id_number": "子女身份证号",
        "name": "监护人",
        "id_number": "身份证号",
        "outcome": "结果",
        "reason_zh": "说明",
    },
    NoticeLayout.QUALIFICATION: {
        **_PERSON,
        "outcome": "审核结果",
        "priority_group": "类别",
        "points": "积分",
        "rank": "排名",
        "reason_zh": "说明",
    },
    NoticeLayout.SCORE_RANKING: {
        "ref": "编号",
        "name": "姓名",
        "id_number": "身份证号",
        "town": "镇街",
        "points": "积分",
        "rank": "排名",
    },
}
"""The published columns of each layout, in order, with their Chinese labels. ``志愿`` is
the applicant's own preference rank of the place given (housing: of the project among the
projects chosen), empty for a place given by the town (镇街统筹); ``镇街`` is the town's name;
``说明`` a short public code (``notices.reasons``); ``积分所用父母`` the masked name of the parent
whose points (the higher of the two) the child ranked with."""


def layout_of(kind: ProgramKind) -> NoticeLayout:
    """The layout a program's allocation notice is published in now (``SCHOOL_ADMISSION``
    stays for the school notices published before it, so that their digests verify)."""
    if kind is ProgramKind.SCHOOL_ADMISSION:
        return NoticeLayout.SCHOOL_PLACES
    return NoticeLayout(kind.value)


def notice_columns(notice: Notice) -> dict[str, str]:
    """The published columns of this notice, in order, with their labels."""
    if notice.layout:
        return LAYOUT_COLUMNS[NoticeLayout(notice.layout)]
    return PUBLIC_COLUMNS[NoticeKind(notice.kind)]


class Notice(Base):
    """What was published, frozen: the masked rows (``notice_rows``) with their digest, so
    that the list anyone downloaded can be checked against the one on record. For an
    allocation notice ``scoring_run_id`` is the scoring run the allocation was built on (a
    re-run after an objection uses it unless the operator confirms another)."""

    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    layout: Mapped[str | None] = mapped_column(String(24))
    """``NoticeLayout``: the columns its rows have; null for a notice published before
    layouts (``PUBLIC_COLUMNS`` of its kind)."""
    title: Mapped[str] = mapped_column(String(200))
    department: Mapped[str | None] = mapped_column(String(32))
    cycle_id: Mapped[int | None] = mapped_column(ForeignKey("program_cycles.id"), index=True)
    allocation_run_id: Mapped[int | None] = mapped_column(ForeignKey("allocation_runs.id"))
    scoring_run_id: Mapped[int | None] = mapped_column(ForeignKey("scoring_runs.id"))
    seed: Mapped[str | None] = mapped_column(String(100))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default=NoticeStatus.OPEN)
    row_count: Mapped[int] = mapped_column(Integer)
    rows_digest: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
    published_by: Mapped[str] = mapped_column(String(64))
    finalized_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class NoticeRow(Base):
    """One published (masked) row, at its ``position`` (1, 2, … in the published order):
    pages are position ranges and a search by ``ref`` is an index lookup, so reading a page
    never loads the whole notice. A notice fills the columns of its layout
    (``notice_columns``); the others stay empty. The digest is SHA-256 of the rows as JSON
    objects of those columns (``service.rows_digest``).

    ``id_tail`` and ``child_id_tail`` (the last four characters of the applicant's and the
    child's ID numbers) are never published (not a column of any layout, not in the digest,
    the files or any answer): they are what a search by the masked name and the last four of
    the ID matches, in SQL (``ix_notice_rows_search``), with the masked name beside them."""

    __tablename__ = "notice_rows"
    __table_args__ = (
        Index("ix_notice_rows_notice_id_ref", "notice_id", "ref"),
        Index("ix_notice_rows_search", "notice_id", "name", "id_tail"),
        Index("ix_notice_rows_child_search", "notice_id", "child_name", "child_id_tail"),
    )

    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ref: Mapped[str] = mapped_column(String(40))
    name: Mapped[str | None] = mapped_column(String(100))
    id_number: Mapped[str | None] = mapped_column(String(32))
    child_name: Mapped[str | None] = mapped_column(String(100))
    child_id_number: Mapped[str | None] = mapped_column(String(32))
    outcome: Mapped[str | None] = mapped_column(String(40))
    target_name: Mapped[str | None] = mapped_column(String(200))
    unit: Mapped[str | None] = mapped_column(String(64))
    choice_rank: Mapped[int | None] = mapped_column(Integer)
    priority_group: Mapped[int | None] = mapped_column(Integer)
    points: Mapped[float | None] = mapped_column(Float)
    rank: Mapped[int | None] = mapped_column(Integer)
    lottery: Mapped[str | None] = mapped_column(String(40))
    reason_zh: Mapped[str | None] = mapped_column(Text)
    town_code: Mapped[str | None] = mapped_column(String(12))
    town: Mapped[str | None] = mapped_column(String(100))
    amount: Mapped[float | None] = mapped_column(Float)
    points_from: Mapped[str | None] = mapped_column(String(100))
    """A school place: the (masked) name of the parent whose points the child ranked with."""
    id_tail: Mapped[str | None] = mapped_column(String(4))
    child_id_tail: Mapped[str | None] = mapped_column(String(4))


class NoticeExport(Base):
    """A notice's XLSX or PDF, rendered once when the rows are published (or amended) and
    served from here to every anonymous download: ``rows_digest`` is the digest of the rows
    it was rendered from (the ETag), so a file of older rows is never served as current."""

    __tablename__ = "notice_exports"

    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id"), primary_key=True)
    format: Mapped[str] = mapped_column(String(8), primary_key=True)
    rows_digest: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    rendered_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())


class Objection(Base):
    __tablename__ = "objections"

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id"), index=True)
    row_ref: Mapped[str] = mapped_column(String(40))
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=ObjectionStatus.OPEN)
    decision_reason: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    amendment_id: Mapped[int | None] = mapped_column(ForeignKey("notice_amendments.id"))
    filed_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
    filed_by: Mapped[str] = mapped_column(String(64))


class ObjectionAttachment(Base):
    """Kept in the database (not on disk): stored with the objection in one transaction, and
    no uploaded name ever becomes a path."""

    __tablename__ = "objection_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    objection_id: Mapped[int] = mapped_column(ForeignKey("objections.id"), index=True)
    file_name: Mapped[str] = mapped_column(String(120))
    content_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)


class NoticeAmendment(Base):
    """A re-run after upheld objections: which run replaced which, on which scoring run
    (``other_scoring_run``: the operator confirmed one other than the notice's), and how many
    rows changed; the rows themselves are ``notice_changes``."""

    __tablename__ = "notice_amendments"

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id"), index=True)
    previous_run_id: Mapped[int] = mapped_column(Integer)
    new_run_id: Mapped[int] = mapped_column(Integer)
    scoring_run_id: Mapped[int | None] = mapped_column(Integer)
    other_scoring_run: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    changed: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
    created_by: Mapped[str] = mapped_column(String(64))


class NoticeChange(Base):
    """One published row an amendment changed: before and after (masked), by ``ref``; "—"
    where the row did not exist on that side. Paged by ``position`` like the rows."""

    __tablename__ = "notice_changes"

    amendment_id: Mapped[int] = mapped_column(ForeignKey("notice_amendments.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ref: Mapped[str] = mapped_column(String(40))
    name: Mapped[str | None] = mapped_column(String(100))
    before: Mapped[str] = mapped_column(Text)
    after: Mapped[str] = mapped_column(Text)
