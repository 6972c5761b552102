"""school_intakes.csv loads with its city, all or nothing, each bad row named."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from luodi.auth.actor import SYSTEM_ACTOR
from luodi.errors import Invalid
from luodi.forecast.models import SchoolIntake
from luodi.registry import city_files
from luodi.registry.loading import load_city
from luodi.registry.models import Resident


def with_intakes(city: Path, target: Path, rows: list[dict[str, object]]) -> Path:
    shutil.copytree(city, target)
    pl.DataFrame(rows).write_csv(target / city_files.SCHOOL_INTAKES)
    return target


def a_school(city: Path) -> dict[str, str]:
    school = pl.read_csv(city / city_files.SCHOOLS, infer_schema=False).row(0, named=True)
    return {
        "school_id": school["school_id"],
        "town_code": school["town_code"],
        "grade": school["entry_grade"],
    }


def row(school: dict[str, str], **changes: object) -> dict[str, object]:
    return {
        "school_year": "2024",
        **school,
        "seats": "90",
        "applicants": "95",
        "placed": "90",
        **changes,
    }


def test_a_bad_row_is_named_and_nothing_is_written(
    session: Session, small_city: Path, tmp_path: Path
) -> None:
    school = a_school(small_city)
    city = with_intakes(
        small_city,
        tmp_path / "city",
        [
            row(school),
            row(school, school_year="2025", school_id="NO-SUCH-SCHOOL"),
            row(school, school_year="2023", placed="96"),
            row(school, school_year="2022", grade="3"),
            row(school, school_year="2021"),
            row(school, school_year="2021", seats="45"),
        ],
    )
    with pytest.raises(Invalid) as raised:
        load_city(SYSTEM_ACTOR, session, city)
    where = {(p.file, p.row, p.field) for p in raised.value.details}
    assert (city_files.SCHOOL_INTAKES, 3, "school_id") in where
    assert (city_files.SCHOOL_INTAKES, 4, "placed") in where
    assert (city_files.SCHOOL_INTAKES, 5, "grade") in where
    assert {(city_files.SCHOOL_INTAKES, line, "school_id") for line in (6, 7)} <= where
    assert not any(p.row == 2 for p in raised.value.details)
    assert "school_intakes.csv" in raised.value.message_zh
    assert session.scalar(select(func.count()).select_from(Resident)) == 0


def test_good_rows_load_with_the_school_name(
    session: Session, small_city: Path, tmp_path: Path
) -> None:
    school = a_school(small_city)
    city = with_intakes(
        small_city, tmp_path / "city", [row(school), row(school, school_year="2025")]
    )
    summary = load_city(SYSTEM_ACTOR, session, city)
    assert summary.school_intakes == 2
    stored = session.scalars(select(SchoolIntake).order_by(SchoolIntake.school_year)).all()
    assert [(s.school_year, s.seats, s.applicants, s.placed) for s in stored] == [
        (2024, 90, 95, 90),
        (2025, 90, 95, 90),
    ]
    name = pl.read_csv(small_city / city_files.SCHOOLS, infer_schema=False)["name"][0]
    assert stored[0].school_name == name
