"""Who may read and write what, as SQL: the one place a role becomes a filter.

Every domain's ``repository.readable(actor)`` / ``writable(actor)`` is built from
:func:`readable` and :func:`writable` here, given the columns that place one of its rows:

- ``town``: the town (``towns.id``) the row belongs to (a resident's town, an application's
  applicant's town);
- ``department``: the department that owns the row (a program cycle, a feed batch, a notice);
- ``person``: the resident (``residents.id``) the row is about;
- ``public``: a predicate for rows anybody may read (a published notice);
- ``employee``: the resident (``residents.id``) a row is about, for the rows an employer may
  reach about its own employees (only ``registry.repository.readable_applicants`` passes it,
  for the 企业统一申请 filing: an employer names who works for it and reads nothing else).

A row that has none of the dimensions a role is bound by is out of that role's reach. What an
actor may *do* (open a cycle, verify, publish) is still ``permissions.require``; these
predicates only narrow *which rows*. Services never look at ``actor.role`` themselves (a lint
test holds that), so the table below is the whole story:

| role | reads | writes |
| --- | --- | --- |
| system, admin | everything | everything |
| operator | everything | everything |
| auditor | everything | nothing |
| reviewer | own department's rows; rows with no department (residents) | own department's rows |
| department token | own department's rows | own department's rows |
| town staff | own town's rows | own town's rows |
| resident | rows about self (``person``) | rows about self |
| employer | rows about its employees in force today (``employee``) | the same |
| public | ``public`` rows | nothing |
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, false, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute

from luodi.auth.actor import Actor, Role

EVERYTHING = frozenset({Role.SYSTEM, Role.ADMIN, Role.OPERATOR})
"""Roles that read and write every row (what they may *do* is still ``require``)."""

READS_EVERYTHING = EVERYTHING | {Role.AUDITOR}

BY_DEPARTMENT = frozenset({Role.REVIEWER, Role.DEPARTMENT})

Column = ColumnElement[Any] | InstrumentedAttribute[Any]
People = tuple[Column, ...]
"""The people a row is about when it is about more than one (each reads it as theirs)."""


def _town_of_actor(actor: Actor) -> ColumnElement[Any]:
    # Imported here: the registry's models import nothing from auth, but auth's models are
    # imported by the registry's service, so a module-level import would be a cycle.
    from luodi.registry.models import Town

    return select(Town.id).where(Town.code == (actor.town_code or "")).scalar_subquery()


def resident_of_actor(actor: Actor) -> ColumnElement[Any]:
    """The ``residents.id`` of a resident actor (a scalar subquery; none for anybody else)."""
    from luodi.registry.models import Resident

    return (
        select(Resident.id).where(Resident.id_number == (actor.id_number or "")).scalar_subquery()
    )


def town_of_resident(resident_id: Column) -> ColumnElement[Any]:
    """The town of the resident ``resident_id`` names (a correlated scalar subquery), for rows
    that are about a resident but keep no town of their own (applications, objections)."""
    from luodi.registry.models import Resident

    return select(Resident.town_id).where(Resident.id == resident_id).scalar_subquery()


def employees_of_actor(actor: Actor) -> Select[tuple[int]]:
    """The ``residents.id`` of an employer actor's employees: an employment with its credit
    code in force today (started, not ended), as the employment feed says."""
    from luodi import workdays
    from luodi.registry.models import Employer, Employment

    today = workdays.today()
    return (
        select(Employment.resident_id)
        .join(Employer, Employer.id == Employment.employer_id)
        .where(
            Employer.credit_code == (actor.credit_code or ""),
            Employment.start_date <= today,
            or_(Employment.end_date.is_(None), Employment.end_date >= today),
        )
    )


def _bound(
    actor: Actor,
    *,
    town: Column | None,
    department: Column | None,
    person: Column | People | None,
    undepartmented_for_reviewers: bool,
    employee: Column | None = None,
) -> ColumnElement[bool]:
    """The rows an actor bound to a town, a department, a person or an employer reaches."""
    if actor.role == Role.EMPLOYER:
        if employee is None or not actor.credit_code:
            return false()
        return employee.in_(employees_of_actor(actor))
    if actor.role == Role.TOWN_STAFF:
        if town is None or not actor.town_code:
            return false()
        return town == _town_of_actor(actor)
    if actor.role in BY_DEPARTMENT:
        if department is not None and actor.department:
            return department == actor.department
        if department is None and undepartmented_for_reviewers and actor.role == Role.REVIEWER:
            return true()
        return false()
    if actor.role == Role.RESIDENT:
        if person is None or not actor.id_number:
            return false()
        me = resident_of_actor(actor)
        if isinstance(person, tuple):
            # A row about several people (a child's application: its applicant and the
            # child's two parents) is each one's.
            return or_(*(one == me for one in person))
        return person == me
    return false()


def readable(
    actor: Actor,
    *,
    town: Column | None = None,
    department: Column | None = None,
    person: Column | People | None = None,
    public: ColumnElement[bool] | None = None,
    employee: Column | None = None,
) -> ColumnElement[bool]:
    """The predicate of the rows ``actor`` may read."""
    if actor.role in READS_EVERYTHING:
        return true()
    reach = _bound(
        actor,
        town=town,
        department=department,
        person=person,
        undepartmented_for_reviewers=True,
        employee=employee,
    )
    if public is not None:
        return reach | public
    return reach


def writable(
    actor: Actor,
    *,
    town: Column | None = None,
    department: Column | None = None,
    person: Column | People | None = None,
    employee: Column | None = None,
) -> ColumnElement[bool]:
    """The predicate of the rows ``actor`` may change (auditors and the public: none)."""
    if actor.role in EVERYTHING:
        return true()
    return _bound(
        actor,
        town=town,
        department=department,
        person=person,
        undepartmented_for_reviewers=False,
        employee=employee,
    )


def submitted_by(actor: Actor, *, username: Column, role: Column) -> ColumnElement[bool]:
    """The rows ``actor`` made for itself (a job it submitted), by the name and role kept with
    each: an account of the same name and another role is somebody else. Nobody's for the
    public."""
    if actor.role == Role.PUBLIC:
        return false()
    return (username == actor.username) & (role == str(actor.role))
