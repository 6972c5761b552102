"""The row-by-row checks (``kernels.policy.checks``) against the whole-file check
(``prepare_inputs``): the same records refused for the same reasons, the same typed values
for the rest."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from luodi.kernels.policy import InputError, prepare_inputs
from luodi.kernels.policy.checks import FILE, PARTITION, ROW, check_rows
from tests.scale.conftest import compiled_policy, raw_population

POLICY = compiled_policy().policy


def with_provenance(frame: pl.DataFrame, name: str = "inputs.parquet") -> pl.DataFrame:
    return frame.with_columns(
        pl.lit(name).alias(FILE),
        pl.lit("").alias(PARTITION),
        (pl.int_range(pl.len(), dtype=pl.Int64) + 1).alias(ROW),
    )


def problems_of(frame: pl.DataFrame) -> dict[tuple[str, str], tuple[int, tuple[str, ...]]]:
    try:
        prepare_inputs(frame, POLICY)
    except InputError as error:
        return {
            (problem.column, problem.reason_en): (problem.count, problem.resident_ids)
            for problem in error.problems
        }
    return {}


def refused_summary(
    refused: pl.DataFrame,
) -> dict[tuple[str, str], tuple[int, tuple[str, ...]]]:
    grouped = refused.group_by("column", "reason_en", maintain_order=True).agg(
        pl.len(), pl.col("resident_id").fill_null("(空 empty)").head(10)
    )
    return {
        (column, reason): (count, tuple(ids)) for column, reason, count, ids in grouped.iter_rows()
    }


def test_every_refusal_of_the_whole_file_check_is_a_refused_row() -> None:
    frame = raw_population(6_000)
    checked = check_rows(with_provenance(frame), POLICY, carry=["town_code"])
    expected = problems_of(frame)
    assert expected, "the population carries bad values"
    assert refused_summary(checked.refused) == expected
    # Every kind of refusal is there.
    reasons = set(checked.refused.get_column("reason_en"))
    assert {"resident id is empty", "resident id appears more than once"} <= reasons
    assert any(reason.startswith("value not declared") for reason in reasons)
    assert "cannot be read as date (YYYY-MM-DD)" in reasons


def test_the_clean_records_are_typed_as_prepare_inputs_types_them() -> None:
    frame = raw_population(6_000)
    checked = check_rows(with_provenance(frame), POLICY, carry=["town_code", "employment_basis"])
    refused_rows = set(checked.refused.get_column("row"))
    clean = frame.with_row_index("row", offset=1).filter(~pl.col("row").is_in(refused_rows))
    expected = prepare_inputs(clean.drop("row"), POLICY)
    assert checked.typed.drop("town_code", "employment_basis").equals(expected)
    assert checked.typed.get_column("town_code").equals(clean.get_column("town_code"))
    assert checked.typed.height + checked.refused_records == frame.height


def test_refused_rows_name_file_partition_row_and_value() -> None:
    frame = pl.DataFrame(
        {
            "resident_id": ["a", "b", "c"],
            "birth_date": ["1990-01-05", "1990-02-30", None],
            "residence_registration_date": ["2020-01-01", "2020-01-01", "2020-01-01"],
            "education": ["bachelor", "phd", "none"],
        }
    )
    refused = check_rows(with_provenance(frame, "town_code=1/part.parquet"), POLICY).refused
    assert refused.select("row", "column", "reason_zh", "value").rows() == [
        (2, "birth_date", "无法解析为日期（YYYY-MM-DD）", "1990-02-30"),
        (
            2,
            "education",
            "取值未声明（可用：none, junior_high, senior_high, associate, "
            "bachelor, master, doctor）",
            "phd",
        ),
        (3, "birth_date", "必填值为空", None),
    ]
    assert set(refused.get_column("file")) == {"town_code=1/part.parquet"}
    assert set(refused.get_column("resident_id")) == {"b", "c"}


def test_a_missing_required_column_refuses_the_dataset() -> None:
    frame = pl.DataFrame({"resident_id": ["a"], "birth_date": ["1990-01-05"]})
    with pytest.raises(InputError) as raised:
        check_rows(with_provenance(frame), POLICY)
    assert [problem.column for problem in raised.value.problems] == ["residence_registration_date"]


texts = st.one_of(
    st.none(),
    st.text(alphabet="0123456789-/.+eE x\t\u3000是否无TrueFalsenay１", max_size=12),
)


@given(st.lists(st.tuples(texts, texts, texts, texts, texts), min_size=1, max_size=40))
def test_the_two_checks_agree_on_any_text(rows: list[tuple[str | None, ...]]) -> None:
    frame = pl.DataFrame(
        rows,
        schema={
            "birth_date": pl.String,
            "residence_registration_date": pl.String,
            "social_insurance_months": pl.String,
            "social_insurance_current": pl.String,
            "volunteer_hours": pl.String,
        },
        orient="row",
    ).with_columns(resident_id=pl.int_range(pl.len()).cast(pl.String))
    checked = check_rows(with_provenance(frame), POLICY)
    assert refused_summary(checked.refused) == problems_of(frame)
