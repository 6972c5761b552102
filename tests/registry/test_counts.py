"""The per-town counts kept on write agree with a full recount of the rows, after single
writes, moves, a bulk load and a registry feed, on both databases."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from luodi.auth.actor import SYSTEM_ACTOR
from luodi.feeds import service as feeds
from luodi.registry import city_files, service
from luodi.registry.loading import load_city
from luodi.registry.models import (
    Child,
    Household,
    PermitStatus,
    ResidencePermit,
    Resident,
    Town,
)
from luodi.registry.schemas import (
    ChildCreate,
    HouseholdCreate,
    PermitCreate,
    ResidentUpdate,
)
from tests import factories

TODAY = date.today()


def recounted(session: Session, as_of: date) -> dict[str, tuple[int, int, int]]:
    """Town code → (residents, valid permits, children), counted from every row."""
    towns = dict(session.execute(select(Town.id, Town.code)).all())
    residents = dict(
        session.execute(select(Resident.town_id, func.count()).group_by(Resident.town_id)).all()
    )
    permits = dict(
        session.execute(
            select(ResidencePermit.town_id, func.count())
            .where(
                ResidencePermit.status == PermitStatus.VALID,
                ResidencePermit.expiry_date >= as_of,
            )
            .group_by(ResidencePermit.town_id)
        ).all()
    )
    children = dict(
        session.execute(
            select(Household.town_id, func.count(Child.id))
            .join(Child, Child.household_id == Household.id)
            .group_by(Household.town_id)
        ).all()
    )
    return {
        code: (residents.get(town, 0), permits.get(town, 0), children.get(town, 0))
        for town, code in towns.items()
    }


def kept(session: Session, as_of: date) -> dict[str, tuple[int, int, int]]:
    return {
        town.code: (town.residents, town.valid_permits, town.children)
        for town in service.list_towns(SYSTEM_ACTOR, session, as_of)
    }


def assert_counts_current(session: Session, *days: date) -> None:
    for day in days or (TODAY,):
        assert kept(session, day) == recounted(session, day), day


def test_single_writes_and_moves(session: Session) -> None:
    factories.town(session, "330282114", "周巷镇")
    factories.town(session, "330282101", "观海卫镇")
    assert kept(session, TODAY) == {"330282101": (0, 0, 0), "330282114": (0, 0, 0)}
    people = [
        factories.resident(session, code, factories.id_number(sequence=300 + n), "张三")
        for n, code in enumerate(["330282114"] * 3 + ["330282101"] * 2)
    ]
    assert kept(session, TODAY)["330282114"][0] == 3
    for n, (expiry, status) in enumerate(
        [
            (TODAY + timedelta(days=400), PermitStatus.VALID),
            (TODAY, PermitStatus.VALID),  # valid through today, not tomorrow
            (TODAY + timedelta(days=400), PermitStatus.CANCELLED),
            (TODAY - timedelta(days=1), PermitStatus.VALID),  # expired yesterday
        ]
    ):
        service.issue_permit(
            SYSTEM_ACTOR,
            session,
            PermitCreate(
                permit_number=f"P{n}",
                id_number=people[n].id_number,
                town_code="330282114",
                issue_date=date(2020, 1, 1),
                expiry_date=expiry,
                status=status,
            ),
        )
    assert kept(session, TODAY)["330282114"][1] == 2
    assert kept(session, TODAY + timedelta(days=1))["330282114"][1] == 1
    assert kept(session, TODAY - timedelta(days=1))["330282114"][1] == 3
    service.create_household(
        SYSTEM_ACTOR,
        session,
        HouseholdCreate(
            household_number="H9", town_code="330282101", member_id_numbers=[people[4].id_number]
        ),
    )
    service.add_child(
        SYSTEM_ACTOR,
        session,
        ChildCreate(
            household_number="H9",
            id_number=factories.id_number("330282", date(2018, 2, 3), 77),
            name="小明",
        ),
    )
    # Moves, one back and forth, and a correction that is not a move.
    service.correct_resident(
        SYSTEM_ACTOR, session, people[0].id, ResidentUpdate(town_code="330282101")
    )
    service.correct_resident(
        SYSTEM_ACTOR, session, people[3].id, ResidentUpdate(town_code="330282114")
    )
    service.correct_resident(
        SYSTEM_ACTOR, session, people[3].id, ResidentUpdate(town_code="330282101")
    )
    service.correct_resident(SYSTEM_ACTOR, session, people[1].id, ResidentUpdate(name="李四"))
    assert kept(session, TODAY) == {"330282101": (3, 0, 1), "330282114": (2, 2, 0)}
    assert_counts_current(session, TODAY, TODAY + timedelta(days=1), TODAY - timedelta(days=1))


def test_bulk_load_then_writes_then_a_registry_feed(
    session: Session, small_city: Path, tmp_path: Path
) -> None:
    summary = load_city(SYSTEM_ACTOR, session, small_city)
    assert sum(r for r, _, _ in kept(session, TODAY).values()) == summary.residents
    assert_counts_current(session, TODAY, date(2024, 1, 1), date(2030, 1, 1))

    towns = sorted(kept(session, TODAY))
    resident = session.scalars(select(Resident).limit(1)).one()
    target = next(code for code in towns if code != session.get_one(Town, resident.town_id).code)
    service.correct_resident(SYSTEM_ACTOR, session, resident.id, ResidentUpdate(town_code=target))
    factories.resident(session, towns[0], factories.id_number(sequence=999), "王五")
    assert_counts_current(session)

    # New residents arriving by the residents feed go through the registry: counted too.
    arrivals = pl.DataFrame(
        {
            "id_number": [factories.id_number("522425", date(1990, 1, n), 11) for n in (1, 2)],
            "name": ["赵六", "钱七"],
            "town_code": [towns[1], towns[2]],
        }
    )
    arrivals.write_csv(tmp_path / "residents.csv")
    result = feeds.import_file(
        SYSTEM_ACTOR, session, "residents", tmp_path / "residents.csv", report=None
    )
    assert result.residents_created == 2, result
    assert_counts_current(session, TODAY, date(2024, 1, 1))


def test_a_second_bulk_load_adds_to_the_counts(
    session: Session, small_city: Path, tmp_path: Path
) -> None:
    """Towns, residents, permits and children of a second directory add to the first's (a
    child names its registering parent: the children feed requires it)."""
    load_city(SYSTEM_ACTOR, session, small_city)
    before = kept(session, TODAY)
    more = tmp_path / "more"
    more.mkdir()
    town = sorted(before)[0]
    number = factories.id_number("522425", date(1991, 3, 3), 21)
    pl.DataFrame(
        {"id_number": [number], "name": ["孙八"], "town_code": [town], "household_number": ["HX"]}
    ).write_csv(more / city_files.RESIDENTS)
    pl.DataFrame(
        {
            "permit_number": ["PX"],
            "id_number": [number],
            "town_code": [town],
            "issue_date": ["2025-01-01"],
            "expiry_date": [(TODAY + timedelta(days=30)).isoformat()],
        }
    ).write_csv(more / city_files.PERMITS)
    pl.DataFrame(
        {
            "id_number": [number],
            "household_number": ["HX"],
            "child_id_number": [factories.id_number("330282", date(2020, 4, 4), 31)],
            "child_name": ["孙小"],
        }
    ).write_csv(more / city_files.CHILDREN)
    for name in (city_files.EMPLOYERS, city_files.EMPLOYMENT):
        pl.DataFrame(schema=dict.fromkeys(city_files.COLUMNS[name], pl.String)).write_csv(
            more / name
        )
    load_city(SYSTEM_ACTOR, session, more)
    residents, permits, children = before[town]
    assert kept(session, TODAY)[town] == (residents + 1, permits + 1, children + 1)
    assert_counts_current(session, TODAY)


def test_recount_repairs_counts_after_a_change_made_outside_luodi(session: Session) -> None:
    factories.town(session)
    factories.resident(session)
    # A row written behind the services' back (a manual repair in SQL) is not counted ...
    town = session.scalars(select(Town)).one()
    session.add(
        Resident(
            id_number=factories.id_number(sequence=998),
            name="手工",
            sex="male",
            birth_date=date(1990, 5, 17),
            origin_region_code="341522",
            origin_province="安徽",
            town_id=town.id,
        )
    )
    session.flush()
    assert kept(session, TODAY) != recounted(session, TODAY)
    # ... until an administrator recounts.
    service.recount_towns(SYSTEM_ACTOR, session)
    assert_counts_current(session)


@pytest.mark.parametrize("day", [date(2000, 1, 1), date(2099, 12, 31)])
def test_no_permit_counted_outside_its_days(session: Session, day: date) -> None:
    factories.town(session)
    person = factories.resident(session)
    service.issue_permit(
        SYSTEM_ACTOR,
        session,
        PermitCreate(
            permit_number="P1",
            id_number=person.id_number,
            town_code="330282114",
            issue_date=date(2024, 1, 1),
            expiry_date=date(2027, 1, 1),
        ),
    )
    assert kept(session, day)["330282114"][1] == (1 if day < date(2027, 1, 1) else 0)
    assert_counts_current(session, day)
