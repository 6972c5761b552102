"""Applications: taken (one record or a file, all or none), corrected, verified.

The record shape is the program's (``schemas.record_model``); identity, household, points and
group never come from an application. The caller commits (transactions at the edge).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from luodi import bulk
from luodi.audit import service as audit
from luodi.auth.actor import SYSTEM_ACTOR, Actor, Role
from luodi.auth.permissions import acts_as, require
from luodi.errors import Conflict, FieldProblem, Invalid, validation_reason
from luodi.files import read_table
from luodi.programs import repository, rules, schemas, targets
from luodi.programs.catalog import cycle_spec
from luodi.programs.models import Application, ApplicationStatus, CycleStatus, ProgramCycle
from luodi.programs.spec import ProgramKind, ProgramSpec
from luodi.tabular import LINE, Problems

APPLICATION_READERS = (
    Role.ADMIN,
    Role.OPERATOR,
    Role.REVIEWER,
    Role.TOWN_STAFF,
    Role.RESIDENT,
    Role.AUDITOR,
)
CHOOSING = (ProgramKind.SCHOOL_ADMISSION, ProgramKind.PUBLIC_HOUSING)
"""Kinds whose applicants choose targets (schools, housing projects)."""
_CHOICES = TypeAdapter(schemas.Choices)
HOUSEHOLD_TWICE = (
    "同一户的成员重复申请（公租房按户申请，一户只能申请一次）",
    "two members of one household apply (public rental: one application per household)",
)
HOUSEHOLD_APPLIED = (
    "本户已有成员在本周期申请（公租房一户只能申请一次）",
    "a member of the household already applied in this cycle (one application per household)",
)


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
        else:
            reason_zh, reason_en = validation_reason(problem)
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
    # Column by column, the list column joined and split again: Polars builds a Series per
    # cell from Python lists (most of the time of a large file). Choices are never empty
    # (``schemas.Choices``), so an empty piece is the empty list.
    columns = {
        key: pl.Series(key, [row[key] for row in valid], dtype=dtype)
        for key, dtype in schema.items()
        if key != "choices"
    }
    if "choices" in schema:
        joined = pl.Series("choices", ["\x00".join(row["choices"]) for row in valid])
        columns["choices"] = joined.str.split("\x00").list.filter(pl.element() != "")
    return pl.DataFrame(columns).select(list(schema))


def submit_applications(
    actor: Actor,
    session: Session,
    cycle_id: int,
    records: Sequence[Mapping[str, Any]],
    file: str = "申请 applications",
    today: date | None = None,
    lines: Sequence[int] | None = None,
) -> list[int]:
    """``_submit``: a resident's own or the service centre's filing (an employer files only
    through ``submit_employer_batch``, which checks its employees and the route first)."""
    require(actor, Role.ADMIN, Role.OPERATOR, Role.RESIDENT)
    return _submit(actor, session, cycle_id, records, file, today, lines)


def _submit(
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

    A resident files one record, for self (and own child: the applicant must be one of the
    child's two registered parents or guardians); the service centre files in bulk, naming each
    applicant's ``id_number``. ``lines`` numbers the records in messages (a file's rows)."""
    on_behalf = not acts_as(actor, Role.RESIDENT)
    # Only the service centre may be told that a child's number is not registered: a
    # resident or an employer hears the same for another's child (no probing the registry).
    centre = on_behalf and not acts_as(actor, Role.EMPLOYER)
    if not records:
        raise Invalid("没有申请记录", "no application records")
    if not on_behalf and len(records) != 1:
        raise Invalid(
            f"新市民每次只能提交一份本人（或子女）的申请，本次提交了 {len(records)} 份",
            f"a resident submits one application (own, or own child's) per request, "
            f"not {len(records)}",
        )
    cycle = repository.get_cycle(actor, session, cycle_id)
    spec = cycle_spec(cycle)
    if spec.kind is ProgramKind.ENTITLEMENT:
        raise Conflict(
            f"项目 {spec.id} 的名单由服务中心从登记库生成（luodi program entitle），不受理申请",
            f"program {spec.id} takes no applications: the service centre produces its list "
            "from the registry (luodi program entitle)",
        )
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
    # Only the people and children the records name: never the whole registry.
    people = repository.residents_numbered(
        session, actor, frame["id_number"].drop_nulls().to_list()
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
        children = repository.children_numbered(
            session, SYSTEM_ACTOR, frame["child_id_number"].drop_nulls().to_list()
        )
        frame = frame.join(children, on="child_id_number", how="left")
        not_parent = (
            "申请人不是该子女登记的父母（监护人）",
            "the applicant is not a registered parent (guardian) of the child",
        )
        # A resident is told the same for an unregistered child as for another's child:
        # the answer must not say whether a child of that number is registered in the city.
        problems.flag(
            file,
            frame,
            pl.col("child_id").is_null(),
            "child_id_number",
            *(("不是登记在册的随迁子女", "not a registered child") if centre else not_parent),
        )
        # Only the child's parents or guardians file for it (《民法典》第二十七条): the two
        # the children feed names, wherever they live, never another adult of the household
        # (an uncle filing took the parents' place and locked them out of the cycle).
        problems.flag(
            file,
            frame,
            pl.col("child_id").is_not_null()
            & ~(
                (pl.col("resident_id") == pl.col("child_parent")).fill_null(False)
                | (pl.col("resident_id") == pl.col("child_second_parent")).fill_null(False)
            ),
            "child_id_number",
            *not_parent,
        )
        subject = pl.format("child:{}", pl.col("child_id"))
    elif spec.kind is ProgramKind.PUBLIC_HOUSING:
        # 住建部令第11号 judges the household: one application per household and cycle, from
        # whichever registered member files it (the unique (cycle, subject) constraint holds
        # it against two members filing at once); a resident without a household is one.
        frame = frame.with_columns(child_id=pl.lit(None, dtype=pl.Int64))
        subject = (
            pl.when(pl.col("household_id").is_not_null())
            .then(pl.format("household:{}", pl.col("household_id")))
            .otherwise(pl.format("resident:{}", pl.col("resident_id")))
        )
    else:
        frame = frame.with_columns(child_id=pl.lit(None, dtype=pl.Int64))
        subject = pl.format("resident:{}", pl.col("resident_id"))
    frame = frame.with_columns(subject=subject)
    by_household = pl.col("subject").str.starts_with("household:")
    twice = pl.col("subject").is_duplicated() & pl.col("subject").is_not_null()
    problems.flag(
        file,
        frame,
        twice & (~by_household | pl.col("resident_id").is_duplicated()),
        "id_number",
        "同一对象重复申请",
        "applies twice for the same person",
    )
    problems.flag(
        file,
        frame,
        twice & by_household & ~pl.col("resident_id").is_duplicated(),
        "id_number",
        *HOUSEHOLD_TWICE,
    )
    choosing = spec.kind in CHOOSING
    if choosing:
        flag_choices(problems, file, frame, spec, offered_choices(session, cycle))
    problems.raise_if_any("申请未受理", "applications refused")
    subjects = frame["subject"].to_list()
    statement = select(Application.subject).where(Application.cycle_id == cycle.id)
    if len(subjects) <= 500:  # a bulk file compares with the whole cycle instead
        statement = statement.where(Application.subject.in_(subjects))
    existing = set(session.scalars(statement)) & set(subjects)
    if existing:
        repeated = frame.filter(pl.col("subject").is_in(list(existing)))
        first_line = repeated[LINE][0]
        which_zh, which_en = f"第 {first_line} 条", f"record {first_line}"
        if repeated.height > 1:
            which_zh += f"等 {repeated.height} 条"
            which_en += f" and {repeated.height - 1} more"
        household = repeated["subject"].str.starts_with("household:")
        already = [
            HOUSEHOLD_APPLIED if of_household else ("本周期已有该对象的申请", "already applied")
            for of_household in household
        ]
        whom_zh, whom_en = (
            ("本户（一户只能申请一次）", "the household (one application per household)")
            if household.any()
            else ("该对象", "")
        )
        raise Conflict(
            f"本周期已有{whom_zh}的申请（{which_zh}），未写入任何申请；"
            "被退回的申请请更正原申请（PATCH /api/v1/applications/{id}）",
            f"already applied in this cycle{' by ' + whom_en if whom_en else ''} "
            f"({which_en}); nothing was written; a returned "
            "application is corrected, not filed again (PATCH /api/v1/applications/{id})",
            [
                FieldProblem("id_number", None, zh, en, file, line)
                for line, (zh, en) in zip(repeated[LINE].head(50), already, strict=False)
            ],
        )
    field_names = list(spec.fields)
    rows = frame.select(
        cycle_id=pl.lit(cycle.id, dtype=pl.Int64),
        resident_id=pl.col("resident_id"),
        child_id=pl.col("child_id"),
        subject=pl.col("subject"),
        choices=pl.col("choices").list.join(";") if choosing else pl.lit(""),
        fields=pl.Series(
            [
                json.dumps(values, ensure_ascii=False)
                for values in frame.select(field_names).iter_rows(named=True)
            ]
            if field_names
            else ["{}"] * frame.height,
            dtype=pl.String,
        ),
        status=pl.lit(ApplicationStatus.SUBMITTED.value),
        submitted_by=pl.lit(actor.username),
    )
    # In one bulk write, ids from the database (the order of the records is the order of
    # application: ids ascend with it).
    rows = bulk.with_ids(session, Application.__table__, rows)
    try:
        bulk.insert_frame(session, Application.__table__, rows)
    except IntegrityError:
        # Another request filed the same person in this cycle meanwhile (the unique
        # (cycle, subject) constraint decides the race).
        raise Conflict(
            "本周期已有该对象（公租房：本户）的申请（同时提交）",
            "already applied in this cycle (concurrently; public rental: by the household)",
        ) from None
    ids = rows["id"].to_list()
    audit.record(
        session,
        actor,
        "applications.submit",
        "program_cycle",
        cycle.id,
        after={
            "applications": rows.select(
                "id", "resident_id", "child_id", "subject", "choices", "fields"
            ).rows()
        },
        detail={"count": len(ids), "first": ids[0], "last": ids[-1]},
    )
    return ids


def submit_file(actor: Actor, session: Session, cycle_id: int, path: Path) -> list[int]:
    """The service centre's bulk route: a file with an ``id_number`` column (row 1 the
    header); empty cells mean "not given"."""
    records, lines = _records_from_file(path)
    return submit_applications(actor, session, cycle_id, records, path.name, lines=lines)


def _records_from_file(path: Path) -> tuple[list[dict[str, Any]], range]:
    """A filing's records from a table file (row 1 the header; empty cells are "not given")
    and the file's row number of each."""
    rows = read_table(path).select(pl.all().cast(pl.String).str.strip_chars())
    if rows.height == 0:
        raise Invalid(f"文件 {path.name} 没有数据行", f"file {path.name} has no data rows")
    records = [
        {key: value for key, value in row.items() if value not in (None, "")}
        for row in rows.iter_rows(named=True)
    ]
    return records, range(2, rows.height + 2)


def get_application(actor: Actor, session: Session, application_id: int) -> Application:
    """An application the actor may read; one out of scope is "not found" (not leaked).
    A department's machine token pushes feeds and reads no application."""
    require(actor, *APPLICATION_READERS)
    statement = repository.readable_applications(actor).where(Application.id == application_id)
    return repository.one(
        session, statement, f"没有申请 {application_id}", f"no application {application_id}"
    )


def _writable_application(actor: Actor, session: Session, application_id: int) -> Application:
    statement = repository.writable_applications(actor).where(Application.id == application_id)
    return repository.one(
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
        cycle = repository.get_cycle(actor, session, application.cycle_id)
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
    cycle = repository.writable_cycle(actor, session, cycle_id)
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
    cycle = repository.get_cycle(actor, session, application.cycle_id)
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
        application.choices = ";".join(_corrected_choices(session, cycle, spec, choices))
    if fields:
        values = json.loads(application.fields)
        values.update(checked_fields(spec, not acts_as(actor, Role.RESIDENT), fields))
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


def checked_fields(
    spec: ProgramSpec, on_behalf: bool, fields: Mapping[str, Any], refused: str = "更正"
) -> dict[str, Any]:
    """The program's own fields given (a correction's, or a resident's task list), checked
    as an application's are (``schemas.fields_model``; a field the department sets refused
    for a resident) and typed; ``Invalid`` naming each problem by field."""
    try:
        checked = schemas.fields_model(spec, on_behalf).model_validate(dict(fields))
    except ValidationError as error:
        problems = _problems_of(error, spec, on_behalf, "fields", 1)
        first = problems[0]
        raise Invalid(
            f"{refused}未受理：{first.describe('zh')}",
            f"{'correction' if refused == '更正' else 'answers'} refused: {first.describe('en')}",
            problems,
        ) from None
    return checked.model_dump(include=set(fields))


def checked_choices(
    session: Session, cycle: ProgramCycle, spec: ProgramSpec, choices: str
) -> list[str]:
    """Choices (``a;b``) checked as an application's are: offered in the cycle, at most
    ``max_choices``, none repeated; ``Invalid`` on the field ``choices`` otherwise."""
    return _corrected_choices(session, cycle, spec, choices)


def offered_choices(session: Session, cycle: ProgramCycle) -> list[str]:
    """What an applicant may choose in the cycle: schools, or housing projects."""
    return sorted({target.group_id for target in targets.cycle_targets(session, cycle.id)})


def flag_choices(
    problems: Problems, file: str, frame: pl.DataFrame, spec: ProgramSpec, offered: list[str]
) -> None:
    """Choices (a list column, parsed by ``schemas.Choices``): known targets (schools, or
    housing projects), at most ``max_choices``, no repeats."""
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
    unknown = ~pl.col("choices").list.eval(pl.element().is_in(offered)).list.all()
    # "S3,S5" is two choices written with the wrong separator: say so, not "not offered".
    commas = pl.col("choices").list.eval(pl.element().str.contains("[,，、]")).list.any()
    problems.flag(
        file,
        frame,
        unknown & commas,
        "choices",
        "多个志愿之间用英文分号 ; 分隔（如 S3;S5）",
        "separate choices with a semicolon ; (e.g. S3;S5)",
    )
    problems.flag(
        file,
        frame,
        unknown & ~commas,
        "choices",
        "志愿中有本周期没有的学校或项目",
        "a choice is not offered in this cycle",
    )


def _corrected_choices(
    session: Session, cycle: ProgramCycle, spec: ProgramSpec, choices: str
) -> list[str]:
    """A correction's choices (``a;b``), parsed and checked as an application's are."""
    try:
        wanted = _CHOICES.validate_python(choices) if choices.strip() else []
    except ValidationError:
        wanted = None
    problems = Problems()
    if wanted is not None:
        frame = pl.DataFrame(
            {LINE: [1], "choices": [wanted]},
            schema={LINE: pl.Int64, "choices": pl.List(pl.String)},
        )
        flag_choices(problems, "choices", frame, spec, offered_choices(session, cycle))
    if wanted == []:
        # A correction that chooses nothing would leave nothing to place the applicant at.
        raise Invalid.field("choices", choices, "请至少选择一个志愿", "choose at least one")
    if wanted is None or problems.total:
        raise Invalid.field(
            "choices",
            choices,
            "志愿无效（未开设、重复或过多）",
            "unknown, repeated or too many",
        )
    return wanted


EMPLOYER_BATCH = "企业统一申请 employer batch"


def submit_employer_batch(
    actor: Actor,
    session: Session,
    cycle_id: int,
    records: Sequence[Mapping[str, Any]],
    file: str = EMPLOYER_BATCH,
    today: date | None = None,
    lines: Sequence[int] | None = None,
) -> list[int]:
    """企业统一申请: an employer files, all or none, the school applications of its
    employees' children. Each record names the employee (``id_number``, the applicant), the
    child and the choices, like the service centre's bulk file; the employer is the signed-in
    employer account (its credit code), never a field.

    Every applicant must be one of the child's two registered parents (as for any filing) and
    have an employment in force today with this employer, as the employment feed says: the
    employer reaches nobody else (``scopes``: ``employee``). Fields the department sets (the
    school route) are refused. Every problem is listed by row, column and reason, and nothing
    is written while one remains."""
    require(actor, Role.EMPLOYER)
    if not records:
        raise Invalid("没有申请记录", "no application records")
    cycle = repository.get_cycle(actor, session, cycle_id)
    spec = cycle_spec(cycle)
    if spec.kind is not ProgramKind.SCHOOL_ADMISSION:
        raise Invalid.field(
            "cycle",
            cycle_id,
            "企业统一申请只用于随迁子女入学",
            "an employer files for school places only",
        )
    numbered = list(lines) if lines is not None else list(range(1, len(records) + 1))
    problems = Problems()
    set_by_department = {name for name, field in spec.fields.items() if field.set_by != "applicant"}
    # What an employer's row may carry: the service centre's keys less the department's.
    allowed = [key for key in schemas.record_keys(spec, True) if key not in set_by_department]
    for line, record in zip(numbered, records, strict=True):
        for key in sorted(set(record) - set(allowed) if isinstance(record, Mapping) else ()):
            zh, en = (
                (
                    f"{key} 由主管部门确认，用人单位不能填写",
                    f"{key} is set by the department, not by the employer",
                )
                if key in set_by_department
                else (
                    f"不是企业统一申请的字段（可填：{', '.join(allowed)}）",
                    f"not a field of an employer batch ({', '.join(allowed)})",
                )
            )
            problems.add(FieldProblem(key, record[key], zh, en, file, line))
    problems.raise_if_any("企业统一申请未受理", "employer batch refused")
    frame = _validated_records(spec, True, records, numbered, file)
    # The employer's scope of the registry is its employees in force today: anybody else is
    # not found, and said to be no employee (never whether such a person is registered).
    employees = repository.residents_numbered(session, actor, frame["id_number"].to_list())
    problems.flag(
        file,
        frame,
        ~pl.col("id_number").is_in(employees["id_number"].implode()),
        "id_number",
        "不是本单位的在职职工（以就业登记为准）",
        "not an employee of this employer in force (per the employment feed)",
    )
    problems.raise_if_any("企业统一申请未受理", "employer batch refused")
    ids = _submit(actor, session, cycle_id, records, file, today, numbered)
    audit.record(
        session,
        actor,
        "applications.employer_batch",
        "program_cycle",
        cycle.id,
        detail={
            "credit_code": actor.credit_code,
            "count": len(ids),
            "first": ids[0],
            "last": ids[-1],
        },
    )
    return ids


def submit_employer_file(actor: Actor, session: Session, cycle_id: int, path: Path) -> list[int]:
    """``submit_employer_batch`` from a file (CSV/XLSX, row 1 the header: ``id_number``,
    ``child_id_number``, ``choices``); empty cells mean "not given"."""
    records, lines = _records_from_file(path)
    return submit_employer_batch(actor, session, cycle_id, records, path.name, lines=lines)
