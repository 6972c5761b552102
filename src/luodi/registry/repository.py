"""Every query of the registry. Scoping by actor lives here, once: ``readable`` and
``writable`` (residents), ``readable_children``, ``writable_towns`` and ``readable_towns``,
each built only from ``luodi.auth.scopes``: a resident row is placed by its town and by the
person it is, a child by its household's town and by the household's members.

The per-town counts (``town_counts``, ``town_permit_counts``) are changed here too, by every
write that adds, moves or changes what they count (``adjust_counts``), inside the writer's
transaction.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl
from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    case,
    delete,
    func,
    insert,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session

from luodi import bulk
from luodi.auth import scopes
from luodi.auth.actor import Actor
from luodi.registry.models import (
    Child,
    Employer,
    EmployerUnion,
    Employment,
    Household,
    PermitStatus,
    ResidencePermit,
    Resident,
    Town,
    TownCount,
    TownPermitCount,
)
from luodi.registry.schemas import ResidentSearchTerms


def readable(actor: Actor) -> ColumnElement[bool]:
    """The residents ``actor`` may read: every one (service centre, reviewers, auditors), a
    town's (town staff), self (a resident), none (the public)."""
    return scopes.readable(actor, town=Resident.town_id, person=Resident.id)


def readable_applicants(actor: Actor) -> ColumnElement[bool]:
    """The residents ``actor`` may name as applicants in a filing: those of ``readable``,
    and for an employer its employees in force (企业统一申请) — only here, so an employer
    reads no resident's record anywhere else."""
    return scopes.readable(actor, town=Resident.town_id, person=Resident.id, employee=Resident.id)


def writable(actor: Actor) -> ColumnElement[bool]:
    """The residents ``actor`` may change: every one (service centre), a town's (town staff)."""
    return scopes.writable(actor, town=Resident.town_id, person=Resident.id)


def readable_residents(actor: Actor) -> Select[tuple[Resident]]:
    return select(Resident).where(readable(actor))


def readable_ids(actor: Actor) -> Select[tuple[int]]:
    """The ids of the residents ``actor`` reads, for other domains' scopes of rows about a
    person (stored scores): ``… .in_(readable_ids(actor))``."""
    return select(Resident.id).where(readable(actor))


def readable_children(actor: Actor) -> ColumnElement[bool]:
    """Children in the reach of ``actor``: by their household's town (town staff; everybody
    reading everything), or as children of the household the actor belongs to (a resident)."""
    household_town = (
        select(Household.town_id).where(Household.id == Child.household_id).scalar_subquery()
    )
    own_household = Child.household_id.in_(
        select(Resident.household_id).where(scopes.readable(actor, person=Resident.id))
    )
    return scopes.readable(actor, town=household_town) | own_household


def writable_towns(actor: Actor) -> Select[tuple[Town]]:
    """Towns whose registry ``actor`` may write (register, issue permits, move residents in)."""
    return select(Town).where(scopes.writable(actor, town=Town.id))


def readable_towns(actor: Actor) -> Select[tuple[Town]]:
    """Towns are public reference data (codes, names and counts, nothing personal)."""
    return select(Town).where(scopes.readable(actor, town=Town.id, public=true()))


def list_residents(
    session: Session, actor: Actor, town_code: str | None, limit: int, offset: int
) -> list[tuple[Resident, Town]]:
    statement = (
        select(Resident, Town).join(Town, Town.id == Resident.town_id).where(readable(actor))
    )
    if town_code is not None:
        statement = statement.where(Town.code == town_code)
    return [
        (resident, town)
        for resident, town in session.execute(
            statement.order_by(Resident.id).limit(limit).offset(offset)
        ).all()
    ]


def resident_towns(actor: Actor) -> Select[tuple[Town]]:
    """Towns whose residents ``actor`` reads (every town for the service centre and auditors,
    one for a town's staff): the choices of the console's town filter."""
    return select(Town).where(scopes.readable(actor, town=Town.id))


def _like(text: str) -> str:
    """``text`` as a literal inside a LIKE pattern (escape character ``\\``)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _search_filters(search: ResidentSearchTerms) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if search.name is not None:
        found.append(Resident.name.like(f"%{_like(search.name)}%", escape="\\"))
    if search.id_number is not None:
        found.append(Resident.id_number == search.id_number)
    if search.id_pattern is not None:
        # Digits, X and the wildcards the service built (% and _): nothing to escape.
        found.append(Resident.id_number.like(search.id_pattern))
    if search.phone_suffix is not None:
        found.append(Resident.phone.like(f"%{search.phone_suffix}"))
    if search.town_code is not None:
        found.append(
            Resident.town_id
            == select(Town.id).where(Town.code == search.town_code).scalar_subquery()
        )
    return found


def search_residents(
    session: Session, actor: Actor, search: ResidentSearchTerms, limit: int, offset: int
) -> tuple[list[tuple[Resident, Town]], int]:
    """A page of the readable residents matching every given term (in id order) and how many
    match in all: two statements, the paging in SQL."""
    where = [readable(actor), *_search_filters(search)]
    total = session.scalar(select(func.count(Resident.id)).where(*where)) or 0
    page = session.execute(
        select(Resident, Town)
        .join(Town, Town.id == Resident.town_id)
        .where(*where)
        .order_by(Resident.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return [(resident, town) for resident, town in page], int(total)


def household_members(session: Session, actor: Actor, household_id: int) -> list[Resident]:
    """The readable members of a household, head first, then by id."""
    head_first = case((Resident.relation_to_head == "head", 0), else_=1)
    return list(
        session.scalars(
            readable_residents(actor)
            .where(Resident.household_id == household_id)
            .order_by(head_first, Resident.id)
        )
    )


def household_children(session: Session, actor: Actor, household_id: int) -> list[Child]:
    """The accompanying children of a household within ``actor``'s reach, eldest first."""
    return list(
        session.scalars(
            select(Child)
            .where(Child.household_id == household_id, readable_children(actor))
            .order_by(Child.birth_date, Child.id)
        )
    )


def household_by_id(session: Session, household_id: int) -> Household | None:
    """A household by id (its number and town: reached only through a readable member)."""
    return session.get(Household, household_id)


def latest_residents(session: Session, actor: Actor, limit: int) -> list[tuple[Resident, Town]]:
    """The residents ``actor`` reads that were registered last (newest first)."""
    statement = (
        select(Resident, Town)
        .join(Town, Town.id == Resident.town_id)
        .where(readable(actor))
        .order_by(Resident.id.desc())
        .limit(limit)
    )
    return [(resident, town) for resident, town in session.execute(statement).all()]


def town_by_code(session: Session, actor: Actor, code: str) -> Town | None:
    return session.scalars(readable_towns(actor).where(Town.code == code)).one_or_none()


def may_write_town(session: Session, actor: Actor, town_id: int) -> bool:
    return session.scalar(writable_towns(actor).where(Town.id == town_id)) is not None


def city_prefixes(session: Session) -> list[str]:
    """The county-level codes (first six digits) of the towns registered so far."""
    return list(session.scalars(select(func.substr(Town.code, 1, 6)).distinct()))


def resident_by_id(session: Session, actor: Actor, resident_id: int) -> Resident | None:
    return session.scalars(
        readable_residents(actor).where(Resident.id == resident_id)
    ).one_or_none()


def writable_resident_by_id(session: Session, actor: Actor, resident_id: int) -> Resident | None:
    return session.scalars(
        select(Resident).where(Resident.id == resident_id, writable(actor))
    ).one_or_none()


def resident_by_id_number(session: Session, actor: Actor, id_number: str) -> Resident | None:
    return session.scalars(
        readable_residents(actor).where(Resident.id_number == id_number)
    ).one_or_none()


def id_number_resident(session: Session, id_number: str) -> int | None:
    """The id of the resident with this ID number, whoever may read them (a link, not a read)."""
    return session.scalar(select(Resident.id).where(Resident.id_number == id_number))


def id_number_taken(session: Session, id_number: str) -> bool:
    """Whether anybody holds ``id_number`` (unscoped: a duplicate is a duplicate in any town)."""
    return session.scalar(select(Resident.id).where(Resident.id_number == id_number)) is not None


def child_by_id_number(session: Session, id_number: str) -> Child | None:
    return session.scalars(select(Child).where(Child.id_number == id_number)).one_or_none()


def permit_by_number(session: Session, permit_number: str) -> ResidencePermit | None:
    return session.scalars(
        select(ResidencePermit).where(ResidencePermit.permit_number == permit_number)
    ).one_or_none()


def household_by_number(session: Session, household_number: str) -> Household | None:
    return session.scalars(
        select(Household).where(Household.household_number == household_number)
    ).one_or_none()


def writable_household_by_number(
    session: Session, actor: Actor, household_number: str
) -> Household | None:
    """A household the actor may add to (town staff: of their town); else none, like a
    missing one."""
    return session.scalars(
        select(Household).where(
            Household.household_number == household_number,
            scopes.writable(actor, town=Household.town_id),
        )
    ).one_or_none()


def employer_by_credit_code(session: Session, credit_code: str) -> Employer | None:
    return session.scalars(
        select(Employer).where(Employer.credit_code == credit_code)
    ).one_or_none()


def children_per_household(session: Session, household_ids: list[int]) -> dict[int, int]:
    """Accompanying children of each of ``household_ids`` (one query for a page)."""
    rows = session.execute(
        select(Child.household_id, func.count(Child.id))
        .where(Child.household_id.in_(household_ids))
        .group_by(Child.household_id)
    )
    return {household: int(count) for household, count in rows}


# ----------------------------------------------------------------------------- per-town counts


def _add_to(session: Session, table: Table, keys: list[str], rows: list[dict[str, Any]]) -> None:
    """Add each row's counts to the stored ones (insert the row when it is new). Rows go in key
    order, so that two writers lock the same rows in the same order (no deadlock)."""
    if not rows:
        return
    if session.connection().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert
    else:
        from sqlalchemy.dialects.sqlite import insert as upsert
    statement = upsert(table)
    counted = [name for name in rows[0] if name not in keys]
    statement = statement.on_conflict_do_update(
        index_elements=keys,
        set_={name: table.c[name] + statement.excluded[name] for name in counted},
    )
    session.execute(statement, sorted(rows, key=lambda row: tuple(row[key] for key in keys)))


def adjust_counts(
    session: Session,
    residents: pl.DataFrame | None = None,
    children: pl.DataFrame | None = None,
    permits: pl.DataFrame | None = None,
) -> None:
    """Change the per-town counts by signed amounts: ``residents`` and ``children`` frames of
    (town_id, n), ``permits`` of (town_id, expiry_date, n) for permits of status valid."""
    by_town: dict[int, dict[str, Any]] = {}
    for column, frame in (("residents", residents), ("children", children)):
        if frame is None:
            continue
        for town_id, n in frame.group_by("town_id").agg(pl.col("n").sum()).iter_rows():
            row = by_town.setdefault(
                int(town_id), {"town_id": int(town_id), "residents": 0, "children": 0}
            )
            row[column] += int(n)
    _add_to(
        session,
        TownCount.__table__,
        ["town_id"],
        [row for row in by_town.values() if row["residents"] or row["children"]],
    )
    if permits is not None and permits.height:
        by_day = (
            permits.group_by("town_id", "expiry_date")
            .agg(pl.col("n").sum().alias("permits"))
            .filter(pl.col("permits") != 0)
        )
        _add_to(session, TownPermitCount.__table__, ["town_id", "expiry_date"], by_day.to_dicts())


def town_counts(session: Session, actor: Actor, as_of: date) -> list[tuple[Town, int, int, int]]:
    """Each readable town with its residents, permits valid on ``as_of`` and accompanying
    children, from the kept counts (one row per town, plus the permit rows from ``as_of``)."""
    permits = (
        select(TownPermitCount.town_id, func.sum(TownPermitCount.permits).label("n"))
        .where(TownPermitCount.expiry_date >= as_of)
        .group_by(TownPermitCount.town_id)
        .subquery()
    )
    statement = (
        readable_towns(actor)
        .add_columns(
            func.coalesce(TownCount.residents, 0),
            func.coalesce(permits.c.n, 0),
            func.coalesce(TownCount.children, 0),
        )
        .outerjoin(TownCount, TownCount.town_id == Town.id)
        .outerjoin(permits, permits.c.town_id == Town.id)
        .order_by(Town.code)
    )
    return [(town, int(r), int(p), int(c)) for town, r, p, c in session.execute(statement)]


def recount(session: Session) -> None:
    """Rebuild the kept counts from the rows (after a repair made outside luodi)."""
    session.execute(delete(TownCount))
    session.execute(delete(TownPermitCount))
    residents = select(func.count(Resident.id)).where(Resident.town_id == Town.id).scalar_subquery()
    children = (
        select(func.count(Child.id))
        .join(Household, Household.id == Child.household_id)
        .where(Household.town_id == Town.id)
        .scalar_subquery()
    )
    session.execute(
        insert(TownCount).from_select(
            ["town_id", "residents", "children"], select(Town.id, residents, children)
        )
    )
    session.execute(
        insert(TownPermitCount).from_select(
            ["town_id", "expiry_date", "permits"],
            select(ResidencePermit.town_id, ResidencePermit.expiry_date, func.count())
            .where(ResidencePermit.status == PermitStatus.VALID)
            .group_by(ResidencePermit.town_id, ResidencePermit.expiry_date),
        )
    )
    session.flush()


def household_towns(session: Session) -> pl.DataFrame:
    """(household id, town_id) of every household, for counting children by town in bulk."""
    return bulk.read_frame(
        session,
        select(Household.id, Household.town_id),
        {"household_id": pl.Int64(), "town_id": pl.Int64()},
    )


def key_frame(session: Session, statement: Select[tuple[int, str]]) -> pl.DataFrame:
    """(id, key) rows of a query as a Polars frame, for bulk joins (``bulk.read_frame``: no
    Python tuple per row, a fifth of the time for a city's residents)."""
    return bulk.read_frame(session, statement, {"id": pl.Int64(), "key": pl.String()})


def town_keys(session: Session) -> pl.DataFrame:
    return key_frame(session, select(Town.id, Town.code))


def resident_keys(session: Session) -> pl.DataFrame:
    return key_frame(session, select(Resident.id, Resident.id_number))


def child_keys(session: Session) -> pl.DataFrame:
    return key_frame(session, select(Child.id, Child.id_number))


def household_keys(session: Session) -> pl.DataFrame:
    return key_frame(session, select(Household.id, Household.household_number))


def employer_keys(session: Session) -> pl.DataFrame:
    return key_frame(session, select(Employer.id, Employer.credit_code))


def permit_keys(session: Session) -> pl.DataFrame:
    return key_frame(session, select(ResidencePermit.id, ResidencePermit.permit_number))


def permit_owners(session: Session) -> pl.DataFrame:
    """(key = permit number, owner = resident id, valid_from = issue, valid_to = expiry) of
    every permit: a feed row naming a permit must name its holder, and a date ``during`` it
    must fall within it (kernels/feeds/checks.py ``OWNER``, ``VALID_FROM``/``VALID_TO``)."""
    return bulk.read_frame(
        session,
        select(
            ResidencePermit.permit_number,
            ResidencePermit.resident_id,
            ResidencePermit.issue_date,
            ResidencePermit.expiry_date,
        ),
        {"key": pl.String(), "owner": pl.Int64(), "valid_from": pl.Date(), "valid_to": pl.Date()},
    )


PERMIT_FRAME_SCHEMA: dict[str, pl.DataType] = {
    "resident_id": pl.Int64(),
    "permit_number": pl.String(),
    "issue_date": pl.Date(),
    "expiry_date": pl.Date(),
    "status": pl.String(),
    "status_date": pl.Date(),
}


def permits_frame(
    session: Session,
    actor: Actor,
    as_of: date,
    resident_ids: list[int] | None = None,
    ids: bulk.IdRange | None = None,
) -> pl.DataFrame:
    """Every permit issued by ``as_of`` to a resident ``actor`` reads (or to a page of them,
    or to those of a range of ids), in one query, as a frame for the permit time line
    (kernels/timeline/permits.py)."""
    statement = (
        select(
            ResidencePermit.resident_id,
            ResidencePermit.permit_number,
            ResidencePermit.issue_date,
            ResidencePermit.expiry_date,
            ResidencePermit.status,
            ResidencePermit.status_date,
        )
        .join(Resident, Resident.id == ResidencePermit.resident_id)
        .where(
            ResidencePermit.issue_date <= as_of,
            readable(actor),
            bulk.within(ResidencePermit.resident_id, ids),
        )
    )
    if resident_ids is not None:
        statement = statement.where(ResidencePermit.resident_id.in_(resident_ids))
    return bulk.read_frame(session, statement, PERMIT_FRAME_SCHEMA, few=bulk.few(resident_ids))


SCORING_PEOPLE_SCHEMA: dict[str, pl.DataType] = {
    "resident_id": pl.Int64(),
    "town_code": pl.String(),
    "birth_date": pl.Date(),
    "sex": pl.String(),
    "origin_province": pl.String(),
    "employed_since": pl.Date(),
}


def scoring_people(
    session: Session, actor: Actor, as_of: date, ids: bulk.IdRange | None = None
) -> pl.DataFrame:
    """Every resident ``actor`` reads (of ``ids`` when given) with what the registry knows
    for scoring besides the permits: birth date, town, origin, the start of the current
    employment. Two plain queries joined in Polars (SQLite's join to the grouped employments
    cost 4× the reads)."""
    from luodi.registry.models import Employment

    people = bulk.read_frame(
        session,
        select(
            Resident.id,
            Town.code,
            Resident.birth_date,
            Resident.sex,
            Resident.origin_province,
        )
        .join(Town, Town.id == Resident.town_id)
        .where(readable(actor), bulk.within(Resident.id, ids)),
        {
            name: SCORING_PEOPLE_SCHEMA[name]
            for name in ("resident_id", "town_code", "birth_date", "sex", "origin_province")
        },
    )
    employed = bulk.read_frame(
        session,
        select(Employment.resident_id, func.min(Employment.start_date))
        .where(
            Employment.start_date <= as_of,
            (Employment.end_date.is_(None)) | (Employment.end_date >= as_of),
            bulk.within(Employment.resident_id, ids),
        )
        .group_by(Employment.resident_id),
        {name: SCORING_PEOPLE_SCHEMA[name] for name in ("resident_id", "employed_since")},
    )
    return people.join(employed, on="resident_id", how="left").sort("resident_id")


def id_batches(session: Session, actor: Actor, size: int) -> list[tuple[bulk.IdRange, int]]:
    """The residents ``actor`` reads cut into ranges of ids of ``size`` residents each (the
    last one fewer), with their counts, numbered in the database: no id leaves it but the
    first and last of each range."""
    ordered = select(
        Resident.id.label("resident_id"),
        (func.row_number().over(order_by=Resident.id) - 1).label("position"),
    ).where(readable(actor))
    numbered = ordered.subquery()
    batch = numbered.c.position // size
    rows = session.execute(
        select(func.min(numbered.c.resident_id), func.max(numbered.c.resident_id), func.count())
        .group_by(batch)
        .order_by(batch)
    ).all()
    return [(bulk.IdRange(int(first), int(last)), int(count)) for first, last, count in rows]


def readable_id_frame(session: Session, actor: Actor) -> pl.DataFrame:
    """``resident_id`` of every resident ``actor`` reads, sorted."""
    return bulk.read_frame(session, readable_ids(actor), {"resident_id": pl.Int64()}).sort(
        "resident_id"
    )


def resident_count(session: Session, actor: Actor) -> int:
    residents = readable_residents(actor).subquery()
    return int(session.scalar(select(func.count()).select_from(residents)) or 0)


def resident_town_codes(actor: Actor) -> Select[tuple[int, str]]:
    """``resident_id`` and ``town_code`` of every readable resident, as a statement another
    domain's aggregate by town joins as a subquery (no row leaves the database)."""
    return (
        readable_residents(actor)
        .join(Town, Town.id == Resident.town_id)
        .with_only_columns(Resident.id.label("resident_id"), Town.code.label("town_code"))
    )


def people_frame(session: Session, actor: Actor) -> pl.DataFrame:
    """Every readable resident with household and town code (for programs' applicants)."""
    statement = (
        readable_residents(actor)
        .join(Town, Town.id == Resident.town_id)
        .with_only_columns(
            Resident.id.label("resident_id"),
            Resident.id_number,
            Resident.name,
            Resident.household_id,
            Town.code.label("town_code"),
        )
    )
    rows = session.execute(statement).all()
    return pl.DataFrame(
        rows,
        schema={
            "resident_id": pl.Int64,
            "id_number": pl.String,
            "name": pl.String,
            "household_id": pl.Int64,
            "town_code": pl.String,
        },
        orient="row",
    )


def children_frame(session: Session, actor: Actor) -> pl.DataFrame:
    rows = session.execute(
        select(Child.id, Child.id_number, Child.name, Child.household_id, Child.birth_date).where(
            readable_children(actor)
        )
    ).all()
    return pl.DataFrame(
        rows,
        schema={
            "child_id": pl.Int64,
            "child_id_number": pl.String,
            "child_name": pl.String,
            "household_id": pl.Int64,
            "child_birth_date": pl.Date,
        },
        orient="row",
    )


def heads_and_spouses(session: Session, household_numbers: pl.Series) -> pl.DataFrame:
    """(household_number, relation_to_head) of the registered heads and spouses of these
    households: a household has one of each at most."""
    numbers = household_numbers.unique().to_list()
    statement = (
        select(Household.household_number, Resident.relation_to_head)
        .join(Resident, Resident.household_id == Household.id)
        .where(
            bulk.among(session, Household.household_number, numbers),
            Resident.relation_to_head.in_(["head", "spouse"]),
        )
    )
    schema = {"household_number": pl.String, "relation_to_head": pl.String}
    if not numbers:
        return pl.DataFrame(schema=schema)
    return bulk.read_frame(session, statement, schema)


def link_second_parents(session: Session, id_numbers: list[str] | None = None) -> None:
    """Children whose other parent was named by ID number before that person was registered
    point at the resident now: those of ``id_numbers`` (one person registered: the index on
    the number finds them), or all (a bulk load)."""
    registered = select(Resident.id).where(Resident.id_number == Child.second_parent_id_number)
    named = (
        Child.second_parent_id_number.in_(id_numbers)
        if id_numbers is not None
        else Child.second_parent_id_number.is_not(None)
    )
    session.execute(
        update(Child)
        .where(Child.second_parent_id.is_(None), named, registered.exists())
        .values(second_parent_id=registered.scalar_subquery())
        .execution_options(synchronize_session=False)
    )


UNION_DELETE_CHUNK = 10_000


def replace_unions(session: Session, unions: pl.DataFrame) -> int:
    """What the 总工会 last said of each employer it names (``employer_id``, ``has_union``,
    ``established_on``) replaces what it said before; employers it does not name keep theirs."""
    if unions.height == 0:
        return 0
    ids = unions["employer_id"].to_list()
    for start in range(0, len(ids), UNION_DELETE_CHUNK):
        chunk = ids[start : start + UNION_DELETE_CHUNK]
        session.execute(delete(EmployerUnion).where(EmployerUnion.employer_id.in_(chunk)))
    return bulk.insert_frame(
        session,
        EmployerUnion.__table__,
        unions.select("employer_id", "has_union", "established_on"),
    )


# --- the family and employer of applicants (programs' context) ------------------------------


MEMBER_SCHEMA = {
    "resident_id": pl.Int64,
    "household_id": pl.Int64,
    "relation_to_head": pl.String,
    "birth_date": pl.Date,
    "sex": pl.String,
    "town_code": pl.String,
    "origin_province": pl.String,
}
CHILD_SCHEMA = {
    "child_id": pl.Int64,
    "child_household_id": pl.Int64,
    "child_birth_date": pl.Date,
    "child_sex": pl.String,
    "child_grade": pl.Int64,
    "parent_id": pl.Int64,
    "second_parent_id": pl.Int64,
}
EMPLOYMENT_SCHEMA = {
    "resident_id": pl.Int64,
    "start_date": pl.Date,
    "employment_basis": pl.String,
    "frontline": pl.Boolean,
    "employer_credit_code": pl.String,
    "employer_town_code": pl.String,
    "has_union": pl.Boolean,
    "union_established_on": pl.Date,
}


def _frame(session: Session, statement: Any, schema: dict[str, Any]) -> pl.DataFrame:
    # Without a Python object per value (a date each, on SQLite): bulk.read_frame.
    return bulk.read_frame(session, statement, schema)


def family_frames(
    session: Session, actor: Actor, resident_ids: list[int], child_ids: list[int]
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """For the people and children named (readable by ``actor``): (the children with their two
    parents; every member of the households of those people and parents, and the parents
    themselves, with what the registry says of them; accompanying children per household).
    Four statements whatever the number of people."""
    children = _frame(
        session,
        select(
            Child.id,
            Child.household_id,
            Child.birth_date,
            Child.sex,
            Child.grade,
            Child.parent_id,
            Child.second_parent_id,
        ).where(bulk.among(session, Child.id, sorted(set(child_ids))), readable_children(actor)),
        CHILD_SCHEMA,
    )
    subjects = sorted(
        set(resident_ids)
        | set(children["parent_id"].drop_nulls().to_list())
        | set(children["second_parent_id"].drop_nulls().to_list())
    )
    named = bulk.among(session, Resident.id, subjects)
    households = select(Resident.household_id).where(named, Resident.household_id.is_not(None))
    members = _frame(
        session,
        select(
            Resident.id,
            Resident.household_id,
            Resident.relation_to_head,
            Resident.birth_date,
            Resident.sex,
            Town.code,
            Resident.origin_province,
        )
        .join(Town, Town.id == Resident.town_id)
        .where(named | Resident.household_id.in_(households), readable(actor)),
        MEMBER_SCHEMA,
    )
    household_children = _frame(
        session,
        select(Child.household_id, func.count())
        .where(Child.household_id.in_(households))
        .group_by(Child.household_id),
        {"household_id": pl.Int64, "household_children": pl.Int64},
    )
    return children, members, household_children


def current_employments(
    session: Session, actor: Actor, resident_ids: list[int], as_of: date
) -> pl.DataFrame:
    """The employments of these people in force on ``as_of`` (begun, not ended), with the
    employer's credit code, town and union (none where the 总工会 never said)."""
    return _frame(
        session,
        select(
            Employment.resident_id,
            Employment.start_date,
            Employment.basis,
            Employment.frontline,
            Employer.credit_code,
            Town.code,
            EmployerUnion.has_union,
            EmployerUnion.established_on,
        )
        .join(Employer, Employer.id == Employment.employer_id)
        .join(Town, Town.id == Employer.town_id)
        .join(Resident, Resident.id == Employment.resident_id)
        .outerjoin(EmployerUnion, EmployerUnion.employer_id == Employer.id)
        .where(
            bulk.among(session, Employment.resident_id, sorted(set(resident_ids))),
            Employment.start_date <= as_of,
            (Employment.end_date.is_(None)) | (Employment.end_date >= as_of),
            readable(actor),
        ),
        EMPLOYMENT_SCHEMA,
    )
