"""Typing raw inputs: defaults for what is optional, and for everything else a problem that
names the column, the count and up to ten residents."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from luodi.kernels.policy import CompiledPolicy, InputError, prepare_inputs


def csv_frame(rows: list[dict[str, str]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=dict.fromkeys(rows[0], pl.String))


def test_text_columns_are_typed_and_defaults_fill_gaps(demo_policy: CompiledPolicy) -> None:
    frame = csv_frame(
        [
            {
                "resident_id": "a",
                "birth_date": "1995-03-01",
                "education": " bachelor ",
                "permit_issue_date": "2021/01/01",
                "social_insurance_months": "61",
                "owns_home": "是",
            },
            {
                "resident_id": "b",
                "birth_date": "19900101",
                "education": "none",
                "permit_issue_date": "2020-05-05",
                "social_insurance_months": "",
                "owns_home": "false",
            },
        ]
    )
    typed = prepare_inputs(frame, demo_policy.policy)
    assert typed.schema["birth_date"] == pl.Date
    assert typed["birth_date"].to_list() == [date(1995, 3, 1), date(1990, 1, 1)]
    assert typed["social_insurance_months"].to_list() == [61, 0]
    assert typed["owns_home"].to_list() == [True, False]
    assert typed["volunteer_hours"].to_list() == [0.0, 0.0]  # column absent: default
    assert typed["education"].to_list() == ["bachelor", "none"]


def test_many_bad_dates_show_ten_ids_and_the_count(demo_policy: CompiledPolicy) -> None:
    rows = [
        {
            "resident_id": f"r{i}",
            "birth_date": "1990-13-01" if i % 2 else "1990-01-01",
            "education": "none",
            "permit_issue_date": "2020-01-01",
        }
        for i in range(40)
    ]
    with pytest.raises(InputError) as raised:
        prepare_inputs(csv_frame(rows), demo_policy.policy)
    [problem] = raised.value.problems
    assert problem.column == "birth_date"
    assert problem.count == 20
    assert list(problem.resident_ids) == [f"r{i}" for i in range(1, 20, 2)]
    assert "1990-13-01" in problem.values
    assert "YYYY-MM-DD" in problem.reason_en


def test_every_kind_of_bad_column_is_reported_together(demo_policy: CompiledPolicy) -> None:
    frame = csv_frame(
        [
            {
                "resident_id": "a",
                "birth_date": "",
                "education": "phd",
                "social_insurance_months": "12.5",
                "owns_home": "maybe",
            },
            {
                "resident_id": "a",
                "birth_date": "1990-01-01",
                "education": "none",
                "social_insurance_months": "12.0",
                "owns_home": "1",
            },
        ]
    )
    with pytest.raises(InputError) as raised:
        prepare_inputs(frame, demo_policy.policy)
    found = {
        (problem.column, problem.reason_en.split(" (")[0]) for problem in raised.value.problems
    }
    assert found == {
        ("resident_id", "resident id appears more than once"),
        ("birth_date", "required value is empty"),
        ("education", "value not declared"),
        ("social_insurance_months", "cannot be read as int"),
        ("owns_home", "cannot be read as bool"),
        ("permit_issue_date", "required column missing"),
    }
    by_column = {problem.column: problem for problem in raised.value.problems}
    assert by_column["education"].values == ("phd",)
    assert by_column["birth_date"].resident_ids == ("a",)


def test_missing_resident_id_column(demo_policy: CompiledPolicy) -> None:
    with pytest.raises(InputError) as raised:
        prepare_inputs(pl.DataFrame({"birth_date": ["1990-01-01"]}), demo_policy.policy)
    assert raised.value.problems[0].column == "resident_id"


def test_typed_parquet_like_columns_pass_through(demo_policy: CompiledPolicy) -> None:
    frame = pl.DataFrame(
        {
            "resident_id": [1, 2],
            "birth_date": [date(1990, 1, 1), date(1980, 1, 1)],
            "education": ["master", None],
            "permit_issue_date": [date(2020, 1, 1)] * 2,
            "social_insurance_months": [24.0, None],
            "convictions": [0, 1],
        }
    )
    with pytest.raises(InputError) as raised:
        prepare_inputs(frame, demo_policy.policy)
    assert [problem.column for problem in raised.value.problems] == ["education"]
    frame = frame.with_columns(pl.col("education").fill_null("none"))
    typed = prepare_inputs(frame, demo_policy.policy)
    assert typed["social_insurance_months"].to_list() == [24, 0]
