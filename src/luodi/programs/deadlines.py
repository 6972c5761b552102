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

from datetime import date, timedelta

import polars as pl
from sqlalchemy import select
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
        return pl.DataFrame(schema=OVERDUE_SCHEMA)
    frame = pl.DataFrame(
        [tuple(row) for row in rows], schema=["id", "cycle_id", "submitted_at"], orient="row"
    )
    settings = cycle_settings(session, frame["cycle_id"].unique().to_list())
    frame = frame.with_columns(_review_from(session, frame)).join(
        settings, on="cycle_id", how="left"
    )
    frame = frame.with_columns(due_on=workdays.deadlines(frame["since"], frame["review_days"]))
    return late_items(frame.filter(pl.col("due_on") < as_of), "application", as_of)


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
