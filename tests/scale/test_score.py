"""``luodi policy score`` on datasets as a user runs it (Typer's CliRunner, in-process; one
Spark run in tests/scale/test_spark_equal.py and one here through the command)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from luodi.cli import app
from luodi.scale import layout
from tests.scale.conftest import POLICY, raw_population, write_dataset


def score(*arguments: str) -> Any:
    return CliRunner().invoke(
        app, ["policy", "score", "--policy", str(POLICY), "--as-of", "2026-03-01", *arguments]
    )


@pytest.fixture
def clean(tmp_path: Path) -> Path:
    frame = raw_population(2_000)
    checked = frame.filter(pl.int_range(pl.len()) % 97 >= 5)  # no tricky values
    checked = checked.filter(
        pl.col("resident_id").is_not_null()
        & (pl.col("resident_id").str.strip_chars() != "")
        & ~pl.col("resident_id").is_duplicated()
    )
    return write_dataset(checked, tmp_path / "clean")


@pytest.fixture
def dirty(tmp_path: Path) -> Path:
    return write_dataset(raw_population(2_000), tmp_path / "dirty")


def test_a_clean_dataset_is_scored_into_a_partitioned_dataset(clean: Path, tmp_path: Path) -> None:
    output = tmp_path / "scores"
    result = score("--input", str(clean), "--output", str(output))
    assert result.exit_code == 0, result.output
    assert "按 town_code 分区" in result.stdout
    towns = sorted(path.name for path in output.iterdir() if path.is_dir())
    assert towns[0] == "town_code=330282001" and len(towns) == 19
    manifest = json.loads((output / layout.MANIFEST).read_text(encoding="utf-8"))
    assert manifest["format"] == layout.SCORES_FORMAT
    assert manifest["policy_id"] == "zj-cixi" and manifest["as_of"] == "2026-03-01"
    assert manifest["refused"] == 0 and manifest["engine"] == "polars"
    assert manifest["extra"]["carried"] == ["employment_basis", "town_code"]
    scored = layout.scan_dataset(output).collect()
    assert (
        scored.height
        == manifest["rows"]
        == pl.scan_parquet(list(clean.rglob("*.parquet"))).select(pl.len()).collect().item()
    )
    assert scored.schema["inputs"].fields[0].name == "birth_date"  # type: ignore[attr-defined]
    assert {"resident_id", "total", "town_code", "employment_basis"} <= set(scored.columns)
    # The refused file is written (empty) so that a stale one never lies.
    assert (
        layout.refused_path(output).read_text(encoding="utf-8-sig").startswith("file,partition,row")
    )


def test_refused_records_stop_everything_by_default(dirty: Path, tmp_path: Path) -> None:
    output = tmp_path / "scores"
    result = score("--input", str(dirty), "--output", str(output))
    assert result.exit_code == 1
    assert "未计分" in result.stderr and "--on-refused skip" in result.stderr
    assert not output.exists()
    refused = pl.read_csv(layout.refused_path(output), infer_schema=False)
    assert refused.columns == list(layout.REFUSED_SCHEMA)
    first = refused.row(0, named=True)
    assert first["file"].startswith("town_code=") and first["partition"].startswith("town_code=")
    assert int(first["row"]) >= 1 and first["reason_zh"]


def test_skip_scores_the_clean_records(dirty: Path, tmp_path: Path) -> None:
    output = tmp_path / "scores"
    result = score("--input", str(dirty), "--output", str(output), "--on-refused", "skip")
    assert result.exit_code == 0, result.output
    refused = pl.read_csv(layout.refused_path(output), infer_schema=False)
    records = refused.select("file", "row").unique().height
    scored = layout.scan_dataset(output).collect()
    assert scored.height + records == 2_000
    assert not set(scored.get_column("resident_id")) & set(
        refused.filter(pl.col("reason_en").str.starts_with("cannot")).get_column("resident_id")
    ) - {"0000001"}


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        (["--engine", "flink"], "--engine 只能是 polars 或 spark"),
        (["--on-refused", "maybe"], "--on-refused 只能是 stop 或 skip"),
        (["--partition-by", "resident_id"], "不能按居民编号分区"),
        (["--partition-by", "district"], "输入中没有这一列"),
        (["--partition-by", "age"], "与输出列同名"),
        (["--master", "local[2]"], "--master 只用于 --engine spark"),
    ],
)
def test_bad_options_are_named(
    clean: Path, tmp_path: Path, arguments: list[str], said: str
) -> None:
    result = score("--input", str(clean), "--output", str(tmp_path / "out"), *arguments)
    assert result.exit_code == 1
    assert said in result.stderr
    assert not (tmp_path / "out").exists()


def test_an_existing_output_is_never_written_over(clean: Path, tmp_path: Path) -> None:
    output = tmp_path / "scores"
    output.mkdir()
    (output / "keep.txt").write_text("mine")
    result = score("--input", str(clean), "--output", str(output))
    assert result.exit_code == 1 and "已存在" in result.stderr
    assert (output / "keep.txt").read_text() == "mine"


def test_files_of_one_dataset_must_agree(clean: Path, tmp_path: Path) -> None:
    odd = clean / "town_code=999" / "part-odd.parquet"
    odd.parent.mkdir()
    pl.DataFrame({"resident_id": ["x"], "birth_date": [1]}).write_parquet(odd)
    result = score("--input", str(clean), "--output", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert "town_code=999/part-odd.parquet 的列与" in result.stderr


def test_a_partition_key_that_is_also_a_column_is_refused(tmp_path: Path) -> None:
    frame = raw_population(50)
    folder = tmp_path / "in" / "town_code=1"
    folder.mkdir(parents=True)
    frame.write_parquet(folder / "part.parquet")
    result = score("--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"))
    assert result.exit_code == 1 and "分区键 town_code 也是文件中的列" in result.stderr


def test_the_spark_engine_through_the_command(spark: Any, clean: Path, tmp_path: Path) -> None:
    output = tmp_path / "scores"
    result = score(
        "--input",
        str(clean),
        "--output",
        str(output),
        "--engine",
        "spark",
        "--master",
        "local[2]",
        "--partition-by",
        "none",
    )
    assert result.exit_code == 0, result.output
    assert "spark" in result.stdout
    manifest = layout.Manifest.read(output)
    assert manifest.engine == "spark" and manifest.partition_by == []
    scored = layout.scan_dataset(output).collect()
    assert scored.height == manifest.rows == layout.scan_dataset(clean).collect().height
    assert "town_code" in scored.columns  # carried, not a partition
