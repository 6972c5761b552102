"""Every query of notices and objections; which rows an actor reaches, as SQL, built only
from ``auth/scopes.py``:

- a notice is public once published (every stored notice is: there are no drafts); were
  one unpublished, only its department's staff would read it;
- an objection: the resident it is about, the reviewers of the notice's department, and the
  service centre and auditors (``scopes``: everything);
- writes: a notice its department's staff and the service centre; an objection the same
  reviewers (decide it) and the resident (their own).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl
from sqlalchemy import ColumnElement, Row, Select, and_, delete, func, or_, select, union
from sqlalchemy.orm import Session

from luodi import bulk
from luodi.auth import scopes
from luodi.auth.actor import Actor
from luodi.notices.models import (
    Notice,
    NoticeAmendment,
    NoticeChange,
    NoticeExport,
    NoticeKind,
    NoticeRow,
    NoticeStatus,
    Objection,
    ObjectionAttachment,
    ObjectionStatus,
)
from luodi.notices.models import notice_columns as columns_of
from luodi.programs.models import Application, ProgramCycle
from luodi.registry.models import Town

ROW_DTYPES: dict[str, Any] = {
    "ref": pl.String,
    "name": pl.String,
    "id_number": pl.String,
    "child_name": pl.String,
    "child_id_number": pl.String,
    "outcome": pl.String,
    "target_name": pl.String,
    "unit": pl.String,
    "choice_rank": pl.Int64,
    "priority_group": pl.Int64,
    "points": pl.Float64,
    "rank": pl.Int64,
    "lottery": pl.String,
    "reason_zh": pl.String,
    "town_code": pl.String,
    "town": pl.String,
    "amount": pl.Float64,
    "points_from": pl.String,
}
"""The type of every published column, the same whether a frame comes from the run or from
``notice_rows`` (so the digest of stored rows is the digest that was published)."""


def _notice_department() -> ColumnElement[Any]:
    """The department of an objection's notice (a correlated subquery)."""
    return select(Notice.department).where(Notice.id == Objection.notice_id).scalar_subquery()


def readable_notices(actor: Actor) -> Select[tuple[Notice]]:
    return select(Notice).where(
        scopes.readable(
            actor, department=Notice.department, public=Notice.published_at.is_not(None)
        )
    )


def writable_notices(actor: Actor) -> Select[tuple[Notice]]:
    return select(Notice).where(scopes.writable(actor, department=Notice.department))


def readable_objections(actor: Actor) -> Select[tuple[Objection]]:
    return select(Objection).where(
        scopes.readable(actor, department=_notice_department(), person=Objection.resident_id)
    )


def writable_objections(actor: Actor) -> Select[tuple[Objection]]:
    return select(Objection).where(
        scopes.writable(actor, department=_notice_department(), person=Objection.resident_id)
    )


def objection_keys(
    actor: Actor, status: str | None = None, notice_id: int | None = None
) -> Select[tuple[int, int, Any]]:
    """``id``, ``notice_id``, ``filed_at`` of the objections the actor reads, of one status
    and one notice if given: what a queue is ordered by, without the objections' text."""
    statement = readable_objections(actor).with_only_columns(
        Objection.id, Objection.notice_id, Objection.filed_at
    )
    if status is not None:
        statement = statement.where(Objection.status == status)
    if notice_id is not None:
        statement = statement.where(Objection.notice_id == notice_id)
    return statement


def objections_with_ids(actor: Actor, ids: list[int]) -> Select[tuple[Objection]]:
    return readable_objections(actor).where(Objection.id.in_(ids))


def objected_notice_ids(actor: Actor) -> Select[tuple[int]]:
    """The notices the actor's readable objections are about (each once)."""
    return readable_objections(actor).with_only_columns(Objection.notice_id).distinct()


def notice_titles(session: Session, actor: Actor, ids: list[int]) -> dict[int, str]:
    statement = readable_notices(actor).where(Notice.id.in_(ids)).order_by(Notice.id)
    return {notice.id: notice.title for notice in session.scalars(statement)}


def row_names(session: Session, keys: list[tuple[int, str]]) -> dict[tuple[int, str], str | None]:
    """The published (masked) name of each (notice, row) in ``keys``."""
    if not keys:
        return {}
    rows = session.execute(
        select(NoticeRow.notice_id, NoticeRow.ref, NoticeRow.name).where(
            or_(*(and_(NoticeRow.notice_id == n, NoticeRow.ref == ref) for n, ref in keys))
        )
    )
    return {(row.notice_id, row.ref): row.name for row in rows}


def attachment_list(session: Session, objection_id: int) -> list[Row[tuple[int, str, str, int]]]:
    """The attachments of an objection without their content: id, file name, type, size."""
    return list(
        session.execute(
            select(
                ObjectionAttachment.id,
                ObjectionAttachment.file_name,
                ObjectionAttachment.content_type,
                ObjectionAttachment.size,
            )
            .where(ObjectionAttachment.objection_id == objection_id)
            .order_by(ObjectionAttachment.id)
        )
    )


def attachment(
    session: Session, objection_id: int, attachment_id: int
) -> ObjectionAttachment | None:
    return session.scalars(
        select(ObjectionAttachment).where(
            ObjectionAttachment.objection_id == objection_id,
            ObjectionAttachment.id == attachment_id,
        )
    ).one_or_none()


def notice_columns(notice: Notice) -> list[str]:
    return list(columns_of(notice))


def _rows_frame(notice: Notice, rows: list[Any]) -> pl.DataFrame:
    columns = notice_columns(notice)
    return pl.DataFrame(
        [tuple(row) for row in rows],
        schema={name: ROW_DTYPES[name] for name in columns},
        orient="row",
    )


def row_page(
    session: Session, notice: Notice, offset: int, limit: int, ref: str | None = None
) -> pl.DataFrame:
    """Published rows ``offset``+1 … ``offset``+``limit`` in order (positions are 1…n, so a
    page is a range of the primary key), or the rows with ``ref``."""
    columns = [NoticeRow.__table__.c[name] for name in notice_columns(notice)]
    statement = select(*columns).where(NoticeRow.notice_id == notice.id)
    if ref is not None:
        statement = statement.where(NoticeRow.ref == ref)
    else:
        statement = statement.where(
            NoticeRow.position > offset, NoticeRow.position <= offset + limit
        )
    return _rows_frame(notice, list(session.execute(statement.order_by(NoticeRow.position))))


SEARCH_KEYS = ("id_tail", "child_id_tail")
"""Stored beside a row, never published: the last four characters of the applicant's and the
child's ID numbers (``models.NoticeRow``)."""


def _positioned_frame(notice: Notice, rows: list[Any]) -> pl.DataFrame:
    """Rows read as (position, the notice's columns…)."""
    columns = notice_columns(notice)
    return pl.DataFrame(
        [tuple(row) for row in rows],
        schema={"position": pl.Int64, **{name: ROW_DTYPES[name] for name in columns}},
        orient="row",
    )


def search_positions(notice_id: int, masked_name: str, tail: str) -> Select[tuple[int]]:
    """The positions of the rows whose applicant, or child, has this masked name and these
    last four characters of the ID number: two index lookups (``ix_notice_rows_search``,
    ``ix_notice_rows_child_search``), joined as a union (an ``OR`` lets a planner fall back
    to every row of the notice)."""
    applicant = select(NoticeRow.position).where(
        NoticeRow.notice_id == notice_id,
        NoticeRow.name == masked_name,
        NoticeRow.id_tail == tail,
    )
    child = select(NoticeRow.position).where(
        NoticeRow.notice_id == notice_id,
        NoticeRow.child_name == masked_name,
        NoticeRow.child_id_tail == tail,
    )
    return select(union(applicant, child).subquery().c.position)


def row_search(
    session: Session, notice: Notice, masked_name: str, tail: str, offset: int, limit: int
) -> tuple[int, pl.DataFrame]:
    """How many rows match a masked name and the last four of an ID number, and one page of
    them (``position`` first, then the published columns), in the published order."""
    positions = search_positions(notice.id, masked_name, tail)
    total = session.scalar(select(func.count()).select_from(positions.subquery())) or 0
    columns = [NoticeRow.__table__.c[name] for name in notice_columns(notice)]
    statement = (
        select(NoticeRow.position, *columns)
        .where(NoticeRow.notice_id == notice.id, NoticeRow.position.in_(positions))
        .order_by(NoticeRow.position)
        .offset(offset)
        .limit(limit)
    )
    return int(total), _positioned_frame(notice, list(session.execute(statement)))


def rows_by_ref(session: Session, notice: Notice, refs: list[str]) -> pl.DataFrame:
    """The rows with these refs (``position`` first, then the published columns), in order:
    one index lookup each (``ix_notice_rows_notice_id_ref``)."""
    if not refs:
        return _positioned_frame(notice, [])
    columns = [NoticeRow.__table__.c[name] for name in notice_columns(notice)]
    statement = (
        select(NoticeRow.position, *columns)
        .where(NoticeRow.notice_id == notice.id, NoticeRow.ref.in_(refs))
        .order_by(NoticeRow.position)
    )
    return _positioned_frame(notice, list(session.execute(statement)))


def positioned_page(session: Session, notice: Notice, offset: int, limit: int) -> pl.DataFrame:
    """``row_page`` with each row's ``position`` first."""
    columns = [NoticeRow.__table__.c[name] for name in notice_columns(notice)]
    statement = (
        select(NoticeRow.position, *columns)
        .where(
            NoticeRow.notice_id == notice.id,
            NoticeRow.position > offset,
            NoticeRow.position <= offset + limit,
        )
        .order_by(NoticeRow.position)
    )
    return _positioned_frame(notice, list(session.execute(statement)))


def all_rows(session: Session, notice: Notice) -> pl.DataFrame:
    """Every published row in order (for a re-run's comparison, exports and the digest)."""
    columns = [NoticeRow.__table__.c[name] for name in notice_columns(notice)]
    statement = (
        select(*columns).where(NoticeRow.notice_id == notice.id).order_by(NoticeRow.position)
    )
    return _rows_frame(notice, list(session.execute(statement)))


def has_row(session: Session, notice_id: int, ref: str) -> bool:
    return (
        session.scalar(
            select(NoticeRow.position)
            .where(NoticeRow.notice_id == notice_id, NoticeRow.ref == ref)
            .limit(1)
        )
        is not None
    )


def replace_rows(session: Session, notice: Notice, frame: pl.DataFrame) -> None:
    """Store ``frame`` (the notice's columns, in the published order, and the search keys
    ``SEARCH_KEYS`` where it has them) as the notice's rows."""
    session.execute(delete(NoticeRow).where(NoticeRow.notice_id == notice.id))
    keys = [name for name in SEARCH_KEYS if name in frame.columns]
    stored = frame.select(*notice_columns(notice), *keys).with_columns(
        pl.lit(notice.id, dtype=pl.Int64).alias("notice_id"),
        pl.int_range(1, frame.height + 1, dtype=pl.Int64).alias("position"),
    )
    bulk.insert_frame(session, NoticeRow.__table__, stored)


def store_changes(session: Session, amendment_id: int, changes: pl.DataFrame) -> None:
    stored = changes.select("ref", "name", "before", "after").with_columns(
        pl.lit(amendment_id, dtype=pl.Int64).alias("amendment_id"),
        pl.int_range(1, changes.height + 1, dtype=pl.Int64).alias("position"),
    )
    bulk.insert_frame(session, NoticeChange.__table__, stored)


def change_page(
    session: Session, amendment_id: int, offset: int, limit: int
) -> list[dict[str, Any]]:
    rows = session.execute(
        select(NoticeChange.ref, NoticeChange.name, NoticeChange.before, NoticeChange.after)
        .where(
            NoticeChange.amendment_id == amendment_id,
            NoticeChange.position > offset,
            NoticeChange.position <= offset + limit,
        )
        .order_by(NoticeChange.position)
    )
    return [row._asdict() for row in rows]


def amendments(session: Session, notice_id: int) -> list[NoticeAmendment]:
    return list(
        session.scalars(
            select(NoticeAmendment)
            .where(NoticeAmendment.notice_id == notice_id)
            .order_by(NoticeAmendment.id)
        )
    )


def objection_counts(session: Session, notice_id: int) -> dict[str, int]:
    grouped = (
        select(Objection.status, func.count())
        .where(Objection.notice_id == notice_id)
        .group_by(Objection.status)
    )
    counted: dict[str, int] = dict(session.execute(grouped).all())  # type: ignore[arg-type]
    return {str(status): int(counted.get(status, 0)) for status in ObjectionStatus}


def stored_export(session: Session, notice: Notice, kind: str) -> NoticeExport | None:
    """The export of the notice's current rows (none if it was never rendered for them)."""
    return session.scalars(
        select(NoticeExport).where(
            NoticeExport.notice_id == notice.id,
            NoticeExport.format == kind,
            NoticeExport.rows_digest == notice.rows_digest,
        )
    ).one_or_none()


def export_digest(session: Session, notice: Notice, kind: str) -> str | None:
    """The digest a stored export was rendered from, without loading its content."""
    return session.scalar(
        select(NoticeExport.rows_digest).where(
            NoticeExport.notice_id == notice.id,
            NoticeExport.format == kind,
            NoticeExport.rows_digest == notice.rows_digest,
        )
    )


def notices_missing_exports(session: Session) -> list[Notice]:
    """Notices without both files of their current rows (published before the files were
    stored, or while the PDF font was missing)."""
    current = (
        select(func.count())
        .where(
            NoticeExport.notice_id == Notice.id,
            NoticeExport.rows_digest == Notice.rows_digest,
        )
        .correlate(Notice)
        .scalar_subquery()
    )
    return list(session.scalars(select(Notice).where(current < 2).order_by(Notice.id)))


def replace_export(session: Session, notice: Notice, kind: str, content: bytes) -> None:
    session.execute(
        delete(NoticeExport).where(NoticeExport.notice_id == notice.id, NoticeExport.format == kind)
    )
    session.add(
        NoticeExport(
            notice_id=notice.id,
            format=kind,
            rows_digest=notice.rows_digest,
            size=len(content),
            content=content,
        )
    )


def town_names(session: Session) -> dict[str, str]:
    """Town code → name (towns are public)."""
    return dict(session.execute(select(Town.code, Town.name)).all())


def application_choices(session: Session, cycle_id: int) -> pl.DataFrame:
    """``application_id``, ``choices`` (the applicant's own list, ``;``-separated) of a
    cycle's applications."""
    return bulk.read_frame(
        session,
        select(Application.id, Application.choices).where(Application.cycle_id == cycle_id),
        {"application_id": pl.Int64, "choices": pl.String},
    )


def notice_filter(
    actor: Actor,
    *,
    program: str | None,
    score_ranking: bool,
    status: str | None,
    search: str | None,
    today: date,
) -> Select[tuple[Notice]]:
    """The readable notices of one program (``score_ranking``: the score rankings, of no
    program) and one state on ``today`` (``service.ListStatus``), titles holding ``search``."""
    statement = readable_notices(actor)
    if score_ranking:
        statement = statement.where(Notice.kind == NoticeKind.SCORING)
    elif program is not None:
        statement = statement.where(
            Notice.cycle_id.in_(select(ProgramCycle.id).where(ProgramCycle.program_id == program))
        )
    window = {
        "open": and_(Notice.starts_on <= today, Notice.ends_on >= today),
        "upcoming": Notice.starts_on > today,
        "ended": Notice.ends_on < today,
    }
    if status == NoticeStatus.FINAL:
        statement = statement.where(Notice.status == NoticeStatus.FINAL)
    elif status is not None:
        statement = statement.where(Notice.status == NoticeStatus.OPEN, window[status])
    if search:
        statement = statement.where(Notice.title.contains(search, autoescape=True))
    return statement


def notice_count(session: Session, statement: Select[tuple[Notice]]) -> int:
    return int(session.scalar(select(func.count()).select_from(statement.subquery())) or 0)


def notice_program_ids(session: Session) -> list[str]:
    """The programs of the cycles that have a notice (each once), sorted."""
    statement = (
        select(ProgramCycle.program_id)
        .where(ProgramCycle.id.in_(select(Notice.cycle_id).where(Notice.cycle_id.is_not(None))))
        .distinct()
        .order_by(ProgramCycle.program_id)
    )
    return list(session.scalars(statement))
