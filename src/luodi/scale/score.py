"""``luodi policy score --engine polars|spark`` on datasets: check, score, write (service)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from luodi.kernels.policy import CompiledPolicy

if TYPE_CHECKING:
    from pyspark.sql import DataFrame as SparkFrame
    from pyspark.sql import SparkSession

Engine = Literal["polars", "spark"]
OnRefused = Literal["stop", "skip"]


@dataclass(frozen=True)
class ScoreResult:
    engine: str
    residents: int
    """Residents scored (0 when stopped)."""
    refused_rows: int
    """Distinct input records refused."""
    refused_reasons: int
    """Rows of the refused file (a record can be refused for several columns)."""
    written: bool
    output: Path
    refused_path: Path | None
    mean: float
    minimum: float
    maximum: float
    seconds: float


def score_dataset(
    compiled: CompiledPolicy,
    source: Path,
    output: Path,
    as_of: date,
    *,
    engine: Engine = "polars",
    partition_by: Sequence[str] | None = None,
    on_refused: OnRefused = "stop",
    master: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> ScoreResult:
    raise NotImplementedError


def spark_points(
    spark: SparkSession,
    source: Path,
    compiled: CompiledPolicy,
    as_of: date,
    *,
    carry: Sequence[str] | None = None,
) -> tuple[SparkFrame, SparkFrame]:
    """(scored rows as the scored dataset's columns, refused rows) of ``source`` on Spark;
    lazy Spark DataFrames."""
    raise NotImplementedError
