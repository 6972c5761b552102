"""A cycle's targets: schools (seats of the entry grade), a housing project's flats by
layout, or the one list of a quota benefit; read from the department's file when the cycle
opens, and as a frame when it is allocated.

Hot schools (学位紧张) are declared here, when the cycle opens: the schools file's ``hot``
column (是/否, the one boolean vocabulary of ``luodi.tabular``) where the operator fills it,
else the previous cycle of the same program and grade: a school whose first-choice demand
there exceeded its seats (``declare_hot``)."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from luodi.errors import FieldProblem, Invalid
from luodi.files import read_table
from luodi.kernels.allocation.programs import QUOTA_TARGET
from luodi.programs.models import Application, ApplicationStatus, CycleTarget, ProgramCycle
from luodi.programs.spec import ProgramKind, ProgramSpec
from luodi.tabular import LINE, Problems, is_given, parse_bool

__all__ = [
    "HOT_COLUMNS",
    "QUOTA_TARGET",
    "TARGET_SCHEMA",
    "cycle_targets",
    "declare_hot",
    "from_file",
    "quota",
    "target_frame",
]

HOT_COLUMNS = ("hot", "学位紧张")
"""The schools file's column saying a school is hot (either name)."""
LISTED, PREVIOUS = "listed", "previous"
"""``CycleTarget.hot_source``: the operator listed it; derived from the previous cycle."""
DEMAND_STATUSES = (
    ApplicationStatus.VERIFIED,
    ApplicationStatus.PLACED,
    ApplicationStatus.WAITLISTED,
    ApplicationStatus.UNPLACED,
    ApplicationStatus.FINAL,
)
"""The previous cycle's demand: the applications it ranked (not those returned or never
verified)."""

TARGET_SCHEMA = {
    "target_id": pl.String,
    "name": pl.String,
    "town_code": pl.String,
    "group_id": pl.String,
    "layout": pl.String,
    "capacity": pl.Int64,
    "units": pl.String,
    "hot": pl.Boolean,
}
"""The columns of a cycle's targets as frames (``CycleTarget`` without its ids and
``hot_source``)."""


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
            "hot": [False],
        },
        schema=TARGET_SCHEMA,
    )


def from_file(
    spec: ProgramSpec, path: Path, entry_grade: int | None, towns: Collection[str] | None = None
) -> pl.DataFrame:
    """Schools (schools.csv) or flats (housing_units.csv) as cycle targets. With ``towns``
    (the registry's town codes), a school or flat in any other town is refused: a typing error
    there put a school in no town, where the town never places a child (就近, 统筹)."""
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
    if towns is not None:
        problems.flag(
            path.name,
            frame,
            ~pl.col("town_code").is_in(sorted(towns)),
            "town_code",
            "登记库中没有这个镇街代码",
            "no town of this code in the registry",
        )
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
        hot_column = next((name for name in HOT_COLUMNS if name in frame.columns), None)
        if hot_column is not None:
            # An empty cell is not listed: the previous cycle decides (``declare_hot``).
            frame = frame.with_columns(
                listed_hot=pl.when(is_given(hot_column)).then(parse_bool(hot_column))
            )
            problems.flag(
                path.name,
                frame,
                is_given(hot_column) & pl.col("listed_hot").is_null(),
                hot_column,
                "学位紧张应填 是/否（或留空由上一周期的第一志愿人数判断）",
                "hot must be yes/no (是/否), or empty to follow the previous cycle's demand",
            )
        else:
            frame = frame.with_columns(listed_hot=pl.lit(None, dtype=pl.Boolean))
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
            hot=pl.col("listed_hot"),
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
            hot=pl.lit(False),
        )
        .sort("target_id")
    )


def previous_cycle(session: Session, cycle: ProgramCycle) -> ProgramCycle | None:
    """The latest cycle of the same program and entry grade opened before this one (for a
    cycle not stored — the finder's coming one — the latest stored)."""
    return session.scalars(
        select(ProgramCycle)
        .where(
            ProgramCycle.program_id == cycle.program_id,
            *([ProgramCycle.id < cycle.id] if cycle.id is not None else []),
            ProgramCycle.entry_grade.is_(None)
            if cycle.entry_grade is None
            else ProgramCycle.entry_grade == cycle.entry_grade,
        )
        .order_by(ProgramCycle.opens.desc(), ProgramCycle.id.desc())
        .limit(1)
    ).one_or_none()


def first_choice_demand(session: Session, cycle_id: int) -> pl.DataFrame:
    """``target_id``, ``demand``, ``capacity``: per school of a cycle, how many of its
    ranked applications named it first, and its seats."""
    chosen = pl.DataFrame(
        session.execute(
            select(Application.choices).where(
                Application.cycle_id == cycle_id, Application.status.in_(DEMAND_STATUSES)
            )
        ).all(),
        schema={"choices": pl.String},
        orient="row",
    )
    demand = (
        chosen.select(
            target_id=pl.col("choices")
            .str.split(";")
            .list.eval(pl.element().filter(pl.element() != ""))
            .list.first()
        )
        .drop_nulls()
        .group_by("target_id")
        .agg(demand=pl.len().cast(pl.Int64))
    )
    return (
        target_frame(session, cycle_id)
        .select("target_id", "capacity")
        .join(demand, on="target_id", how="left")
        .with_columns(pl.col("demand").fill_null(0))
    )


def declare_hot(session: Session, cycle: ProgramCycle, offered: pl.DataFrame) -> pl.DataFrame:
    """``offered`` (a school cycle's targets, ``hot`` null where the file does not say) with
    every school's ``hot`` and ``hot_source``: as listed, else hot when the previous cycle's
    first-choice demand for the same school id exceeded its seats there; else not hot (no
    previous cycle, or the school not in it)."""
    listed = offered.with_columns(
        hot_source=pl.when(pl.col("hot").is_not_null()).then(pl.lit(LISTED))
    )
    earlier = previous_cycle(session, cycle)
    if earlier is None or listed["hot"].null_count() == 0:
        return listed.with_columns(pl.col("hot").fill_null(False))
    demand = first_choice_demand(session, earlier.id).select(
        "target_id", over=pl.col("demand") > pl.col("capacity")
    )
    return (
        listed.join(demand, on="target_id", how="left")
        .with_columns(
            hot_source=pl.when(pl.col("hot").is_null() & pl.col("over").is_not_null())
            .then(pl.lit(PREVIOUS))
            .otherwise(pl.col("hot_source")),
            hot=pl.coalesce("hot", "over", pl.lit(False)),
        )
        .drop("over")
    )
