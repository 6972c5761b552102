"""What a resident is told about a cycle and an application of theirs: the service guide's
dates and choices (with last cycle's 录取线), and an application's time line — submitted,
verified or returned, corrected, ranked, outcome, notice, objection and its decision, final —
from the application, the audit log, the allocation results, the notices and the objections.

Each read goes by indexed keys (the application's id, its cycle's runs and notices, the
resident's objections): a resident's page never scans a table."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from luodi import workdays
from luodi.allocation import repository as allocation_repository
from luodi.allocation import service as allocation
from luodi.audit import service as audit
from luodi.auth.actor import Actor
from luodi.notices import deadlines as notice_deadlines
from luodi.notices import service as notices
from luodi.notices.models import Notice, ObjectionStatus
from luodi.notices.reasons import OUTCOME_WORDS
from luodi.programs import deadlines, intake, repository, service, targets
from luodi.programs.catalog import cycle_spec
from luodi.programs.models import Application, ApplicationStatus, CycleStatus, ProgramCycle
from luodi.programs.numbers import application_number
from luodi.programs.spec import ProgramSpec

TRACKED_ACTIONS = ("application.verify", "application.return", deadlines.CORRECTED)
"""The audit actions an application's time line shows (the department's review, the
applicant's or centre's correction)."""


def number_of(application: Application, cycle: ProgramCycle) -> str:
    """The application's 受理编号 (``numbers.application_number``)."""
    return application_number(cycle.program_id, cycle.opens, application.id)


@dataclass(frozen=True)
class Choice:
    """A school or housing project an applicant may choose, with last cycle's 录取线."""

    id: str
    name: str
    town_code: str | None
    capacity: int
    hot: bool
    cut_off: float | None


def ranked_group(spec: ProgramSpec) -> int | None:
    """The group ranked by points (the last, which takes everybody else); None: no groups."""
    return spec.groups[-1].group if spec.groups else None


def _previous_final_run(session: Session, cycle: ProgramCycle) -> tuple[ProgramCycle, int] | None:
    """The previous cycle (same program and entry grade) and its final run's id, if any."""
    earlier = targets.previous_cycle(session, cycle)
    if earlier is None:
        return None
    run = allocation.final_run(session, earlier.id)
    return None if run is None else (earlier, run.id)


def last_cut_offs(session: Session, cycle: ProgramCycle) -> dict[str, float]:
    """School or project id → the lowest points placed there by rank in the previous cycle's
    final run (none when there is no previous final run)."""
    previous = _previous_final_run(session, cycle)
    return {} if previous is None else _by_choice(session, *previous)


def _by_choice(session: Session, earlier: ProgramCycle, run_id: int) -> dict[str, float]:
    found = allocation_repository.lowest_placed_by_target(
        session, run_id, ranked_group(cycle_spec(earlier))
    )
    by_choice: dict[str, float] = {}
    for target in targets.cycle_targets(session, earlier.id):
        points = found.get(target.target_id)
        key = target.group_id or target.target_id
        if points is not None:
            by_choice[key] = min(points, by_choice.get(key, points))
    return by_choice


def last_cut_off(session: Session, cycle: ProgramCycle) -> float | None:
    """Last cycle's cut-off for the whole program — the one definition the apply page and the
    finder share: the lowest of ``last_cut_offs`` (each school's or project's) in the previous
    cycle's final run; for a program without targets (a quota benefit), the lowest points
    that run placed. None: no previous final run, or nobody placed by rank."""
    previous = _previous_final_run(session, cycle)
    if previous is None:
        return None
    earlier, run_id = previous
    by_choice = _by_choice(session, earlier, run_id)
    if by_choice:
        return min(by_choice.values())
    if targets.cycle_targets(session, earlier.id):
        return None
    return allocation_repository.lowest_placed(session, run_id, ranked_group(cycle_spec(earlier)))


def choices(
    actor: Actor, session: Session, cycle: ProgramCycle, cut_offs: bool = True
) -> list[Choice]:
    """What an applicant of ``cycle`` chooses from (schools, or housing projects: a project's
    layouts are one choice), in the published order, with last cycle's cut-off (unless
    ``cut_offs`` is false: the names alone)."""
    cut = last_cut_offs(session, cycle) if cut_offs else {}
    found: dict[str, Choice] = {}
    for target in service.published_targets(actor, session, cycle.id):
        key = target.group_id or target.target_id
        if key in found:
            seen = found[key]
            found[key] = Choice(
                key,
                seen.name,
                seen.town_code,
                seen.capacity + target.capacity,
                seen.hot or target.hot,
                seen.cut_off,
            )
            continue
        name = target.name.split("·")[0] if target.layout else target.name
        found[key] = Choice(key, name, target.town_code, target.capacity, target.hot, cut.get(key))
    return list(found.values())


@dataclass(frozen=True)
class Step:
    """One step of an application's time line. ``state``: ``done``, ``current`` (waiting on
    somebody, or on the resident), or ``next`` (not yet)."""

    kind: str
    state: str
    on: date | datetime | None = None
    data: dict[str, Any] = field(default_factory=dict)


def _notice_steps(
    actor: Actor, session: Session, application: Application, published: list[Notice]
) -> list[Step]:
    steps: list[Step] = []
    today = workdays.today()
    objections = [
        objection
        for objection in notices.list_objections(actor, session)
        if objection.row_ref == str(application.id)
        and objection.notice_id in {notice.id for notice in published}
    ]
    for notice in sorted(published, key=lambda n: n.id):
        open_now = notices.in_window(notice, today)
        steps.append(
            Step(
                "notice",
                "current" if open_now else "done",
                notice.starts_on,
                {"notice": notice, "open": open_now},
            )
        )
        for objection in (o for o in objections if o.notice_id == notice.id):
            steps.append(Step("objection", "done", objection.filed_at, {"objection": objection}))
            if objection.status == ObjectionStatus.OPEN:
                due = notice_deadlines.review_due_on(session, objection)
                steps.append(Step("decision", "current", None, {"due": due}))
            else:
                steps.append(
                    Step("decision", "done", objection.decided_at, {"objection": objection})
                )
    return steps


def _to_come() -> list[Step]:
    """What follows the department's review, not yet reached."""
    return [Step("allocation", "next"), Step("notice", "next"), Step("final", "next")]


def application_steps(
    actor: Actor, session: Session, application: Application, cycle: ProgramCycle
) -> list[Step]:
    """The application's time line, oldest first, ending with what comes next."""
    spec = cycle_spec(cycle)
    steps = [
        Step(
            "submitted",
            "done",
            application.submitted_at,
            {"number": number_of(application, cycle)},
        )
    ]
    tracked = audit.action_times(session, "application", application.id, TRACKED_ACTIONS)
    returns = [index for index, (action, _) in enumerate(tracked) if action.endswith("return")]
    for index, (action, at) in enumerate(tracked):
        kind = {"application.verify": "verified", "application.return": "returned"}.get(
            action, "corrected"
        )
        data: dict[str, Any] = {}
        if kind == "returned" and returns and index == returns[-1]:
            data["reason"] = application.reason
        steps.append(Step(kind, "done", at, data))
    status = application.status
    if status == ApplicationStatus.RETURNED:
        # The latest return waits for the resident (its reason shown with it).
        last = next((i for i in range(len(steps) - 1, -1, -1) if steps[i].kind == "returned"), None)
        if last is None:  # returned without its audit entry (an import): the reason is kept
            steps.append(Step("returned", "current", None, {"reason": application.reason}))
        else:
            steps[last] = Step("returned", "current", steps[last].on, steps[last].data)
        return steps + _to_come()
    if status == ApplicationStatus.SUBMITTED:
        due = deadlines.review_due_on(session, application)
        steps.append(Step("review", "current", None, {"due": due}))
        return steps + _to_come()
    if not tracked or tracked[-1][0] != "application.verify":
        # Verified in bulk (``verify_all``: one entry for the cycle) or carried over verified.
        steps.append(Step("verified", "done", application.verified_at))
    results = allocation.application_results(session, cycle.id, application.id)
    if results:
        run, result = results[-1]
        words = OUTCOME_WORDS[spec.kind]
        target_names = {
            target.target_id: target.name for target in targets.cycle_targets(session, cycle.id)
        }
        groups = {group.group: group.label.zh for group in spec.groups}
        steps.append(
            Step(
                "ranked",
                "done",
                run.created_at,
                {
                    "rank": result.rank,
                    "points": result.points,
                    "group": groups.get(result.priority_group or -1),
                    "runs": len(results),
                },
            )
        )
        steps.append(
            Step(
                "outcome",
                "done",
                run.created_at,
                {
                    "outcome": result.outcome,
                    "word": words.get(result.outcome, result.outcome),
                    "target": target_names.get(result.target_id or "", result.target_id),
                    "unit": result.unit,
                    "amount": result.entitlement,
                    "unit_word": spec.unit,
                    "final": run.final,
                },
            )
        )
    else:
        steps.append(Step("allocation", "next"))
    published = notices.cycle_notices(actor, session, cycle.id)
    steps.extend(_notice_steps(actor, session, application, published))
    if not published and results:
        steps.append(Step("notice", "next"))
    if cycle.status == CycleStatus.FINAL or status == ApplicationStatus.FINAL:
        finalized = [n.finalized_at for n in published if n.finalized_at is not None]
        steps.append(Step("final", "done", max(finalized) if finalized else None))
    else:
        steps.append(Step("final", "next"))
    return steps


def own_application(actor: Actor, session: Session, application_id: int) -> Application:
    """An application the signed-in resident filed or is a parent of the child of (the
    readable scope of ``intake``); any other is "not found"."""
    return intake.get_application(actor, session, application_id)


def cycle_of(actor: Actor, session: Session, application: Application) -> ProgramCycle:
    return repository.get_cycle(actor, session, application.cycle_id)
