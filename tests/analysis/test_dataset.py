"""``luodi analysis points --input`` on a scored dataset: the Polars and the Spark engine give
the same analysis, table for table; the workbook and the PDF say what a dataset cannot give;
``--run`` and ``--input`` are one or the other."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from luodi.analysis import service
from luodi.analysis.exports import SHEETS
from luodi.kernels.policy import CompiledPolicy
from tests.kernels.analysis.scored import AS_OF, residents, write_scored
from tests.kernels.policy.conftest import CURRENT
from tests.test_cli import run_luodi

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    compiled = CompiledPolicy.from_text(CURRENT.read_text())
    return write_scored(
        compiled, residents(4_000), AS_OF, tmp_path_factory.mktemp("dataset") / "scored"
    )


def test_both_engines_give_the_same_analysis(spark: Any, dataset: Path) -> None:
    options: dict[str, Any] = {"quota": 5_000, "class_thresholds": {"school": 95.0}}
    on_polars = service.dataset_analysis(dataset, (60.0, 90.0), engine="polars", **options)
    on_spark = service.dataset_analysis(dataset, (60.0, 90.0), engine="spark", **options)
    assert on_spark.residents == on_polars.residents == 4_000
    assert on_spark.summary == on_polars.summary
    polars_tables, spark_tables = on_polars.tables(), on_spark.tables()
    assert list(spark_tables) == list(polars_tables)
    for name, expected in polars_tables.items():
        assert spark_tables[name].equals(expected), name
    assert on_spark.run.as_of == AS_OF and on_spark.dataset == "scored"
    assert "batch_one" not in spark_tables and on_spark.movement.height == 0
    assert on_polars.layers["admitted"].sum() > 0


def test_the_command_writes_the_workbook_and_the_pdf(
    spark: Any, dataset: Path, tmp_path: Path
) -> None:
    output = tmp_path / "analysis.xlsx"
    result = run_luodi(
        "analysis", "points", "--engine", "spark", "--input", str(dataset),
        "--thresholds", "60,90", "--quota", "100", "--output", str(output),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "计分数据集 dataset scored · 4,000 人" in result.stdout
    assert "no movement across thresholds" in result.stdout
    sheets = pl.read_excel(io.BytesIO(output.read_bytes()), sheet_id=0, has_header=False)
    assert SHEETS["batch_one"] not in sheets
    summary = sheets[SHEETS["summary"]]
    assert "计分数据集 scored" in str(summary[0, 0])
    assert any("跨线" in str(value) for value in summary[:, 0].to_list())
    pdf = tmp_path / "analysis.pdf"
    result = run_luodi("analysis", "points", "--input", str(dataset), "--output", str(pdf))
    assert result.returncode == 0, result.stderr
    assert pdf.read_bytes().startswith(b"%PDF-")


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        (["--run", "1", "--input", "x"], "not both"),
        ([], "give either --run"),
        (["--run", "1", "--engine", "spark"], "give --input instead of --run"),
        (["--input", "nowhere"], "_luodi.json"),
    ],
)
def test_run_or_input_one_or_the_other(arguments: list[str], words: str, tmp_path: Path) -> None:
    output = tmp_path / "analysis.xlsx"
    result = run_luodi("analysis", "points", *arguments, "--output", str(output))
    assert result.returncode == 1 and words in result.stderr
    assert "Traceback" not in result.stderr and not output.exists()
