"""The 积分制总量分析 on Apache Spark equals the Polars kernel, frame for frame and type for
type, on one scored dataset of 20,000 residents read by both engines (ties everywhere,
blank and missing groups, leap-day birthdays, a null town partition)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

from luodi.kernels.analysis import points as kernel
from luodi.kernels.analysis import spark as spark_kernel
from luodi.kernels.analysis.points import AdmissionClass
from luodi.kernels.policy import CompiledPolicy
from luodi.scale.layout import PROVENANCE, scan_dataset
from tests.kernels.analysis.scored import AS_OF, residents, write_scored
from tests.kernels.policy.conftest import CURRENT

pytestmark = pytest.mark.slow
THRESHOLDS = (60.0, 87.5, 120.0, 150.0)
CLASSES = [
    AdmissionClass("settlement", "落户", "settlement", 120.0, "test"),
    AdmissionClass("school", "入学", "school", 87.5, "test"),
    AdmissionClass("housing", "公租房", "housing", 60.0, "test"),
]
LABELS = {"sector": {"employee": "单位就业"}, "town": {"330282001": "坎墩街道"}}


@pytest.fixture(scope="module")
def engines(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """(Polars population, Spark population, indicator ids) of one written dataset."""
    compiled = CompiledPolicy.from_text(CURRENT.read_text())
    root = write_scored(
        compiled, residents(20_000), AS_OF, tmp_path_factory.mktemp("analysis") / "scored"
    )
    ids = compiled.policy.indicator_ids
    scored = scan_dataset(root).drop(PROVENANCE).collect()
    points, people = kernel.scored_frames(scored, ids)
    polars_population = kernel.population(points, people, AS_OF)
    spark_population = spark_kernel.SparkPopulation(
        spark_kernel.population(spark.read.parquet(str(root)), AS_OF, ids)
    )
    yield polars_population, spark_population, ids
    spark_population.release()


def same(actual: pl.DataFrame, expected: pl.DataFrame) -> None:
    assert actual.schema == expected.schema
    assert actual.equals(expected), (actual, expected)


def test_every_aggregate_equals_the_polars_one(engines: Any) -> None:
    frame, on_spark, ids = engines
    assert on_spark.residents() == frame.height == 20_000
    # The data are what the test claims: ties, unknown groups of each kind, leap days.
    assert frame["total"].n_unique() < 2_000
    for dimension in ("town", "origin", "permit_years"):
        assert (frame[dimension] == kernel.UNKNOWN).any()
    assert on_spark.summary() == kernel.summary(frame["total"])
    same(on_spark.histogram(10.0), kernel.histogram(frame["total"], 10.0))
    same(on_spark.histogram(7.5), kernel.histogram(frame["total"], 7.5))
    for dimension in spark_kernel.DIMENSIONS:
        labels = LABELS.get(dimension)
        same(
            on_spark.by_dimension(dimension, THRESHOLDS, labels),
            kernel.by_dimension(frame, dimension, THRESHOLDS, labels),
        )
    labels = {ids[0]: "年龄 age"}
    same(on_spark.indicators(ids, labels), kernel.indicators(frame, ids, labels))
    same(on_spark.indicators_by_town(ids, labels), kernel.indicators_by_town(frame, ids, labels))
    same(
        on_spark.counts_at(THRESHOLDS, 7),
        kernel.counts_at(frame.select(pl.lit(7, pl.Int64).alias("run_id"), "total"), THRESHOLDS),
    )


@pytest.mark.parametrize(("quota", "batches"), [(None, 5), (700, 5), (1, 3)])
def test_layers_and_the_first_batch_equal_the_polars_ones(
    engines: Any, quota: int | None, batches: int
) -> None:
    frame, on_spark, _ids = engines
    expected = kernel.layers(frame, THRESHOLDS, CLASSES, quota, batches, 2026)
    actual = on_spark.layers(THRESHOLDS, CLASSES, quota, batches, 2026)
    same(actual.layers, expected.layers)
    same(actual.batches, expected.batches)
    same(actual.batch_one, expected.batch_one)
    if quota == 700:
        # Ties at the line: more residents reach the 700th total than 700.
        line = expected.batch_one["total"].min()
        assert frame.filter(pl.col("total") >= line).height > 700
        assert expected.batch_one.height == 700


def test_a_group_the_dataset_does_not_hold_is_unknown(spark: Any, tmp_path: Path) -> None:
    compiled = CompiledPolicy.from_text(CURRENT.read_text())
    people = residents(300).drop("employment_basis", "origin_province")
    root = write_scored(compiled, people, AS_OF, tmp_path / "scored")
    ids = compiled.policy.indicator_ids
    points, known = kernel.scored_frames(scan_dataset(root).collect(), ids)
    frame = kernel.population(points, known, AS_OF)
    assert frame["sector"].unique().to_list() == [kernel.UNKNOWN]
    assert frame["origin"].unique().to_list() == [kernel.UNKNOWN]
    # birth_date came from the inputs struct: the age bands are known.
    assert (frame["age_band"] != kernel.UNKNOWN).all()
    on_spark = spark_kernel.SparkPopulation(
        spark_kernel.population(spark.read.parquet(str(root)), AS_OF, ids)
    )
    for dimension in ("sector", "origin", "age_band"):
        same(
            on_spark.by_dimension(dimension, THRESHOLDS),
            kernel.by_dimension(frame, dimension, THRESHOLDS),
        )
    on_spark.release()
