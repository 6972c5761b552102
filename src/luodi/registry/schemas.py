"""Pydantic schemas of the registry: what comes in (XCreate) and what goes out (XRead)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from luodi.registry.models import EmploymentBasis, PermitStatus, Relation, TownKind

# Names are checked by the service (``registry.service.valid_name``) rather than by Field
# limits, so that the API, the CLI and bulk loads refuse the same names with the same reasons.
NAME = "非空，不含控制字符或方向控制字符，最多 50 字 / not blank, no control characters, ≤ 50"


class TownCreate(BaseModel):
    code: str = Field(description="9- or 12-digit administrative code / 9 或 12 位行政区划代码")
    name: str = Field(description=NAME)
    kind: TownKind = TownKind.TOWN


class TownRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    kind: TownKind


class TownSummary(TownRead):
    residents: int
    valid_permits: int
    children: int


class ResidentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id_number: str
    name: str = Field(description=NAME)
    phone: str | None = None
    town_code: str


class ResidentUpdate(BaseModel):
    """A correction: only the fields given change; a new ``town_code`` moves the resident."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, description=NAME)
    phone: str | None = None
    town_code: str | None = None


class ResidentRead(BaseModel):
    """A resident as shown outside the service centre: personal data masked."""

    id: int
    id_number_masked: str
    name_masked: str
    phone_masked: str | None
    sex: str
    origin_province: str
    town_code: str
    town_name: str
    valid_permit: bool
    children: int
    relation_to_head: Relation | None = None
    """与户主关系 as the residents feed last gave it (head, spouse, child, parent, sibling,
    other); empty when no department has said."""
    name: str | None = None
    """In full only for staff whose scope holds the resident, and for the resident."""


class ResidentSearch(BaseModel):
    """What staff type to find a resident: any of these, all of them must match."""

    name: str | None = None
    """Part of the name."""
    id_number: str | None = None
    """The whole ID number, part of it (at least 4 characters), or its masked form with
    ``*`` for the hidden characters (``330302*1234``, ``33*************12X``)."""
    phone: str | None = None
    """The last digits of the mobile number (at least 4)."""
    town_code: str | None = None


class ResidentSearchTerms(BaseModel):
    """A ``ResidentSearch`` checked and made into what the query compares (the service
    builds it; the repository only reads it)."""

    name: str | None = None
    id_number: str | None = None
    """A whole number: compared exactly (the unique index finds it)."""
    id_pattern: str | None = None
    """A LIKE pattern of digits, X, ``%`` and ``_``."""
    phone_suffix: str | None = None
    town_code: str | None = None


class ResidentPage(BaseModel):
    items: list[ResidentRead]
    total: int
    """How many residents match in all."""
    page: int
    pages: int
    per_page: int


class HouseholdMember(BaseModel):
    id: int
    name: str
    """In full for the staff who register, masked for other readers."""
    relation_to_head: Relation | None


class ChildRead(BaseModel):
    name: str
    """In full for the staff who register, masked for other readers."""
    id_number_masked: str
    sex: str
    birth_date: date | None
    """For the staff who register; none for other readers (the masked number hides it too)."""
    school_name: str | None
    grade: int | None


class HouseholdRead(BaseModel):
    household_number: str
    town_name: str
    members: list[HouseholdMember]
    children: list[ChildRead]


class PermitCreate(BaseModel):
    permit_number: str = Field(min_length=1, max_length=32)
    id_number: str
    town_code: str
    issue_date: date
    expiry_date: date
    status: PermitStatus = PermitStatus.VALID


class HouseholdCreate(BaseModel):
    household_number: str = Field(min_length=1, max_length=32)
    town_code: str
    member_id_numbers: list[str] = Field(min_length=1)


class ChildCreate(BaseModel):
    household_number: str
    id_number: str
    name: str = Field(description=NAME)
    parent_id_number: str | None = Field(
        default=None,
        description="监护人身份证号（本市登记的居民）/ the parent registering the child",
    )
    second_parent_id_number: str | None = Field(
        default=None,
        description="另一方父母（监护人）身份证号，可不在本市登记 / the other parent, registered or not",
    )
    vaccination_certificate: bool = False
    school_name: str | None = None
    grade: int | None = Field(default=None, ge=1, le=12)


class EmployerCreate(BaseModel):
    credit_code: str
    name: str = Field(description="非空，最多 200 字 / not blank, at most 200 characters")
    town_code: str


class EmploymentCreate(BaseModel):
    id_number: str
    credit_code: str
    basis: EmploymentBasis
    start_date: date
    end_date: date | None = None
    frontline: bool | None = None
    """一线岗位; none: not said."""


class LoadSummary(BaseModel):
    """What a bulk load wrote, table by table."""

    towns: int = 0
    residents: int = 0
    permits: int = 0
    households: int = 0
    children: int = 0
    employers: int = 0
    employments: int = 0
    facts: int = 0
    school_intakes: int = 0
