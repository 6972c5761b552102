"""``luodi policy …`` as a user runs it: real processes, real CSV / Parquet / XLSX files."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from tests.kernels.policy.conftest import CURRENT, DEMO, REPOSITORY
from tests.test_cli import run_luodi

OLD = REPOSITORY / "policies" / "zj-cixi" / "2023.1.yaml"


def population(count: int = 50) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "resident_id": [f"R{i:04d}" for i in range(count)],
            "birth_date": [date(1960 + i % 40, 1 + i % 12, 1 + i % 28) for i in range(count)],
            "education": [
                ["none", "senior_high", "associate", "bachelor"][i % 4] for i in range(count)
            ],
            "social_insurance_months": [i * 3 for i in range(count)],
            "residence_registration_date": [date(2010 + i % 15, 6, 1) for i in range(count)],
            "volunteer_hours": [float(i * 7) for i in range(count)],
        }
    )


@pytest.fixture
def inputs_csv(tmp_path: Path) -> Path:
    path = tmp_path / "in.csv"
    population().write_csv(path)
    return path


def test_check_good_policy(tmp_path: Path) -> None:
    result = run_luodi("policy", "check", str(CURRENT))
    assert result.returncode == 0, result.stderr
    assert "zj-cixi 2026.1" in result.stdout and "county" in result.stdout


def test_check_bad_policy_names_file_line_column_text(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(DEMO.read_text().replace('"50 * convictions"', '"50 * convicton"'))
    result = run_luodi("policy", "check", str(bad))
    assert result.returncode == 1
    line = next(n for n, text in enumerate(bad.read_text().splitlines(), 1) if "convicton" in text)
    assert f"bad.yaml:{line}:" in result.stderr
    assert "convicton" in result.stderr and "did you mean `convictions`" in result.stderr
    assert "未声明的名称" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_missing_file() -> None:
    result = run_luodi("policy", "check", "no-such-policy.yaml")
    assert result.returncode == 1
    assert "找不到策略文件" in result.stderr


def test_test_command_passes_shipped_policy_and_fails_a_wrong_expectation(tmp_path: Path) -> None:
    result = run_luodi("policy", "test", str(CURRENT))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "27/27" in result.stdout
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(DEMO.read_text().replace("expect: {total: 95,", "expect: {total: 96,"))
    result = run_luodi("policy", "test", str(wrong))
    assert result.returncode == 1
    assert "FAIL" in result.stdout and "96" in result.stdout and "95" in result.stdout


@pytest.mark.parametrize(
    ("source", "target"), [("csv", "csv"), ("parquet", "parquet"), ("xlsx", "csv")]
)
def test_score_files(tmp_path: Path, source: str, target: str) -> None:
    frame = population()
    path = tmp_path / f"in.{source}"
    {"csv": frame.write_csv, "parquet": frame.write_parquet, "xlsx": frame.write_excel}[source](
        path
    )
    out = tmp_path / f"out.{target}"
    result = run_luodi(
        "policy",
        "score",
        "--policy",
        str(CURRENT),
        "--input",
        str(path),
        "--output",
        str(out),
        "--as-of",
        "2026-03-01",
    )
    assert result.returncode == 0, result.stderr
    scored = pl.read_csv(out) if target == "csv" else pl.read_parquet(out)
    from luodi.kernels.policy import CompiledPolicy

    compiled = CompiledPolicy.from_text(CURRENT.read_text())
    assert scored.columns == ["resident_id", "total", *compiled.policy.indicator_ids]
    assert scored.height == 50
    # Spot-check against the reference evaluator, row by row.
    for row in frame.head(10).iter_rows(named=True):
        expected = compiled.score_row(
            {key: value for key, value in row.items() if key != "resident_id"}, date(2026, 3, 1)
        )
        actual = scored.filter(pl.col("resident_id") == row["resident_id"]).row(0, named=True)
        assert actual["total"] == pytest.approx(expected.total)
        assert actual["volunteering"] == pytest.approx(expected.points["volunteering"])


def test_score_by_policy_id_from_the_policy_folder(tmp_path: Path, inputs_csv: Path) -> None:
    out = tmp_path / "out.parquet"
    result = run_luodi(
        "policy",
        "score",
        "--policy",
        "zj-cixi",
        "--input",
        str(inputs_csv),
        "--output",
        str(out),
        "--as-of",
        "2024-06-30",
    )
    assert result.returncode == 0, result.stderr
    assert "2023.1" in result.stdout  # the version in force on that date
    assert "special_post" not in pl.read_parquet(out).columns


def test_score_errors_name_column_ids_and_count_and_leave_no_output(tmp_path: Path) -> None:
    frame = (
        population(30)
        .with_columns(
            pl.when(pl.int_range(pl.len()) % 3 == 0)
            .then(pl.lit("1990-02-30"))
            .otherwise(pl.col("birth_date").cast(pl.String))
            .alias("birth_date"),
            pl.when(pl.int_range(pl.len()) == 4)
            .then(pl.lit("博士后"))
            .otherwise(pl.col("education"))
            .alias("education"),
        )
        .drop("residence_registration_date")
    )
    source = tmp_path / "bad.csv"
    frame.write_csv(source)
    out = tmp_path / "out.csv"
    result = run_luodi(
        "policy", "score", "--policy", str(CURRENT), "--input", str(source), "--output", str(out)
    )
    assert result.returncode == 1
    assert not out.exists()
    assert not list(tmp_path.glob(".out.csv*"))
    stderr = result.stderr
    assert "birth_date" in stderr and "10 人" in stderr and "R0000, R0003" in stderr
    assert "R0027" in stderr  # ten ids: 0, 3, …, 27
    assert "education" in stderr and "博士后" in stderr and "R0004" in stderr
    assert "residence_registration_date" in stderr and "required column missing" in stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--input", "missing.csv", "--output", "o.csv"], "file not found"),
        (["--input", "in.txt", "--output", "o.csv"], "unsupported input format"),
        (["--input", "in.csv", "--output", "o.json"], "must be .csv or .parquet"),
        (["--input", "in.csv", "--output", "nodir/o.csv"], "output folder does not exist"),
        (["--input", "in.csv", "--output", "o.csv", "--as-of", "2026-13-01"], "YYYY-MM-DD"),
    ],
)
def test_score_bad_arguments(
    tmp_path: Path, inputs_csv: Path, args: list[str], message: str
) -> None:
    (tmp_path / "in.txt").write_text("x")
    result = run_luodi("policy", "score", "--policy", str(CURRENT), *args, cwd=tmp_path)
    assert result.returncode == 1
    assert message in result.stderr
    assert not (tmp_path / "o.csv").exists()


def test_score_gbk_csv_with_resident_id_only_required(tmp_path: Path) -> None:
    source = tmp_path / "gbk.csv"
    source.write_bytes(
        "resident_id,birth_date,permit_issue_date,education\n张三,1995-03-01,2021-01-01,bachelor\n".encode(
            "gbk"
        )
    )
    out = tmp_path / "o.csv"
    result = run_luodi(
        "policy",
        "score",
        "--policy",
        str(DEMO),
        "--input",
        str(source),
        "--output",
        str(out),
        "--as-of",
        "2025-06-30",
    )
    assert result.returncode == 0, result.stderr
    # 本科 60 + 社保 0 + 年龄 30 岁 20 = 80; the deduction column is 0, never "-0.0".
    assert out.read_text().splitlines() == [
        "resident_id,total,education,insurance,age,conviction",
        "张三,80.0,60.0,0.0,20.0,0.0",
    ]


def test_explain_prints_each_line_and_total(inputs_csv: Path) -> None:
    result = run_luodi(
        "policy",
        "explain",
        "--policy",
        str(CURRENT),
        "--input",
        str(inputs_csv),
        "--resident",
        "R0007",
        "--as-of",
        "2026-03-01",
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for text in (
        "年龄",
        "Age",
        "缴纳社保",
        "0.5 * social_insurance_months",
        "social_insurance_months = 21",
        "人社 社保缴费记录",
        "总分 total",
    ):
        assert text in out, text
    missing = run_luodi(
        "policy",
        "explain",
        "--policy",
        str(CURRENT),
        "--input",
        str(inputs_csv),
        "--resident",
        "nobody",
    )
    assert missing.returncode == 1 and "nobody" in missing.stderr


def test_compare_old_and_new(tmp_path: Path, inputs_csv: Path) -> None:
    out = tmp_path / "cmp.csv"
    result = run_luodi(
        "policy",
        "compare",
        str(OLD),
        str(CURRENT),
        "--input",
        str(inputs_csv),
        "--threshold",
        "60",
        "--threshold",
        "90",
        "--output",
        str(out),
        "--as-of",
        "2026-03-01",
    )
    assert result.returncode == 0, result.stderr
    assert "Spearman" in result.stdout and "largest movers" in result.stdout
    per_resident = pl.read_csv(out)
    assert per_resident.height == 50
    assert per_resident.columns[:4] == ["resident_id", "total_old", "total_new", "delta"]
    gained = per_resident.filter(pl.col("delta") > 0).height
    assert f"上升 gain {gained}" in result.stdout


def test_test_command_exits_2_on_a_day_that_does_not_exist(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from luodi.cli import app

    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(DEMO.read_text().replace("as_of: 2025-06-30", "as_of: 2025-02-30", 1))
    result = CliRunner().invoke(app, ["policy", "test", str(wrong)])
    assert result.exit_code == 2, result.output
    assert "wrong.yaml" in result.stderr and "tests[0].as_of" in result.stderr
    assert "日历上没有这一天" in result.stderr and "no such day" in result.stderr
