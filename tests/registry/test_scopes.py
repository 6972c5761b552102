"""Who reads and writes which residents, through the services, on both databases: the
repository's ``readable``/``writable`` built from ``auth.scopes`` are the only filter."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest
from sqlalchemy.orm import Session

from luodi.auth.actor import PUBLIC_ACTOR, SYSTEM_ACTOR, Actor, Role
from luodi.errors import Forbidden, Invalid, NotFound, Unauthorized
from luodi.registry import service
from luodi.registry.models import Resident
from luodi.registry.schemas import ChildCreate, HouseholdCreate, ResidentCreate, ResidentUpdate
from tests import factories

HOME = "330282114"
AWAY = "330282101"


@dataclass
class Town2:
    """Two towns, a resident in each; the home resident's household has a child."""

    home: Resident
    away: Resident
    child_id: int


@pytest.fixture
def two_towns(session: Session) -> Town2:
    factories.town(session, HOME, "周巷镇")
    factories.town(session, AWAY, "观海卫镇")
    home = factories.resident(session, HOME, factories.id_number(sequence=201), "刘芳")
    away = factories.resident(session, AWAY, factories.id_number(sequence=202), "陈强")
    service.create_household(
        SYSTEM_ACTOR,
        session,
        HouseholdCreate(household_number="H1", town_code=HOME, member_id_numbers=[home.id_number]),
    )
    child = service.add_child(
        SYSTEM_ACTOR,
        session,
        ChildCreate(
            household_number="H1",
            id_number=factories.id_number("330282", date(2019, 10, 1), 51),
            name="刘小宝",
        ),
    )
    return Town2(home, away, child.id)


def actors(home: Resident) -> dict[str, Actor]:
    return {
        "admin": Actor("admin", Role.ADMIN),
        "operator": Actor("operator", Role.OPERATOR),
        "auditor": Actor("auditor", Role.AUDITOR),
        "reviewer": Actor("edu", Role.REVIEWER, department="教育局"),
        "department": Actor("edu-token", Role.DEPARTMENT, department="教育局"),
        "town": Actor("town", Role.TOWN_STAFF, town_code=HOME),
        "resident": Actor("me", Role.RESIDENT, id_number=home.id_number),
        "public": PUBLIC_ACTOR,
    }


# who reads the home resident, the away resident
READS = {
    "admin": (True, True),
    "operator": (True, True),
    "auditor": (True, True),
    "reviewer": (True, True),
    "department": (False, False),
    "town": (True, False),
    "resident": (True, False),
    "public": (False, False),
}


@pytest.mark.parametrize("role", list(READS))
def test_who_reads_which_resident(session: Session, two_towns: Town2, role: str) -> None:
    actor = actors(two_towns.home)[role]
    pairs = zip((two_towns.home, two_towns.away), READS[role], strict=True)
    expected_ids = set()
    for resident, reads in pairs:
        if reads:
            expected_ids.add(resident.id)
            assert service.get_resident(actor, session, resident.id).id == resident.id
        else:
            with pytest.raises(NotFound):
                service.get_resident(actor, session, resident.id)
    assert set(service.people(actor, session)["resident_id"].to_list()) == expected_ids
    if role not in ("department", "public"):  # they may not list at all
        assert {row.id for row in service.list_residents(actor, session)} == expected_ids


def test_full_names_only_for_registrars_and_self(session: Session, two_towns: Town2) -> None:
    everyone = actors(two_towns.home)
    for role in ("admin", "operator", "town", "resident"):
        assert service.get_resident(everyone[role], session, two_towns.home.id).name == "刘芳"
    for role in ("auditor", "reviewer"):
        read = service.get_resident(everyone[role], session, two_towns.home.id)
        assert read.name is None and read.name_masked == "刘*"


def test_children_reach(session: Session, two_towns: Town2) -> None:
    everyone = actors(two_towns.home)
    assert service.children(everyone["resident"], session)["child_id"].to_list() == [
        two_towns.child_id
    ]
    assert service.children(everyone["town"], session).height == 1
    assert service.children(everyone["public"], session).height == 0
    away_staff = Actor("town2", Role.TOWN_STAFF, town_code=AWAY)
    assert service.children(away_staff, session).height == 0
    away_resident = Actor("other", Role.RESIDENT, id_number=two_towns.away.id_number)
    assert service.children(away_resident, session).height == 0


def test_town_staff_write_only_in_their_own_town(session: Session, two_towns: Town2) -> None:
    staff = actors(two_towns.home)["town"]
    corrected = service.correct_resident(
        staff, session, two_towns.home.id, ResidentUpdate(name="刘芳芳", phone="13900001111")
    )
    assert corrected.name == "刘芳芳" and corrected.phone == "13900001111"
    # Another town's resident is "not found", exactly like a missing one.
    with pytest.raises(NotFound):
        service.correct_resident(staff, session, two_towns.away.id, ResidentUpdate(name="x"))
    with pytest.raises(NotFound):
        service.correct_resident(staff, session, 987654, ResidentUpdate(name="x"))
    # Moving somebody out, or registering in another (public) town, is refused as such.
    with pytest.raises(Forbidden):
        service.correct_resident(staff, session, two_towns.home.id, ResidentUpdate(town_code=AWAY))
    with pytest.raises(Forbidden):
        service.register_resident(
            staff,
            session,
            ResidentCreate(
                id_number=factories.id_number(sequence=203), name="王五", town_code=AWAY
            ),
        )
    added = service.register_resident(
        staff,
        session,
        ResidentCreate(id_number=factories.id_number(sequence=204), name="王五", town_code=HOME),
    )
    assert session.get_one(Resident, added.id).town_id == two_towns.home.town_id
    assert two_towns.home.town_id != two_towns.away.town_id


@pytest.mark.parametrize(
    ("role", "error"),
    [
        ("auditor", Forbidden),
        ("reviewer", Forbidden),
        ("department", Forbidden),
        ("resident", Forbidden),
        ("public", Unauthorized),
    ],
)
def test_who_may_not_write_at_all(
    session: Session, two_towns: Town2, role: str, error: type[Exception]
) -> None:
    actor = actors(two_towns.home)[role]
    with pytest.raises(error):
        service.correct_resident(actor, session, two_towns.home.id, ResidentUpdate(name="x"))
    with pytest.raises(error):
        service.register_resident(
            actor,
            session,
            ResidentCreate(
                id_number=factories.id_number(sequence=205), name="王五", town_code=HOME
            ),
        )


def test_the_service_centre_moves_residents_between_towns(
    session: Session, two_towns: Town2
) -> None:
    operator = actors(two_towns.home)["operator"]
    moved = service.correct_resident(
        operator, session, two_towns.away.id, ResidentUpdate(town_code=HOME)
    )
    assert moved.town_id == two_towns.home.town_id
    staff = actors(two_towns.home)["town"]
    # Now in the staff's town: theirs to read and correct.
    assert service.get_resident(staff, session, two_towns.away.id).town_code == HOME


def test_another_towns_household_is_unknown_to_town_staff(
    session: Session, two_towns: Town2
) -> None:
    away_staff = Actor("town2", Role.TOWN_STAFF, town_code=AWAY)
    child = ChildCreate(
        household_number="H1",
        id_number=factories.id_number("330282", date(2020, 2, 2), 52),
        name="陈小",
    )
    with pytest.raises(Invalid) as caught:
        service.add_child(away_staff, session, child)
    assert caught.value.details[0].field == "household_number"
    home_staff = actors(two_towns.home)["town"]
    assert service.add_child(home_staff, session, child).household_id is not None
