"""The department's review deadline of each application (审核期限), and the applications
past it.

A department verifies (or returns) an application within the program's ``review_days``
working days (宁波: 10; docs/programs.md, "Deadlines") counted by the legal calendar from the
day after it was submitted — or, for an application corrected after a return or an
objection, from the day after its latest correction (it was handed in again). The deadline
is computed when read, from the stored submission and the audited correction, so a city
calendar file published later moves deadlines not yet passed.

The objections' 复核 deadlines are ``notices.deadlines``; ``luodi program overdue`` and
``GET /api/v1/overdue`` show both.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import polars as pl
from sqlalchemy import ColumnElement, and_, false, or_, select
from sqlalchemy.orm import Session

from luodi import workdays
from luodi.audit import service as audit
from luodi.auth.actor import Actor, Role
from luodi.auth.permissions import require
from luodi.programs import repository
from luodi.programs.catalog import cycle_spec
from luodi.programs.models import Application, ApplicationStatus, ProgramCycle

OVERDUE_READERS = (Role.ADMIN, Role.OPERATOR, Role.REVIEWER, Role.TOWN_STAFF, Role.AUDITOR)
"""Who lists what is overdue: the service centre, auditors, a department's reviewers (their
own department's) and a town's staff (their town's applicants)."""

OVERDUE_SCHEMA: dict[str, pl.DataType] = {
    "kind": pl.String(),
    "id": pl.Int64(),
    "cycle_id": pl.Int64(),
    "program_id": pl.String(),
    "department": pl.String(),
    "since": pl.Date(),
    "due_on": pl.Date(),
    "working_days_late": pl.Int64(),
}
"""One overdue item: ``kind`` is ``application`` (审核) or ``objection`` (复核); ``since`` the
day the period was counted from (the submission, latest correction or filing); ``due_on``
its last day; ``working_days_late`` the working days after it up to the as-of day."""

OVERDUE_LABELS = {"application": "申请审核", "objection": "异议复核"}
CORRECTED = "application.correct"
"""The audit action of a correction (``intake.correct``): the application was handed in again."""


def _review_from(session: Session, frame: pl.DataFrame) -> pl.Series:
    """The day each application's review period counts from: its submission, or its latest
    correction (both as days in China)."""
    corrected = audit.last_times(session, "application", CORRECTED, [str(i) for i in frame["id"]])
    submitted = workdays.utc_moments(frame["submitted_at"])
    if corrected:
        again = pl.DataFrame(
            {
                "id": [int(key) for key in corrected],
                "corrected_at": workdays.utc_moments(pl.Series(list(corrected.values()))),
            }
        )
        latest = (
            frame.select("id")
            .with_columns(submitted_at=submitted)
            .join(again, on="id", how="left", maintain_order="left")
            .select(pl.max_horizontal("submitted_at", "corrected_at"))
            .to_series()
        )
    else:
        latest = submitted
    return latest.dt.convert_time_zone(workdays.CHINA_ZONE).dt.date().alias("since")


def cycle_settings(session: Session, cycle_ids: list[int]) -> pl.DataFrame:
    """``cycle_id``, ``program_id``, ``department``, ``review_days`` and
    ``objection_review_days`` of these cycles, from the program document each copied when it
    opened (a later edit of the document does not move a deadline)."""
    cycles = session.scalars(select(ProgramCycle).where(ProgramCycle.id.in_(cycle_ids)))
    rows = []
    for cycle in cycles:
        spec = cycle_spec(cycle)
        rows.append(
            (
                cycle.id,
                cycle.program_id,
                cycle.department,
                spec.review_days,
                spec.objection_review_days,
            )
        )
    return pl.DataFrame(
        rows,
        schema={
            "cycle_id": pl.Int64,
            "program_id": pl.String,
            "department": pl.String,
            "review_days": pl.Int64,
            "objection_review_days": pl.Int64,
        },
        orient="row",
    )


def review_due_on(session: Session, application: Application) -> date:
    """The last day the department has to decide ``application`` (one already decided: the
    deadline its latest review had)."""
    frame = pl.DataFrame({"id": [application.id], "submitted_at": [application.submitted_at]})
    since = _review_from(session, frame)[0]
    days = cycle_settings(session, [application.cycle_id])["review_days"][0]
    return workdays.deadline(since, days)


def overdue_applications(
    actor: Actor, session: Session, as_of: date, cycle_id: int | None = None
) -> pl.DataFrame:
    """Applications still waiting for the department (submitted) whose review deadline is
    before ``as_of``, among those the actor reads (``repository.readable_applications``: a
    reviewer their department's, town staff their town's), oldest deadline first."""
    frame = _waiting(actor, session, cycle_id)
    if frame is None:
        return pl.DataFrame(schema=OVERDUE_SCHEMA)
    return late_items(frame.filter(pl.col("due_on") < as_of), "application", as_of)


WAITING_SCHEMA: dict[str, pl.DataType] = {
    name: OVERDUE_SCHEMA[name]
    for name in ("id", "cycle_id", "program_id", "department", "since", "due_on")
}


def waiting_applications(
    actor: Actor, session: Session, limit: int = 10
) -> tuple[int, pl.DataFrame]:
    """Applications waiting for the department (submitted) among those the actor reads: how
    many, and the ``limit`` whose review deadline comes first (``WAITING_SCHEMA``)."""
    frame = _waiting(actor, session, None)
    if frame is None:
        return 0, pl.DataFrame(schema=WAITING_SCHEMA)
    soonest = frame.sort("due_on", "id").head(limit)
    return frame.height, soonest.select(list(WAITING_SCHEMA)).cast(WAITING_SCHEMA)


def _waiting(actor: Actor, session: Session, cycle_id: int | None) -> pl.DataFrame | None:
    """Each submitted application the actor reads with its cycle's settings, ``since`` and
    ``due_on``; None when there is none."""
    require(actor, *OVERDUE_READERS)
    # The scope's own subqueries name the cycle: joining it here would correlate them away.
    statement = (
        repository.readable_applications(actor)
        .where(Application.status == ApplicationStatus.SUBMITTED)
        .with_only_columns(Application.id, Application.cycle_id, Application.submitted_at)
    )
    if cycle_id is not None:
        statement = statement.where(Application.cycle_id == cycle_id)
    rows = session.execute(statement).all()
    if not rows:
        return None
    frame = pl.DataFrame(
        [tuple(row) for row in rows], schema=["id", "cycle_id", "submitted_at"], orient="row"
    )
    settings = cycle_settings(session, frame["cycle_id"].unique().to_list())
    frame = frame.with_columns(_review_from(session, frame)).join(
        settings, on="cycle_id", how="left"
    )
    return frame.with_columns(due_on=workdays.deadlines(frame["since"], frame["review_days"]))


def late_items(frame: pl.DataFrame, kind: str, as_of: date) -> pl.DataFrame:
    """Overdue items in ``OVERDUE_SCHEMA`` (with the working days late up to ``as_of``)."""
    calendar = workdays.current()

    def working_days_late(due: date) -> int | None:
        try:
            return calendar.working_days_between(due + timedelta(days=1), as_of)
        except ValueError:
            return None  # a deadline more than ten years before: late, not counted by day

    # Once per distinct deadline: many items share a few.
    late = {due: working_days_late(due) for due in frame["due_on"].unique()}
    return (
        frame.with_columns(
            kind=pl.lit(kind),
            working_days_late=pl.col("due_on").replace_strict(late, return_dtype=pl.Int64),
        )
        .select(list(OVERDUE_SCHEMA))
        .cast(OVERDUE_SCHEMA)
        .sort("due_on", "id")
    )


SEARCH_DAYS = 400
"""How far a search for the days a deadline counts from goes (a year and its holidays)."""


def due_between(
    session: Session, cycle_id: int, first: date | None, last: date
) -> ColumnElement[bool]:
    """A predicate on ``Application`` for the submitted applications of a cycle whose review
    deadline falls between ``first`` (None: any day before) and ``last``, in SQL: a
    deadline only grows with the day it counts from, so the window of deadlines is a window
    of those days (a submission's, or its latest correction's, which ``audit`` keeps)."""
    days = int(cycle_settings(session, [cycle_id])["review_days"][0])
    calendar = workdays.current()

    def due(day: date) -> date:
        return calendar.window_end(day + timedelta(days=1), days)

    latest = last
    for _ in range(SEARCH_DAYS):
        if due(latest) <= last:
            break
        latest -= timedelta(days=1)
    earliest = None
    if first is not None:
        earliest = latest
        for _ in range(SEARCH_DAYS):
            if due(earliest - timedelta(days=1)) < first:
                break
            earliest -= timedelta(days=1)
        if due(earliest) < first:
            return false()
    waiting = Application.status == ApplicationStatus.SUBMITTED
    end = _china_midnight(latest + timedelta(days=1))
    if earliest is None:
        corrected = audit.times_since(session, "application", CORRECTED, end)
        return and_(
            waiting,
            Application.submitted_at < end,
            Application.id.not_in([int(key) for key in corrected]),
        )
    start = _china_midnight(earliest)
    corrected = audit.times_since(session, "application", CORRECTED, start)
    inside = [int(key) for key, moment in corrected.items() if moment < end]
    return and_(
        waiting,
        or_(
            and_(
                Application.submitted_at >= start,
                Application.submitted_at < end,
                Application.id.not_in([int(key) for key in corrected]),
            ),
            Application.id.in_(inside),
        ),
    )


def _china_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), workdays.CHINA_TIME).astimezone(UTC)


def due_dates(session: Session, applications: list[Application]) -> dict[int, date]:
    """Each application's review deadline (a page of a queue: one read of the corrections)."""
    if not applications:
        return {}
    frame = pl.DataFrame(
        {
            "id": [a.id for a in applications],
            "submitted_at": [a.submitted_at for a in applications],
            "cycle_id": [a.cycle_id for a in applications],
        }
    )
    settings = cycle_settings(session, frame["cycle_id"].unique().to_list())
    frame = frame.with_columns(_review_from(session, frame)).join(
        settings, on="cycle_id", how="left", maintain_order="left"
    )
    frame = frame.with_columns(due_on=workdays.deadlines(frame["since"], frame["review_days"]))
    return dict(zip(frame["id"].to_list(), frame["due_on"].to_list(), strict=True))
