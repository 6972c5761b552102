"""Programs: the cycle's state machine. A cycle opens (with its targets, and the waiting
list of an earlier one carried over), takes applications (``intake``), is allocated
(``allocation.service``, any number of runs) and is finalised after its notice.

The caller commits (transactions at the edge).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

import polars as pl
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from luodi import bulk, workdays
from luodi.allocation import service as allocation
from luodi.allocation.models import AllocationResult, AllocationRun, Outcome
from luodi.audit import service as audit
from luodi.auth.actor import Actor, Role
from luodi.auth.permissions import require
from luodi.errors import Conflict, Invalid, NotFound
from luodi.policy.service import find_policy
from luodi.programs import repository, rules, targets, towns
from luodi.programs.catalog import find_program
from luodi.programs.models import (
    Application,
    ApplicationStatus,
    CycleStatus,
    CycleTarget,
    ProgramCycle,
)
from luodi.programs.spec import MAX_WINDOW_DAYS, ProgramKind, ProgramSpec
from luodi.registry.models import Town

EARLIEST_DAY, LATEST_DAY = date(2000, 1, 1), date(2100, 12, 31)
"""Cycle dates outside these are typing errors (and near year 9999 date arithmetic fails)."""
MAX_PLACES = 10_000_000


def _check_rules(spec: ProgramSpec, on: date) -> None:
    """A rule naming a word nobody provides (neither the applicant's context nor the policy in
    force on the cycle's date) is refused when the cycle opens, not at its allocation."""
    try:
        compiled = find_policy(spec.policy, on)
    except NotFound:
        return  # no version in force yet: the allocation, which needs a scoring run, says so
    policy = compiled.policy
    input_types = {name: item.type for name, item in policy.inputs.items()}
    rules.check_rules(spec, input_types, f"{policy.id} {policy.version}")


def list_cycles(actor: Actor, session: Session) -> list[ProgramCycle]:
    return list(session.scalars(repository.readable_cycles(actor).order_by(ProgramCycle.id)))


def open_cycle(
    actor: Actor,
    session: Session,
    program_id: str,
    name: str,
    opens: date,
    closes: date,
    as_of: date | None = None,
    notice_days: int | None = None,
    targets_file: Path | None = None,
    places: int | None = None,
    entry_grade: int | None = None,
    carry_waitlist_from: int | None = None,
) -> ProgramCycle:
    require(actor, Role.ADMIN, Role.OPERATOR)
    spec, text = find_program(program_id)
    for label, day in (("opens", opens), ("closes", closes), ("as_of", as_of)):
        if day is not None and not EARLIEST_DAY <= day <= LATEST_DAY:
            raise Invalid.field(
                label,
                day.isoformat(),
                f"日期应在 {EARLIEST_DAY} 至 {LATEST_DAY} 之间",
                f"a date between {EARLIEST_DAY} and {LATEST_DAY}",
            )
    if closes < opens:
        raise Invalid.field("closes", str(closes), "截止日期早于开始日期", "closes before it opens")
    # The program's own notice period unless the cycle gives one (public rental's is longer).
    notice_days = spec.notice_days if notice_days is None else notice_days
    if not 1 <= notice_days <= MAX_WINDOW_DAYS:
        raise Invalid.field(
            "notice_days",
            notice_days,
            f"公示期为 1–{MAX_WINDOW_DAYS} 个工作日",
            f"1–{MAX_WINDOW_DAYS} working days",
        )
    # A quota benefit's places as its document gives them (慈溪's health check: 50), unless
    # the operator says otherwise for this cycle.
    places = places if places is not None else spec.places
    if places is not None and not 1 <= places <= MAX_PLACES:
        raise Invalid.field(
            "places", places, f"名额应为 1–{MAX_PLACES:,}", f"1–{MAX_PLACES:,} places"
        )
    if spec.kind is ProgramKind.SCHOOL_ADMISSION and entry_grade not in (1, 7):
        raise Invalid.field(
            "entry_grade", entry_grade, "入学年级只能是 1（小学）或 7（初中）", "grade 1 or 7"
        )
    needs_file = spec.kind in (ProgramKind.SCHOOL_ADMISSION, ProgramKind.PUBLIC_HOUSING)
    if needs_file and targets_file is None:
        raise Invalid.field(
            "targets", None, "需要学校或房源文件（--targets）", "needs a schools or flats file"
        )
    if spec.kind is ProgramKind.QUOTA_BENEFIT and (places is None or places < 1):
        raise Invalid.field("places", places, "名额类待遇需要名额数（--places）", "needs --places")
    _check_rules(spec, as_of or closes)
    # A school program's towns' distances are checked now, not at its allocation.
    towns.program_distances(spec)
    cycle = ProgramCycle(
        program_id=spec.id,
        program_text=text,
        program_digest=hashlib.sha256(text.encode()).hexdigest(),
        department=spec.department,
        name=name,
        opens=opens,
        closes=closes,
        as_of=as_of or closes,
        notice_days=notice_days,
        entry_grade=entry_grade if spec.kind is ProgramKind.SCHOOL_ADMISSION else None,
        created_by=actor.username,
    )
    session.add(cycle)
    session.flush()
    if targets_file is not None and needs_file:
        # A registry with no towns yet (a fresh database) has nothing to check against.
        town_codes = set(session.scalars(select(Town.code))) or None
        offered = targets.from_file(spec, targets_file, entry_grade, town_codes)
        if spec.kind is ProgramKind.SCHOOL_ADMISSION:
            # 学位紧张 is declared with the cycle, before anybody applies.
            offered = targets.declare_hot(session, cycle, offered)
    elif spec.kind is ProgramKind.QUOTA_BENEFIT:
        offered = targets.quota(spec, places)
    else:
        offered = None
    if offered is not None:
        bulk.insert_frame(
            session,
            CycleTarget.__table__,
            offered.with_columns(cycle_id=pl.lit(cycle.id, dtype=pl.Int64)),
        )
    carried: dict[str, list[int]] = {}
    if carry_waitlist_from is not None:
        carried = _carry_waitlist(actor, session, cycle, carry_waitlist_from, spec)
        cycle.carried_from_id = carry_waitlist_from
    session.flush()
    audit.record(
        session,
        actor,
        "cycle.open",
        "program_cycle",
        cycle.id,
        after=audit.row_state(cycle),
        detail={
            "targets": len(targets.cycle_targets(session, cycle.id)),
            "hot": hot_schools(session, cycle.id),
            **carried,
        },
    )
    return cycle


def hot_schools(session: Session, cycle_id: int) -> list[str]:
    """The ids of a cycle's hot schools (学位紧张), as published with the cycle."""
    return [target.target_id for target in targets.cycle_targets(session, cycle_id) if target.hot]


HOT_SOURCE_LABELS = {
    targets.LISTED: "教育局公布 listed by the bureau",
    targets.PREVIOUS: "上一周期第一志愿人数超过学位 previous cycle's first choices above its seats",
}


def published_targets(actor: Actor, session: Session, cycle_id: int) -> list[CycleTarget]:
    """A cycle's schools, flats or list as published with it (whoever reads the cycle reads
    them: hot schools are declared before anybody applies)."""
    cycle = repository.get_cycle(actor, session, cycle_id)
    return targets.cycle_targets(session, cycle.id)


def first_applied(session: Session, applications: Sequence[Application]) -> dict[int, date]:
    """The day each application's household first applied: the filing day of the first
    application of its ``carried_from`` chain (a waiting list carried twice goes back two
    cycles), read a generation at a time."""
    parent: dict[int, int | None] = {a.id: a.carried_from_id for a in applications}
    filed: dict[int, datetime] = {a.id: a.submitted_at for a in applications}
    while True:
        asked = {p for p in parent.values() if p is not None and p not in filed}
        if not asked:
            break
        for row in session.execute(
            select(Application.id, Application.carried_from_id, Application.submitted_at).where(
                Application.id.in_(asked)
            )
        ):
            parent[row.id], filed[row.id] = row.carried_from_id, row.submitted_at
    first: dict[int, date] = {}
    for application in applications:
        current = application.id
        while (up := parent.get(current)) is not None and up in filed:
            current = up
        # The day in China it was filed (a naive moment from SQLite is UTC).
        first[application.id] = workdays.local_day(filed[current])
    return first


def _carry_waitlist(
    actor: Actor,
    session: Session,
    cycle: ProgramCycle,
    source_id: int,
    spec: ProgramSpec,
) -> dict[str, list[int]]:
    """The waiting list of an earlier cycle of the same program joins this one, verified,
    keeping its order of application (公租房轮候: each carried application keeps the filing
    time of the first, so the order of application is the original one however often it is
    carried). A household whose first application is ``years`` or more before this cycle
    opens has reached the end of its 轮候期 and is not carried (住建部令第11号: 轮候期一般不超过
    5年). Returns the ids carried and those left for that reason (for the audit record)."""
    source = repository.get_cycle(actor, session, source_id)
    if source.program_id != cycle.program_id:
        raise Invalid.field(
            "carry_waitlist_from", source_id, "不是同一项目的周期", "not a cycle of this program"
        )
    waiting = session.scalars(
        select(Application)
        .where(
            Application.cycle_id == source_id,
            Application.status.in_([ApplicationStatus.WAITLISTED, ApplicationStatus.FINAL]),
        )
        .order_by(Application.id)
        # The statuses as stored: runs and finalising set them in bulk, so an application
        # this session already holds (a cycle carried twice in one session) is stale.
        .execution_options(populate_existing=True)
    ).all()
    final_run = allocation.final_run(session, source_id)
    waitlisted = (
        {
            row.application_id
            for row in session.scalars(
                select(AllocationResult).where(
                    AllocationResult.run_id == final_run.id,
                    AllocationResult.outcome == Outcome.WAITLISTED,
                )
            )
        }
        if final_run is not None
        else set()
    )
    waiting = [
        application
        for application in waiting
        if application.status != ApplicationStatus.FINAL or application.id in waitlisted
    ]
    first = first_applied(session, waiting)
    ends = {application.id: spec.waitlist_ends(first[application.id]) for application in waiting}
    expired = [
        application_id
        for application_id, end in ends.items()
        if end is not None and cycle.opens >= end
    ]
    for application in waiting:
        if application.id in expired:
            continue
        session.add(
            Application(
                cycle_id=cycle.id,
                resident_id=application.resident_id,
                child_id=application.child_id,
                subject=application.subject,
                choices=application.choices,
                fields=application.fields,
                status=ApplicationStatus.VERIFIED,
                submitted_at=application.submitted_at,
                submitted_by=application.submitted_by,
                verified_by=application.verified_by,
                verified_at=application.verified_at,
                carried_from_id=application.id,
            )
        )
    return {
        "carried": [a.id for a in waiting if a.id not in expired],
        "waitlist_expired": expired,
    }


def finalize(actor: Actor, session: Session, cycle_id: int) -> AllocationRun:
    """After the notice period the latest run is final; applications are final. Called by
    the notice when its window has closed with no open objection (``notices.service``)."""
    require(actor, Role.ADMIN, Role.OPERATOR)
    cycle = repository.get_cycle(actor, session, cycle_id)
    if cycle.status == CycleStatus.FINAL:
        raise Conflict(f"周期 {cycle.id} 已确定", f"cycle {cycle.id} is already final")
    run = allocation.latest_run(actor, session, cycle.id)
    run.final = True
    cycle.status = CycleStatus.FINAL
    session.execute(
        update(Application)
        .where(
            Application.cycle_id == cycle.id,
            Application.status.in_(
                [ApplicationStatus.PLACED, ApplicationStatus.WAITLISTED, ApplicationStatus.UNPLACED]
            ),
        )
        .values(status=ApplicationStatus.FINAL)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    audit.record(session, actor, "allocation.finalize", "allocation_run", run.id)
    return run


def cycle_counts(session: Session, cycle_id: int) -> dict[str, int]:
    rows = session.execute(
        select(Application.status, func.count())
        .where(Application.cycle_id == cycle_id)
        .group_by(Application.status)
    ).all()
    return dict(rows)
