"""A registry feed's re-sent rows: people and children the registry holds already.

``register_frames`` registers the new; a re-send of residents or children (a child's second
parent given later, a grade, a move to another town or household, a relation to the head)
must reach the registry too, not only the facts (a city loaded before migration 0011 gets
relations and second parents this way). The rows are checked as a first load checks them
(one head and one spouse per household counting those registered; a second parent who is
neither the first nor the child; a known first parent and household), all or nothing with
each problem naming its row, then written in bulk (one executemany per table) and audited
as one registry change. A blank cell keeps what the registry holds: a department that does
not say a value does not erase it. The per-town counts follow people and children who move.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from luodi import bulk
from luodi.audit import service as audit
from luodi.auth.actor import Actor
from luodi.registry import city_files, repository
from luodi.registry.loading import flag_permit_terms, flag_unknown, require_registrar
from luodi.registry.models import (
    Child,
    Household,
    PermitStatus,
    Relation,
    ResidencePermit,
    Resident,
)
from luodi.tabular import Problems, is_given, parse_bool

_BLANK = pl.lit(None, pl.String)


def _given(frame: pl.DataFrame, column: str) -> pl.Expr:
    """The row's value when the file has the column and the cell is not blank."""
    if column not in frame.columns:
        return _BLANK
    return pl.when(is_given(column)).then(pl.col(column).cast(pl.String))


def _with_columns(rows: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """Every registry column, blank where the file has none (so that checks can name it)."""
    return rows.with_columns(
        pl.lit(None, pl.String).alias(column) for column in columns if column not in rows.columns
    )


def update_registered(
    actor: Actor,
    session: Session,
    target: str,
    rows: pl.DataFrame,
    what: tuple[str, str],
    file: str,
    *,
    known: pl.DataFrame | None = None,
    feed_department: str | None = None,
) -> tuple[int, pl.DataFrame]:
    """Update the rows of ``target`` (residents.csv, children.csv, permits.csv,
    employment.csv) whose person, child, permit or post is registered, problems named by ``file`` and ``LINE``; return
    (rows updated, the rows still to register). ``known``: the registry's (id, key) of the
    people or children, when the caller has just read them."""
    update_rows: Callable[[Session, str, pl.DataFrame, pl.DataFrame, Problems], int]
    if target == city_files.RESIDENTS:
        known = repository.resident_keys(session) if known is None else known
        key = "id_number"
        update_rows = _update_residents
    elif target == city_files.CHILDREN:
        known = repository.child_keys(session) if known is None else known
        key = "child_id_number"
        update_rows = _update_children
    elif target == city_files.PERMITS:
        known = repository.permit_keys(session) if known is None else known
        key = "permit_number"
        update_rows = _update_permits
    elif target == city_files.EMPLOYMENT:
        rows = rows.with_columns(employment_key=_employment_key())
        known = _employment_keys(session, rows)
        key = "employment_key"
        update_rows = _update_employment
    else:
        return 0, rows
    if key != "permit_number":  # a permit number is stored as the department wrote it
        rows = rows.with_columns(pl.col(key).str.to_uppercase())
    registered = pl.col(key).is_in(known["key"].implode())
    existing = rows.filter(registered).join(
        known.rename({"key": key, "id": "registered_id"}), on=key, how="left"
    )
    new = rows.filter(~registered).drop("employment_key", strict=False)
    if existing.height == 0:
        return 0, new
    # Who may register people may correct them (``register_frames``): through a
    # department's own feed, that department (a permit's cancellation is 公安局's to send).
    require_registrar(actor, feed_department)
    problems = Problems()
    changes = update_rows(session, file, existing, new, problems)
    problems.raise_if_any(*what)
    audit.record(
        session,
        actor,
        "registry.feed_update",
        target.removesuffix(".csv"),
        what[1][:200],
        after={"updated": changes},
        detail={"rows": existing.height},
    )
    return rows.height - new.height, new


def _employment_key() -> pl.Expr:
    """A post is the same post when the person, the employer and the start are the same."""
    return pl.concat_str(
        pl.col("id_number").str.to_uppercase(),
        pl.col("credit_code").str.to_uppercase(),
        pl.col("start_date").cast(pl.String),
        separator="|",
    )


def _employment_keys(session: Session, rows: pl.DataFrame) -> pl.DataFrame:
    """(id, key) of the registered posts of the file's people."""
    from luodi.registry.models import Employer, Employment

    people = rows["id_number"].str.to_uppercase().drop_nulls().unique().to_list()
    frame = bulk.read_frame(
        session,
        select(Employment.id, Resident.id_number, Employer.credit_code, Employment.start_date)
        .join(Resident, Resident.id == Employment.resident_id)
        .join(Employer, Employer.id == Employment.employer_id)
        .where(bulk.among(session, Resident.id_number, people)),
        {
            "id": pl.Int64(),
            "id_number": pl.String(),
            "credit_code": pl.String(),
            "start_date": pl.Date(),
        },
    )
    return frame.select("id", key=_employment_key())


def _update_employment(
    session: Session,
    file: str,
    rows: pl.DataFrame,
    new: pl.DataFrame,
    problems: Problems,
) -> int:
    """A re-sent post: its basis, its end and whether it is a frontline post (一线岗位)."""
    from luodi.registry.models import Employment

    current = bulk.read_frame(
        session,
        select(
            Employment.id,
            Employment.basis,
            Employment.end_date,
            Employment.frontline,
        ).where(bulk.among(session, Employment.id, rows["registered_id"].to_list())),
        {
            "registered_id": pl.Int64(),
            "old_basis": pl.String(),
            "old_end": pl.Date(),
            "old_frontline": pl.Boolean(),
        },
    )
    rows = _with_columns(rows, [*city_files.registry_columns(city_files.EMPLOYMENT), "frontline"])
    frame = rows.with_columns(
        start=pl.col("start_date").cast(pl.String).str.to_date(strict=False),
        new_end=_given(rows, "end_date").str.to_date(strict=False),
        new_basis=_given(rows, "basis"),
        new_frontline=pl.when(is_given("frontline")).then(parse_bool("frontline")),
    ).join(current, on="registered_id", how="left")
    problems.flag(
        file,
        frame,
        pl.col("new_end") < pl.col("start"),
        "end_date",
        "结束日期早于开始日期",
        "ends before it starts",
    )
    if problems.total:
        return 0
    values = frame.select(
        id="registered_id",
        basis=pl.coalesce("new_basis", "old_basis"),
        end_date=pl.coalesce("new_end", "old_end"),
        frontline=pl.coalesce("new_frontline", "old_frontline"),
    )
    session.execute(
        update(Employment).execution_options(synchronize_session=False), values.to_dicts()
    )
    return values.height


def _update_permits(
    session: Session,
    file: str,
    rows: pl.DataFrame,
    new: pl.DataFrame,
    problems: Problems,
) -> int:
    """A re-sent permit: its status, the status's date (a cancellation's), its expiry and its
    town, which the permit time line reads (kernels/timeline/permits.py); without this a
    cancellation sent after the first load never ended the residence span. The holder and
    the issue date are the permit's identity: a different one is refused (a new permit comes
    with a new number). The per-town counts of valid permits follow the change."""
    rows = _with_columns(rows, city_files.registry_columns(city_files.PERMITS))
    towns = repository.town_keys(session).rename({"key": "town_code", "id": "town_id"})
    holder = Resident.__table__.alias("holder")
    current = bulk.read_frame(
        session,
        select(
            ResidencePermit.id,
            holder.c.id_number,
            ResidencePermit.town_id,
            ResidencePermit.issue_date,
            ResidencePermit.expiry_date,
            ResidencePermit.status,
            ResidencePermit.status_date,
        )
        .join(holder, holder.c.id == ResidencePermit.resident_id)
        .where(bulk.among(session, ResidencePermit.id, rows["registered_id"].to_list())),
        {
            "registered_id": pl.Int64(),
            "old_holder": pl.String(),
            "old_town_id": pl.Int64(),
            "old_issue": pl.Date(),
            "old_expiry": pl.Date(),
            "old_status": pl.String(),
            "old_status_date": pl.Date(),
        },
    )
    frame = (
        rows.with_columns(
            new_holder=_given(rows, "id_number").str.to_uppercase(),
            town_code=_given(rows, "town_code"),
            new_issue=_given(rows, "issue_date").str.to_date(strict=False),
            new_expiry=_given(rows, "expiry_date").str.to_date(strict=False),
            new_status=_given(rows, "status"),
            new_status_date=_given(rows, "status_date").str.to_date(strict=False),
        )
        .join(current, on="registered_id", how="left")
        .join(towns, on="town_code", how="left")
        .with_columns(
            town_id=pl.coalesce("town_id", "old_town_id"),
            expiry_date=pl.coalesce("new_expiry", "old_expiry"),
            status=pl.coalesce("new_status", "old_status"),
            # A status that changes without a date of its own does not keep the old one's.
            status_date=pl.when(pl.col("new_status_date").is_not_null())
            .then("new_status_date")
            .when(pl.col("new_status").is_null() | (pl.col("new_status") == pl.col("old_status")))
            .then("old_status_date"),
        )
    )
    problems.flag(
        file,
        frame,
        pl.col("new_holder").is_not_null() & (pl.col("new_holder") != pl.col("old_holder")),
        "id_number",
        "居住证已登记在另一人名下，持证人不能变更",
        "the permit is registered to another person; its holder cannot change",
    )
    problems.flag(
        file,
        frame,
        pl.col("new_issue").is_not_null() & (pl.col("new_issue") != pl.col("old_issue")),
        "issue_date",
        "签发日期与登记库不符；重新签发的居住证应使用新的编号",
        "the issue date differs from the registry's; a permit issued again has a new number",
    )
    flag_unknown(problems, file, frame, "town_code", towns["town_code"], "镇街代码", "town code")
    # The feed refuses a status date after today already (``not_after_today``).
    flag_permit_terms(problems, file, frame, pl.col("old_issue"), today=None)
    if problems.total:
        return 0
    values = frame.select(
        id="registered_id",
        town_id="town_id",
        expiry_date="expiry_date",
        status="status",
        status_date="status_date",
    )
    session.execute(
        update(ResidencePermit).execution_options(synchronize_session=False), values.to_dicts()
    )
    valid = PermitStatus.VALID.value
    counted = pl.concat(
        [
            frame.filter(pl.col("old_status") == valid).select(
                town_id="old_town_id", expiry_date="old_expiry", n=pl.lit(-1, pl.Int64)
            ),
            frame.filter(pl.col("status") == valid).select(
                "town_id", "expiry_date", n=pl.lit(1, pl.Int64)
            ),
        ]
    )
    repository.adjust_counts(session, permits=counted)
    return values.height


def _relation(column: str) -> pl.Expr:
    from luodi.registry.loading import RELATION_SPELLINGS

    return (
        pl.col(column)
        .str.to_lowercase()
        .replace_strict(RELATION_SPELLINGS, default=None, return_dtype=pl.String)
    )


def _current_residents(session: Session, ids: list[int]) -> pl.DataFrame:
    statement = select(
        Resident.id,
        Resident.name,
        Resident.phone,
        Resident.town_id,
        Resident.household_id,
        Resident.relation_to_head,
    ).where(bulk.among(session, Resident.id, ids))
    return bulk.read_frame(
        session,
        statement,
        {
            "registered_id": pl.Int64(),
            "old_name": pl.String(),
            "old_phone": pl.String(),
            "old_town_id": pl.Int64(),
            "old_household_id": pl.Int64(),
            "old_relation": pl.String(),
        },
    )


def _households_for(session: Session, numbers: pl.DataFrame) -> pl.DataFrame:
    """(household_number, household_id) for ``numbers`` (household_number, town_id): those
    not yet registered are created in the row's town, as a first load does."""
    keys = repository.household_keys(session)
    missing = (
        numbers.filter(~pl.col("household_number").is_in(keys["key"].implode()))
        .group_by("household_number", maintain_order=True)
        .agg(pl.col("town_id").first())
    )
    if missing.height:
        created = bulk.with_ids(session, Household.__table__, missing).select(
            "id", "household_number", "town_id"
        )
        bulk.insert_frame(session, Household.__table__, created)
        keys = pl.concat([keys, created.select("id", key="household_number")])
    return keys.rename({"key": "household_number", "id": "household_id"})


def _update_residents(
    session: Session,
    file: str,
    rows: pl.DataFrame,
    new: pl.DataFrame,
    problems: Problems,
) -> int:
    rows = _with_columns(rows, city_files.registry_columns(city_files.RESIDENTS))
    towns = repository.town_keys(session).rename({"key": "town_code", "id": "town_id"})
    current = _current_residents(session, rows["registered_id"].to_list())
    frame = (
        rows.with_columns(
            new_name=_given(rows, "name"),
            new_phone=_given(rows, "phone"),
            town_code=_given(rows, "town_code"),
            household_number=_given(rows, "household_number"),
            new_relation=_relation("relation_to_head")
            if "relation_to_head" in rows.columns
            else _BLANK,
        )
        .join(current, on="registered_id", how="left")
        .join(towns, on="town_code", how="left")
        .with_columns(town_id=pl.coalesce("town_id", "old_town_id"))
    )
    flag_unknown(problems, file, frame, "town_code", towns["town_code"], "镇街代码", "town code")
    households = _households_for(session, frame.filter(pl.col("household_number").is_not_null()))
    frame = frame.join(households, on="household_number", how="left").with_columns(
        household_id=pl.coalesce("household_id", "old_household_id"),
        relation=pl.coalesce("new_relation", "old_relation"),
    )
    # One head and one spouse per household: the registered members who are not re-sent,
    # the re-sent rows as they will be, and the file's new people.
    ids = frame["registered_id"].to_list()
    touched = frame["household_id"].drop_nulls().unique().to_list()
    others = bulk.read_frame(
        session,
        select(Resident.household_id, Resident.relation_to_head).where(
            bulk.among(session, Resident.household_id, touched),
            Resident.relation_to_head.in_([Relation.HEAD.value, Relation.SPOUSE.value]),
            ~bulk.among(session, Resident.id, ids),
        ),
        {"household_id": pl.Int64(), "relation": pl.String()},
    )
    incoming = pl.DataFrame(schema={"household_id": pl.Int64(), "relation": pl.String()})
    if "relation_to_head" in new.columns and "household_number" in new.columns:
        incoming = (
            new.select("household_number", relation=_relation("relation_to_head"))
            .join(households, on="household_number", how="inner")
            .select("household_id", "relation")
        )
    taken = pl.concat([others, incoming]).group_by("household_id", "relation").len("n")
    for one, zh, en in ((Relation.HEAD, "户主", "head"), (Relation.SPOUSE, "配偶", "spouse")):
        before = taken.filter(pl.col("relation") == one.value)
        counted = frame.join(
            before.select("household_id", elsewhere="n"), on="household_id", how="left"
        )
        problems.flag(
            file,
            counted,
            pl.col("household_id").is_not_null()
            & (pl.col("relation") == one.value)
            & (
                (pl.col("relation") == one.value).sum().over("household_id")
                + pl.col("elsewhere").fill_null(0)
                > 1
            ),
            "relation_to_head",
            f"同一家庭只能有一名{zh}",
            f"a household has one {en} at most",
        )
    if problems.total:
        return 0
    values = frame.select(
        id="registered_id",
        name=pl.coalesce("new_name", "old_name"),
        phone=pl.coalesce("new_phone", "old_phone"),
        town_id="town_id",
        household_id="household_id",
        relation_to_head="relation",
    )
    session.execute(
        update(Resident).execution_options(synchronize_session=False), values.to_dicts()
    )
    moved = frame.filter(pl.col("town_id") != pl.col("old_town_id"))
    if moved.height:
        repository.adjust_counts(session, residents=_town_moves(moved))
    return values.height


def _town_moves(moved: pl.DataFrame) -> pl.DataFrame:
    """``town_id``, ``n``: +1 in each moved row's new town, −1 in its old one (the per-town
    counts' change)."""
    return pl.concat(
        [
            moved.select("town_id", n=pl.lit(1, pl.Int64)),
            moved.select(town_id="old_town_id", n=pl.lit(-1, pl.Int64)),
        ]
    )


def _current_children(session: Session, ids: list[int]) -> pl.DataFrame:
    first = Resident.__table__.alias("first_parent")
    statement = (
        select(
            Child.id,
            Child.name,
            Child.household_id,
            Household.town_id,
            first.c.id_number,
            Child.second_parent_id_number,
            Child.vaccination_certificate,
            Child.school_name,
            Child.grade,
        )
        .join(Household, Household.id == Child.household_id)
        .outerjoin(first, first.c.id == Child.parent_id)
        .where(bulk.among(session, Child.id, ids))
    )
    return bulk.read_frame(
        session,
        statement,
        {
            "registered_id": pl.Int64(),
            "old_name": pl.String(),
            "old_household_id": pl.Int64(),
            "old_town_id": pl.Int64(),
            "old_parent": pl.String(),
            "old_second": pl.String(),
            "old_vaccination": pl.Boolean(),
            "old_school": pl.String(),
            "old_grade": pl.Int64(),
        },
    )


def _update_children(
    session: Session,
    file: str,
    rows: pl.DataFrame,
    new: pl.DataFrame,
    problems: Problems,
) -> int:
    rows = _with_columns(rows, city_files.registry_columns(city_files.CHILDREN))
    people = repository.resident_keys(session)
    households = repository.household_keys(session).rename(
        {"key": "household_number", "id": "household_id"}
    )
    current = _current_children(session, rows["registered_id"].to_list())
    frame = (
        rows.with_columns(
            new_name=_given(rows, "child_name"),
            household_number=_given(rows, "household_number"),
            new_parent=_given(rows, "id_number").str.to_uppercase(),
            new_second=_given(rows, "second_parent_id_number").str.to_uppercase(),
            new_school=_given(rows, "school_name"),
            new_grade=_given(rows, "grade").cast(pl.Int64, strict=False),
            new_vaccination=pl.when(is_given("vaccination_certificate")).then(
                parse_bool("vaccination_certificate")
            )
            if "vaccination_certificate" in rows.columns
            else pl.lit(None, pl.Boolean),
        )
        .join(current, on="registered_id", how="left")
        .join(households, on="household_number", how="left")
        .with_columns(
            parent=pl.coalesce("new_parent", "old_parent"),
            second=pl.coalesce("new_second", "old_second"),
        )
    )
    problems.flag(
        file,
        frame,
        pl.col("household_number").is_not_null() & pl.col("household_id").is_null(),
        "household_number",
        "未知的家庭编号",
        "unknown household",
    )
    problems.flag(
        file,
        frame,
        pl.col("new_parent").is_not_null() & ~pl.col("new_parent").is_in(people["key"].implode()),
        "id_number",
        "未知的居民",
        "unknown resident",
    )
    problems.flag(
        file,
        frame,
        pl.col("second").is_not_null() & (pl.col("second") == pl.col("parent")),
        "second_parent_id_number",
        "另一方父母不能与第一方父母为同一人",
        "the second parent cannot be the first",
    )
    problems.flag(
        file,
        frame,
        pl.col("second").is_not_null() & (pl.col("second") == pl.col("child_id_number")),
        "second_parent_id_number",
        "父母不能是子女本人",
        "a parent cannot be the child",
    )
    if problems.total:
        return 0
    ids = people.rename({"key": "number"})
    frame = (
        frame.join(ids.rename({"id": "parent_id", "number": "parent"}), on="parent", how="left")
        .join(ids.rename({"id": "second_parent_id", "number": "second"}), on="second", how="left")
        .with_columns(household_id=pl.coalesce("household_id", "old_household_id"))
    )
    values = frame.select(
        id="registered_id",
        name=pl.coalesce("new_name", "old_name"),
        household_id="household_id",
        parent_id="parent_id",
        second_parent_id_number="second",
        second_parent_id="second_parent_id",
        vaccination_certificate=pl.coalesce("new_vaccination", "old_vaccination"),
        school_name=pl.coalesce("new_school", "old_school"),
        grade=pl.coalesce("new_grade", "old_grade"),
    )
    session.execute(update(Child).execution_options(synchronize_session=False), values.to_dicts())
    moved = frame.join(repository.household_towns(session), on="household_id", how="left").filter(
        pl.col("town_id") != pl.col("old_town_id")
    )
    if moved.height:
        repository.adjust_counts(session, children=_town_moves(moved))
    return values.height
