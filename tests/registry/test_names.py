"""Names that cannot be read (empty, spaces, control or bidirectional characters, too long)
are refused everywhere a name enters the registry: services, bulk loads, and the check."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from luodi.auth.actor import SYSTEM_ACTOR
from luodi.errors import Invalid
from luodi.kernels.text import check_name
from luodi.registry import city_files, service
from luodi.registry.loading import load_city
from luodi.registry.models import Resident
from luodi.registry.schemas import (
    ChildCreate,
    EmployerCreate,
    HouseholdCreate,
    ResidentCreate,
    ResidentUpdate,
    TownCreate,
)
from tests import factories

UNREADABLE = [
    "",
    "   ",
    "\u3000\u3000",  # ideographic spaces only
    "\t",
    "张\u202e三",  # right-to-left override
    "\u202a李四",
    "王\u2066五\u2069",  # isolates
    "赵\u200e六",  # left-to-right mark
    "钱\u200f",
    "孙\x00七",
    "周\n八",
    "吴\x1b[31m",
    "郑\u2028九",
    "冯" * 51,
]


@pytest.mark.parametrize("name", UNREADABLE)
def test_the_check_refuses(name: str) -> None:
    check = check_name(name, 50)
    assert not check.valid
    assert check.reason_zh and check.reason_en


@pytest.mark.parametrize("name", ["张三", " 李四 ", "阿依古丽·买买提", "O'Brien", "冯" * 50])
def test_the_check_keeps_real_names_trimmed(name: str) -> None:
    check = check_name(name, 50)
    assert check.valid and check.value == name.strip()


@pytest.mark.parametrize("name", UNREADABLE)
def test_every_registry_write_refuses(session: Session, name: str) -> None:
    factories.town(session)
    kept = factories.resident(session, number=factories.id_number(sequence=401), name="刘芳")
    service.create_household(
        SYSTEM_ACTOR,
        session,
        HouseholdCreate(
            household_number="H1", town_code="330282114", member_id_numbers=[kept.id_number]
        ),
    )
    attempts = [
        lambda: service.register_resident(
            SYSTEM_ACTOR,
            session,
            ResidentCreate(
                id_number=factories.id_number(sequence=402), name=name, town_code="330282114"
            ),
        ),
        lambda: service.correct_resident(SYSTEM_ACTOR, session, kept.id, ResidentUpdate(name=name)),
        lambda: service.create_town(SYSTEM_ACTOR, session, TownCreate(code="330282115", name=name)),
        lambda: service.add_child(
            SYSTEM_ACTOR,
            session,
            ChildCreate(
                household_number="H1",
                id_number=factories.id_number("330282", date(2019, 1, 1), 61),
                name=name,
            ),
        ),
    ]
    for attempt in attempts:
        with pytest.raises(Invalid) as caught:
            attempt()
        assert caught.value.details[0].field == "name"
        assert caught.value.status == 422
    assert session.scalar(select(func.count(Resident.id))) == 1
    assert session.get_one(Resident, kept.id).name == "刘芳"


def test_employer_names_allow_200_characters(session: Session) -> None:
    factories.town(session)
    code = factories.credit_code()
    with pytest.raises(Invalid):
        service.register_employer(
            SYSTEM_ACTOR,
            session,
            EmployerCreate(credit_code=code, name="厂\u202e", town_code="330282114"),
        )
    employer = service.register_employer(
        SYSTEM_ACTOR,
        session,
        EmployerCreate(credit_code=code, name="慈" * 200, town_code="330282114"),
    )
    assert len(employer.name) == 200


@pytest.mark.parametrize(
    ("file", "column", "value"),
    [
        (city_files.RESIDENTS, "name", "张\u202e三"),
        (city_files.RESIDENTS, "name", "李\u2067四"),
        (city_files.RESIDENTS, "name", "王" * 51),
        (city_files.CHILDREN, "child_name", "赵\u200f"),
        (city_files.EMPLOYERS, "name", "厂\u202d"),
        (city_files.TOWNS, "name", "镇\u2066"),
    ],
)
def test_a_bulk_load_names_the_row_and_column(
    session: Session, small_city: Path, tmp_path: Path, file: str, column: str, value: str
) -> None:
    directory = tmp_path / "city"
    shutil.copytree(small_city, directory)
    frame = pl.read_csv(directory / file, infer_schema=False)
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 3)
        .then(pl.lit(value))
        .otherwise(pl.col(column))
        .alias(column)
    )
    frame.write_csv(directory / file)
    with pytest.raises(Invalid) as caught:
        load_city(SYSTEM_ACTOR, session, directory)
    problem = next(p for p in caught.value.details if p.file == file)
    assert (problem.field, problem.row) == (column, 5)  # data row 3 is line 5
    assert problem.reason_zh and problem.reason_en
    assert session.scalar(select(func.count(Resident.id))) == 0
