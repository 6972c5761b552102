"""Programs: open a cycle, take and verify applications, allocate, compare runs, finalise.

The caller commits (transactions at the edge). Every bulk step moves Polars frames; the
allocation itself is the kernel in ``luodi.kernels.allocation``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

import polars as pl
from pydantic import ValidationError
from sqlalchemy import Select, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from luodi import bulk
from luodi.audit import service as audit
from luodi.auth.actor import SYSTEM_ACTOR, Actor, Role
from luodi.auth.permissions import acts_as, require
from luodi.errors import Conflict, FieldProblem, Invalid, NotFound
from luodi.files import read_table
from luodi.kernels.allocation import Method
from luodi.kernels.allocation.frames import allocate
from luodi.kernels.masking import mask_id_number, mask_name
from luodi.kernels.policy import KEY
from luodi.programs import repository, rules, schemas
from luodi.programs.models import (
    AllocationResult,
    AllocationRun,
    Application,
    ApplicationStatus,
    CycleStatus,
    CycleTarget,
    Outcome,
    ProgramCycle,
)
from luodi.programs.spec import ProgramKind, ProgramSpec, ProgramSpecError, load_program_spec
from luodi.registry import service as registry_service
from luodi.scoring import service as scoring_service
from luodi.settings import get_settings
from luodi.tabular import LINE, Problems

Row = TypeVar("Row")
QUOTA_TARGET = "quota"
EARLIEST_DAY, LATEST_DAY = date(2000, 1, 1), date(2100, 12, 31)
"""Cycle dates outside these are typing errors (and near year 9999 date arithmetic fails)."""
MAX_NOTICE_DAYS = 30
APPLICATION_READERS = (
    Role.ADMIN,
    Role.OPERATOR,
    Role.REVIEWER,
    Role.TOWN_STAFF,
    Role.RESIDENT,
    Role.AUDITOR,
)
MAX_PLACES = 10_000_000
TARGET_SCHEMA = {
    "target_id": pl.String,
    "name": pl.String,
    "town_code": pl.String,
    "group_id": pl.String,
    "layout": pl.String,
    "capacity": pl.Int64,
    "units": pl.String,
}
"""The columns of a cycle's targets as frames (``CycleTarget`` without its ids)."""
RANKABLE = (
    ApplicationStatus.VERIFIED,
    ApplicationStatus.PLACED,
    ApplicationStatus.WAITLISTED,
    ApplicationStatus.UNPLACED,
)
"""Applications a run ranks: verified ones, and on a re-run those an earlier run decided."""

STATUS_OF_OUTCOME = {
    Outcome.PLACED: ApplicationStatus.PLACED,
    Outcome.WAITLISTED: ApplicationStatus.WAITLISTED,
    Outcome.UNPLACED: ApplicationStatus.UNPLACED,
    Outcome.INELIGIBLE: ApplicationStatus.UNPLACED,
}


# --- program documents ------------------------------------------------------------------


def load_programs(directory: Path | None = None) -> dict[str, tuple[ProgramSpec, str]]:
    folder = directory or get_settings().program_dir
    found: dict[str, tuple[ProgramSpec, str]] = {}
    for path in sorted(folder.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        try:
            spec = load_program_spec(text, path.name)
        except ProgramSpecError as error:
            raise Invalid(
                f"项目文件 {path.name} 有误：{'; '.join(error.problems)}",
                f"program file {path.name} is invalid: {'; '.join(error.problems)}",
            ) from None
        found[spec.id] = (spec, text)
    return found


def find_program(program_id: str) -> tuple[ProgramSpec, str]:
    programs = load_programs()
    if program_id not in programs:
        raise NotFound(
            f"没有项目 {program_id}（可用：{', '.join(programs)}）",
            f"no program {program_id} (available: {', '.join(programs)})",
        )
    return programs[program_id]


def cycle_spec(cycle: ProgramCycle) -> ProgramSpec:
    return load_program_spec(cycle.program_text, cycle.program_id)


# --- cycles -------------------------------------------------------------------------------


def _one(session: Session, statement: Select[tuple[Row]], zh: str, en: str) -> Row:
    """The one row of a scoped statement, or "not found" (out of scope looks the same)."""
    found = session.scalars(statement).one_or_none()
    if found is None:
        raise NotFound(zh, en)
    return found


def get_cycle(actor: Actor, session: Session, cycle_id: int) -> ProgramCycle:
    statement = repository.readable_cycles(actor).where(ProgramCycle.id == cycle_id)
    return _one(session, statement, f"没有申报周期 {cycle_id}", f"no program cycle {cycle_id}")


def _writable_cycle(actor: Actor, session: Session, cycle_id: int) -> ProgramCycle:
    """A cycle the actor may change (a reviewer: own department's); else "not found"."""
    statement = repository.writable_cycles(actor).where(ProgramCycle.id == cycle_id)
    return _one(session, statement, f"没有申报周期 {cycle_id}", f"no program cycle {cycle_id}")


def list_cycles(actor: Actor, session: Session) -> list[ProgramCycle]:
    return list(session.scalars(repository.readable_cycles(actor).order_by(ProgramCycle.id)))


def cycle_targets(session: Session, cycle_id: int) -> list[CycleTarget]:
    return list(
        session.scalars(
            select(CycleTarget).where(CycleTarget.cycle_id == cycle_id).order_by(CycleTarget.id)
        )
    )


def _targets_from_file(spec: ProgramSpec, path: Path, entry_grade: int | None) -> pl.DataFrame:
    """Schools (schools.csv) or flats (housing_units.csv) as cycle targets."""
    frame = read_table(path).select(pl.all().cast(pl.String).str.strip_chars())
    problems = Problems()
    if spec.kind is ProgramKind.SCHOOL_ADMISSION:
        required = ("school_id", "name", "town_code", "entry_grade", "seats")
    else:
        required = ("unit_id", "project_id", "project_name", "town_code", "layout")
    missing = [name for name in required if name not in frame.columns]
    if missing:
        raise Invalid(
            f"文件 {path.name} 缺少列：{', '.join(missing)}",
            f"file {path.name} lacks columns: {', '.join(missing)}",
            [
                FieldProblem(name, None, "缺少该列", "column missing", path.name, 1)
                for name in missing
            ],
        )
    frame = frame.with_row_index(LINE, offset=2)
    if spec.kind is ProgramKind.SCHOOL_ADMISSION:
        seats = pl.col("seats").cast(pl.Int64, strict=False)
        problems.flag(
            path.name,
            frame,
            seats.is_null() | (seats < 0),
            "seats",
            "学位数应为非负整数",
            "seats must be a whole number ≥ 0",
        )
        problems.flag(
            path.name,
            frame,
            pl.col("school_id").is_duplicated(),
            "school_id",
            "学校编号重复",
            "school id repeated",
        )
        problems.raise_if_any(f"学校文件 {path.name}", f"schools file {path.name}")
        grade = str(entry_grade or 1)
        schools = frame.filter(pl.col("entry_grade") == grade)
        if schools.height == 0:
            raise Invalid(
                f"{path.name} 中没有招收 {grade} 年级的学校",
                f"{path.name} has no school admitting grade {grade}",
            )
        return schools.select(
            target_id=pl.col("school_id"),
            name=pl.col("name"),
            town_code=pl.col("town_code"),
            group_id=pl.col("school_id"),
            layout=pl.lit(None, dtype=pl.String),
            capacity=seats,
            units=pl.lit(None, dtype=pl.String),
        )
    problems.flag(
        path.name,
        frame,
        pl.col("unit_id").is_duplicated(),
        "unit_id",
        "房源编号重复",
        "flat number repeated",
    )
    problems.raise_if_any(f"房源文件 {path.name}", f"flats file {path.name}")
    return (
        frame.sort("unit_id")
        .group_by("project_id", "layout", maintain_order=True)
        .agg(
            name=pl.col("project_name").first() + "·" + pl.col("layout").first(),
            town_code=pl.col("town_code").first(),
            capacity=pl.len().cast(pl.Int64),
            units=pl.col("unit_id").str.join(";"),
        )
        .select(
            target_id=pl.col("project_id") + "|" + pl.col("layout"),
            name="name",
            town_code="town_code",
            group_id="project_id",
            layout="layout",
            capacity="capacity",
            units="units",
        )
        .sort("target_id")
    )


def open_cycle(
    actor: Actor,
    session: Session,
    program_id: str,
    name: str,
    opens: date,
    closes: date,
    as_of: date | None = None,
    notice_days: int = 5,
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
    if not 1 <= notice_days <= MAX_NOTICE_DAYS:
        raise Invalid.field(
            "notice_days",
            notice_days,
            f"公示期为 1–{MAX_NOTICE_DAYS} 个工作日",
            f"1–{MAX_NOTICE_DAYS} working days",
        )
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
        targets = _targets_from_file(spec, targets_file, entry_grade)
    elif spec.kind is ProgramKind.QUOTA_BENEFIT:
        targets = pl.DataFrame(
            {
                "target_id": [QUOTA_TARGET],
                "name": [spec.name.zh],
                "town_code": [None],
                "group_id": [QUOTA_TARGET],
                "layout": [None],
                "capacity": [places],
                "units": [None],
            },
            schema=TARGET_SCHEMA,
        )
    else:
        targets = None
    if targets is not None:
        bulk.insert_frame(
            session,
            CycleTarget.__table__,
            targets.with_columns(cycle_id=pl.lit(cycle.id, dtype=pl.Int64)),
        )
    if carry_waitlist_from is not None:
        _carry_waitlist(actor, session, cycle, carry_waitlist_from)
    session.flush()
    audit.record(
        session,
        actor,
        "cycle.open",
        "program_cycle",
        cycle.id,
        after=audit.row_state(cycle),
        detail={"targets": len(cycle_targets(session, cycle.id))},
    )
    return cycle


def _carry_waitlist(actor: Actor, session: Session, cycle: ProgramCycle, source_id: int) -> None:
    """The waiting list of an earlier cycle of the same program joins this one, verified,
    keeping its order of application (公租房轮候)."""
    source = get_cycle(actor, session, source_id)
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
    ).all()
    final_run = _final_run(session, source_id)
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
    for application in waiting:
        if application.status == ApplicationStatus.FINAL and application.id not in waitlisted:
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


# --- applications -------------------------------------------------------------------------


def _refused_key(spec: ProgramSpec, on_behalf: bool, key: str) -> tuple[str, str]:
    allowed = ", ".join(schemas.record_keys(spec, on_behalf))
    if key in ("resident_id", "id_number", "household_id", "household_size", "points", "group"):
        return (
            f"{key} 由登记信息和登录身份确定，不能在申请中填写（可填：{allowed}）",
            f"{key} comes from the registry and the signed-in account, never from an "
            f"application (allowed: {allowed})",
        )
    if key in spec.fields:
        return (
            f"{key} 由主管部门确认，申请人不能填写",
            f"{key} is set by the department, not by the applicant",
        )
    return (f"不是本项目的字段（可填：{allowed}）", f"not a field of this program ({allowed})")


def _problems_of(
    error: ValidationError, spec: ProgramSpec, on_behalf: bool, file: str, line: int
) -> list[FieldProblem]:
    found = []
    for problem in error.errors():
        key = str(problem["loc"][0]) if problem["loc"] else "record"
        if problem["type"] == "extra_forbidden":
            reason_zh, reason_en = _refused_key(spec, on_behalf, key)
        elif problem["type"] == "missing":
            reason_zh, reason_en = "必填", "required"
        else:
            message = problem["msg"].removeprefix("Value error, ")
            reason_zh, reason_en = message, message
        found.append(FieldProblem(key, problem.get("input"), reason_zh, reason_en, file, line))
    return found


def _validated_records(
    spec: ProgramSpec,
    on_behalf: bool,
    records: Sequence[Mapping[str, Any]],
    lines: Sequence[int],
    file: str,
) -> pl.DataFrame:
    """Each record checked against the program's record model (undeclared keys refused,
    naming the key), as a frame with the row number in ``_line``; all problems at once."""
    model = schemas.record_model(spec, on_behalf)
    problems = Problems()
    valid: list[dict[str, Any]] = []
    for line, record in zip(lines, records, strict=True):
        if not isinstance(record, Mapping):
            problems.add(
                FieldProblem(
                    "record", "…", "每条申请应为一个对象", "a record is an object", file, line
                )
            )
            continue
        try:
            checked = model.model_validate(dict(record))
        except ValidationError as error:
            for problem in _problems_of(error, spec, on_behalf, file, line):
                problems.add(problem)
            continue
        valid.append({LINE: line, **checked.model_dump()})
    problems.raise_if_any("申请未受理", "applications refused")
    schema: dict[str, Any] = {LINE: pl.Int64}
    for key in schemas.record_keys(spec, on_behalf):
        if key == "choices":
            schema[key] = pl.List(pl.String)
        elif key in spec.fields:
            schema[key] = rules.field_dtype(spec, key)
        else:
            schema[key] = pl.String
    return pl.DataFrame(valid, schema=schema, orient="row")


def submit_applications(
    actor: Actor,
    session: Session,
    cycle_id: int,
    records: Sequence[Mapping[str, Any]],
    file: str = "申请 applications",
    today: date | None = None,
    lines: Sequence[int] | None = None,
) -> list[int]:
    """Applications from records (one per application: ``child_id_number`` for schools,
    ``choices``, and the program's fields), all or none. The record shape is the program's
    (``schemas.record_model``): identity, household, points and group never come from it.

    A resident files one record, for self (and own child: the child must be in the
    resident's household in the registry); the service centre files in bulk, naming each
    applicant's ``id_number``. ``lines`` numbers the records in messages (a file's rows)."""
    require(actor, Role.ADMIN, Role.OPERATOR, Role.RESIDENT)
    on_behalf = not acts_as(actor, Role.RESIDENT)
    if not records:
        raise Invalid("没有申请记录", "no application records")
    if not on_behalf and len(records) != 1:
        raise Invalid(
            f"新市民每次只能提交一份本人（或子女）的申请，本次提交了 {len(records)} 份",
            f"a resident submits one application (own, or own child's) per request, "
            f"not {len(records)}",
        )
    cycle = get_cycle(actor, session, cycle_id)
    spec = cycle_spec(cycle)
    numbered = list(lines) if lines is not None else list(range(1, len(records) + 1))
    frame = _validated_records(spec, on_behalf, records, numbered, file)
    day = today or date.today()
    if cycle.status != CycleStatus.OPEN:
        raise Conflict(f"周期 {cycle.id} 已不再受理申请", f"cycle {cycle.id} no longer accepts")
    if not cycle.opens <= day <= cycle.closes:
        raise Conflict(
            f"周期 {cycle.id} 的申请时间为 {cycle.opens} 至 {cycle.closes}，今天（{day}）不在其中",
            f"cycle {cycle.id} takes applications {cycle.opens} – {cycle.closes}, not on {day}",
        )
    if not on_behalf:
        frame = frame.with_columns(id_number=pl.lit(actor.id_number or "", dtype=pl.String))
    for name, field in spec.fields.items():
        if name not in frame.columns:  # set by the department: its default until it is
            frame = frame.with_columns(
                pl.lit(field.default, dtype=rules.field_dtype(spec, name)).alias(name)
            )
    problems = Problems()
    people = registry_service.people(actor, session).select(
        "id_number", "resident_id", "household_id"
    )
    frame = frame.join(people, on="id_number", how="left")
    problems.flag(
        file,
        frame,
        pl.col("resident_id").is_null(),
        "id_number",
        "不是登记在册的新市民",
        "not a registered resident",
    )
    school = spec.kind is ProgramKind.SCHOOL_ADMISSION
    if school:
        children = registry_service.children(SYSTEM_ACTOR, session).select(
            "child_id_number", "child_id", pl.col("household_id").alias("child_household")
        )
        frame = frame.join(children, on="child_id_number", how="left")
        problems.flag(
            file,
            frame,
            pl.col("child_id").is_null(),
            "child_id_number",
            "不是登记在册的随迁子女",
            "not a registered child",
        )
        problems.flag(
            file,
            frame,
            pl.col("child_id").is_not_null()
            & (pl.col("child_household") != pl.col("household_id")).fill_null(True),
            "child_id_number",
            "该子女不在申请人的家庭中",
            "the child is not in the applicant's household",
        )
        subject = pl.format("child:{}", pl.col("child_id"))
    else:
        frame = frame.with_columns(child_id=pl.lit(None, dtype=pl.Int64))
        subject = pl.format("resident:{}", pl.col("resident_id"))
    frame = frame.with_columns(subject=subject)
    problems.flag(
        file,
        frame,
        pl.col("subject").is_duplicated() & pl.col("subject").is_not_null(),
        "id_number",
        "同一对象重复申请",
        "applies twice for the same person",
    )
    # Choices: known targets (schools, or housing projects), at most max_choices, no repeats.
    choosing = spec.kind in (ProgramKind.SCHOOL_ADMISSION, ProgramKind.PUBLIC_HOUSING)
    if choosing:
        choosable = {target.group_id for target in cycle_targets(session, cycle.id)}
        problems.flag(
            file,
            frame,
            pl.col("choices").list.len() > spec.max_choices,
            "choices",
            f"最多 {spec.max_choices} 个志愿",
            f"at most {spec.max_choices} choices",
        )
        problems.flag(
            file,
            frame,
            pl.col("choices").list.n_unique() < pl.col("choices").list.len(),
            "choices",
            "志愿重复",
            "a choice is repeated",
        )
        problems.flag(
            file,
            frame,
            ~pl.col("choices").list.eval(pl.element().is_in(list(choosable))).list.all(),
            "choices",
            "志愿中有本周期没有的学校或项目",
            "a choice is not offered in this cycle",
        )
    problems.raise_if_any("申请未受理", "applications refused")
    subjects = frame["subject"].to_list()
    statement = select(Application.subject).where(Application.cycle_id == cycle.id)
    if len(subjects) <= 500:  # a bulk file compares with the whole cycle instead
        statement = statement.where(Application.subject.in_(subjects))
    existing = set(session.scalars(statement)) & set(subjects)
    if existing:
        repeated = frame.filter(pl.col("subject").is_in(list(existing)))
        first_line = repeated[LINE][0]
        raise Conflict(
            f"本周期已有该对象的申请（第 {first_line} 条等 {repeated.height} 条），未写入任何申请；"
            "被退回的申请请更正原申请（PATCH /api/v1/applications/{id}）",
            f"already applied in this cycle (record {first_line} and {repeated.height - 1} "
            "more); nothing was written; a returned application is corrected, not filed again "
            "(PATCH /api/v1/applications/{id})",
            [
                FieldProblem(
                    "id_number", None, "本周期已有该对象的申请", "already applied", file, line
                )
                for line in repeated[LINE].head(50)
            ],
        )
    field_names = list(spec.fields)
    applications = [
        Application(
            cycle_id=cycle.id,
            resident_id=row["resident_id"],
            child_id=row["child_id"],
            subject=row["subject"],
            choices=";".join(row["choices"]) if choosing else "",
            fields=json.dumps({name: row[name] for name in field_names}, ensure_ascii=False),
            submitted_by=actor.username,
        )
        for row in frame.iter_rows(named=True)
    ]
    session.add_all(applications)
    try:
        session.flush()
    except IntegrityError:
        # Another request filed the same person in this cycle meanwhile (the unique
        # (cycle, subject) constraint decides the race).
        raise Conflict(
            "本周期已有该对象的申请（同时提交）", "already applied in this cycle (concurrently)"
        ) from None
    ids = [application.id for application in applications]
    audit.record(
        session,
        actor,
        "applications.submit",
        "program_cycle",
        cycle.id,
        after={
            "applications": [
                (a.id, a.resident_id, a.child_id, a.subject, a.choices, a.fields)
                for a in applications
            ]
        },
        detail={"count": len(ids), "first": ids[0], "last": ids[-1]},
    )
    return ids


def submit_file(actor: Actor, session: Session, cycle_id: int, path: Path) -> list[int]:
    """The service centre's bulk route: a file with an ``id_number`` column (row 1 the
    header); empty cells mean "not given"."""
    rows = read_table(path).select(pl.all().cast(pl.String).str.strip_chars())
    if rows.height == 0:
        raise Invalid(f"文件 {path.name} 没有数据行", f"file {path.name} has no data rows")
    records = [
        {key: value for key, value in row.items() if value not in (None, "")}
        for row in rows.iter_rows(named=True)
    ]
    return submit_applications(
        actor, session, cycle_id, records, path.name, lines=range(2, rows.height + 2)
    )


def get_application(actor: Actor, session: Session, application_id: int) -> Application:
    """An application the actor may read; one out of scope is "not found" (not leaked).
    A department's machine token pushes feeds and reads no application."""
    require(actor, *APPLICATION_READERS)
    statement = repository.readable_applications(actor).where(Application.id == application_id)
    return _one(
        session, statement, f"没有申请 {application_id}", f"no application {application_id}"
    )


def _writable_application(actor: Actor, session: Session, application_id: int) -> Application:
    statement = repository.writable_applications(actor).where(Application.id == application_id)
    return _one(
        session, statement, f"没有申请 {application_id}", f"no application {application_id}"
    )


def my_applications(actor: Actor, session: Session) -> list[Application]:
    """A resident's own applications (as applicant), newest first."""
    require(actor, Role.RESIDENT)
    return list(
        session.scalars(repository.readable_applications(actor).order_by(Application.id.desc()))
    )


def verify(
    actor: Actor,
    session: Session,
    application_ids: list[int],
    approve: bool,
    reason: str | None = None,
) -> int:
    """The owning department approves, or returns with a reason (then the applicant may
    correct and resubmit). Only submitted applications are verified."""
    require(actor, Role.ADMIN, Role.REVIEWER)
    if not approve and not (reason and reason.strip()):
        raise Invalid.field("reason", reason, "退回必须写明原因", "a return needs a reason")
    now = datetime.now(UTC)
    count = 0
    for application_id in application_ids:
        application = _writable_application(actor, session, application_id)
        cycle = get_cycle(actor, session, application.cycle_id)
        before = audit.row_state(application)
        if cycle.status == CycleStatus.FINAL:
            raise Conflict(f"周期 {cycle.id} 结果已确定", f"cycle {cycle.id} is final")
        if application.status not in (ApplicationStatus.SUBMITTED, ApplicationStatus.VERIFIED):
            raise Conflict(
                f"申请 {application_id} 的状态是 {application.status}，不能审核",
                f"application {application_id} is {application.status}: cannot be verified",
            )
        application.status = ApplicationStatus.VERIFIED if approve else ApplicationStatus.RETURNED
        application.reason = None if approve else reason
        application.verified_by = actor.username
        application.verified_at = now
        session.flush()
        audit.record(
            session,
            actor,
            "application.verify" if approve else "application.return",
            "application",
            application.id,
            before,
            audit.row_state(application),
        )
        count += 1
    session.flush()
    return count


def verify_all(actor: Actor, session: Session, cycle_id: int) -> int:
    """Approve every submitted application of a cycle in one statement."""
    require(actor, Role.ADMIN, Role.REVIEWER)
    cycle = _writable_cycle(actor, session, cycle_id)
    if cycle.status == CycleStatus.FINAL:
        raise Conflict(f"周期 {cycle.id} 结果已确定", f"cycle {cycle.id} is final")
    result = session.execute(
        update(Application)
        .where(
            Application.cycle_id == cycle_id,
            Application.status == ApplicationStatus.SUBMITTED,
        )
        .values(
            status=ApplicationStatus.VERIFIED,
            verified_by=actor.username,
            verified_at=datetime.now(UTC),
        )
        .execution_options(synchronize_session=False)
    )
    count = int(result.rowcount)  # type: ignore[attr-defined]
    audit.record(
        session,
        actor,
        "applications.verify_all",
        "program_cycle",
        cycle.id,
        detail={"count": count},
    )
    return count


def correct(
    actor: Actor,
    session: Session,
    application_id: int,
    choices: str | None = None,
    fields: Mapping[str, Any] | None = None,
) -> Application:
    """A correction (after a return, or an objection) puts the application back to
    submitted; the department verifies it again. The service centre or the applicant
    corrects."""
    require(actor, Role.ADMIN, Role.OPERATOR, Role.RESIDENT)
    application = _writable_application(actor, session, application_id)
    before = audit.row_state(application)
    cycle = get_cycle(actor, session, application.cycle_id)
    if cycle.status == CycleStatus.FINAL:
        raise Conflict(f"周期 {cycle.id} 结果已确定", f"cycle {cycle.id} is final")
    own_changes = (ApplicationStatus.SUBMITTED, ApplicationStatus.RETURNED)
    if acts_as(actor, Role.RESIDENT) and application.status not in own_changes:
        # After verification a change goes through the department (or an objection).
        raise Conflict(
            f"申请 {application.id} 已审核（{application.status}），请联系主管部门或在公示期提出异议",
            f"application {application.id} is {application.status}: ask the department, or "
            "object during the notice",
        )
    spec = cycle_spec(cycle)
    if choices is not None:
        wanted = [part.strip() for part in choices.replace("；", ";").split(";") if part.strip()]
        offered = {target.group_id for target in cycle_targets(session, cycle.id)}
        unknown = [choice for choice in wanted if choice not in offered]
        if unknown or len(wanted) > spec.max_choices or len(set(wanted)) < len(wanted):
            raise Invalid.field(
                "choices",
                choices,
                "志愿无效（未开设、重复或过多）",
                "unknown, repeated or too many",
            )
        application.choices = ";".join(wanted)
    if fields:
        values = json.loads(application.fields)
        on_behalf = not acts_as(actor, Role.RESIDENT)
        try:
            checked = schemas.fields_model(spec, on_behalf).model_validate(dict(fields))
        except ValidationError as error:
            problems = _problems_of(error, spec, on_behalf, "fields", 1)
            first = problems[0]
            raise Invalid(
                f"更正未受理：{first.describe()}",
                f"correction refused: {first.describe()}",
                problems,
            ) from None
        values.update(checked.model_dump(include=set(fields)))
        application.fields = json.dumps(values, ensure_ascii=False)
    application.status = ApplicationStatus.SUBMITTED
    application.reason = None
    session.flush()
    audit.record(
        session,
        actor,
        "application.correct",
        "application",
        application.id,
        before,
        audit.row_state(application),
    )
    return application


# --- allocation ---------------------------------------------------------------------------


def _applicant_frame(
    actor: Actor, session: Session, cycle: ProgramCycle, spec: ProgramSpec, run_id: int | None
) -> tuple[pl.DataFrame, scoring_service.StoredScores]:
    """One row per (application, person whose points count): the child's parents for a
    school place, else the applicant; with that person's stored points and inputs."""
    applications = session.execute(
        select(
            Application.id,
            Application.resident_id,
            Application.child_id,
            Application.choices,
            Application.fields,
        )
        .where(Application.cycle_id == cycle.id, Application.status.in_(RANKABLE))
        .order_by(Application.submitted_at, Application.id)
    ).all()
    frame = (
        pl.DataFrame(
            applications,
            schema={
                "application_id": pl.Int64,
                "applicant": pl.Int64,
                "child_id": pl.Int64,
                "choices": pl.String,
                "fields": pl.String,
            },
            orient="row",
        )
        .with_row_index(rules.ORDER, offset=1)
        .with_columns(pl.col(rules.ORDER).cast(pl.Int64))
    )
    people = registry_service.people(actor, session)
    applicant_town = people.select(
        pl.col(KEY).alias("applicant"), pl.col("town_code").alias("home_town"), "household_id"
    )
    frame = frame.join(applicant_town, on="applicant", how="left")
    if spec.kind is ProgramKind.PUBLIC_HOUSING:
        frame = frame.join(_household_sizes(actor, session, people), on="household_id", how="left")
        # A resident registered without a household lives alone.
        frame = frame.with_columns(pl.col("household_size").fill_null(1))
    else:
        frame = frame.with_columns(household_size=pl.lit(None, dtype=pl.Int64))
    if spec.kind is ProgramKind.SCHOOL_ADMISSION:
        parents = people.select("household_id", KEY).drop_nulls("household_id")
        persons = frame.join(parents, on="household_id", how="left").with_columns(
            pl.col(KEY).fill_null(pl.col("applicant"))
        )
    else:
        persons = frame.with_columns(pl.col("applicant").alias(KEY))
    scores = scoring_service.stored_scores(
        actor, session, persons[KEY].unique().to_list(), run_id=run_id, policy_id=spec.policy
    )
    persons = persons.join(scores.frame, on=KEY, how="left")
    if spec.fields:
        schema = {name: rules.field_dtype(spec, name) for name in spec.fields}
        persons = persons.with_columns(
            pl.col("fields").str.json_decode(pl.Struct(schema)).alias("fields")
        ).unnest("fields")
    return persons, scores


def _household_sizes(actor: Actor, session: Session, people: pl.DataFrame) -> pl.DataFrame:
    """Members of each household as the registry has them (adults and accompanying
    children), never as an application says."""
    adults = people.drop_nulls("household_id").group_by("household_id").agg(adults=pl.len())
    children = (
        registry_service.children(actor, session)
        .drop_nulls("household_id")
        .group_by("household_id")
        .agg(children=pl.len())
    )
    return adults.join(children, on="household_id", how="left").select(
        "household_id",
        household_size=(pl.col("adults") + pl.col("children").fill_null(0)).cast(pl.Int64),
    )


def allocate_cycle(
    actor: Actor,
    session: Session,
    cycle_id: int,
    seed: str,
    scoring_run_id: int | None = None,
) -> AllocationRun:
    require(actor, Role.ADMIN, Role.OPERATOR)
    cycle = _writable_cycle(actor, session, cycle_id)
    spec = cycle_spec(cycle)
    if cycle.status == CycleStatus.FINAL:
        raise Conflict(f"周期 {cycle.id} 结果已确定，不能再分配", f"cycle {cycle.id} is final")
    if not seed.strip():
        raise Invalid.field("seed", seed, "需要公开的摇号种子", "a published seed is needed")
    persons, scores = _applicant_frame(actor, session, cycle, spec, scoring_run_id)
    if persons.height == 0:
        raise Invalid(
            f"周期 {cycle.id} 没有已审核的申请", f"cycle {cycle.id} has no verified application"
        )
    input_types = {name: item.type for name, item in scores.compiled.policy.inputs.items()}
    rules.check_rules(spec, input_types, scores.run.policy_id)
    scored = persons.filter(pl.col("points").is_not_null())
    evaluated = rules.evaluate(spec, input_types, scored, cycle.as_of)
    # Per application: eligible if any counted person is (the eligible one with the most
    # points gives the conditions and tie-break values); it ranks with the highest points of
    # them (a child ranks with the higher of the two parents' points).
    best = (
        evaluated.sort(["eligible", "points"], descending=True)
        .unique("application_id", keep="first", maintain_order=True)
        .drop("points")
        .join(
            evaluated.group_by("application_id").agg(pl.col("points").max()),
            on="application_id",
        )
    )
    missing = persons.filter(~pl.col("application_id").is_in(best["application_id"].implode()))
    missing = missing.unique("application_id").select("application_id", rules.ORDER)
    applicants = best.sort(rules.ORDER)
    targets = cycle_targets(session, cycle.id)
    target_frame = pl.DataFrame(
        [
            (t.target_id, t.name, t.town_code, t.group_id, t.layout, t.capacity, t.units)
            for t in targets
        ],
        schema=TARGET_SCHEMA,
        orient="row",
    )
    outcome = _decide(spec, applicants, target_frame, seed)
    outcome = pl.concat(
        [
            outcome,
            missing.select(
                "application_id",
                outcome=pl.lit(Outcome.INELIGIBLE.value),
                reason_zh=pl.lit("不在所用计分批次中（没有有效居住证）"),
                reason_en=pl.lit("not in the scoring run used (no valid residence permit)"),
            ),
        ],
        how="diagonal_relaxed",
    )
    digest = hashlib.sha256()
    digest.update(cycle.program_digest.encode())
    digest.update(f"|{scores.run.id}|{scores.run.policy_digest}|{seed}|".encode())
    digest.update(target_frame.write_csv().encode())
    digest.update(
        applicants.select(
            "application_id",
            "points",
            "eligible",
            "priority_group",
            "choices",
            *[column for column in applicants.columns if column.startswith("tie:")],
        )
        .write_csv()
        .encode()
    )
    previous = session.scalars(
        select(AllocationRun)
        .where(AllocationRun.cycle_id == cycle.id)
        .order_by(AllocationRun.id.desc())
        .limit(1)
    ).one_or_none()
    counts = outcome.group_by("outcome").len()
    summary = {
        "applications": outcome.height,
        **{row[0]: row[1] for row in counts.iter_rows()},
        "seats": int(target_frame["capacity"].sum() or 0),
        "entitlement_total": float(outcome["entitlement"].sum() or 0)
        if "entitlement" in outcome.columns
        else 0.0,
    }
    run = AllocationRun(
        cycle_id=cycle.id,
        previous_run_id=previous.id if previous else None,
        scoring_run_id=scores.run.id,
        method=(spec.mechanism.value if spec.mechanism else "tiers"),
        seed=seed,
        inputs_digest=digest.hexdigest(),
        summary=json.dumps(summary, ensure_ascii=False),
        created_by=actor.username,
    )
    session.add(run)
    session.flush()
    columns = [column.name for column in AllocationResult.__table__.columns]
    stored = outcome.with_columns(run_id=pl.lit(run.id, dtype=pl.Int64))
    for column in columns:
        if column not in stored.columns:
            stored = stored.with_columns(pl.lit(None).alias(column))
    stored = stored.with_columns(
        pl.col("lottery").cast(pl.String).fill_null(""),
        pl.col("town_placement").fill_null(False).cast(pl.Boolean),
    )
    bulk.insert_frame(session, AllocationResult.__table__, stored.select(columns))
    for decided, status in STATUS_OF_OUTCOME.items():
        ids = outcome.filter(pl.col("outcome") == decided.value)["application_id"].to_list()
        for start in range(0, len(ids), 20_000):  # bounded IN lists
            session.execute(
                update(Application)
                .where(Application.id.in_(ids[start : start + 20_000]))
                .values(status=status)
                .execution_options(synchronize_session=False)
            )
    cycle.status = CycleStatus.ALLOCATED
    session.flush()
    audit.record(
        session,
        actor,
        "allocation.run",
        "allocation_run",
        run.id,
        after={**audit.row_state(run), "results": _results_digest(session, run.id)},
        detail={"cycle": cycle.id, "seed": seed},
    )
    return run


def _decide(
    spec: ProgramSpec, applicants: pl.DataFrame, targets: pl.DataFrame, seed: str
) -> pl.DataFrame:
    """The outcome of every ranked application: application_id, outcome, target_id, unit,
    choice_rank, town_placement, points, priority_group, rank, lottery, entitlement,
    reason_zh, reason_en."""
    eligible = applicants.filter(pl.col("eligible"))
    refused = applicants.filter(~pl.col("eligible"))
    reasons = [rules.failed_rules(spec, row) for row in refused.iter_rows(named=True)]
    ineligible = refused.select(
        "application_id",
        "points",
        "priority_group",
        outcome=pl.lit(Outcome.INELIGIBLE.value),
        reason_zh=pl.Series([zh for zh, _ in reasons], dtype=pl.String),
        reason_en=pl.Series([en for _, en in reasons], dtype=pl.String),
    )
    if spec.kind is ProgramKind.TIERED_BENEFIT:
        decided = eligible.select(
            "application_id",
            "points",
            "priority_group",
            "entitlement",
            outcome=pl.when(pl.col("entitlement").is_not_null())
            .then(pl.lit(Outcome.PLACED.value))
            .otherwise(pl.lit(Outcome.UNPLACED.value)),
            reason_zh=pl.when(pl.col("entitlement").is_null()).then(pl.lit("未达到最低一档")),
            reason_en=pl.when(pl.col("entitlement").is_null()).then(pl.lit("below every tier")),
        )
        return pl.concat([decided, ineligible], how="diagonal_relaxed")
    choices, overrides, dropped = _choices(spec, eligible, targets)
    ranked_input = eligible.select(
        pl.col("application_id").cast(pl.String).alias("applicant_id"),
        "points",
        "priority_group",
        *[pl.col(column) for column in eligible.columns if column.startswith("tie:")],
    ).with_columns(choices=choices)
    method = spec.mechanism or Method.RANKED_QUOTA
    result = allocate(
        method,
        ranked_input,
        targets.select("target_id", "capacity"),
        seed,
        overrides,
        rules.tie_break_columns(spec),
    ).frame
    placed = result.with_columns(application_id=pl.col("applicant_id").cast(pl.Int64)).join(
        eligible.select("application_id", "points", "priority_group", "home_town"),
        on="application_id",
    )
    placed = placed.join(dropped, on="application_id", how="left")
    if spec.kind is ProgramKind.SCHOOL_ADMISSION and spec.school and spec.school.town_placement:
        placed = _town_placement(placed, targets, eligible)
    else:
        placed = placed.with_columns(town_placement=pl.lit(False))
    unplaced_outcome = (
        Outcome.WAITLISTED if spec.kind is ProgramKind.PUBLIC_HOUSING else Outcome.UNPLACED
    )
    full_zh, full_en = (
        ("志愿均已满额（按排名未轮到）", "every choice filled by higher-ranked applicants")
        if spec.kind is not ProgramKind.PUBLIC_HOUSING
        else ("房源已配完，进入轮候", "no flat left: on the waiting list")
    )
    decided = placed.select(
        "application_id",
        "points",
        "priority_group",
        "target_id",
        "choice_rank",
        "town_placement",
        pl.col("rank"),
        pl.col("lottery"),
        outcome=pl.when(pl.col("target_id").is_not_null())
        .then(pl.lit(Outcome.PLACED.value))
        .otherwise(pl.lit(unplaced_outcome.value)),
        reason_zh=pl.when(pl.col("target_id").is_null())
        .then(
            pl.when(pl.col("no_choice_left")).then(pl.col("dropped_zh")).otherwise(pl.lit(full_zh))
        )
        .when(pl.col("town_placement"))
        .then(pl.lit("志愿未录取，由镇街统筹安排到有空余学位的学校")),
        reason_en=pl.when(pl.col("target_id").is_null())
        .then(
            pl.when(pl.col("no_choice_left")).then(pl.col("dropped_en")).otherwise(pl.lit(full_en))
        )
        .when(pl.col("town_placement"))
        .then(pl.lit("no choice reached: placed by the town at a school with free seats")),
    )
    if spec.kind is ProgramKind.PUBLIC_HOUSING:
        decided = _assign_flats(decided, targets)
    return pl.concat([decided, ineligible], how="diagonal_relaxed")


def _choices(
    spec: ProgramSpec, eligible: pl.DataFrame, targets: pl.DataFrame
) -> tuple[pl.Series, pl.DataFrame | None, pl.DataFrame]:
    """Each application's choice list of target ids (schools the child may enter there;
    a housing project's flats of the layouts the household may have), per-target groups,
    and, per application, why choices were dropped."""
    listed = eligible.select(
        "application_id",
        "home_town",
        "household_size",
        *(["full_year", "current"] if spec.school else []),
        chosen=pl.col("choices").str.split(";").list.filter(pl.element() != ""),
    )
    if spec.kind is ProgramKind.QUOTA_BENEFIT:
        choices = pl.Series([[QUOTA_TARGET]] * eligible.height, dtype=pl.List(pl.String))
        nothing = listed.select(
            "application_id",
            no_choice_left=pl.lit(False),
            dropped_zh=pl.lit(None, dtype=pl.String),
            dropped_en=pl.lit(None, dtype=pl.String),
        )
        return choices, None, nothing
    cells = listed.with_columns(position=pl.int_ranges(pl.col("chosen").list.len())).explode(
        "chosen", "position"
    )
    cells = cells.filter(pl.col("chosen").is_not_null())
    if spec.kind is ProgramKind.SCHOOL_ADMISSION:
        assert spec.school is not None
        first_demand = cells.filter(pl.col("position") == 0).group_by("chosen").len()
        strict = targets.join(
            first_demand, left_on="target_id", right_on="chosen", how="left"
        ).select("target_id", strict=pl.col("len").fill_null(0) > pl.col("capacity"))
        cells = cells.join(strict, left_on="chosen", right_on="target_id", how="left").with_columns(
            allowed=pl.when(pl.col("strict"))
            .then(pl.col("full_year").fill_null(False))
            .otherwise(pl.col("current").fill_null(False))
        )
        full, current = spec.school.full_year_rule.label, spec.school.current_rule.label
        rule_zh = (
            pl.when(pl.col("current").fill_null(False))
            .then(pl.lit(f"所填学校学位紧张，要求{full.zh}"))
            .otherwise(pl.lit(f"不符合：{current.zh}"))
        )
        rule_en = (
            pl.when(pl.col("current").fill_null(False))
            .then(pl.lit(f"the chosen schools are over-subscribed and require: {full.en}"))
            .otherwise(pl.lit(f"not met: {current.en}"))
        )
        cells = cells.with_columns(target=pl.col("chosen"))
    else:
        assert spec.household_layouts is not None
        sizes = sorted(spec.household_layouts)
        layout_rows = [
            (size, layout, order)
            for size in range(1, max(sizes) + 1)
            for order, layout in enumerate(
                spec.household_layouts[min((s for s in sizes if s >= size), default=max(sizes))]
            )
        ]
        layouts = pl.DataFrame(
            layout_rows,
            schema={"size": pl.Int64, "layout": pl.String, "order": pl.Int64},
            orient="row",
        )
        cells = (
            cells.with_columns(size=pl.col("household_size").clip(1, max(sizes)))
            .join(layouts, on="size", how="left")
            .with_columns(target=pl.col("chosen") + "|" + pl.col("layout"))
            .join(targets.select("target_id"), left_on="target", right_on="target_id", how="semi")
            .sort("application_id", "position", "order")
            .with_columns(allowed=pl.lit(True))
        )
        rule_zh = pl.lit("所选项目没有适合家庭人数的房型")
        rule_en = pl.lit("no flat of a fitting size in the chosen projects")
    allowed = cells.filter(pl.col("allowed"))
    lists = (
        allowed.group_by("application_id", maintain_order=True)
        .agg(pl.col("target"))
        .join(eligible.select("application_id"), on="application_id", how="right")
        .select("application_id", pl.col("target").fill_null([]))
    )
    ordered = eligible.select("application_id").join(lists, on="application_id", how="left")
    overrides = None
    if spec.school is not None and spec.school.home_town_first:
        town_of = targets.select("target_id", "town_code")
        overrides = (
            allowed.join(town_of, left_on="target", right_on="target_id")
            .join(eligible.select("application_id", "priority_group"), on="application_id")
            .select(
                applicant_id=pl.col("application_id").cast(pl.String),
                target_id=pl.col("target"),
                priority_group=pl.col("priority_group") * 2
                + (pl.col("town_code") != pl.col("home_town")).cast(pl.Int64),
            )
        )
    dropped = ordered.join(
        eligible.select("application_id", *(["current"] if spec.school else [])),
        on="application_id",
    ).select(
        "application_id",
        no_choice_left=pl.col("target").list.len() == 0,
        dropped_zh=rule_zh,
        dropped_en=rule_en,
    )
    return ordered["target"], overrides, dropped


def _town_placement(
    placed: pl.DataFrame, targets: pl.DataFrame, eligible: pl.DataFrame
) -> pl.DataFrame:
    """Unplaced children who meet the current-insurance rule go, in rank order, to the
    school of their own town with the most free seats (镇街统筹)."""
    taken = placed.group_by("target_id").len()
    free = (
        targets.join(taken, on="target_id", how="left")
        .with_columns(free=pl.col("capacity") - pl.col("len").fill_null(0))
        .filter(pl.col("free") > 0)
    )
    seats = {
        row["target_id"]: (row["town_code"], row["free"]) for row in free.iter_rows(named=True)
    }
    current = set(eligible.filter(pl.col("current").fill_null(False))["application_id"].to_list())
    chosen: dict[int, str] = {}
    waiting = placed.filter(pl.col("target_id").is_null()).sort("rank")
    for application_id, town in waiting.select("application_id", "home_town").iter_rows():
        if application_id not in current:
            continue
        here = [
            (left, target) for target, (code, left) in seats.items() if code == town and left > 0
        ]
        if not here:
            continue
        _, target = max(here)
        code, left = seats[target]
        seats[target] = (code, left - 1)
        chosen[application_id] = target
    assignment = pl.DataFrame(
        {"application_id": list(chosen), "town_target": list(chosen.values())},
        schema={"application_id": pl.Int64, "town_target": pl.String},
    )
    return (
        placed.join(assignment, on="application_id", how="left")
        .with_columns(
            town_placement=pl.col("town_target").is_not_null(),
            target_id=pl.coalesce("target_id", "town_target"),
        )
        .drop("town_target")
    )


def _assign_flats(decided: pl.DataFrame, targets: pl.DataFrame) -> pl.DataFrame:
    """Within a project and layout, flats go in number order to applicants in rank order."""
    units = targets.select("target_id", unit=pl.col("units").str.split(";")).explode("unit")
    units = units.with_columns(slot=pl.int_range(pl.len()).over("target_id"))
    placed = decided.filter(pl.col("target_id").is_not_null()).with_columns(
        slot=pl.col("rank").rank("ordinal").over("target_id").cast(pl.Int64) - 1
    )
    placed = placed.join(
        units.with_columns(pl.col("slot").cast(pl.Int64)), on=["target_id", "slot"], how="left"
    ).drop("slot")
    return pl.concat([placed, decided.filter(pl.col("target_id").is_null())], how="diagonal")


# --- results ------------------------------------------------------------------------------


def _results_digest(session: Session, run_id: int) -> str | None:
    rows = _stored_results(session, run_id).drop("resident_id", "child_id")
    return audit.digest({"rows": rows.rows()})


def get_run(actor: Actor, session: Session, run_id: int) -> AllocationRun:
    """A run, for the cycle's department and the service centre (the public and the towns
    read published runs through their notice)."""
    require(actor, Role.ADMIN, Role.OPERATOR, Role.REVIEWER, Role.AUDITOR)
    statement = repository.readable_runs(actor).where(AllocationRun.id == run_id)
    return _one(session, statement, f"没有分配批次 {run_id}", f"no allocation run {run_id}")


def latest_run(actor: Actor, session: Session, cycle_id: int) -> AllocationRun:
    run = session.scalars(
        repository.readable_runs(actor)
        .where(AllocationRun.cycle_id == cycle_id)
        .order_by(AllocationRun.id.desc())
        .limit(1)
    ).one_or_none()
    if run is None:
        raise NotFound(f"周期 {cycle_id} 还没有分配", f"cycle {cycle_id} has not been allocated")
    return run


def _final_run(session: Session, cycle_id: int) -> AllocationRun | None:
    return session.scalars(
        select(AllocationRun).where(AllocationRun.cycle_id == cycle_id, AllocationRun.final)
    ).one_or_none()


def _stored_results(session: Session, run_id: int) -> pl.DataFrame:
    """A run's results as stored, with who each application is for (ids only)."""
    rows = session.execute(
        select(
            AllocationResult.application_id,
            Application.resident_id,
            Application.child_id,
            AllocationResult.outcome,
            AllocationResult.target_id,
            AllocationResult.unit,
            AllocationResult.choice_rank,
            AllocationResult.town_placement,
            AllocationResult.points,
            AllocationResult.priority_group,
            AllocationResult.rank,
            AllocationResult.lottery,
            AllocationResult.entitlement,
            AllocationResult.reason_zh,
            AllocationResult.reason_en,
        )
        .join(Application, Application.id == AllocationResult.application_id)
        .where(AllocationResult.run_id == run_id)
        .order_by(AllocationResult.application_id)
    ).all()
    return pl.DataFrame(
        [tuple(row) for row in rows],
        schema={
            "application_id": pl.Int64,
            "resident_id": pl.Int64,
            "child_id": pl.Int64,
            "outcome": pl.String,
            "target_id": pl.String,
            "unit": pl.String,
            "choice_rank": pl.Int64,
            "town_placement": pl.Boolean,
            "points": pl.Float64,
            "priority_group": pl.Int64,
            "rank": pl.Int64,
            "lottery": pl.String,
            "entitlement": pl.Float64,
            "reason_zh": pl.String,
            "reason_en": pl.String,
        },
        orient="row",
    )


def _with_people(actor: Actor, session: Session, frame: pl.DataFrame, masked: bool) -> pl.DataFrame:
    """Names and ID numbers of the applicant and the child (masked for anything public)."""
    people = registry_service.people(actor, session).select(KEY, "id_number", "name")
    children = registry_service.children(actor, session).select(
        "child_id", "child_id_number", "child_name"
    )
    frame = frame.join(people, on=KEY, how="left").join(children, on="child_id", how="left")
    if masked:
        frame = frame.with_columns(
            pl.col("id_number").map_elements(mask_id_number, return_dtype=pl.String),
            pl.col("name").map_elements(mask_name, return_dtype=pl.String),
            pl.col("child_id_number").map_elements(mask_id_number, return_dtype=pl.String),
            pl.col("child_name").map_elements(mask_name, return_dtype=pl.String),
        )
    return frame


def run_results(actor: Actor, session: Session, run_id: int, masked: bool = True) -> pl.DataFrame:
    """Every application's outcome in a run, with who it is for (masked unless asked not
    to: this is the list published for the notice period)."""
    run = get_run(actor, session, run_id)
    names = {t.target_id: t.name for t in cycle_targets(session, run.cycle_id)}
    frame = _stored_results(session, run.id).with_columns(
        target_name=pl.col("target_id").replace_strict(names, default=None)
    )
    return _with_people(actor, session, frame, masked)


def run_diff(actor: Actor, session: Session, run_id: int) -> pl.DataFrame:
    """Applications whose outcome, place or flat differs from the previous run of the cycle
    (an application new in either run counts as changed)."""
    run = get_run(actor, session, run_id)
    current = _stored_results(session, run.id)
    if run.previous_run_id is None:
        return current.head(0).select("application_id")
    previous = _stored_results(session, run.previous_run_id)
    keys = ["outcome", "target_id", "unit", "entitlement"]
    joined = previous.select("application_id", KEY, *keys).join(
        current.select("application_id", KEY, *keys),
        on="application_id",
        how="full",
        suffix="_now",
        coalesce=True,
    )
    changed = pl.any_horizontal(pl.col(key).ne_missing(pl.col(f"{key}_now")) for key in keys)
    differences = joined.filter(changed).select(
        "application_id",
        pl.coalesce(f"{KEY}_now", KEY).alias(KEY),
        pl.lit(None, dtype=pl.Int64).alias("child_id"),
        before=pl.concat_str(
            pl.col("outcome").fill_null("—"), pl.col("target_id").fill_null(""), separator=" "
        ),
        after=pl.concat_str(
            pl.col("outcome_now").fill_null("—"),
            pl.col("target_id_now").fill_null(""),
            separator=" ",
        ),
    )
    # Names only for what changed: the registry is read once, not once per run.
    named = _with_people(actor, session, differences, masked=True)
    return named.select("application_id", "name", "before", "after")


def finalize(actor: Actor, session: Session, cycle_id: int) -> AllocationRun:
    """After the notice period the latest run is final; applications are final. Called by
    the notice when its window has closed with no open objection (``notices.service``)."""
    require(actor, Role.ADMIN, Role.OPERATOR)
    cycle = get_cycle(actor, session, cycle_id)
    if cycle.status == CycleStatus.FINAL:
        raise Conflict(f"周期 {cycle.id} 已确定", f"cycle {cycle.id} is already final")
    run = latest_run(actor, session, cycle.id)
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
