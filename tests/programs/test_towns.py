"""The towns' distances file of 镇街统筹: the shipped one is read, a bad one is refused naming
file, row, column and reason; the nearest town is the shortest way along the neighbours."""

from __future__ import annotations

from pathlib import Path

import pytest

from luodi.errors import Invalid
from luodi.kernels.allocation.programs import town_order
from luodi.programs import towns
from luodi.programs.catalog import find_program
from luodi.settings import SHIPPED_PROGRAM_DIR
from luodi.synth.reference import CIXI_TOWNS


def test_the_shipped_distances_join_every_town_of_the_city() -> None:
    spec, _ = find_program("school-entry")
    distances = towns.program_distances(spec, SHIPPED_PROGRAM_DIR)
    assert distances is not None
    codes = {town.code for town in CIXI_TOWNS}
    order = town_order(distances)
    # Every town reaches every other: no child is left for want of a road.
    assert set(order) == codes
    assert all(set(reached) == codes - {town} for town, reached in order.items())


@pytest.mark.parametrize(
    ("row", "column", "reason"),
    [
        ("330282001,330282001,3", "neighbour_code", "本镇街"),
        ("330282001,330282002,0", "distance_km", "公里"),
        ("330282001,330282002,far", "distance_km", "公里"),
        ("330282001,,3", "neighbour_code", "不能为空"),
        ("330282003,330282001,5", "neighbour_code", "重复"),
    ],
)
def test_a_bad_row_is_refused_naming_it(tmp_path: Path, row: str, column: str, reason: str) -> None:
    path = tmp_path / "d.csv"
    path.write_text(f"town_code,neighbour_code,distance_km\n330282001,330282003,4\n{row}\n")
    with pytest.raises(Invalid) as refused:
        towns.read_distances(path)
    problem = refused.value.details[-1]
    assert (problem.file, problem.row, problem.field) == ("d.csv", 3, column)
    assert reason in problem.reason_zh
    assert "d.csv" in refused.value.message_zh


def test_a_missing_file_or_column_is_named(tmp_path: Path) -> None:
    with pytest.raises(Invalid, match="找不到镇街距离文件"):
        towns.read_distances(tmp_path / "none.csv")
    path = tmp_path / "d.csv"
    path.write_text("town_code,distance_km\n330282001,3\n")
    with pytest.raises(Invalid, match="neighbour_code"):
        towns.read_distances(path)


def test_the_nearest_town_is_the_shortest_way() -> None:
    import polars as pl

    distances = pl.DataFrame(
        {
            "town_code": ["A", "B", "A"],
            "neighbour_code": ["B", "C", "C"],
            "distance_km": [3.0, 2.0, 10.0],
        }
    )
    assert town_order(distances) == {"A": ["B", "C"], "B": ["C", "A"], "C": ["B", "A"]}
