"""A cycle's targets: schools (seats of the entry grade), a housing project's flats by
layout, or the one list of a quota benefit; read from the department's file when the cycle
opens, and as a frame when it is allocated."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from luodi.errors import FieldProblem, Invalid
from luodi.files import read_table
from luodi.kernels.allocation.programs import QUOTA_TARGET
from luodi.programs.models import CycleTarget
from luodi.programs.spec import ProgramKind, ProgramSpec
from luodi.tabular import LINE, Problems

__all__ = ["QUOTA_TARGET", "TARGET_SCHEMA", "cycle_targets", "from_file", "quota", "target_frame"]

TARGET_SCHEMA = {
    "target_id": pl.String,
    "name": pl.String,
    "town_code": pl.String,
    "group_id": pl.String,
    "layout": pl.String,
    "capacity": pl.Int64,
    "units": pl.String,
}
"""The columns of a cycle's targets as frames (``CycleTarget`` without its ids)."""


def cycle_targets(session: Session, cycle_id: int) -> list[CycleTarget]:
    return list(
        session.scalars(
            select(CycleTarget).where(CycleTarget.cycle_id == cycle_id).order_by(CycleTarget.id)
        )
    )


def target_frame(session: Session, cycle_id: int) -> pl.DataFrame:
    """A cycle's targets as a frame (``TARGET_SCHEMA``), in the order they were stored."""
    rows = session.execute(
        select(*(getattr(CycleTarget, name) for name in TARGET_SCHEMA))
        .where(CycleTarget.cycle_id == cycle_id)
        .order_by(CycleTarget.id)
    ).all()
    return pl.DataFrame([tuple(row) for row in rows], schema=TARGET_SCHEMA, orient="row")


def quota(spec: ProgramSpec, places: int | None) -> pl.DataFrame:
    """A quota benefit's one list of ``places``."""
    return pl.DataFrame(
        {
            "target_id": [QUOTA_TARGET],
            "name": [spec.name.zh],
            "town_code": [None],
            "group_id": [QUOTA_TARGET],
            "layout": [None],
            "capacity": [places],
            "units": [None],
        },
        schema=TARGET_SCHEMA,
    )


def from_file(spec: ProgramSpec, path: Path, entry_grade: int | None) -> pl.DataFrame:
    """Schools (schools.csv) or flats (housing_units.csv) as cycle targets."""
    frame = read_table(path).select(pl.all().cast(pl.String).str.strip_chars())
    problems = Problems()
    if spec.kind is ProgramKind.SCHOOL_ADMISSION:
        required = ("school_id", "name", "town_code", "entry_grade", "seats")
    else:
        required = ("unit_id", "project_id", "project_name", "town_code", "layout")
    missing = [name for name in required if name not in frame.columns]
    if missing:
        raise Invalid(
            f"文件 {path.name} 缺少列：{', '.join(missing)}",
            f"file {path.name} lacks columns: {', '.join(missing)}",
            [
                FieldProblem(name, None, "缺少该列", "column missing", path.name, 1)
                for name in missing
            ],
        )
    frame = frame.with_row_index(LINE, offset=2)
    if spec.kind is ProgramKind.SCHOOL_ADMISSION:
        seats = pl.col("seats").cast(pl.Int64, strict=False)
        problems.flag(
            path.name,
            frame,
            seats.is_null() | (seats < 0),
            "seats",
            "学位数应为非负整数",
            "seats must be a whole number ≥ 0",
        )
        problems.flag(
            path.name,
            frame,
            pl.col("school_id").is_duplicated(),
            "school_id",
            "学校编号重复",
            "school id repeated",
        )
        problems.raise_if_any(f"学校文件 {path.name}", f"schools file {path.name}")
        grade = str(entry_grade or 1)
        schools = frame.filter(pl.col("entry_grade") == grade)
        if schools.height == 0:
            raise Invalid(
                f"{path.name} 中没有招收 {grade} 年级的学校",
                f"{path.name} has no school admitting grade {grade}",
            )
        return schools.select(
            target_id=pl.col("school_id"),
            name=pl.col("name"),
            town_code=pl.col("town_code"),
            group_id=pl.col("school_id"),
            layout=pl.lit(None, dtype=pl.String),
            capacity=seats,
            units=pl.lit(None, dtype=pl.String),
        )
    problems.flag(
        path.name,
        frame,
        pl.col("unit_id").is_duplicated(),
        "unit_id",
        "房源编号重复",
        "flat number repeated",
    )
    problems.raise_if_any(f"房源文件 {path.name}", f"flats file {path.name}")
    return (
        frame.sort("unit_id")
        .group_by("project_id", "layout", maintain_order=True)
        .agg(
            name=pl.col("project_name").first() + "·" + pl.col("layout").first(),
            town_code=pl.col("town_code").first(),
            capacity=pl.len().cast(pl.Int64),
            units=pl.col("unit_id").str.join(";"),
        )
        .select(
            target_id=pl.col("project_id") + "|" + pl.col("layout"),
            name="name",
            town_code="town_code",
            group_id="project_id",
            layout="layout",
            capacity="capacity",
            units="units",
        )
        .sort("target_id")
    )
