"""Bulk load of a city directory: counts, provenance of ids, and all-or-nothing on bad rows."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from luodi.auth.actor import SYSTEM_ACTOR
from luodi.errors import Invalid
from luodi.registry import city_files, service
from luodi.registry.loading import load_city
from luodi.registry.models import Child, Employment, Household, ResidencePermit, Resident, Town


def count(session: Session, model: type) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_loads_every_registry_file(session: Session, small_city: Path) -> None:
    summary = load_city(SYSTEM_ACTOR, session, small_city)
    files = {
        name: pl.read_csv(small_city / name, infer_schema=False)
        for name in city_files.REGISTRY_FILES
    }
    assert summary.residents == files[city_files.RESIDENTS].height == count(session, Resident)
    assert summary.permits == files[city_files.PERMITS].height == count(session, ResidencePermit)
    assert summary.children == files[city_files.CHILDREN].height == count(session, Child)
    assert summary.employments == files[city_files.EMPLOYMENT].height == count(session, Employment)
    assert count(session, Town) == 19
    assert count(session, Household) == files[city_files.RESIDENTS]["household_number"].n_unique()

    # The derived columns agree with what the generator wrote.
    row = files[city_files.RESIDENTS].row(17, named=True)
    stored = session.scalars(select(Resident).where(Resident.id_number == row["id_number"])).one()
    assert stored.birth_date.isoformat() == row["birth_date"]
    assert stored.sex == row["sex"]
    assert stored.origin_province == row["origin_province"]
    town = session.get_one(Town, stored.town_id)
    assert town.code == row["town_code"]

    towns = service.list_towns(SYSTEM_ACTOR, session)
    assert sum(t.residents for t in towns) == summary.residents
    assert sum(t.children for t in towns) == summary.children

    # A new single write after a bulk load gets a fresh id (sequences moved past the bulk ids).
    from tests import factories

    added = factories.resident(
        session, town_code=row["town_code"], number=factories.id_number(sequence=999)
    )
    assert added.id > summary.residents


def broken_copy(source: Path, target: Path, file: str, row: int, column: str, value: str) -> Path:
    shutil.copytree(source, target)
    frame = pl.read_csv(target / file, infer_schema=False)
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == row)
        .then(pl.lit(value))
        .otherwise(pl.col(column))
        .alias(column)
    )
    frame.write_csv(target / file)
    return target


@pytest.mark.parametrize(
    ("file", "column", "value", "reason"),
    [
        (city_files.RESIDENTS, "id_number", "110105194912310021", "check character"),
        (city_files.RESIDENTS, "town_code", "330282999", "unknown town code"),
        (city_files.RESIDENTS, "name", "", "required value missing"),
        (city_files.PERMITS, "expiry_date", "2000-01-01", "expiry must be after"),
        (city_files.PERMITS, "issue_date", "2024-02-30", "real YYYY-MM-DD date"),
        (city_files.CHILDREN, "grade", "13", "grade must be"),
        (city_files.EMPLOYERS, "credit_code", "91350100M000100Y44", "check character"),
        (city_files.EMPLOYMENT, "basis", "handshake", "labour_contract"),
    ],
)
def test_one_bad_row_writes_nothing_and_names_file_row_column(
    session: Session,
    small_city: Path,
    tmp_path: Path,
    file: str,
    column: str,
    value: str,
    reason: str,
) -> None:
    directory = broken_copy(small_city, tmp_path / "city", file, 41, column, value)
    with pytest.raises(Invalid) as caught:
        load_city(SYSTEM_ACTOR, session, directory)
    problem = next(p for p in caught.value.details if p.field == column and p.file == file)
    assert problem.row == 43  # data row 41 (0-based) is line 43 of the file: header is line 1
    assert reason in problem.reason_en
    assert problem.reason_zh
    assert count(session, Resident) == 0
    assert count(session, Town) == 0


def test_duplicate_rows_inside_a_file(session: Session, small_city: Path, tmp_path: Path) -> None:
    first = pl.read_csv(small_city / city_files.RESIDENTS, infer_schema=False)["id_number"][0]
    directory = broken_copy(
        small_city, tmp_path / "city", city_files.RESIDENTS, 5, "id_number", first
    )
    with pytest.raises(Invalid) as caught:
        load_city(SYSTEM_ACTOR, session, directory)
    assert {p.row for p in caught.value.details if "duplicated" in p.reason_en} == {2, 7}


def test_loading_twice_is_refused_and_changes_nothing(session: Session, small_city: Path) -> None:
    load_city(SYSTEM_ACTOR, session, small_city)
    before = count(session, Resident)
    with pytest.raises(Invalid) as caught:
        load_city(SYSTEM_ACTOR, session, small_city)
    assert "already in the database" in caught.value.message_en
    assert count(session, Resident) == before


def test_missing_file_and_missing_column(
    session: Session, small_city: Path, tmp_path: Path
) -> None:
    directory = tmp_path / "city"
    shutil.copytree(small_city, directory)
    (directory / city_files.PERMITS).unlink()
    with pytest.raises(Invalid, match=r"permits\.csv"):
        load_city(SYSTEM_ACTOR, session, directory)
    shutil.copy(small_city / city_files.PERMITS, directory / city_files.PERMITS)
    frame = pl.read_csv(directory / city_files.EMPLOYERS, infer_schema=False).drop("town_code")
    frame.write_csv(directory / city_files.EMPLOYERS)
    with pytest.raises(Invalid) as caught:
        load_city(SYSTEM_ACTOR, session, directory)
    assert "town_code" in caught.value.message_en


def test_gbk_file_with_chinese_names_loads(
    session: Session, small_city: Path, tmp_path: Path
) -> None:
    directory = tmp_path / "city"
    shutil.copytree(small_city, directory)
    residents = directory / city_files.RESIDENTS
    residents.write_bytes(residents.read_text(encoding="utf-8").encode("gbk"))
    load_city(SYSTEM_ACTOR, session, directory)
    first = pl.read_csv(small_city / city_files.RESIDENTS, infer_schema=False).row(0, named=True)
    stored = session.scalars(select(Resident).where(Resident.id_number == first["id_number"])).one()
    assert stored.name == first["name"]
