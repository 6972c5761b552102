"""好差评: after a case closes — an application whose result is final, an objection that was
decided — the resident it concerns rates it in five levels (非常满意 … 非常不满意) with an
optional comment, once per case; the service centre reads the counts per level, per program
and month, and the latest comments (staff only: a comment is never shown on a public page).

Who the resident is comes from the signed-in account and the registry; which cases are
theirs from the programs' and notices' services (their own and their children's
applications, their own objections)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from luodi import workdays
from luodi.audit import service as audit
from luodi.auth.actor import Actor, Role
from luodi.auth.permissions import require
from luodi.auth.scopes import resident_of_actor
from luodi.errors import Conflict, Invalid, NotFound
from luodi.kernels.text import FORBIDDEN_PATTERN
from luodi.notices import service as notices
from luodi.notices.models import ObjectionStatus
from luodi.programs import catalog, intake
from luodi.programs import repository as programs_repository
from luodi.programs.models import ApplicationStatus, ProgramCycle
from luodi.programs.timeline import number_of
from luodi.ratings import repository
from luodi.ratings.models import CaseKind, Level, Rating
from luodi.ratings.schemas import MAX_COMMENT

SUMMARY_READERS = (Role.ADMIN, Role.OPERATOR, Role.AUDITOR, Role.REVIEWER)
"""Who reads the summary (a reviewer: the own department's cases, ``repository.readable``)."""
COMMENT_FORBIDDEN = re.compile(
    FORBIDDEN_PATTERN.replace("\\x00-\\x1f", "\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f")
)
"""A comment may span lines; otherwise the characters a name may not have."""
LATEST_COMMENTS = 20


@dataclass(frozen=True)
class RatingCase:
    """A closed case of the resident's, waiting for a rating."""

    kind: CaseKind
    id: int
    program_id: str | None
    """None: an objection to a score ranking (of no program)."""
    program_zh: str
    program_en: str
    label: str
    """The cycle's name (an application) or the notice's title (an objection)."""
    department: str | None
    number: str | None = None
    """An application's 受理编号 (what the resident was given and sees elsewhere)."""


def _program_of_cycle(
    actor: Actor, session: Session, cycle_id: int
) -> tuple[str, str, str, str, str]:
    """(program id, its Chinese and English names, the cycle's name, its department)."""
    cycle = programs_repository.get_cycle(actor, session, cycle_id)
    spec = catalog.cycle_spec(cycle)
    return cycle.program_id, spec.name.zh, spec.name.en, cycle.name, cycle.department


def _application_case(actor: Actor, session: Session, application_id: int) -> RatingCase:
    application = intake.get_application(actor, session, application_id)
    if application.status != ApplicationStatus.FINAL:
        raise Conflict(
            f"申请 {application.id} 的结果尚未确定，确定后才能评价",
            f"application {application.id} is not final yet: rate it once it is",
        )
    program_id, zh, en, cycle_name, department = _program_of_cycle(
        actor, session, application.cycle_id
    )
    cycle = session.get_one(ProgramCycle, application.cycle_id)
    return RatingCase(
        CaseKind.APPLICATION,
        application.id,
        program_id,
        zh,
        en,
        cycle_name,
        department,
        number_of(application, cycle),
    )


def _objection_case(actor: Actor, session: Session, objection_id: int) -> RatingCase:
    objection = notices.get_objection(actor, session, objection_id)
    if objection.status == ObjectionStatus.OPEN:
        raise Conflict(
            f"异议 {objection.id} 尚未复核，复核后才能评价",
            f"objection {objection.id} is not decided yet: rate it once it is",
        )
    notice = notices.get_notice(actor, session, objection.notice_id)
    if notice.cycle_id is None:
        return RatingCase(
            CaseKind.OBJECTION, objection.id, None, "积分排名", "Score ranking", notice.title, None
        )
    program_id, zh, en, _cycle, _department = _program_of_cycle(actor, session, notice.cycle_id)
    return RatingCase(
        CaseKind.OBJECTION, objection.id, program_id, zh, en, notice.title, notice.department
    )


def _own_resident(actor: Actor, session: Session) -> int:
    found = session.scalar(select(resident_of_actor(actor)))
    if found is None:
        raise NotFound("登记库中没有您的记录，请到服务中心核对", "you are not in the registry")
    return int(found)


def pending(actor: Actor, session: Session) -> list[RatingCase]:
    """The signed-in resident's closed cases not rated yet, newest first: applications (their
    own and their children's) whose result is final, objections that were decided."""
    require(actor, Role.RESIDENT)
    rated = repository.rated_cases(session, actor)
    cases = [
        _application_case(actor, session, application.id)
        for application in intake.my_applications(actor, session)
        if application.status == ApplicationStatus.FINAL
        and (CaseKind.APPLICATION.value, application.id) not in rated
    ]
    cases += [
        _objection_case(actor, session, objection.id)
        for objection in reversed(notices.list_objections(actor, session))
        if objection.status != ObjectionStatus.OPEN
        and (CaseKind.OBJECTION.value, objection.id) not in rated
    ]
    return cases


def _checked_comment(comment: str | None) -> str | None:
    text = (comment or "").strip()
    if not text:
        return None
    if len(text) > MAX_COMMENT:
        raise Invalid.field(
            "comment", text[:50], f"意见最多 {MAX_COMMENT} 字", f"at most {MAX_COMMENT} characters"
        )
    if COMMENT_FORBIDDEN.search(text):
        raise Invalid.field(
            "comment",
            text[:50],
            "意见含有不可见的控制字符或方向控制字符",
            "the comment contains invisible control or bidirectional characters",
        )
    return text


def rate(
    actor: Actor,
    session: Session,
    case_kind: CaseKind | str,
    case_id: int,
    level: int,
    comment: str | None = None,
    today: date | None = None,
) -> Rating:
    """The signed-in resident rates one of their closed cases, once (a second rating of the
    same case is a conflict). A case that is not theirs is "not found"; one still open, a
    conflict. Audited without the comment's text (its length only)."""
    require(actor, Role.RESIDENT)
    if level not in {item.value for item in Level}:
        raise Invalid.field("level", level, "请选择一个评价等级", "choose one of the five levels")
    try:
        kind = CaseKind(case_kind)
    except ValueError:
        raise Invalid.field(
            "case_kind", str(case_kind)[:20], "不是可评价的事项", "not a case that can be rated"
        ) from None
    text = _checked_comment(comment)
    case = (
        _application_case(actor, session, case_id)
        if kind is CaseKind.APPLICATION
        else _objection_case(actor, session, case_id)
    )
    resident_id = _own_resident(actor, session)
    earlier = session.scalars(
        repository.writable(actor).where(
            Rating.case_kind == kind.value,
            Rating.case_id == case.id,
            Rating.resident_id == resident_id,
        )
    ).first()
    if earlier is not None:
        raise Conflict("您已评价过这件事", "you have already rated this case")
    rating = Rating(
        resident_id=resident_id,
        case_kind=kind.value,
        case_id=case.id,
        program_id=case.program_id,
        department=case.department,
        level=level,
        comment=text,
        month=(today or workdays.today()).strftime("%Y-%m"),
        created_by=actor.username,
    )
    session.add(rating)
    session.flush()
    audit.record(
        session,
        actor,
        "rating.create",
        "rating",
        rating.id,
        after={"case": f"{kind.value}:{case.id}", "level": level},
        detail={"program": case.program_id, "comment_chars": len(text or "")},
    )
    return rating


@dataclass(frozen=True)
class RatingSummary:
    since_month: str
    total: int
    by_level: dict[int, int]
    """Level (5 … 1) → how many."""
    by_program: list[tuple[str | None, dict[int, int], int]]
    """(program id, level → how many, total), most rated first."""
    by_month: list[tuple[str, dict[int, int], int]]
    table: list[tuple[str, str | None, dict[int, int], int]]
    """(month, program id, level → how many, total), by month then program."""
    comments: list[Rating]
    """The latest ratings with a comment (staff only)."""

    @property
    def satisfied_share(self) -> float | None:
        """The share rated 满意 or better (非常满意, 满意), or None without ratings."""
        if not self.total:
            return None
        return (self.by_level[5] + self.by_level[4]) / self.total


def _since(today: date, months: int) -> str:
    index = today.year * 12 + today.month - 1 - (months - 1)
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _levels(frame: pl.DataFrame) -> dict[int, int]:
    counted = dict(zip(frame["level"].to_list(), frame["n"].to_list(), strict=True))
    return {level.value: int(counted.get(level.value, 0)) for level in Level}


def summary(
    actor: Actor, session: Session, months: int = 12, today: date | None = None
) -> RatingSummary:
    """The ratings of the last ``months`` months the actor reads: counts per level, per
    program, per month and per month and program (counted in SQL), and the latest comments."""
    require(actor, *SUMMARY_READERS)
    if not 1 <= months <= 120:
        raise Invalid.field("months", months, "1–120 个月", "1–120 months")
    since = _since(today or workdays.today(), months)
    counted = pl.DataFrame(
        repository.level_counts(session, actor, since),
        schema={"program_id": pl.String, "month": pl.String, "level": pl.Int64, "n": pl.Int64},
        orient="row",
    )

    def grouped(keys: list[str]) -> list[tuple[object, ...]]:
        totals = counted.group_by([*keys, "level"]).agg(pl.col("n").sum())
        rows = []
        for key, part in totals.group_by(keys, maintain_order=True):
            rows.append((*key, _levels(part), int(part["n"].sum())))
        return rows

    by_program = sorted(grouped(["program_id"]), key=lambda row: (-row[-1], row[0] or ""))
    by_month = sorted(grouped(["month"]), key=lambda row: row[0])
    table = sorted(grouped(["month", "program_id"]), key=lambda row: (row[0], row[1] or ""))
    return RatingSummary(
        since_month=since,
        total=int(counted["n"].sum()),
        by_level=_levels(counted.group_by("level").agg(pl.col("n").sum())),
        by_program=by_program,  # type: ignore[arg-type]
        by_month=by_month,  # type: ignore[arg-type]
        table=table,  # type: ignore[arg-type]
        comments=repository.latest_comments(session, actor, LATEST_COMMENTS),
    )
