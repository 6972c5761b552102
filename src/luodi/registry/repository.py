"""Every query of the registry. Scoping by actor lives here, once: ``readable_residents``.

Staff who work across towns (operators, reviewers, auditors, administrators) read every
resident; town staff read the residents of their town; a resident reads only self; anybody
else reads nobody (a lookup then answers "not found", which does not leak existence).
"""

from __future__ import annotations

from datetime import date

import polars as pl
from sqlalchemy import Select, false, func, select
from sqlalchemy.orm import Session

from luodi.auth.actor import Actor, Role
from luodi.auth.permissions import reads_all
from luodi.registry.models import (
    Child,
    Employer,
    Household,
    PermitStatus,
    ResidencePermit,
    Resident,
    Town,
)


def readable_residents(actor: Actor) -> Select[tuple[Resident]]:
    statement = select(Resident)
    if reads_all(actor):
        return statement
    if actor.role == Role.TOWN_STAFF and actor.town_code:
        town = select(Town.id).where(Town.code == actor.town_code).scalar_subquery()
        return statement.where(Resident.town_id == town)
    if actor.role == Role.RESIDENT and actor.id_number:
        return statement.where(Resident.id_number == actor.id_number)
    return statement.where(false())


def list_residents(
    session: Session, actor: Actor, town_code: str | None, limit: int, offset: int
) -> list[tuple[Resident, Town]]:
    residents = readable_residents(actor).subquery()
    statement = select(Resident, Town).join(residents, residents.c.id == Resident.id)
    statement = statement.join(Town, Town.id == Resident.town_id)
    if town_code is not None:
        statement = statement.where(Town.code == town_code)
    return [
        (resident, town)
        for resident, town in session.execute(
            statement.order_by(Resident.id).limit(limit).offset(offset)
        ).all()
    ]


def readable_towns(actor: Actor) -> Select[tuple[Town]]:
    return select(Town)


def town_by_code(session: Session, actor: Actor, code: str) -> Town | None:
    return session.scalars(readable_towns(actor).where(Town.code == code)).one_or_none()


def resident_by_id(session: Session, actor: Actor, resident_id: int) -> Resident | None:
    return session.scalars(
        readable_residents(actor).where(Resident.id == resident_id)
    ).one_or_none()


def resident_by_id_number(session: Session, actor: Actor, id_number: str) -> Resident | None:
    return session.scalars(
        readable_residents(actor).where(Resident.id_number == id_number)
    ).one_or_none()


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


def employer_by_credit_code(session: Session, credit_code: str) -> Employer | None:
    return session.scalars(
        select(Employer).where(Employer.credit_code == credit_code)
    ).one_or_none()


def has_valid_permit(session: Session, resident_id: int, as_of: date) -> bool:
    return bool(
        session.scalar(
            select(func.count(ResidencePermit.id)).where(
                ResidencePermit.resident_id == resident_id,
                ResidencePermit.status == PermitStatus.VALID,
                ResidencePermit.expiry_date >= as_of,
            )
        )
    )


def count_children_of_household(session: Session, household_id: int | None) -> int:
    if household_id is None:
        return 0
    return int(
        session.scalar(select(func.count(Child.id)).where(Child.household_id == household_id)) or 0
    )


def town_counts(session: Session, actor: Actor, as_of: date) -> list[tuple[Town, int, int, int]]:
    """Each readable town with its residents, valid permits and accompanying children."""
    residents = (
        select(Resident.town_id, func.count().label("n")).group_by(Resident.town_id).subquery()
    )
    permits = (
        select(ResidencePermit.town_id, func.count().label("n"))
        .where(ResidencePermit.status == PermitStatus.VALID, ResidencePermit.expiry_date >= as_of)
        .group_by(ResidencePermit.town_id)
        .subquery()
    )
    children = (
        select(Household.town_id, func.count(Child.id).label("n"))
        .join(Child, Child.household_id == Household.id)
        .group_by(Household.town_id)
        .subquery()
    )
    statement = (
        readable_towns(actor)
        .add_columns(
            func.coalesce(residents.c.n, 0),
            func.coalesce(permits.c.n, 0),
            func.coalesce(children.c.n, 0),
        )
        .outerjoin(residents, residents.c.town_id == Town.id)
        .outerjoin(permits, permits.c.town_id == Town.id)
        .outerjoin(children, children.c.town_id == Town.id)
        .order_by(Town.code)
    )
    return [(town, int(r), int(p), int(c)) for town, r, p, c in session.execute(statement)]


def key_frame(session: Session, statement: Select[tuple[int, str]]) -> pl.DataFrame:
    """(id, key) rows of a query as a Polars frame, for bulk joins (no ORM objects built)."""
    return pl.DataFrame(
        session.execute(statement).all(),
        schema={"id": pl.Int64, "key": pl.String},
        orient="row",
    )


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


def scoring_population(session: Session, actor: Actor, as_of: date) -> pl.DataFrame:
    """Residents holding a permit valid on ``as_of``, with what the registry knows for
    scoring: birth date, town, first registration, current permit, current employment."""
    from luodi.registry.models import Employment

    residents = readable_residents(actor).subquery()
    valid_permit = (
        select(
            ResidencePermit.resident_id,
            func.max(ResidencePermit.issue_date).label("permit_issue_date"),
        )
        .where(
            ResidencePermit.status == PermitStatus.VALID,
            ResidencePermit.issue_date <= as_of,
            ResidencePermit.expiry_date >= as_of,
        )
        .group_by(ResidencePermit.resident_id)
        .subquery()
    )
    first_permit = (
        select(
            ResidencePermit.resident_id,
            func.min(ResidencePermit.issue_date).label("residence_registration_date"),
        )
        .where(ResidencePermit.issue_date <= as_of)
        .group_by(ResidencePermit.resident_id)
        .subquery()
    )
    employment = (
        select(Employment.resident_id, func.min(Employment.start_date).label("employed_since"))
        .where(
            Employment.start_date <= as_of,
            (Employment.end_date.is_(None)) | (Employment.end_date >= as_of),
        )
        .group_by(Employment.resident_id)
        .subquery()
    )
    statement = (
        select(
            residents.c.id.label("resident_id"),
            Town.code.label("town_code"),
            residents.c.birth_date,
            residents.c.sex,
            residents.c.origin_province,
            valid_permit.c.permit_issue_date,
            first_permit.c.residence_registration_date,
            employment.c.employed_since,
        )
        .join(Town, Town.id == residents.c.town_id)
        .join(valid_permit, valid_permit.c.resident_id == residents.c.id)
        .join(first_permit, first_permit.c.resident_id == residents.c.id)
        .outerjoin(employment, employment.c.resident_id == residents.c.id)
        .order_by(residents.c.id)
    )
    return pl.read_database(
        statement,
        session.connection(),
        schema_overrides={
            "resident_id": pl.Int64,
            "town_code": pl.String,
            "birth_date": pl.Date,
            "sex": pl.String,
            "origin_province": pl.String,
            "permit_issue_date": pl.Date,
            "residence_registration_date": pl.Date,
            "employed_since": pl.Date,
        },
    )


def resident_count(session: Session, actor: Actor) -> int:
    residents = readable_residents(actor).subquery()
    return int(session.scalar(select(func.count()).select_from(residents)) or 0)


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


def children_frame(session: Session) -> pl.DataFrame:
    rows = session.execute(
        select(Child.id, Child.id_number, Child.name, Child.household_id, Child.birth_date)
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
