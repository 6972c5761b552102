"""The 复核 deadline of each objection, and the objections past it.

The department decides an objection within the program's ``objection_review_days`` working
days (宁波: 5; docs/programs.md, "Deadlines"), counted by the legal calendar from the day
after it was filed; an objection to a score ranking (no program) has the default five days,
the same source's 复核 of points. Computed when read, like the applications' deadlines
(``programs.deadlines``).
"""

from __future__ import annotations

from datetime import date

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from luodi import workdays
from luodi.auth.actor import Actor
from luodi.auth.permissions import require
from luodi.errors import Invalid
from luodi.notices import repository
from luodi.notices.models import Notice, Objection, ObjectionStatus
from luodi.programs.deadlines import (
    OVERDUE_READERS,
    OVERDUE_SCHEMA,
    cycle_settings,
    late_items,
    overdue_applications,
)
from luodi.programs.spec import DEFAULT_OBJECTION_REVIEW_DAYS


def review_due_on(session: Session, objection: Objection) -> date:
    """The last day the department has to decide ``objection``."""
    cycle_id = session.scalar(select(Notice.cycle_id).where(Notice.id == objection.notice_id))
    settings = cycle_settings(session, [cycle_id] if cycle_id is not None else [])
    days = (
        settings["objection_review_days"][0] if settings.height else DEFAULT_OBJECTION_REVIEW_DAYS
    )
    return workdays.deadline(workdays.local_day(objection.filed_at), days)


def overdue_objections(
    actor: Actor, session: Session, as_of: date, cycle_id: int | None = None
) -> pl.DataFrame:
    """Objections still open whose 复核 deadline is before ``as_of``, among those the actor
    reads (``repository.readable_objections``: a reviewer their department's), oldest
    deadline first."""
    require(actor, *OVERDUE_READERS)
    # The scope's own subquery names the notice: joining it here would correlate it away.
    statement = (
        repository.readable_objections(actor)
        .where(Objection.status == ObjectionStatus.OPEN)
        .with_only_columns(Objection.id, Objection.notice_id, Objection.filed_at)
    )
    rows = session.execute(statement).all()
    if not rows:
        return pl.DataFrame(schema=OVERDUE_SCHEMA)
    filed = pl.DataFrame(
        [tuple(row) for row in rows], schema=["id", "notice_id", "filed_at"], orient="row"
    )
    frame = with_due_on(session, filed, cycle_id)
    return late_items(frame.filter(pl.col("due_on") < as_of), "objection", as_of)


def with_due_on(session: Session, filed: pl.DataFrame, cycle_id: int | None = None) -> pl.DataFrame:
    """``filed`` (``id``, ``notice_id``, ``filed_at``) with ``since`` (the filing day in
    China), the notice's ``cycle_id``, ``program_id``, ``department`` and ``due_on`` (the
    program's ``objection_review_days``, or the default for a score ranking); only the
    cycle's when ``cycle_id`` is given."""
    frame = filed.select(
        pl.col("id").cast(pl.Int64),
        pl.col("notice_id").cast(pl.Int64),
        since=workdays.local_days(filed["filed_at"]),
    )
    notices = pl.DataFrame(
        session.execute(
            select(Notice.id, Notice.cycle_id, Notice.department).where(
                Notice.id.in_(frame["notice_id"].unique().to_list())
            )
        ).all(),
        schema={"notice_id": pl.Int64, "cycle_id": pl.Int64, "notice_department": pl.String},
        orient="row",
    )
    frame = frame.join(notices, on="notice_id", how="left")
    if cycle_id is not None:
        frame = frame.filter(pl.col("cycle_id") == cycle_id)
    settings = cycle_settings(session, frame["cycle_id"].drop_nulls().unique().to_list())
    frame = frame.join(settings, on="cycle_id", how="left").with_columns(
        pl.col("department").fill_null(pl.col("notice_department")),
        pl.col("objection_review_days").fill_null(DEFAULT_OBJECTION_REVIEW_DAYS),
    )
    frame = frame.with_columns(
        due_on=workdays.deadlines(frame["since"], frame["objection_review_days"])
    )
    return frame


def open_objections(actor: Actor, session: Session, limit: int = 10) -> tuple[int, pl.DataFrame]:
    """Objections waiting for their 复核 among those the actor reads: how many, and the
    ``limit`` whose deadline comes first (``id``, ``notice_id``, ``cycle_id``, ``department``,
    ``since``, ``due_on``)."""
    require(actor, *OVERDUE_READERS)
    columns = ["id", "notice_id", "cycle_id", "department", "since", "due_on"]
    statement = (
        repository.readable_objections(actor)
        .where(Objection.status == ObjectionStatus.OPEN)
        .with_only_columns(Objection.id, Objection.notice_id, Objection.filed_at)
    )
    rows = session.execute(statement).all()
    if not rows:
        schema = {"notice_id": pl.Int64(), **OVERDUE_SCHEMA}
        return 0, pl.DataFrame(schema={name: schema[name] for name in columns})
    filed = pl.DataFrame(
        [tuple(row) for row in rows], schema=["id", "notice_id", "filed_at"], orient="row"
    )
    frame = with_due_on(session, filed)
    return frame.height, frame.sort("due_on", "id").head(limit).select(columns)


MAX_AS_OF_DAYS = 3 * 366
"""How far from today an overdue list may be asked for (the calendar counts working days over
at most ten years; a deadline is weeks long)."""


def overdue(
    actor: Actor, session: Session, as_of: date | None = None, cycle_id: int | None = None
) -> pl.DataFrame:
    """Everything past its deadline on ``as_of`` (default today) that the actor reads:
    applications the department has not decided (审核) and objections not yet decided
    (复核), oldest deadline first (``OVERDUE_SCHEMA``)."""
    today = workdays.today()
    day = as_of or today
    if abs((day - today).days) > MAX_AS_OF_DAYS:
        # Working days are counted day by day over a bounded span: a date years away is a
        # typing error, answered as one (it raised a ValueError, a 500).
        raise Invalid.field(
            "as_of",
            day.isoformat(),
            f"查询日期应在今天前后 {MAX_AS_OF_DAYS} 天之内",
            f"a date within {MAX_AS_OF_DAYS} days of today",
        )
    return pl.concat(
        [
            overdue_applications(actor, session, day, cycle_id),
            overdue_objections(actor, session, day, cycle_id),
        ]
    ).sort("due_on", "kind", "id")
