"""Loading ``school_intakes.csv`` (the entry-grade intakes of past school years) with a city
directory: checked column-wise, every problem named by file, row, column and reason, written
in bulk — inside the caller's transaction, so that a bad row undoes the whole load."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from luodi import bulk
from luodi.forecast.models import SchoolIntake
from luodi.kernels.forecast import ENTRY_GRADES
from luodi.registry import city_files
from luodi.tabular import LINE, REPORTED_PROBLEMS, Problems, is_given, read_csv_strings

FILE = city_files.SCHOOL_INTAKES
COUNTS = ("seats", "applicants", "placed")
FIRST_SCHOOL_YEAR = 2000
"""No intake before this year is taken (a typing error, not the platform's past)."""


def read_schools(directory: Path) -> pl.DataFrame:
    """``school_id, school_name, town_code, entry_grade`` of the directory's schools.csv
    (nothing when it has none: then every intake names an unknown school)."""
    schema = {
        "school_id": pl.String,
        "school_name": pl.String,
        "town_code": pl.String,
        "entry_grade": pl.String,
    }
    path = directory / city_files.SCHOOLS
    if not path.exists():
        return pl.DataFrame(schema=schema)
    schools = read_csv_strings(path, ["school_id", "name", "town_code", "entry_grade"])
    return schools.select(
        "school_id", school_name="name", town_code="town_code", entry_grade="entry_grade"
    ).unique("school_id", keep="first")


def check_intakes(
    intakes: pl.DataFrame, schools: pl.DataFrame, known_towns: pl.Series, today: date
) -> tuple[pl.DataFrame, Problems]:
    """The rows of school_intakes.csv (text, ``_line``) typed, and their problems: each
    column given and well formed; a school of schools.csv (DECISION: the school list the
    directory carries is the one the city knows — the registry keeps no schools outside a
    cycle), in the town and of the entry grade it has there; a town the registry knows; one
    row per school year, school and grade; no more placed than applied; no year to come."""
    problems = Problems(limit=REPORTED_PROBLEMS)
    for column in city_files.COLUMNS[FILE]:
        problems.flag(
            FILE, intakes, ~is_given(column), column, "必填项为空", "required value missing"
        )
    year = pl.col("school_year").cast(pl.Int64, strict=False)
    problems.flag(
        FILE,
        intakes,
        is_given("school_year")
        & (year.is_null() | ~year.is_between(FIRST_SCHOOL_YEAR, today.year)),
        "school_year",
        f"学年应为 {FIRST_SCHOOL_YEAR} 至 {today.year} 之间的年份（秋季开学之年）",
        f"school year must be a year from {FIRST_SCHOOL_YEAR} to {today.year} (its September)",
    )
    grade = pl.col("grade").cast(pl.Int64, strict=False)
    problems.flag(
        FILE,
        intakes,
        is_given("grade") & ~grade.is_in(list(ENTRY_GRADES)).fill_null(False),
        "grade",
        "起始年级应为 1（小学）或 7（初中）",
        "the entry grade must be 1 (primary) or 7 (junior secondary)",
    )
    for column in COUNTS:
        count = pl.col(column).cast(pl.Int64, strict=False)
        problems.flag(
            FILE,
            intakes,
            is_given(column) & (count.is_null() | (count < 0)),
            column,
            "应为非负整数",
            "must be a whole number ≥ 0",
        )
    problems.flag(
        FILE,
        intakes,
        pl.col("placed").cast(pl.Int64, strict=False)
        > pl.col("applicants").cast(pl.Int64, strict=False),
        "placed",
        "录取人数不能多于报名人数",
        "cannot place more children than applied",
    )
    problems.flag(
        FILE,
        intakes,
        is_given("town_code") & ~pl.col("town_code").is_in(known_towns.implode()),
        "town_code",
        "未知的镇街代码",
        "unknown town code",
    )
    with_school = intakes.join(
        schools.rename({"town_code": "school_town"}),
        on="school_id",
        how="left",
        maintain_order="left",
    )
    problems.flag(
        FILE,
        with_school,
        is_given("school_id") & pl.col("school_name").is_null(),
        "school_id",
        f"未知的学校（{city_files.SCHOOLS} 中没有这所学校）",
        f"unknown school (not in {city_files.SCHOOLS})",
    )
    problems.flag(
        FILE,
        with_school,
        is_given("town_code")
        & pl.col("school_town").is_not_null()
        & (pl.col("school_town") != pl.col("town_code")),
        "town_code",
        f"与 {city_files.SCHOOLS} 中该校所在镇街不一致",
        f"not the school's town in {city_files.SCHOOLS}",
    )
    problems.flag(
        FILE,
        with_school,
        is_given("grade")
        & pl.col("entry_grade").is_not_null()
        & (pl.col("entry_grade") != pl.col("grade")),
        "grade",
        f"与 {city_files.SCHOOLS} 中该校的起始年级不一致",
        f"not the school's entry grade in {city_files.SCHOOLS}",
    )
    problems.flag(
        FILE,
        intakes,
        is_given("school_id") & pl.struct("school_year", "school_id", "grade").is_duplicated(),
        "school_id",
        "同一学年、学校和年级重复",
        "the same school year, school and grade twice",
    )
    typed = with_school.select(
        LINE,
        school_year=year,
        school_id="school_id",
        school_name="school_name",
        town_code="town_code",
        grade=grade,
        **{column: pl.col(column).cast(pl.Int64, strict=False) for column in COUNTS},
    )
    return typed, problems


def read_intakes(directory: Path, known_towns: pl.Series, today: date) -> pl.DataFrame | None:
    """The directory's school_intakes.csv checked and typed (None when it has none); on any
    problem raise naming file, row, column and reason."""
    path = directory / FILE
    if not path.exists():
        return None
    intakes = read_csv_strings(path, city_files.COLUMNS[FILE])
    typed, problems = check_intakes(intakes, read_schools(directory), known_towns, today)
    problems.raise_if_any(f"往年招生文件 {FILE}", f"past intakes file {FILE}")
    return typed.drop(LINE)


def write_intakes(session: Session, intakes: pl.DataFrame) -> int:
    """Write checked intakes (``read_intakes``). A school year, school and grade already
    stored is replaced: the bureau's later figures win."""
    stored = bulk.read_frame(
        session,
        select(
            SchoolIntake.id, SchoolIntake.school_year, SchoolIntake.school_id, SchoolIntake.grade
        ),
        {
            "id": pl.Int64(),
            "school_year": pl.Int64(),
            "school_id": pl.String(),
            "grade": pl.Int64(),
        },
    )
    replaced = stored.join(intakes, on=["school_year", "school_id", "grade"], how="semi")["id"]
    if replaced.len():
        session.execute(
            delete(SchoolIntake).where(bulk.among(session, SchoolIntake.id, replaced.to_list()))
        )
    rows = bulk.with_ids(session, SchoolIntake.__table__, intakes)
    return bulk.insert_frame(session, SchoolIntake.__table__, rows)
