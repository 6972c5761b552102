"""``luodi policy whatif --engine spark --input DIR --policy …``: a draft against a policy on
an inputs dataset, both scored on Spark; the bands, towns, crossings and medians are the
Polars what-if's on the same residents scored by Polars; the workbook has its sheets; the
options that belong together are asked for together."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from luodi.kernels.policy import CompiledPolicy, prepare_inputs
from luodi.kernels.policy import whatif as kernel
from luodi.policy.whatif import dataset_whatif
from luodi.policy.whatif_book import SHEETS
from luodi.scale.layout import write_partitioned
from tests.kernels.analysis.scored import AS_OF, residents
from tests.kernels.policy.conftest import CURRENT
from tests.test_cli import run_luodi

pytestmark = pytest.mark.slow
THRESHOLDS = [60.0, 90.0]


def draft_text() -> str:
    """Insurance counts more, residence less (halves and eighths: sums stay exact)."""
    text = CURRENT.read_text(encoding="utf-8")
    changed = text.replace(
        'formula: "0.5 * social_insurance_months"', 'formula: "0.75 * social_insurance_months"'
    ).replace(
        'formula: "0.25 * max(residence_months, 0)"', 'formula: "0.125 * max(residence_months, 0)"'
    )
    assert changed != text
    return changed.replace("version: ", "version: draft-", 1)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[pl.DataFrame, Path]:
    frame = residents(3_000)
    root = tmp_path_factory.mktemp("whatif") / "inputs"
    write_partitioned(frame, root, ["town_code"])
    return frame, root


def polars_shift(frame: pl.DataFrame) -> kernel.PopulationShift:
    def totals(text: str, name: str) -> pl.DataFrame:
        compiled = CompiledPolicy.from_text(text)
        scored = compiled.score(prepare_inputs(frame, compiled.policy), AS_OF)
        return scored.select("resident_id", pl.col("total").alias(name))

    joined = (
        totals(CURRENT.read_text(encoding="utf-8"), kernel.OLD)
        .join(totals(draft_text(), kernel.NEW), on="resident_id")
        .join(frame.select("resident_id", "town_code", "origin_province"), on="resident_id")
    )
    return kernel.population_shift(joined, THRESHOLDS)


def test_the_spark_what_if_equals_the_polars_one(
    spark: Any, inputs: tuple[pl.DataFrame, Path]
) -> None:
    frame, root = inputs
    baseline = CompiledPolicy.from_text(CURRENT.read_text(encoding="utf-8"))
    result = dataset_whatif(draft_text(), "draft.yaml", baseline, root, AS_OF, THRESHOLDS)
    expected = polars_shift(frame)
    assert result["residents"] == expected.residents == 3_000
    assert result["bands"] == {band: int(expected.bands[band][0]) for band in kernel.BANDS}
    assert (result["median_old"], result["median_new"]) == (
        expected.median_old,
        expected.median_new,
    )
    assert (result["mean_old"], result["mean_new"]) == (expected.mean_old, expected.mean_new)
    towns = pl.DataFrame(result["by_town"]).drop("town_name")
    assert towns.equals(
        expected.by_town.cast(dict.fromkeys(("residents", *kernel.BANDS), pl.Int64))
    )
    assert result["crossings"] == expected.crossings.to_dicts()
    assert result["histogram"] == expected.histogram.to_dicts()
    assert result["school"] is None and "school" in result["school_note"]["en"]
    bands = result["bands"]
    assert bands["gain_more"] + bands["gain_less"] > 0 and bands["lose_less"] > 0


def test_the_command_writes_the_workbook(
    spark: Any, inputs: tuple[pl.DataFrame, Path], tmp_path: Path
) -> None:
    _frame, root = inputs
    draft = tmp_path / "draft.yaml"
    draft.write_text(draft_text(), encoding="utf-8")
    output = tmp_path / "whatif.xlsx"
    result = run_luodi(
        "policy", "whatif", "--engine", "spark", "--draft", str(draft),
        "--policy", str(CURRENT), "--input", str(root), "--as-of", AS_OF.isoformat(),
        "--thresholds", "60,90", "--output", str(output),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "输入取自数据集 inputs（Spark）" in result.stdout
    sheets = pl.read_excel(
        io.BytesIO(output.read_bytes()), sheet_id=0, has_header=False, infer_schema_length=0
    )
    assert list(sheets) == list(SHEETS)
    overall = sheets[SHEETS[1]].row(2)
    assert int(overall[1]) == 3_000 == sum(int(value) for value in overall[2:7])


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        (["--engine", "spark"], "give --engine spark, --input and --policy together"),
        (["--input", "x", "--policy", "y"], "give --engine spark, --input and --policy"),
        (
            ["--engine", "spark", "--input", "x", "--policy", "y", "--run", "3"],
            "not both",
        ),
    ],
)
def test_options_that_belong_together(arguments: list[str], words: str, tmp_path: Path) -> None:
    draft = tmp_path / "draft.yaml"
    draft.write_text(draft_text(), encoding="utf-8")
    output = tmp_path / "whatif.xlsx"
    result = run_luodi(
        "policy", "whatif", "--draft", str(draft), *arguments, "--output", str(output)
    )
    assert result.returncode == 1 and words in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and not output.exists()
