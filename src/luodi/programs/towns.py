"""The towns' neighbours and distances a school program places children by (镇街统筹): a CSV
file in the program folder (``school.town_distances``), ``town_code, neighbour_code,
distance_km``, one row per pair of neighbouring towns, either way round. The nearest town is
the shortest way along them (``kernels.allocation.programs.town_order``)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from luodi.errors import FieldProblem, Invalid
from luodi.programs.spec import ProgramSpec
from luodi.settings import get_settings
from luodi.tabular import LINE, Problems, is_given, read_csv_strings

COLUMNS = ("town_code", "neighbour_code", "distance_km")
MAX_KM = 1000.0
"""Neighbouring towns of one city: a longer way is a typing error."""


def read_distances(path: Path) -> pl.DataFrame:
    """``town_code``, ``neighbour_code``, ``distance_km`` of a distances file, checked: both
    codes given and different, a distance in (0, 1000] km, no pair twice (either way)."""
    if not path.is_file():
        raise Invalid(
            f"找不到镇街距离文件 {path}",
            f"towns' distances file not found: {path}",
            [FieldProblem("town_distances", str(path), "文件不存在", "no such file", path.name)],
        )
    frame = read_csv_strings(path, COLUMNS)
    km = pl.col("distance_km").cast(pl.Float64, strict=False)
    problems = Problems()
    for column in ("town_code", "neighbour_code"):
        problems.flag(
            path.name, frame, ~is_given(column), column, "镇街代码不能为空", "town code missing"
        )
    problems.flag(
        path.name,
        frame,
        pl.col("town_code") == pl.col("neighbour_code"),
        "neighbour_code",
        "相邻镇街不能是本镇街",
        "a town is not its own neighbour",
    )
    problems.flag(
        path.name,
        frame,
        km.is_null() | (km <= 0) | (km > MAX_KM) | km.is_nan(),
        "distance_km",
        f"距离应为大于 0、不超过 {MAX_KM:.0f} 的公里数",
        f"a distance in km above 0 and at most {MAX_KM:.0f}",
    )
    pair = pl.concat_list(
        pl.min_horizontal("town_code", "neighbour_code"),
        pl.max_horizontal("town_code", "neighbour_code"),
    )
    problems.flag(
        path.name,
        frame,
        pair.is_duplicated() & is_given("town_code") & is_given("neighbour_code"),
        "neighbour_code",
        "这两个镇街的距离重复（无论先后）",
        "this pair of towns is given twice (either way round)",
    )
    problems.raise_if_any(f"镇街距离文件 {path.name}", f"towns' distances file {path.name}")
    return frame.drop(LINE).select(pl.col("town_code"), pl.col("neighbour_code"), distance_km=km)


def program_distances(spec: ProgramSpec, folder: Path | None = None) -> pl.DataFrame | None:
    """The distances a school program names (None: it names none), from the program folder
    (``LUODI_PROGRAM_DIR``)."""
    if spec.school is None or spec.school.town_distances is None:
        return None
    return read_distances((folder or get_settings().program_dir) / spec.school.town_distances)
