"""Loading the fact files of a city directory, and reading facts as of a date."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from luodi import bulk
from luodi.auth.actor import Actor
from luodi.facts.models import Fact
from luodi.registry import city_files
from luodi.synth.reference import EDUCATION, SKILL_LEVELS
from luodi.tabular import LINE, Problems, read_csv_strings

SUMMED = ("social_insurance_months",)
"""Facts added up over every period that began by the date; the others take the latest."""


def _unknown_people(
    problems: Problems, file: str, frame: pl.DataFrame, resident_keys: pl.DataFrame
) -> None:
    problems.flag(
        file,
        frame,
        ~pl.col("id_number").is_in(resident_keys.get_column("key").implode()),
        "id_number",
        "登记库中没有此人",
        "no such resident in the registry",
    )


def load_city_facts(
    actor: Actor, session: Session, directory: Path, resident_keys: pl.DataFrame
) -> int:
    """education.csv and social_insurance.csv, if present; raise on any bad row, write
    nothing then (the caller's transaction is rolled back)."""
    problems = Problems()
    parts: list[pl.DataFrame] = []
    file = city_files.EDUCATION
    if (directory / file).exists():
        education = read_csv_strings(directory / file, city_files.COLUMNS[file])
        _unknown_people(problems, file, education, resident_keys)
        for column, allowed in (("education", EDUCATION), ("skill_level", SKILL_LEVELS)):
            problems.flag(
                file,
                education,
                ~pl.col(column).is_in(list(allowed)),
                column,
                f"取值应为 {', '.join(allowed)}",
                f"must be one of {', '.join(allowed)}",
            )
        for column in ("education", "skill_level"):
            parts.append(
                education.select(
                    "id_number",
                    name=pl.lit(column),
                    value=pl.col(column),
                    valid_from=pl.lit(None, pl.Date),
                    valid_to=pl.lit(None, pl.Date),
                    source=pl.format(f"{file}:{{}}", pl.col(LINE)),
                )
            )
    file = city_files.SOCIAL_INSURANCE
    if (directory / file).exists():
        insurance = read_csv_strings(directory / file, city_files.COLUMNS[file])
        _unknown_people(problems, file, insurance, resident_keys)
        months = pl.col("months_paid").cast(pl.Int64, strict=False)
        year = pl.col("period").cast(pl.Int32, strict=False)
        problems.flag(
            file,
            insurance,
            months.is_null() | ~months.is_between(0, 12),
            "months_paid",
            "缴费月数应为 0–12 的整数",
            "months paid must be a whole number 0–12",
        )
        problems.flag(
            file,
            insurance,
            year.is_null() | ~year.is_between(1990, 2100),
            "period",
            "缴费年度应为四位年份",
            "the period must be a four-digit year",
        )
        parts.append(
            insurance.select(
                "id_number",
                name=pl.lit("social_insurance_months"),
                value=pl.col("months_paid"),
                valid_from=pl.date(year, 1, 1),
                valid_to=pl.date(year, 12, 31),
                source=pl.format(f"{file}:{{}}", pl.col(LINE)),
            )
        )
    problems.raise_if_any("部门数据文件有错误", "the fact files have errors")
    if not parts:
        return 0
    rows = (
        pl.concat(parts)
        .join(resident_keys.rename({"key": "id_number", "id": "resident_id"}), on="id_number")
        .select(
            id=pl.int_range(pl.len(), dtype=pl.Int64) + bulk.next_id(session, Fact.__table__),
            resident_id="resident_id",
            name="name",
            value="value",
            valid_from="valid_from",
            valid_to="valid_to",
            source="source",
        )
    )
    written = bulk.insert_frame(session, Fact.__table__, rows)
    bulk.sync_id_sequence(session, Fact.__table__)
    return written


def facts_as_of(actor: Actor, session: Session, names: list[str], as_of: date) -> pl.DataFrame:
    """One row per resident, one column per fact name, as known on ``as_of``: summed facts
    over the periods begun by then, the others the latest valid one (text)."""
    statement = select(
        Fact.resident_id, Fact.name, Fact.value, Fact.valid_from, Fact.valid_to
    ).where(
        Fact.name.in_(names),
        (Fact.valid_from.is_(None)) | (Fact.valid_from <= as_of),
    )
    facts = pl.read_database(
        statement,
        session.connection(),
        schema_overrides={
            "resident_id": pl.Int64,
            "name": pl.String,
            "value": pl.String,
            "valid_from": pl.Date,
            "valid_to": pl.Date,
        },
    )
    result = pl.DataFrame(schema={"resident_id": pl.Int64})
    for name in names:
        rows = facts.filter(pl.col("name") == name)
        if name in SUMMED:
            column = rows.group_by("resident_id").agg(
                pl.col("value").cast(pl.Int64, strict=False).sum().alias(name)
            )
        else:
            column = (
                rows.filter(pl.col("valid_to").is_null() | (pl.col("valid_to") >= as_of))
                .sort("valid_from", nulls_last=False)
                .group_by("resident_id")
                .agg(pl.col("value").last().alias(name))
            )
        result = result.join(column, on="resident_id", how="full", coalesce=True)
    return result
