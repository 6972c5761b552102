"""Registry logic: towns, residents, permits, households, children, employers, employment.

Every function takes the acting user first and a session second; it flushes, never commits.
Bad input raises a typed error naming the field, the value and the reason, zh and en.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import TypeVar

import polars as pl
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from luodi import bulk
from luodi.audit import service as audit
from luodi.auth.actor import Actor, Role
from luodi.auth.permissions import acts_as, require
from luodi.errors import Conflict, FieldProblem, Forbidden, Invalid, NotFound
from luodi.kernels.identifiers import IdNumberCheck, check_credit_code, check_id_number
from luodi.kernels.masking import mask_id_number, mask_name, mask_phone
from luodi.kernels.regions import PROVINCES
from luodi.kernels.text import check_name
from luodi.kernels.timeline import permits as permits_kernel
from luodi.registry import loading, repository
from luodi.registry.models import (
    Child,
    Employer,
    Employment,
    Household,
    PermitStatus,
    Relation,
    ResidencePermit,
    Resident,
    Town,
)
from luodi.registry.schemas import (
    ChildCreate,
    ChildRead,
    EmployerCreate,
    EmploymentCreate,
    HouseholdCreate,
    HouseholdMember,
    HouseholdRead,
    LoadSummary,
    PermitCreate,
    ResidentCreate,
    ResidentPage,
    ResidentRead,
    ResidentSearch,
    ResidentSearchTerms,
    ResidentUpdate,
    TownCreate,
    TownRead,
    TownSummary,
)

PHONE_DIGITS = 11
T = TypeVar("T")
REGISTRY_WRITERS = (Role.ADMIN, Role.OPERATOR, Role.TOWN_STAFF)
"""Who writes the registry (town staff within their town): asked before reading the input,
so that nobody signed in gets 401, not a 422 about what they sent."""
NAME_LENGTH = 50
"""Residents, children and towns (the columns are 50 characters); employers have 200."""
EMPLOYER_NAME_LENGTH = 200


def checked_id_number(value: str, field: str = "id_number") -> IdNumberCheck:
    """The check of a valid number (normalised, with what it tells), or an ``Invalid`` naming
    the field, the value and the reason."""
    check = check_id_number(value)
    if not check.valid:
        raise Invalid.field(field, value, check.reason_zh, check.reason_en)
    return check


def valid_credit_code(value: str, field: str = "credit_code") -> str:
    check = check_credit_code(value)
    if not check.valid:
        raise Invalid.field(field, value, check.reason_zh, check.reason_en)
    return check.code


def valid_name(value: str, field: str = "name", max_length: int = NAME_LENGTH) -> str:
    """A name as stored (spaces around it removed), or an ``Invalid`` naming the field and why:
    empty, only spaces, control or bidirectional characters, too long."""
    check = check_name(value, max_length)
    if not check.valid:
        assert check.reason_zh and check.reason_en
        raise Invalid.field(field, value, check.reason_zh, check.reason_en)
    return check.value


def valid_town_code(value: str) -> str:
    code = value.strip()
    if not (code.isascii() and code.isdigit() and len(code) in (9, 12)):
        raise Invalid.field(
            "code",
            value,
            "镇街行政区划代码应为9位或12位数字",
            "a town's administrative code is 9 or 12 digits",
        )
    return code


def _new_town_code(session: Session, value: str) -> str:
    """A township code (GB/T 10114: county code, then three digits for the township) of a
    known province, under the same county-level city as the towns already registered: one
    luodi serves one city, and the first town registered names it."""
    code = valid_town_code(value)
    if code[:2] not in PROVINCES:
        raise Invalid.field(
            "code", value, f"省级代码 {code[:2]} 不存在", f"no province has the code {code[:2]}"
        )
    if code[6:9] == "000":
        raise Invalid.field(
            "code",
            value,
            "第7–9位为000是县级代码，不是乡镇街道",
            "digits 7–9 of 000 name the county itself, not a township",
        )
    cities = repository.city_prefixes(session)
    if cities and code[:6] not in cities:
        raise Invalid.field(
            "code",
            value,
            f"不属于本市（已登记镇街的县级代码为 {', '.join(sorted(cities))}）",
            f"not under this city (the registered towns are under {', '.join(sorted(cities))})",
        )
    return code


def valid_phone(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    phone = value.strip().replace(" ", "").replace("-", "")
    if not (phone.isascii() and phone.isdigit() and len(phone) == PHONE_DIGITS and phone[0] == "1"):
        raise Invalid.field(
            "phone",
            value,
            "手机号码应为以1开头的11位数字",
            "a mobile number is 11 digits starting with 1",
        )
    return phone


def town_for(session: Session, actor: Actor, code: str, field: str = "town_code") -> Town:
    town = repository.town_by_code(session, actor, code.strip())
    if town is None:
        raise Invalid.field(field, code, "镇街代码不存在", "no town has this code")
    return town


def resident_for(session: Session, actor: Actor, id_number: str) -> Resident:
    number = checked_id_number(id_number).number
    resident = repository.resident_by_id_number(session, actor, number)
    if resident is None:
        raise Invalid.field(
            "id_number", id_number, "登记库中没有此人", "no resident has this number"
        )
    return resident


def _require_registrar(actor: Actor, session: Session, town: Town) -> None:
    """Service-centre staff register anywhere; town staff only in their own town. Towns are
    public, so a town outside the actor's reach is a 403 that says so (nothing leaks), while
    a *resident* outside it is a 404 like a missing one (``repository.writable``)."""
    require(actor, *REGISTRY_WRITERS)
    if not repository.may_write_town(session, actor, town.id):
        raise Forbidden(
            f"不能在镇街 {town.code}（{town.name}）登记：不在您的范围内",
            f"you may not register in town {town.code}: it is outside your scope",
        )


def _flush_or_conflict(session: Session, field: str, value: str) -> None:
    """Flush; a unique key raced past our check (two writers at once) becomes a ``Conflict``."""
    try:
        session.flush()
    except IntegrityError as error:
        raise Conflict(
            f"{field} 为 {value} 的记录已存在", f"a record with {field} {value} already exists"
        ) from error


def create_town(actor: Actor, session: Session, data: TownCreate) -> Town:
    require(actor, Role.ADMIN)
    code = _new_town_code(session, data.code)
    name = valid_name(data.name)
    if repository.town_by_code(session, actor, code) is not None:
        raise Conflict(f"镇街代码 {code} 已存在", f"town code {code} already exists")
    town = Town(code=code, name=name, kind=data.kind)
    session.add(town)
    _flush_or_conflict(session, "code", code)
    audit.record(session, actor, "town.add", "town", town.code, after=audit.row_state(town))
    return town


def list_towns(actor: Actor, session: Session, as_of: date | None = None) -> list[TownSummary]:
    return [
        TownSummary(
            code=town.code,
            name=town.name,
            kind=town.kind,  # type: ignore[arg-type]
            residents=residents,
            valid_permits=permits,
            children=children,
        )
        for town, residents, permits, children in repository.town_counts(
            session, actor, as_of or date.today()
        )
    ]


def recount_towns(actor: Actor, session: Session) -> None:
    """Rebuild the kept per-town counts from the rows (after a repair made outside luodi)."""
    require(actor, Role.ADMIN)
    repository.recount(session)
    audit.record(session, actor, "town.recount", "town_counts", "all")


def register_resident(actor: Actor, session: Session, data: ResidentCreate) -> Resident:
    require(actor, *REGISTRY_WRITERS)
    check = checked_id_number(data.id_number)
    name = valid_name(data.name)
    phone = valid_phone(data.phone)
    town = town_for(session, actor, data.town_code)
    _require_registrar(actor, session, town)
    # Unscoped: a person registered in another town is still a duplicate (the unique key
    # would refuse it anyway; this says why).
    if repository.id_number_taken(session, check.number):
        raise Conflict(
            f"身份证号 {mask_id_number(check.number)} 的居民已登记",
            f"a resident with ID number {mask_id_number(check.number)} is already registered",
        )
    assert check.birth_date and check.sex and check.region_code and check.origin_province
    resident = Resident(
        id_number=check.number,
        name=name,
        sex=check.sex,
        birth_date=check.birth_date,
        origin_region_code=check.region_code,
        origin_province=check.origin_province,
        phone=phone,
        town_id=town.id,
    )
    session.add(resident)
    _flush_or_conflict(session, "id_number", mask_id_number(check.number))
    repository.link_second_parents(session, [check.number])
    repository.adjust_counts(session, residents=_one(town.id))
    audit.record(
        session, actor, "resident.add", "resident", resident.id, after=audit.row_state(resident)
    )
    return resident


def _problems(checks: list[tuple[str | None, Callable[[str], object]]]) -> list[FieldProblem]:
    """The field problems of every check whose value was given, each check on its own: a
    form shows them all at once (the services themselves stop at the first)."""
    found: list[FieldProblem] = []
    for given, check in checks:
        if given is None:
            continue
        try:
            check(given)
        except Invalid as error:
            found.extend(error.details)
    return found


def _town_open_to(actor: Actor, session: Session, code: str) -> None:
    """The town exists and the actor registers in it (said as a field problem)."""
    town = town_for(session, actor, code)
    if not repository.may_write_town(session, actor, town.id):
        raise Invalid.field(
            "town_code",
            code,
            f"不能在 {town.name} 登记：不在您的范围内",
            f"you may not register in {town.name}: it is outside your scope",
        )


def _unregistered(session: Session, id_number: str) -> None:
    number = checked_id_number(id_number).number
    if repository.id_number_taken(session, number):
        raise Invalid.field(
            "id_number",
            id_number,
            f"身份证号 {mask_id_number(number)} 的居民已登记",
            f"a resident with ID number {mask_id_number(number)} is already registered",
        )


def registration_problems(
    actor: Actor, session: Session, data: ResidentCreate
) -> list[FieldProblem]:
    """Every problem ``register_resident`` would refuse ``data`` for, field by field (it
    stops at the first): the ID number (GB 11643, not yet registered), the name, the phone,
    the town (one the actor registers in)."""
    require(actor, *REGISTRY_WRITERS)
    return _problems(
        [
            (data.id_number, lambda number: _unregistered(session, number)),
            (data.name, valid_name),
            (data.phone, valid_phone),
            (data.town_code, lambda code: _town_open_to(actor, session, code)),
        ]
    )


def correction_problems(actor: Actor, session: Session, data: ResidentUpdate) -> list[FieldProblem]:
    """Every problem ``correct_resident`` would refuse ``data`` for, field by field."""
    require(actor, *REGISTRY_WRITERS)
    return _problems(
        [
            (data.name, valid_name),
            (data.phone, valid_phone),
            (data.town_code, lambda code: _town_open_to(actor, session, code)),
        ]
    )


def _one(town_id: int, n: int = 1) -> pl.DataFrame:
    return pl.DataFrame({"town_id": [town_id], "n": [n]})


def correct_resident(
    actor: Actor, session: Session, resident_id: int, data: ResidentUpdate
) -> Resident:
    """Correct a resident's name or phone, or move them to another town. Town staff change
    only residents of their own town (another town's resident is "not found") and move
    nobody out of it: the service centre moves residents between towns."""
    require(actor, *REGISTRY_WRITERS)
    resident = repository.writable_resident_by_id(session, actor, resident_id)
    if resident is None:
        raise NotFound(f"居民 {resident_id} 不存在", f"resident {resident_id} not found")
    before = audit.row_state(resident)
    if data.name is not None:
        resident.name = valid_name(data.name)
    if data.phone is not None:
        resident.phone = valid_phone(data.phone)
    if data.town_code is not None:
        town = town_for(session, actor, data.town_code)
        if town.id != resident.town_id:
            _require_registrar(actor, session, town)
            repository.adjust_counts(
                session,
                residents=pl.DataFrame({"town_id": [resident.town_id, town.id], "n": [-1, 1]}),
            )
            resident.town_id = town.id
    session.flush()
    audit.record(
        session,
        actor,
        "resident.correct",
        "resident",
        resident.id,
        before=before,
        after=audit.row_state(resident),
    )
    return resident


def get_resident(actor: Actor, session: Session, resident_id: int) -> ResidentRead:
    """A resident as shown outside the service centre: name, ID number and phone masked."""
    resident = repository.resident_by_id(session, actor, resident_id)
    if resident is None:
        raise NotFound(f"居民 {resident_id} 不存在", f"resident {resident_id} not found")
    town = session.get_one(Town, resident.town_id)
    return _resident_reads(actor, session, [(resident, town)])[0]


def _resident_reads(
    actor: Actor, session: Session, found: list[tuple[Resident, Town]]
) -> list[ResidentRead]:
    """Residents as shown outside the service centre; permits, endorsements and children of
    the whole page in three queries (not three per resident)."""
    # Valid as the permit time line reads it: a suspended permit (no endorsement) is not.
    page = permit_timeline(
        actor, session, date.today(), [resident.id for resident, _ in found], reasons=False
    )
    holders = set(page.filter("permit_valid")["resident_id"])
    households = [resident.household_id for resident, _ in found if resident.household_id]
    children = repository.children_per_household(session, households)
    full_names = acts_as(actor, *REGISTRARS)
    return [
        ResidentRead(
            id=resident.id,
            id_number_masked=mask_id_number(resident.id_number),
            name_masked=mask_name(resident.name),
            phone_masked=mask_phone(resident.phone) if resident.phone else None,
            sex=resident.sex,
            origin_province=resident.origin_province,
            town_code=town.code,
            town_name=town.name,
            valid_permit=resident.id in holders,
            children=children.get(resident.household_id, 0) if resident.household_id else 0,
            relation_to_head=Relation(resident.relation_to_head)
            if resident.relation_to_head
            else None,
            # Only a reader whose scope holds the resident gets here (the query is scoped).
            name=resident.name if full_names else None,
        )
        for resident, town in found
    ]


MAX_LIST = 1000
REGISTRARS = (Role.SYSTEM, Role.ADMIN, Role.OPERATOR, Role.TOWN_STAFF, Role.RESIDENT)
"""Who reads a resident's name in full (the query already holds the resident in scope):
the staff who register them, and the resident; reviewers and auditors read masked."""


RESIDENT_READERS = (
    Role.ADMIN,
    Role.OPERATOR,
    Role.REVIEWER,
    Role.TOWN_STAFF,
    Role.AUDITOR,
    Role.RESIDENT,
)
"""Who lists and searches residents (each within their scope)."""


def list_residents(
    actor: Actor, session: Session, town_code: str | None = None, limit: int = 100, offset: int = 0
) -> list[ResidentRead]:
    """Residents within the actor's scope, optionally of one town (town staff: their own)."""
    require(actor, *RESIDENT_READERS)
    if not 1 <= limit <= MAX_LIST:
        raise Invalid.field("limit", limit, f"应为 1–{MAX_LIST}", f"between 1 and {MAX_LIST}")
    if offset < 0:
        raise Invalid.field("offset", offset, "不能为负数", "must not be negative")
    code = valid_town_code(town_code) if town_code is not None else None
    return _resident_reads(
        actor, session, repository.list_residents(session, actor, code, limit, offset)
    )


SEARCH_PAGE = 50
"""Residents per page of a search."""
PART_SEARCHERS = (Role.SYSTEM, Role.ADMIN, Role.OPERATOR, Role.TOWN_STAFF)
"""Who sees whole ID numbers and phones on request, and so may search by any part of them."""
MAX_SEARCH_PAGE = 100_000
ID_LENGTH = 18
ID_SEARCH = re.compile(r"[0-9X*]+")
ID_SEARCH_MIN = 4
"""Digits of an ID number to type at least (fewer would match much of the city)."""
PHONE_SUFFIX_MIN = 4


def _id_number_terms(text: str) -> tuple[str | None, str | None]:
    """(the whole number, or a LIKE pattern) of what staff typed of an ID number: the whole
    number; a part of it (found anywhere in the number); or the masked form, ``*`` for each
    hidden character when it is 18 characters long (``33*************12X``), else for any
    run of them (``330302*1234``: begins with 330302, ends with 1234)."""
    value = text.strip().replace(" ", "").replace("＊", "*").upper()
    if not ID_SEARCH.fullmatch(value) or len(value) > ID_LENGTH:
        raise Invalid.field(
            "id_number",
            text,
            f"只能包含数字、X 和 *，最多 {ID_LENGTH} 位",
            f"digits, X and * only, at most {ID_LENGTH} characters",
        )
    if len(value.replace("*", "")) < ID_SEARCH_MIN:
        raise Invalid.field(
            "id_number",
            text,
            f"至少输入 {ID_SEARCH_MIN} 位号码（例如前 6 位，或后 4 位）",
            f"type at least {ID_SEARCH_MIN} of its characters (the first 6 or the last 4)",
        )
    if "*" not in value:
        return (value, None) if len(value) == ID_LENGTH else (None, f"%{value}%")
    if len(value) == ID_LENGTH:
        return None, value.replace("*", "_")
    return None, re.sub(r"\*+", "%", value)


def _phone_suffix(text: str) -> str:
    digits = text.strip().replace(" ", "").replace("-", "")
    if not (digits.isascii() and digits.isdigit() and PHONE_SUFFIX_MIN <= len(digits) <= 11):
        raise Invalid.field(
            "phone",
            text,
            f"请输入手机号码的后 {PHONE_SUFFIX_MIN}–11 位数字",
            f"type the last {PHONE_SUFFIX_MIN}–11 digits of the mobile number",
        )
    return digits


def search_terms(actor: Actor, session: Session, search: ResidentSearch) -> ResidentSearchTerms:
    """What staff typed, checked (every problem at once, each naming its field) and made into
    the terms the query compares."""
    problems: list[FieldProblem] = []

    def checked(given: str | None, check: Callable[[str], T]) -> T | None:
        if given is None or not given.strip():
            return None
        try:
            return check(given)
        except Invalid as error:
            problems.extend(error.details)
            return None

    name = checked(search.name, valid_name)
    whole, pattern = checked(search.id_number, _id_number_terms) or (None, None)
    phone = checked(search.phone, _phone_suffix)
    if not acts_as(actor, *PART_SEARCHERS):
        # A reader who sees ID numbers and phones masked (an auditor) finds by the whole
        # number or the visible last four digits only: a pattern over the hidden positions
        # would tell them, a guess at a time.
        if pattern is not None:
            problems.append(
                FieldProblem(
                    "id_number",
                    search.id_number,
                    "请输入完整的 18 位号码",
                    "type the whole 18-character number",
                )
            )
        if phone is not None and len(phone) != PHONE_SUFFIX_MIN:
            problems.append(
                FieldProblem(
                    "phone",
                    search.phone,
                    f"请输入手机号码的后 {PHONE_SUFFIX_MIN} 位",
                    f"type the last {PHONE_SUFFIX_MIN} digits",
                )
            )
    town = checked(search.town_code, lambda code: town_for(session, actor, code).code)
    if problems:
        raise Invalid(
            "查询条件有误：" + "；".join(problem.reason_zh for problem in problems),
            "the search is not valid: " + "; ".join(problem.reason_en for problem in problems),
            problems,
        )
    return ResidentSearchTerms(
        name=name, id_number=whole, id_pattern=pattern, phone_suffix=phone, town_code=town
    )


def search_residents(
    actor: Actor, session: Session, search: ResidentSearch, page: int = 1
) -> ResidentPage:
    """A page of the residents in the actor's scope matching the search (each term given
    must match), with how many match in all."""
    require(actor, *RESIDENT_READERS)
    if not 1 <= page <= MAX_SEARCH_PAGE:
        raise Invalid.field("page", page, f"应为 1–{MAX_SEARCH_PAGE}", f"1 to {MAX_SEARCH_PAGE}")
    terms = search_terms(actor, session, search)
    found, total = repository.search_residents(
        session, actor, terms, SEARCH_PAGE, (page - 1) * SEARCH_PAGE
    )
    return ResidentPage(
        items=_resident_reads(actor, session, found),
        total=total,
        page=page,
        pages=max(1, -(-total // SEARCH_PAGE)),
        per_page=SEARCH_PAGE,
    )


def resident_towns(actor: Actor, session: Session) -> list[TownRead]:
    """Towns whose residents the actor reads (a town's staff: their own), by code."""
    return [
        TownRead.model_validate(town)
        for town in session.scalars(repository.resident_towns(actor).order_by(Town.code))
    ]


def registrable_towns(actor: Actor, session: Session) -> list[TownRead]:
    """Towns the actor registers residents in (a town's staff: their own), by code."""
    require(actor, *REGISTRY_WRITERS)
    return [
        TownRead.model_validate(town)
        for town in session.scalars(repository.writable_towns(actor).order_by(Town.code))
    ]


def may_register(actor: Actor) -> bool:
    """Whether the actor's role registers and corrects residents (in which towns is
    ``registrable_towns``)."""
    return acts_as(actor, Role.SYSTEM, *REGISTRY_WRITERS)


def may_correct(actor: Actor, session: Session, resident_id: int) -> bool:
    """Whether the actor may correct this resident (and read their whole ID number): a
    registrar whose scope holds them."""
    return (
        may_register(actor)
        and repository.writable_resident_by_id(session, actor, resident_id) is not None
    )


def reveal_id_number(actor: Actor, session: Session, resident_id: int) -> str:
    """A resident's whole ID number, for a registrar whose scope holds them (town staff: of
    their own town); every showing is audited (who, whom, when; never the number)."""
    require(actor, *REGISTRY_WRITERS)
    resident = repository.writable_resident_by_id(session, actor, resident_id)
    if resident is None:
        raise NotFound(f"居民 {resident_id} 不存在", f"resident {resident_id} not found")
    audit.record(session, actor, "resident.show_id_number", "resident", resident.id)
    return resident.id_number


def served_resident(
    actor: Actor, session: Session, resident_id: int | None = None, id_number: str | None = None
) -> Resident:
    """A resident a registrar serves at the counter (their account's activation code), by the
    registry's id or by ID number: only within the actor's writable scope (town staff: their
    own town); anybody else, or nobody, is 404 alike."""
    require(actor, *REGISTRY_WRITERS)
    if id_number is not None:
        resident_id = repository.id_number_resident(session, checked_id_number(id_number).number)
    resident = (
        repository.writable_resident_by_id(session, actor, resident_id)
        if resident_id is not None
        else None
    )
    if resident is None:
        raise NotFound("登记库中没有此人，或不在您的范围内", "no such resident within your scope")
    return resident


def holder_of_id_number(session: Session, id_number: str) -> Resident | None:
    """The resident registered with this (checked) ID number, whoever asks: for the public
    account pages, whose answer is the same whether or not there is one."""
    resident_id = repository.id_number_resident(session, id_number)
    return session.get(Resident, resident_id) if resident_id is not None else None


def household_of(actor: Actor, session: Session, resident_id: int) -> HouseholdRead | None:
    """The household of a resident in the actor's scope (none when they have none): its
    members and accompanying children the actor reaches, names in full for registrars."""
    resident = repository.resident_by_id(session, actor, resident_id)
    if resident is None:
        raise NotFound(f"居民 {resident_id} 不存在", f"resident {resident_id} not found")
    if resident.household_id is None:
        return None
    household = repository.household_by_id(session, resident.household_id)
    assert household is not None  # a foreign key
    full = acts_as(actor, *REGISTRARS)
    return HouseholdRead(
        household_number=household.household_number,
        town_name=session.get_one(Town, household.town_id).name,
        members=[
            HouseholdMember(
                id=member.id,
                name=member.name if full else mask_name(member.name),
                relation_to_head=Relation(member.relation_to_head)
                if member.relation_to_head
                else None,
            )
            for member in repository.household_members(session, actor, household.id)
        ],
        children=[
            ChildRead(
                name=child.name if full else mask_name(child.name),
                id_number_masked=mask_id_number(child.id_number),
                sex=child.sex,
                birth_date=child.birth_date if full else None,
                school_name=child.school_name,
                grade=child.grade,
            )
            for child in repository.household_children(session, actor, household.id)
        ],
    )


def latest_registrations(
    actor: Actor, session: Session, limit: int = 5
) -> tuple[int, list[ResidentRead]]:
    """How many residents the actor reads (town staff: their town's), and the ``limit``
    registered last, newest first."""
    require(actor, Role.ADMIN, Role.OPERATOR, Role.TOWN_STAFF, Role.AUDITOR)
    if not 1 <= limit <= MAX_LIST:
        raise Invalid.field("limit", limit, f"应为 1–{MAX_LIST}", f"between 1 and {MAX_LIST}")
    total = repository.resident_count(session, actor)
    return total, _resident_reads(
        actor, session, repository.latest_residents(session, actor, limit)
    )


def issue_permit(actor: Actor, session: Session, data: PermitCreate) -> ResidencePermit:
    require(actor, *REGISTRY_WRITERS)
    if data.expiry_date <= data.issue_date:
        raise Invalid.field(
            "expiry_date",
            data.expiry_date.isoformat(),
            f"有效期截止日期必须晚于签发日期 {data.issue_date.isoformat()}",
            f"expiry must be after the issue date {data.issue_date.isoformat()}",
        )
    resident = resident_for(session, actor, data.id_number)
    town = town_for(session, actor, data.town_code)
    _require_registrar(actor, session, town)
    number = data.permit_number.strip()
    if repository.permit_by_number(session, number) is not None:
        raise Conflict(f"居住证号 {number} 已存在", f"permit number {number} already exists")
    permit = ResidencePermit(
        permit_number=number,
        resident_id=resident.id,
        town_id=town.id,
        issue_date=data.issue_date,
        expiry_date=data.expiry_date,
        status=data.status,
    )
    session.add(permit)
    _flush_or_conflict(session, "permit_number", number)
    if permit.status == PermitStatus.VALID:
        repository.adjust_counts(
            session,
            permits=pl.DataFrame(
                {"town_id": [town.id], "expiry_date": [permit.expiry_date], "n": [1]}
            ),
        )
    audit.record(session, actor, "permit.add", "permit", permit.id, after=audit.row_state(permit))
    return permit


def create_household(actor: Actor, session: Session, data: HouseholdCreate) -> Household:
    require(actor, *REGISTRY_WRITERS)
    town = town_for(session, actor, data.town_code)
    _require_registrar(actor, session, town)
    number = data.household_number.strip()
    if repository.household_by_number(session, number) is not None:
        raise Conflict(f"家庭编号 {number} 已存在", f"household number {number} already exists")
    members = [resident_for(session, actor, id_number) for id_number in data.member_id_numbers]
    for member in members:
        if member.household_id is not None:
            raise Conflict(
                f"居民 {mask_id_number(member.id_number)} 已属于另一个家庭",
                f"resident {mask_id_number(member.id_number)} already belongs to a household",
            )
    household = Household(household_number=number, town_id=town.id)
    session.add(household)
    _flush_or_conflict(session, "household_number", number)
    for member in members:
        member.household_id = household.id
    session.flush()
    audit.record(
        session,
        actor,
        "household.add",
        "household",
        household.id,
        after={**audit.row_state(household), "members": sorted(m.id for m in members)},
    )
    return household


def add_child(actor: Actor, session: Session, data: ChildCreate) -> Child:
    require(actor, *REGISTRY_WRITERS)
    check = checked_id_number(data.id_number)
    household = repository.writable_household_by_number(
        session, actor, data.household_number.strip()
    )
    if household is None:  # another town's household is as unknown as a missing one
        raise Invalid.field(
            "household_number", data.household_number, "家庭编号不存在", "no such household"
        )
    _require_registrar(actor, session, session.get_one(Town, household.town_id))
    name = valid_name(data.name)
    if repository.child_by_id_number(session, check.number) is not None:
        raise Conflict(
            f"身份证号 {mask_id_number(check.number)} 的随迁子女已登记",
            f"a child with ID number {mask_id_number(check.number)} is already registered",
        )
    assert check.birth_date and check.sex
    parent, second_number, second = _parents_of(session, actor, data, check.number)
    child = Child(
        household_id=household.id,
        id_number=check.number,
        name=name,
        sex=check.sex,
        birth_date=check.birth_date,
        parent_id=parent,
        second_parent_id_number=second_number,
        second_parent_id=second,
        vaccination_certificate=data.vaccination_certificate,
        school_name=data.school_name,
        grade=data.grade,
    )
    session.add(child)
    _flush_or_conflict(session, "id_number", mask_id_number(check.number))
    repository.adjust_counts(session, children=_one(household.town_id))
    audit.record(session, actor, "child.add", "child", child.id, after=audit.row_state(child))
    return child


def _parents_of(
    session: Session, actor: Actor, data: ChildCreate, child_number: str
) -> tuple[int | None, str | None, int | None]:
    """(the registering parent's resident id, the other parent's ID number and resident id if
    registered): a child's parents are these two, never one person twice, never the child."""
    parent = None
    if data.parent_id_number:
        parent = resident_for(session, actor, data.parent_id_number)
    if not data.second_parent_id_number:
        return (parent.id if parent else None), None, None
    number = checked_id_number(data.second_parent_id_number, "second_parent_id_number").number
    if number == child_number or (parent is not None and number == parent.id_number):
        raise Invalid.field(
            "second_parent_id_number",
            mask_id_number(number),
            "另一方父母不能是第一方父母或子女本人",
            "the second parent cannot be the first parent or the child",
        )
    # Unscoped, like the duplicate check: the other parent may live in another town.
    second = repository.id_number_resident(session, number)
    return (parent.id if parent else None), number, second


def registered_employer(session: Session, credit_code: str) -> Employer:
    """The registered employer of this credit code (checked first), or ``Invalid`` naming it:
    an employer account is bound to an employer the registry knows."""
    code = valid_credit_code(credit_code)
    employer = repository.employer_by_credit_code(session, code)
    if employer is None:
        raise Invalid.field(
            "credit_code", code, "登记库中没有此用人单位", "no such employer in the registry"
        )
    return employer


def register_employer(actor: Actor, session: Session, data: EmployerCreate) -> Employer:
    require(actor, *REGISTRY_WRITERS)
    code = valid_credit_code(data.credit_code)
    name = valid_name(data.name, max_length=EMPLOYER_NAME_LENGTH)
    town = town_for(session, actor, data.town_code)
    _require_registrar(actor, session, town)
    if repository.employer_by_credit_code(session, code) is not None:
        raise Conflict(f"统一社会信用代码 {code} 已登记", f"credit code {code} already registered")
    employer = Employer(credit_code=code, name=name, town_id=town.id)
    session.add(employer)
    _flush_or_conflict(session, "credit_code", code)
    audit.record(
        session, actor, "employer.add", "employer", employer.id, after=audit.row_state(employer)
    )
    return employer


def add_employment(actor: Actor, session: Session, data: EmploymentCreate) -> Employment:
    require(actor, *REGISTRY_WRITERS)
    if data.end_date is not None and data.end_date < data.start_date:
        raise Invalid.field(
            "end_date",
            data.end_date.isoformat(),
            f"结束日期早于开始日期 {data.start_date.isoformat()}",
            f"ends before it starts ({data.start_date.isoformat()})",
        )
    resident = resident_for(session, actor, data.id_number)
    _require_registrar(actor, session, session.get_one(Town, resident.town_id))
    code = valid_credit_code(data.credit_code)
    employer = repository.employer_by_credit_code(session, code)
    if employer is None:
        raise Invalid.field("credit_code", code, "用人单位未登记", "no employer has this code")
    employment = Employment(
        resident_id=resident.id,
        employer_id=employer.id,
        basis=data.basis,
        start_date=data.start_date,
        end_date=data.end_date,
        frontline=data.frontline,
    )
    session.add(employment)
    session.flush()
    audit.record(
        session,
        actor,
        "employment.add",
        "employment",
        employment.id,
        after=audit.row_state(employment),
    )
    return employment


def register_frames(
    actor: Actor,
    session: Session,
    frames: dict[str, pl.DataFrame],
    *,
    today: date | None = None,
    what: tuple[str, str] = ("登记库数据", "registry rows"),
    feed_department: str | None = None,
) -> LoadSummary:
    """Registry rows in bulk, as text frames keyed by their city file (``city_files``) with
    ``_line``, the row a problem names: what a registering feed (residents, permits …) hands
    over, and what ``luodi load`` reads. Checked across every frame, then written all or
    nothing (``loading.register_frames``)."""
    return loading.register_frames(
        actor, session, frames, today=today, what=what, feed_department=feed_department
    )


ENDORSEMENT_VARIABLE = "permit_endorsement"
"""The fact the permit_endorsements feed yields (value: the permit's number, valid from the
endorsement's date): read by the permit time line, not a policy input by itself."""
VOID_ENDORSEMENT_VARIABLE = "permit_endorsement_void"
"""The fact a row withdrawing an endorsement (作废 = 是) yields beside it: the endorsement of
that permit on that date no longer counts (docs/feeds.md)."""


TIMELINE_VARIABLES = (ENDORSEMENT_VARIABLE, VOID_ENDORSEMENT_VARIABLE)
"""The facts the permit time line reads (``facts=`` of ``scoring_population``)."""


def _endorsements(
    actor: Actor,
    session: Session,
    as_of: date,
    resident_ids: list[int] | None,
    facts: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Current endorsement facts (resident_id, value = permit number, valid_from = date),
    less those withdrawn: a withdrawal's row brings both facts under the same key, and a
    later row without it supersedes both. ``facts``: everyone's current facts as of
    ``as_of`` already read, holding ``TIMELINE_VARIABLES``."""
    from luodi.facts import service as facts_service  # facts build on the registry

    if facts is None:
        endorsed, void = (
            facts_service.each_fact(actor, session, name, as_of, resident_ids)
            for name in TIMELINE_VARIABLES
        )
    else:
        endorsed, void = (facts_service.each_fact_of(facts, name) for name in TIMELINE_VARIABLES)
    return endorsed.join(void, on=["resident_id", "value", "valid_from"], how="anti")


def permit_timeline(
    actor: Actor,
    session: Session,
    as_of: date,
    resident_ids: list[int] | None = None,
    *,
    reasons: bool = True,
    facts: pl.DataFrame | None = None,
    ids: bulk.IdRange | None = None,
) -> pl.DataFrame:
    """Each readable resident's (or a page's, or those of a range of ``ids``) current
    residence span on ``as_of``, by Art. 19 of 《浙江省流动人口居住登记条例》
    (kernels/timeline/permits.py ``TIMELINE_SCHEMA``): their permits and endorsements, two
    queries, one pass of the kernel. ``facts``: the endorsements are in these current facts
    already read (everyone's, or those of ``ids``)."""
    permits = repository.permits_frame(session, actor, as_of, resident_ids, ids)
    endorsed = _endorsements(actor, session, as_of, resident_ids, facts)
    if ids is not None:
        endorsed = endorsed.filter(pl.col("resident_id").is_between(ids.first, ids.last))
    return _timeline(permits, endorsed, as_of, reasons=reasons)


def _timeline(
    permits: pl.DataFrame, endorsed: pl.DataFrame, as_of: date, *, reasons: bool
) -> pl.DataFrame:
    """``permit_timeline`` of permits and endorsement facts already read."""
    endorsements = endorsed.select(
        "resident_id",
        pl.col("value").alias("permit_number"),
        pl.col("valid_from").alias("endorsed_on"),
    )
    return permits_kernel.permit_timeline(permits, endorsements, as_of, reasons=reasons).join(
        permits.select("permit_number", permit_issue_date="issue_date"),
        on="permit_number",
        how="left",
    )


TIMELINE_INPUTS = (
    "residence_registration_date",
    "permit_state",
    "permit_valid",
    "next_endorsement_due",
    "permit_issue_date",
)
"""Inputs the permit time line gives; a score explanation shows the span beside them."""


def residence_span(
    actor: Actor, session: Session, resident_id: int, as_of: date
) -> dict[str, object]:
    """One resident's span on ``as_of`` and why it starts where it does, with the permits
    and endorsements it was read from (for a score's explanation and ``luodi feed history``)."""
    # Their permits and endorsements read once (two indexed queries), the time line of them.
    permits = repository.permits_frame(session, actor, as_of, [resident_id]).sort("issue_date")
    endorsed = _endorsements(actor, session, as_of, [resident_id])
    timeline = _timeline(permits, endorsed, as_of, reasons=True)
    span: dict[str, object] = {
        "as_of": as_of.isoformat(),
        "permit_state": permits_kernel.PermitState.NONE.value,
        "span_start": None,
        "reason_zh": f"{as_of} 前未签发居住证",
        "reason_en": f"no permit issued by {as_of}",
    }
    if timeline.height:
        row = timeline.row(0, named=True)
        span |= {
            "permit_number": row["permit_number"],
            "permit_state": row["permit_state"],
            "span_start": _iso(row["span_start"]),
            "next_endorsement_due": _iso(row["next_endorsement_due"]),
            "suspended_since": _iso(row["suspended_since"]),
            "reason_zh": row["reason_zh"],
            "reason_en": row["reason_en"],
        }
    span["permits"] = [
        {
            "permit_number": permit["permit_number"],
            "issue_date": _iso(permit["issue_date"]),
            "expiry_date": _iso(permit["expiry_date"]),
            "status": permit["status"],
            "status_date": _iso(permit["status_date"]),
            "endorsed_on": sorted(
                _iso(day)
                for day in endorsed.filter(pl.col("value") == permit["permit_number"])["valid_from"]
            ),
        }
        for permit in permits.iter_rows(named=True)
    ]
    return span


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None


def scoring_population(
    actor: Actor,
    session: Session,
    as_of: date,
    facts: pl.DataFrame | None = None,
    ids: bulk.IdRange | None = None,
) -> pl.DataFrame:
    """Every readable resident with what the registry knows for scoring on ``as_of``: birth
    date, town, origin, current employment, and the permit time line — ``permit_state``,
    ``permit_valid``, ``residence_registration_date`` (the start of the current continuous
    span; empty unless valid), ``next_endorsement_due``, ``permit_issue_date`` (the current
    permit's, while valid). Scoring keeps those with a valid permit; why a span starts where
    it does is for one resident at a time (``residence_span``). ``facts``: the current facts
    as of ``as_of`` the caller read (``facts.service.current_fact_rows``), holding
    ``TIMELINE_VARIABLES``: the endorsements are not read again. ``ids``: only the residents
    of this range (a batch of ``luodi export inputs``)."""
    timeline = permit_timeline(actor, session, as_of, reasons=False, facts=facts, ids=ids)
    valid = pl.col("permit_valid")
    return (
        repository.scoring_people(session, actor, as_of, ids)
        .join(timeline, on="resident_id", how="left")
        .select(
            "resident_id",
            "town_code",
            "birth_date",
            "sex",
            "origin_province",
            "employed_since",
            pl.col("permit_state").fill_null(permits_kernel.PermitState.NONE.value),
            valid.fill_null(False),
            pl.when(valid).then("permit_issue_date").alias("permit_issue_date"),
            pl.col("span_start").alias("residence_registration_date"),
            "next_endorsement_due",
        )
    )


def id_batches(actor: Actor, session: Session, size: int) -> list[tuple[bulk.IdRange, int]]:
    """The readable residents in ranges of ids of ``size`` residents, with their counts: the
    batches of a read of everyone that is streamed (``scoring_population(ids=…)``)."""
    return repository.id_batches(session, actor, size)


def readable_resident_ids(actor: Actor, session: Session) -> pl.Series:
    """The ids of every resident ``actor`` reads, sorted (one column, in bulk)."""
    return repository.readable_id_frame(session, actor).get_column("resident_id")


def resident_exists(actor: Actor, session: Session, resident_id: int) -> bool:
    return repository.resident_by_id(session, actor, resident_id) is not None


def people(actor: Actor, session: Session) -> pl.DataFrame:
    """resident_id, id_number, name, household_id, town_code of every readable resident."""
    return repository.people_frame(session, actor)


def children(actor: Actor, session: Session) -> pl.DataFrame:
    """child_id, child_id_number, child_name, household_id, child_birth_date of every child
    the actor reaches (a resident: the children of their own household)."""
    return repository.children_frame(session, actor)


def family_frames(
    actor: Actor, session: Session, resident_ids: list[int], child_ids: list[int]
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(children with their two parents, household members and parents, accompanying children
    per household) of these people and children: ``repository.family_frames``."""
    return repository.family_frames(session, actor, resident_ids, child_ids)


def current_employments(
    actor: Actor, session: Session, resident_ids: list[int], as_of: date
) -> pl.DataFrame:
    """Employments in force on ``as_of`` with employer, town and union."""
    return repository.current_employments(session, actor, resident_ids, as_of)
