"""Spark local on 100,000 residents equals the Polars path to the last point, with the
refused rows identical (issue: province scale)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

from luodi.scale import layout
from luodi.scale.score import score_dataset
from tests.scale.conftest import AS_OF, compiled_policy, raw_population, write_dataset

pytestmark = pytest.mark.slow
RESIDENTS = 100_000


def records(path: Path) -> pl.DataFrame:
    return layout.scan_dataset(path).drop(*layout.PROVENANCE).collect().sort("resident_id")


def test_spark_scores_and_refuses_as_polars(spark: Any, tmp_path: Path) -> None:
    compiled = compiled_policy()
    source = write_dataset(raw_population(RESIDENTS), tmp_path / "inputs")
    results = {
        engine: score_dataset(
            compiled,
            source,
            tmp_path / engine,
            AS_OF,
            engine=engine,  # type: ignore[arg-type]
            on_refused="skip",
            master="local[2]",
        )
        for engine in ("polars", "spark")
    }
    polars_result, spark_result = results["polars"], results["spark"]
    assert polars_result.refused_records > 1_000
    assert spark_result.residents == polars_result.residents
    assert polars_result.residents + polars_result.refused_records == RESIDENTS
    # The refused rows, byte for byte.
    assert spark_result.refused_path.read_bytes() == polars_result.refused_path.read_bytes()
    expected = records(tmp_path / "polars")
    actual = records(tmp_path / "spark")
    assert actual.columns == expected.columns
    assert actual.equals(expected)
    assert expected.get_column("total").n_unique() > 50
    # Both manifests name the same policy and counts; the engines differ.
    manifests = {engine: layout.Manifest.read(tmp_path / engine) for engine in results}
    assert manifests["spark"].engine == "spark"
    assert manifests["spark"].refused_digest == manifests["polars"].refused_digest
    assert manifests["spark"].rows == manifests["polars"].rows == polars_result.residents


def test_stop_writes_nothing_on_either_engine(spark: Any, tmp_path: Path) -> None:
    compiled = compiled_policy()
    source = write_dataset(raw_population(3_000), tmp_path / "inputs")
    refused = {}
    for engine in ("polars", "spark"):
        result = score_dataset(
            compiled,
            source,
            tmp_path / engine,
            AS_OF,
            engine=engine,
            master="local[2]",  # type: ignore[arg-type]
        )
        assert not result.written and result.residents == 0
        assert not (tmp_path / engine).exists()
        assert not [path for path in tmp_path.iterdir() if path.name.startswith(f".{engine}")]
        refused[engine] = result.refused_path.read_bytes()
    assert refused["polars"] == refused["spark"]
    assert len(refused["polars"].splitlines()) > 30
