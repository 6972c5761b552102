"""``luodi allocate`` as a user runs it: real files in, a real process, a file out."""

from __future__ import annotations

import subprocess
from pathlib import Path

import polars as pl
import pytest

from luodi.kernels.allocation import lottery_number
from tests.test_cli import run_luodi

APPLICANTS = """applicant_id,points,priority_group,choices
a1,80,0,S1;S2
a2,90,,S1
a3,85,1,S2；S1
a4,70,0,S2
a5,60,0,
"""
CAPACITIES = "target_id,capacity\nS1,1\nS2,1\n"


def write(folder: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = folder / name
    path.write_text(text, encoding=encoding)
    return path


def allocate(
    folder: Path, method: str, *extra: str, output: str = "out.csv"
) -> subprocess.CompletedProcess[str]:
    return run_luodi(
        "allocate",
        "--method",
        method,
        "--applicants",
        "A.csv",
        "--capacities",
        "C.csv",
        "--seed",
        "2026",
        "--output",
        output,
        *extra,
        cwd=folder,
    )


def test_deferred_acceptance_writes_one_row_per_applicant_in_input_order(tmp_path: Path) -> None:
    write(tmp_path, "A.csv", APPLICANTS)
    write(tmp_path, "C.csv", CAPACITIES)
    result = allocate(tmp_path, "deferred-acceptance")
    assert result.returncode == 0, result.stderr
    out = pl.read_csv(tmp_path / "out.csv", infer_schema=False)
    assert out.columns == ["applicant_id", "target_id", "choice_rank", "lottery"]
    assert out["applicant_id"].to_list() == ["a1", "a2", "a3", "a4", "a5"]
    # a2 (90) takes S1; a1 (80) is bumped to S2, where a3 is in a lower group (1) and a4 has
    # fewer points; a5 chose nothing.
    assert out.rows() == [
        ("a1", "S2", "2", str(lottery_number(2026, "a1"))),
        ("a2", "S1", "1", str(lottery_number(2026, "a2"))),
        ("a3", None, None, str(lottery_number(2026, "a3"))),
        ("a4", None, None, str(lottery_number(2026, "a4"))),
        ("a5", None, None, str(lottery_number(2026, "a5"))),
    ]
    assert "录取 2" in result.stdout


def test_priorities_file_overrides_the_group_at_one_target(tmp_path: Path) -> None:
    write(tmp_path, "A.csv", APPLICANTS)
    write(tmp_path, "C.csv", CAPACITIES)
    write(tmp_path, "P.csv", "applicant_id,target_id,priority_group\na3,S2,0\n")
    result = allocate(tmp_path, "deferred-acceptance", "--priorities", "P.csv")
    assert result.returncode == 0, result.stderr
    out = pl.read_csv(tmp_path / "out.csv", infer_schema=False)
    assert dict(out.select("applicant_id", "target_id").iter_rows())["a3"] == "S2"


def test_gbk_xlsx_and_parquet(tmp_path: Path) -> None:
    write(tmp_path, "A.csv", APPLICANTS.replace("a1", "张一"), encoding="gb18030")
    pl.DataFrame({"target_id": ["S1", "S2"], "capacity": [1.0, 1.0]}).write_excel(
        tmp_path / "C.xlsx"
    )
    result = run_luodi(
        "allocate", "--method", "serial-dictatorship", "--applicants", "A.csv",
        "--capacities", "C.xlsx", "--seed", "x", "--output", "out.parquet", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = pl.read_parquet(tmp_path / "out.parquet")
    assert out["applicant_id"].to_list()[0] == "张一"
    assert out["target_id"].drop_nulls().sort().to_list() == ["S1", "S2"]


@pytest.mark.parametrize(
    ("applicants", "capacities", "method", "file", "row", "reason"),
    [
        (APPLICANTS.replace("S1;S2", "S1;S9"), CAPACITIES, "deferred-acceptance",
         "A.csv", "row 2", "S9 不在名额表中"),
        (APPLICANTS + "a2,10,0,S1\n", CAPACITIES, "deferred-acceptance",
         "A.csv", "row 7", "与第 3 行重复"),
        (APPLICANTS, CAPACITIES.replace("S2,1", "S2,-3"), "deferred-acceptance",
         "C.csv", "row 3", "不能小于 0"),
        (APPLICANTS.replace("a4,70", "a4,七十"), CAPACITIES, "serial-dictatorship",
         "A.csv", "row 5", "积分应为数字"),
        ("applicant_id,points,choices\n", CAPACITIES, "ranked-quota",
         "A.csv", "row 2", "没有数据行"),
        ("", CAPACITIES, "ranked-quota", "A.csv", "", "是空的"),
        (APPLICANTS, CAPACITIES, "ranked-quota", "A.csv", "row 2", "只能填一个目标"),
        (APPLICANTS.replace("priority_group", "group").replace("points", "score"), CAPACITIES,
         "deferred-acceptance", "A.csv", "row 1", "column points"),
        (APPLICANTS.replace("S1;S2", "S1;S1"), CAPACITIES, "deferred-acceptance",
         "A.csv", "row 2", "重复"),
    ],
)  # fmt: skip
def test_bad_input_exits_1_naming_file_row_and_reason_and_writes_nothing(
    tmp_path: Path,
    applicants: str,
    capacities: str,
    method: str,
    file: str,
    row: str,
    reason: str,
) -> None:
    write(tmp_path, "A.csv", applicants)
    write(tmp_path, "C.csv", capacities)
    result = allocate(tmp_path, method)
    assert result.returncode == 1
    assert file in result.stderr
    assert row in result.stderr
    assert reason in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["A.csv", "C.csv"]


def test_bad_priorities_and_unwritable_output(tmp_path: Path) -> None:
    write(tmp_path, "A.csv", APPLICANTS)
    write(tmp_path, "C.csv", CAPACITIES)
    write(tmp_path, "P.csv", "applicant_id,target_id,priority_group\nzz,S1,0\na1,S1,x\n")
    result = allocate(tmp_path, "deferred-acceptance", "--priorities", "P.csv")
    assert result.returncode == 1
    assert "P.csv, row 2" in result.stderr and "申请人不在申请表中" in result.stderr
    assert "P.csv, row 3" in result.stderr and "应为整数" in result.stderr
    refused = allocate(tmp_path, "serial-dictatorship", "--priorities", "P.csv")
    assert refused.returncode == 1 and "--priorities" in refused.stderr
    wrong_kind = allocate(tmp_path, "deferred-acceptance", output="out.txt")
    assert wrong_kind.returncode == 1 and ".csv" in wrong_kind.stderr
    assert not (tmp_path / "out.csv").exists()


def test_lottery_orders_by_lot_within_the_group_not_by_points(tmp_path: Path) -> None:
    write(tmp_path, "A.csv", APPLICANTS)
    write(tmp_path, "C.csv", CAPACITIES)
    result = allocate(tmp_path, "lottery")
    assert result.returncode == 0, result.stderr
    out = pl.read_csv(tmp_path / "out.csv", infer_schema=False)
    placed = dict(
        out.filter(pl.col("target_id").is_not_null())
        .select("applicant_id", "target_id")
        .iter_rows()
    )
    # Group 0 (a1, a2, a4; a5 chose nothing) choose first, in lottery order; a3 (group 1) last.
    order = sorted(["a1", "a2", "a4"], key=lambda a: lottery_number("2026", a))
    wants = {"a1": ["S1", "S2"], "a2": ["S1"], "a4": ["S2"]}
    free, expected = {"S1", "S2"}, {}
    for applicant in order:
        got = next((t for t in wants[applicant] if t in free), None)
        if got:
            free.discard(got)
            expected[applicant] = got
    assert placed == expected
    assert expected != {"a2": "S1", "a1": "S2"}  # by points; this seed's lot differs
    refused = allocate(tmp_path, "lottery", "--priorities", "C.csv")
    assert refused.returncode != 0
