"""Past one machine: the compiled policy as a pure Arrow-batch function, run on Apache Spark
(local mode) through ``DataFrame.mapInArrow``, gives exactly what the Polars path gives."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from luodi.kernels.policy import CompiledPolicy, prepare_inputs
from tests.kernels.policy.conftest import CURRENT

pytestmark = pytest.mark.slow
AS_OF = date(2026, 3, 1)


def population(count: int) -> pl.DataFrame:
    index = pl.int_range(count, eager=True)
    return pl.DataFrame(
        {
            "resident_id": index.cast(pl.String).str.zfill(7),
            "town_code": (index % 19).cast(pl.String),
            "birth_date": pl.date_range(date(1960, 1, 1), date(2005, 12, 31), eager=True).sample(
                count, with_replacement=True, seed=1
            ),
            "education": pl.Series(
                ["none", "junior_high", "senior_high", "associate", "bachelor", "master"]
            ).sample(count, with_replacement=True, seed=2),
            "skill_level": pl.Series(["none", "junior", "senior", "technician"]).sample(
                count, with_replacement=True, seed=3
            ),
            "social_insurance_months": (index * 7 % 130),
            "residence_registration_date": pl.date_range(
                date(2005, 1, 1), date(2026, 2, 1), eager=True
            ).sample(count, with_replacement=True, seed=4),
            "volunteer_hours": (index % 300).cast(pl.Float64) * 1.5,
            "sentence_months": (index % 97 == 0).cast(pl.Int64) * 3,
        }
    )


def test_spark_map_in_arrow_equals_polars(spark) -> None:  # type: ignore[no-untyped-def]
    compiled = CompiledPolicy.from_text(CURRENT.read_text())
    frame = population(5_000)
    expected = compiled.score(prepare_inputs(frame, compiled.policy), AS_OF).sort("resident_id")

    scorer = compiled.arrow_scorer(AS_OF)
    inputs = spark.createDataFrame(frame.to_arrow()).repartition(3, "town_code")
    scored = inputs.mapInArrow(scorer, schema=scorer.spark_schema()).toArrow()
    actual = pl.from_arrow(scored)
    assert isinstance(actual, pl.DataFrame)
    actual = actual.sort("resident_id")
    assert actual.columns == expected.columns
    assert actual.height == expected.height == 5_000
    assert actual.equals(expected)
