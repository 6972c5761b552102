"""``luodi allocate`` inputs: applicants, capacities and per-target priority groups, read from
plain files and checked row by row. Every problem names the file, the row (the header is row
1), the column, the value and the reason; any problem stops the run before anything is
written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from luodi.errors import FieldProblem, Invalid
from luodi.files import read_table
from luodi.kernels.allocation import Method
from luodi.kernels.allocation.frames import APPLICANT, TARGET
from luodi.tabular import LINE, Problems, is_given

CHOICE_SEPARATOR = ";"
"""Choices are separated by ``;`` (the full-width ``；`` a Chinese keyboard types is accepted)."""

INTEGER = r"^[+-]?\d+(\.0*)?$"
"""An integer as text; ``12.0`` is what Excel and Parquet floats look like, and is accepted."""


@dataclass(frozen=True)
class AllocationInputs:
    applicants: pl.DataFrame
    """applicant_id, points, priority_group, choices (list of target ids)."""
    capacities: pl.DataFrame
    """target_id, capacity."""
    overrides: pl.DataFrame | None
    """applicant_id, target_id, priority_group."""


def _as_text(path: Path, required: tuple[str, ...], problems: Problems) -> pl.DataFrame | None:
    """The file with every column as trimmed text and ``_line``; missing columns and an empty
    file are recorded as problems (``None``: nothing more to check in it)."""
    frame = read_table(path)
    frame = frame.select(pl.all().cast(pl.String).str.strip_chars()).with_row_index(LINE, offset=2)
    missing = [name for name in required if name not in frame.columns]
    for name in missing:
        problems.add(FieldProblem(name, None, "缺少该列", "column missing", file=path.name, row=1))
    if missing:
        return None
    if frame.height == 0:
        problems.add(
            FieldProblem(
                "file", None, "文件没有数据行", "the file has no data rows", file=path.name, row=2
            )
        )
        return None
    return frame


def _flag_repeats(
    problems: Problems,
    file: str,
    frame: pl.DataFrame,
    keys: list[str],
    shown: str,
    what_zh: str,
    what_en: str,
) -> None:
    """Every row whose ``keys`` an earlier row already had, naming that first row."""
    repeats = frame.with_columns(first=pl.col(LINE).first().over(keys)).filter(
        pl.col(LINE) != pl.col("first")
    )
    for line, value, first in repeats.select(LINE, shown, "first").iter_rows():
        problems.add(
            FieldProblem(
                shown,
                value,
                f"{what_zh}与第 {first} 行重复",
                f"{what_en}repeats row {first}",
                file=file,
                row=line,
            )
        )


def _check_ids(problems: Problems, file: str, frame: pl.DataFrame, column: str) -> None:
    """An id is required and appears once; a repeat names the row of the first."""
    problems.flag(file, frame, ~is_given(column), column, "不能为空", "must not be empty")
    _flag_repeats(problems, file, frame.filter(is_given(column)), [column], column, "", "")


def _integer(column: str) -> pl.Expr:
    return pl.col(column).str.replace(r"\.0*$", "").cast(pl.Int64, strict=False)


def _check_integer(
    problems: Problems, file: str, frame: pl.DataFrame, column: str, *, minimum: int | None
) -> None:
    text = pl.col(column)
    problems.flag(file, frame, ~is_given(column), column, "不能为空", "must not be empty")
    not_integer = (text != "") & (~text.str.contains(INTEGER) | _integer(column).is_null())
    problems.flag(file, frame, not_integer, column, "应为整数", "must be a whole number")
    if minimum is not None:
        problems.flag(
            file,
            frame,
            ~not_integer & (_integer(column) < minimum),
            column,
            f"不能小于 {minimum}",
            f"must not be below {minimum}",
        )


def read_capacities(path: Path, problems: Problems) -> pl.DataFrame | None:
    frame = _as_text(path, (TARGET, "capacity"), problems)
    if frame is None:
        return None
    _check_ids(problems, path.name, frame, TARGET)
    _check_integer(problems, path.name, frame, "capacity", minimum=0)
    return frame.select(LINE, TARGET, capacity=_integer("capacity"))


def read_applicants(
    path: Path, method: Method, targets: set[str] | None, problems: Problems
) -> pl.DataFrame | None:
    frame = _as_text(path, (APPLICANT, "points", "choices"), problems)
    if frame is None:
        return None
    file = path.name
    _check_ids(problems, file, frame, APPLICANT)
    points = pl.col("points").cast(pl.Float64, strict=False)
    problems.flag(
        file,
        frame,
        ~is_given("points"),
        "points",
        "缺少积分",
        "points missing",
    )
    problems.flag(
        file,
        frame,
        (pl.col("points") != "") & (points.is_null() | ~points.is_finite()),
        "points",
        "积分应为数字",
        "points must be a number",
    )
    if "priority_group" in frame.columns:
        frame = frame.with_columns(pl.col("priority_group").fill_null("").replace("", "0"))
        _check_integer(problems, file, frame, "priority_group", minimum=None)
    else:
        frame = frame.with_columns(priority_group=pl.lit("0"))
    frame = frame.with_columns(
        choices_text=pl.col("choices"),
        choices=pl.col("choices")
        .fill_null("")
        .str.replace_all("；", ";")
        .str.split(";")
        .list.eval(pl.element().str.strip_chars())
        .list.filter(pl.element() != ""),
    )
    exploded = frame.select(LINE, "choices").explode("choices").drop_nulls("choices")
    if targets is not None:
        for line, target in exploded.filter(~pl.col("choices").is_in(list(targets))).iter_rows():
            problems.add(
                FieldProblem(
                    "choices",
                    target,
                    f"志愿中的 {target} 不在名额表中",
                    f"choice {target} is not a target in the capacities file",
                    file=file,
                    row=line,
                )
            )
    # Only the rows with a repeat are exploded and grouped: a window over every choice of
    # every applicant cost more than all the other checks together.
    repeated = (
        frame.filter(pl.col("choices").list.n_unique() < pl.col("choices").list.len())
        .select(LINE, "choices")
        .explode("choices")
        .filter(pl.len().over(LINE, "choices") > 1)
        .unique(maintain_order=True)
    )
    for line, target in repeated.iter_rows():
        problems.add(
            FieldProblem(
                "choices",
                target,
                f"志愿 {target} 重复",
                f"choice {target} repeated",
                file=file,
                row=line,
            )
        )
    if method is Method.RANKED_QUOTA:
        several = frame.filter(pl.col("choices").list.len() > 1)
        for line, text in several.select(LINE, "choices_text").iter_rows():
            problems.add(
                FieldProblem(
                    "choices",
                    text,
                    "按名额排序只能填一个目标",
                    "ranked-quota takes a single target",
                    file=file,
                    row=line,
                )
            )
    return frame.select(
        LINE,
        APPLICANT,
        points=points,
        priority_group=_integer("priority_group"),
        choices=pl.col("choices"),
    )


def read_overrides(
    path: Path, applicants: set[str] | None, targets: set[str] | None, problems: Problems
) -> pl.DataFrame | None:
    frame = _as_text(path, (APPLICANT, TARGET, "priority_group"), problems)
    if frame is None:
        return None
    file = path.name
    for column in (APPLICANT, TARGET):
        problems.flag(file, frame, ~is_given(column), column, "不能为空", "must not be empty")
    if applicants is not None:
        problems.flag(
            file,
            frame,
            (pl.col(APPLICANT) != "") & ~pl.col(APPLICANT).is_in(list(applicants)),
            APPLICANT,
            "申请人不在申请表中",
            "not an applicant in the applicants file",
        )
    if targets is not None:
        problems.flag(
            file,
            frame,
            (pl.col(TARGET) != "") & ~pl.col(TARGET).is_in(list(targets)),
            TARGET,
            "目标不在名额表中",
            "not a target in the capacities file",
        )
    _flag_repeats(
        problems,
        file,
        frame,
        [APPLICANT, TARGET],
        TARGET,
        "该申请人与目标的组合",
        "this applicant and target ",
    )
    _check_integer(problems, file, frame, "priority_group", minimum=None)
    return frame.select(LINE, APPLICANT, TARGET, priority_group=_integer("priority_group"))


def read_inputs(
    method: Method, applicants: Path, capacities: Path, priorities: Path | None
) -> AllocationInputs:
    """All three files checked together; every problem found is reported at once."""
    problems = Problems()
    if priorities is not None and method in (Method.SERIAL_DICTATORSHIP, Method.LOTTERY):
        raise Invalid(
            "顺序选择按统一排名进行，不使用各目标的优先组（--priorities）",
            "serial-dictatorship has one global order: --priorities does not apply",
            [
                FieldProblem(
                    "--priorities",
                    str(priorities),
                    "该方法不适用",
                    "not used by serial-dictatorship",
                    file=priorities.name,
                )
            ],
        )
    capacity_frame = read_capacities(capacities, problems)
    targets = None if capacity_frame is None else set(capacity_frame[TARGET].drop_nulls())
    applicant_frame = read_applicants(applicants, method, targets, problems)
    override_frame = None
    if priorities is not None:
        known = None if applicant_frame is None else set(applicant_frame[APPLICANT].drop_nulls())
        override_frame = read_overrides(priorities, known, targets, problems)
    problems.raise_if_any("分配输入有误", "allocation input rejected")
    assert capacity_frame is not None and applicant_frame is not None  # no problems: all read
    return AllocationInputs(
        applicant_frame.drop(LINE),
        capacity_frame.drop(LINE),
        None if override_frame is None else override_frame.drop(LINE),
    )
