"""Who is family: relations to the head of the household, a child's two parents, employers'
unions and frontline posts, through ``luodi load`` and through the feeds (SQLite and
PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from luodi.auth.actor import SYSTEM_ACTOR
from luodi.errors import Invalid
from luodi.feeds import service as feeds
from luodi.feeds.schemas import ImportStatus
from luodi.registry.loading import load_city
from luodi.registry.models import Child, Employer, EmployerUnion, Employment, Resident
from tests import family_city as city


def residents(session: Session) -> dict[str, Resident]:
    return {row.id_number: row for row in session.scalars(select(Resident))}


def unions(session: Session) -> dict[str, tuple[bool, str | None]]:
    rows = session.execute(
        select(Employer.credit_code, EmployerUnion.has_union, EmployerUnion.established_on).join(
            EmployerUnion, EmployerUnion.employer_id == Employer.id
        )
    )
    return {code: (has, on.isoformat() if on else None) for code, has, on in rows}


def test_relations_parents_unions_and_frontline_are_stored(
    session: Session, tmp_path: Path
) -> None:
    load_city(SYSTEM_ACTOR, session, city.write_family_city(tmp_path))
    people = residents(session)
    relations = {number: person.relation_to_head for number, person in people.items()}
    assert relations == {
        city.FATHER: "head",
        city.MOTHER: "spouse",  # written 配偶
        city.UNCLE: "sibling",
        city.GRANDMOTHER: "parent",
        city.SINGLE: "head",
        city.LONER: None,
    }
    children = {child.id_number: child for child in session.scalars(select(Child))}
    father, mother = people[city.FATHER].id, people[city.MOTHER].id
    first, second = children[city.C1], children[city.C2]
    assert (first.parent_id, first.second_parent_id, first.second_parent_id_number) == (
        father,
        mother,
        city.MOTHER,
    )
    # A parent registered elsewhere is a parent by ID number; the uncle never is.
    assert (second.parent_id, second.second_parent_id, second.second_parent_id_number) == (
        father,
        None,
        city.ELSEWHERE,
    )
    frontline = {
        (people_by_id, start.isoformat()): post
        for people_by_id, start, post in session.execute(
            select(Resident.id_number, Employment.start_date, Employment.frontline).join(
                Resident, Resident.id == Employment.resident_id
            )
        )
    }
    assert frontline == {
        (city.FATHER, "2022-01-01"): True,
        (city.MOTHER, "2021-05-01"): False,  # 否
        (city.UNCLE, "2020-01-01"): None,  # not said is not "no"
        (city.SINGLE, "2019-01-01"): True,
        (city.SINGLE, "2024-01-01"): True,  # 是
    }
    assert unions(session) == {city.E1: (True, "2020-06-01"), city.E2: (False, None)}


def test_a_second_parent_registered_later_is_linked(session: Session, tmp_path: Path) -> None:
    load_city(SYSTEM_ACTOR, session, city.write_family_city(tmp_path / "city"))
    feed = tmp_path / "residents.csv"
    feed.write_text(
        f"身份证号,姓名,镇街代码,家庭编号,与户主关系\n{city.ELSEWHERE},远,{city.BAISHA},H3,户主\n",
        encoding="utf-8",
    )
    result = feeds.import_file(SYSTEM_ACTOR, session, "residents", feed, report=None)
    assert result.status == ImportStatus.IMPORTED, result.rejections
    child = session.scalars(select(Child).where(Child.id_number == city.C2)).one()
    assert child.second_parent_id == residents(session)[city.ELSEWHERE].id


def family_problem(session: Session, folder: Path, **replace: str) -> str:
    with pytest.raises(Invalid) as caught:
        load_city(SYSTEM_ACTOR, session, city.write_family_city(folder, **replace))
    return "\n".join(problem.describe() for problem in caught.value.details)


HEADER = "id_number,name,town_code,household_number,relation_to_head\n"
CHILD_HEADER = "id_number,household_number,child_id_number,child_name,second_parent_id_number\n"


@pytest.mark.parametrize(
    ("file", "text", "expected"),
    [
        (
            "residents",
            f"{HEADER}{city.FATHER},父,{city.ZHOUXIANG},H1,堂兄\n",
            "relation must be head, spouse, child, parent, sibling or other",
        ),
        (
            "residents",
            f"{HEADER}{city.FATHER},父,{city.ZHOUXIANG},H1,户主\n"
            f"{city.MOTHER},母,{city.ZHOUXIANG},H1,head\n",
            "a household has one head at most",
        ),
        (
            "children",
            f"{CHILD_HEADER}{city.FATHER},H1,{city.C1},一,{city.FATHER}\n",
            "the second parent cannot be the first",
        ),
        (
            "children",
            f"{CHILD_HEADER}{city.FATHER},H1,{city.C1},一,{city.C1}\n",
            "a parent cannot be the child",
        ),
        (
            "children",
            f"{CHILD_HEADER}{city.FATHER},H1,{city.C1},一,123\n",
            "second_parent_id_number",
        ),
        (
            "children",
            f"{CHILD_HEADER}{city.ELSEWHERE},H1,{city.C1},一,\n",
            "unknown resident",
        ),
        (
            "unions",
            f"credit_code,union\n{city.credit_code('91330282MA2AB1C9X')},true\n",
            "unknown employer",
        ),
        ("unions", f"credit_code,union\n{city.E1},maybe\n", "must be true/false"),
        (
            "employment",
            "id_number,credit_code,basis,start_date,frontline\n"
            f"{city.FATHER},{city.E1},labour_contract,2022-01-01,sometimes\n",
            "must be true/false",
        ),
    ],
)
def test_a_bad_family_row_is_named_and_nothing_is_written(
    session: Session, tmp_path: Path, file: str, text: str, expected: str
) -> None:
    described = family_problem(session, tmp_path, **{file: text})
    assert expected in described
    assert f"{file}.csv" in described
    assert session.scalars(select(Resident)).first() is None


def test_the_union_feed_names_an_unknown_employer_by_row_and_a_resend_replaces(
    session: Session, tmp_path: Path
) -> None:
    load_city(SYSTEM_ACTOR, session, city.write_family_city(tmp_path / "city"))
    feed = tmp_path / "工会.csv"
    stranger = city.credit_code("91330282MA2AB1C9X")
    feed.write_text(f"统一社会信用代码,是否建立工会\n{city.E3},是\n{stranger},是\n", "utf-8")
    refused = feeds.import_file(SYSTEM_ACTOR, session, "unions", feed, report=None)
    assert refused.status == ImportStatus.REJECTED
    assert [(item.row, item.column) for item in refused.rejections] == [(3, "credit_code")]
    assert unions(session) == {city.E1: (True, "2020-06-01"), city.E2: (False, None)}

    feed.write_text(
        f"统一社会信用代码,是否建立工会,建会日期\n{city.E2},是,2026-03-01\n{city.E3},否,\n",
        "utf-8",
    )
    result = feeds.import_file(SYSTEM_ACTOR, session, "unions", feed, report=None)
    assert result.status == ImportStatus.IMPORTED, result.rejections
    assert unions(session) == {
        city.E1: (True, "2020-06-01"),  # not named again: kept
        city.E2: (True, "2026-03-01"),
        city.E3: (False, None),
    }


def test_frontline_and_parents_through_their_feeds(session: Session, tmp_path: Path) -> None:
    load_city(
        SYSTEM_ACTOR,
        session,
        city.write_family_city(
            tmp_path / "city",
            children=CHILD_HEADER,
            employment="id_number,credit_code,basis,start_date\n",
        ),
    )
    children = tmp_path / "children.csv"
    children.write_text(
        "监护人身份证号,家庭编号,子女身份证号,子女姓名,另一方父母（监护人）身份证号\n"
        f"{city.MOTHER},H1,{city.C1},一,{city.FATHER}\n",
        "utf-8",
    )
    result = feeds.import_file(SYSTEM_ACTOR, session, "children", children, report=None)
    assert result.status == ImportStatus.IMPORTED, result.rejections
    child = session.scalars(select(Child)).one()
    people = residents(session)
    assert (child.parent_id, child.second_parent_id) == (
        people[city.MOTHER].id,
        people[city.FATHER].id,
    )
    employment = tmp_path / "employment.csv"
    employment.write_text(
        "身份证号,统一社会信用代码,就业依据,开始日期,一线岗位\n"
        f"{city.MOTHER},{city.E1},劳动合同,2025-01-01,是\n",
        "utf-8",
    )
    result = feeds.import_file(SYSTEM_ACTOR, session, "employment", employment, report=None)
    assert result.status == ImportStatus.IMPORTED, result.rejections
    assert session.scalars(select(Employment.frontline)).all() == [True]


def test_one_child_and_one_resident_at_a_time(session: Session, tmp_path: Path) -> None:
    """The service's single writes keep the same rules as a load: two parents, never the same
    person twice; the other parent linked when registered; a frontline post."""
    from datetime import date

    from luodi.registry import service
    from luodi.registry.schemas import ChildCreate, EmploymentCreate, ResidentCreate
    from tests.factories import id_number

    load_city(SYSTEM_ACTOR, session, city.write_family_city(tmp_path))
    third = id_number("330282", date(2021, 1, 5), 333)
    later = id_number("420102", date(1992, 2, 2), 444)
    with pytest.raises(Invalid) as caught:
        service.add_child(
            SYSTEM_ACTOR,
            session,
            ChildCreate(
                household_number="H1",
                id_number=third,
                name="三",
                parent_id_number=city.MOTHER,
                second_parent_id_number=city.MOTHER,
            ),
        )
    assert caught.value.details[0].field == "second_parent_id_number"
    child = service.add_child(
        SYSTEM_ACTOR,
        session,
        ChildCreate(
            household_number="H1",
            id_number=third,
            name="三",
            parent_id_number=city.MOTHER,
            second_parent_id_number=later,
        ),
    )
    assert (child.parent_id, child.second_parent_id) == (residents(session)[city.MOTHER].id, None)
    registered = service.register_resident(
        SYSTEM_ACTOR,
        session,
        ResidentCreate(id_number=later, name="后", town_code=city.BAISHA),
    )
    session.refresh(child)
    assert child.second_parent_id == registered.id
    employment = service.add_employment(
        SYSTEM_ACTOR,
        session,
        EmploymentCreate(
            id_number=later,
            credit_code=city.E1,
            basis="labour_contract",
            start_date=date(2025, 1, 1),
            frontline=True,
        ),
    )
    assert employment.frontline is True


def test_a_second_head_of_a_registered_household_is_refused(
    session: Session, tmp_path: Path
) -> None:
    from datetime import date

    from tests.factories import id_number

    load_city(SYSTEM_ACTOR, session, city.write_family_city(tmp_path / "city"))
    feed = tmp_path / "residents.csv"
    newcomer = id_number("420102", date(1993, 3, 3), 555)
    feed.write_text(
        f"身份证号,姓名,镇街代码,家庭编号,与户主关系\n{newcomer},新,{city.ZHOUXIANG},H1,户主\n",
        encoding="utf-8",
    )
    with pytest.raises(Invalid) as caught:
        feeds.import_file(SYSTEM_ACTOR, session, "residents", feed, report=None)
    assert "a household has one head at most" in caught.value.details[0].describe()
    # As a sibling the same row is welcome.
    feed.write_text(
        f"身份证号,姓名,镇街代码,家庭编号,与户主关系\n{newcomer},新,{city.ZHOUXIANG},H1,兄弟姐妹\n",
        encoding="utf-8",
    )
    result = feeds.import_file(SYSTEM_ACTOR, session, "residents", feed, report=None)
    assert result.status == ImportStatus.IMPORTED, result.rejections


def test_the_resident_read_says_the_relation_to_the_head(session: Session, tmp_path: Path) -> None:
    from luodi.registry import service as registry

    load_city(SYSTEM_ACTOR, session, city.write_family_city(tmp_path))
    people = residents(session)
    read = {
        number: registry.get_resident(SYSTEM_ACTOR, session, person.id).relation_to_head
        for number, person in people.items()
    }
    assert read[city.FATHER] == "head"
    assert read[city.MOTHER] == "spouse"
    assert read[city.UNCLE] == "sibling"
