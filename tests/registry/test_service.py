"""Registry services on both databases, every bad-input case included."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from luodi.auth.actor import SYSTEM_ACTOR, Actor, Role
from luodi.errors import Conflict, Invalid, NotFound
from luodi.registry import service
from luodi.registry.models import Employment, ResidencePermit, Resident
from luodi.registry.schemas import (
    ChildCreate,
    EmployerCreate,
    EmploymentCreate,
    HouseholdCreate,
    PermitCreate,
    ResidentCreate,
    TownCreate,
)
from tests import factories


def test_register_resident_derives_birth_sex_and_origin(session: Session) -> None:
    factories.town(session)
    resident = factories.resident(
        session, number=factories.id_number("522425", date(1988, 3, 1), 37)
    )
    assert resident.birth_date == date(1988, 3, 1)
    assert resident.sex == "male"
    assert resident.origin_province == "贵州"
    assert resident.origin_region_code == "522425"


def test_lower_case_x_is_stored_upper_case(session: Session) -> None:
    factories.town(session)
    resident = factories.resident(session, number="11010519491231002x")
    assert resident.id_number == "11010519491231002X"


def test_invalid_id_number_names_field_value_and_reason(session: Session) -> None:
    factories.town(session)
    with pytest.raises(Invalid) as caught:
        factories.resident(session, number="110105194912310021")
    error = caught.value
    assert error.details[0].field == "id_number"
    assert "校验码" in error.message_zh
    assert "check character" in error.message_en
    assert "id_number" in error.message_en
    assert session.scalar(select(func.count(Resident.id))) == 0


def test_unknown_town_is_rejected(session: Session) -> None:
    with pytest.raises(Invalid) as caught:
        factories.resident(session, town_code="330282999")
    assert caught.value.details[0].field == "town_code"
    assert "330282999" in caught.value.message_en


def test_duplicate_resident_is_a_conflict_even_with_lower_case_x(session: Session) -> None:
    factories.town(session)
    factories.resident(session, number="11010519491231002X")
    with pytest.raises(Conflict) as caught:
        factories.resident(session, number="11010519491231002x")
    assert caught.value.status == 409
    assert session.scalar(select(func.count(Resident.id))) == 1


def test_bad_phone_is_rejected(session: Session) -> None:
    factories.town(session)
    with pytest.raises(Invalid) as caught:
        service.register_resident(
            SYSTEM_ACTOR,
            session,
            ResidentCreate(
                id_number=factories.id_number(), name="李四", town_code="330282114", phone="12345"
            ),
        )
    assert caught.value.details[0].field == "phone"


@pytest.mark.parametrize("code", ["33028211", "3302821140001", "33028211A", ""])
def test_town_code_must_be_9_or_12_digits(session: Session, code: str) -> None:
    with pytest.raises(Invalid):
        service.create_town(SYSTEM_ACTOR, session, TownCreate(code=code, name="某镇"))


def test_twelve_digit_town_code_and_duplicate(session: Session) -> None:
    service.create_town(SYSTEM_ACTOR, session, TownCreate(code="330282114000", name="周巷镇"))
    with pytest.raises(Conflict):
        service.create_town(SYSTEM_ACTOR, session, TownCreate(code="330282114000", name="周巷"))


def permit(
    number: str = "JZ1",
    issue: date = date(2024, 1, 1),
    expiry: date = date(2027, 1, 1),
    id_number: str | None = None,
) -> PermitCreate:
    return PermitCreate(
        permit_number=number,
        id_number=id_number or factories.id_number(),
        town_code="330282114",
        issue_date=issue,
        expiry_date=expiry,
    )


def test_permit_that_ends_before_it_starts_is_rejected(session: Session) -> None:
    factories.town(session)
    factories.resident(session)
    for expiry in (date(2023, 12, 31), date(2024, 1, 1)):
        with pytest.raises(Invalid) as caught:
            service.issue_permit(SYSTEM_ACTOR, session, permit(expiry=expiry))
        assert caught.value.details[0].field == "expiry_date"
    assert session.scalar(select(func.count(ResidencePermit.id))) == 0


def test_permit_for_unknown_person_and_duplicate_number(session: Session) -> None:
    factories.town(session)
    with pytest.raises(Invalid):
        service.issue_permit(SYSTEM_ACTOR, session, permit())
    factories.resident(session)
    service.issue_permit(SYSTEM_ACTOR, session, permit())
    with pytest.raises(Conflict):
        service.issue_permit(SYSTEM_ACTOR, session, permit())


def test_valid_permit_shows_on_the_masked_read(session: Session) -> None:
    factories.town(session)
    resident = factories.resident(session, name="王小明")
    service.issue_permit(
        SYSTEM_ACTOR,
        session,
        # Issued 200 days ago: no anniversary yet, so no endorsement is due (a permit issued
        # a year ago to the day and never endorsed is suspended from today: Art. 19).
        permit(
            issue=date.today() - timedelta(days=200),
            expiry=date.today().replace(year=date.today().year + 2),
        ),
    )
    # An auditor (and a reviewer) reads masked only; the registrar also gets the name.
    auditor = Actor("audit", Role.AUDITOR)
    read = service.get_resident(auditor, session, resident.id)
    assert read.valid_permit
    assert read.name_masked == "王**"
    assert read.id_number_masked == resident.id_number[:2] + "*" * 13 + resident.id_number[-3:]
    assert read.phone_masked == "138****5678"
    assert "王小明" not in read.model_dump_json()
    assert resident.id_number not in read.model_dump_json()
    assert service.get_resident(SYSTEM_ACTOR, session, resident.id).name == "王小明"


def test_missing_resident_is_not_found(session: Session) -> None:
    with pytest.raises(NotFound):
        service.get_resident(SYSTEM_ACTOR, session, 987654)


def test_household_and_children(session: Session) -> None:
    factories.town(session)
    mother = factories.resident(session, number=factories.id_number(sequence=124), name="刘芳")
    father = factories.resident(session, number=factories.id_number(sequence=135), name="陈强")
    service.create_household(
        SYSTEM_ACTOR,
        session,
        HouseholdCreate(
            household_number="H1",
            town_code="330282114",
            member_id_numbers=[mother.id_number, father.id_number],
        ),
    )
    child_number = factories.id_number("330282", date(2019, 10, 1), 51)
    child = service.add_child(
        SYSTEM_ACTOR,
        session,
        ChildCreate(
            household_number="H1",
            id_number=child_number,
            name="陈小宝",
            vaccination_certificate=True,
            school_name="周巷镇中心小学",
            grade=1,
        ),
    )
    assert child.birth_date == date(2019, 10, 1)
    assert service.get_resident(SYSTEM_ACTOR, session, mother.id).children == 1
    with pytest.raises(Conflict):
        service.add_child(
            SYSTEM_ACTOR,
            session,
            ChildCreate(household_number="H1", id_number=child_number, name="陈小宝"),
        )
    with pytest.raises(Invalid):
        service.add_child(
            SYSTEM_ACTOR,
            session,
            ChildCreate(
                household_number="H404", id_number=factories.id_number(sequence=7), name="某"
            ),
        )
    with pytest.raises(Conflict):  # nobody belongs to two households
        service.create_household(
            SYSTEM_ACTOR,
            session,
            HouseholdCreate(
                household_number="H2", town_code="330282114", member_id_numbers=[mother.id_number]
            ),
        )


def test_employer_credit_code_and_employment(session: Session) -> None:
    factories.town(session)
    worker = factories.resident(session)
    code = factories.credit_code()
    with pytest.raises(Invalid) as caught:
        service.register_employer(
            SYSTEM_ACTOR,
            session,
            EmployerCreate(
                credit_code=code[:-1] + ("0" if code[-1] != "0" else "1"),
                name="慈溪市华泰电器有限公司",
                town_code="330282114",
            ),
        )
    assert caught.value.details[0].field == "credit_code"
    service.register_employer(
        SYSTEM_ACTOR,
        session,
        EmployerCreate(credit_code=code, name="慈溪市华泰电器有限公司", town_code="330282114"),
    )
    with pytest.raises(Conflict):
        service.register_employer(
            SYSTEM_ACTOR,
            session,
            EmployerCreate(credit_code=code.lower(), name="重复", town_code="330282114"),
        )

    def contract(end_date: date | None) -> EmploymentCreate:
        return EmploymentCreate(
            id_number=worker.id_number,
            credit_code=code,
            basis="labour_contract",
            start_date=date(2024, 3, 1),
            end_date=end_date,
        )

    with pytest.raises(Invalid) as ended:
        service.add_employment(SYSTEM_ACTOR, session, contract(end_date=date(2024, 2, 1)))
    assert ended.value.details[0].field == "end_date"
    service.add_employment(SYSTEM_ACTOR, session, contract(end_date=None))
    assert session.scalar(select(func.count(Employment.id))) == 1


def test_database_constraints_back_the_service_checks(session: Session) -> None:
    """Even a write that skips the service cannot store a permit ending before it starts."""
    from sqlalchemy.exc import IntegrityError

    factories.town(session)
    resident = factories.resident(session)
    session.add(
        ResidencePermit(
            permit_number="X",
            resident_id=resident.id,
            town_id=resident.town_id,
            issue_date=date(2025, 1, 1),
            expiry_date=date(2024, 1, 1),
            status="valid",
        )
    )
    with pytest.raises(IntegrityError):
        session.flush()
