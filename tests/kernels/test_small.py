"""Kernels on one resident's few rows: the engine chosen by size, and results kept by the
inputs' values — never by who they belong to, never handed out to be changed."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from luodi.kernels import small
from luodi.kernels.small import engine_for, small_memo
from luodi.kernels.timeline import permit_timeline


def test_the_engine_is_in_memory_for_few_rows_only() -> None:
    assert engine_for(0) == engine_for(small.SMALL_ROWS) == "in-memory"
    assert engine_for(small.SMALL_ROWS + 1) == "auto"


def counted() -> tuple[list[object], object]:
    calls: list[object] = []

    @small_memo
    def doubled(frame: pl.DataFrame, factor: float = 2.0) -> pl.DataFrame:
        calls.append(factor)
        return frame.with_columns(pl.col("x") * factor)

    return calls, doubled


def test_a_result_is_kept_by_the_values_of_the_inputs() -> None:
    calls, doubled = counted()
    frame = pl.DataFrame({"x": [1.0, 2.0]})
    first = doubled(frame)  # type: ignore[operator]
    assert doubled(pl.DataFrame({"x": [1.0, 2.0]})).equals(first)  # type: ignore[operator]
    assert len(calls) == 1
    # Another value, another type, another argument: computed.
    assert doubled(pl.DataFrame({"x": [1.0, 3.0]}))["x"].to_list() == [2.0, 6.0]  # type: ignore[operator]
    doubled(pl.DataFrame({"x": [1, 2]}))  # type: ignore[operator]
    doubled(frame, factor=3.0)  # type: ignore[operator]
    doubled(pl.DataFrame({"x": [-0.0, 2.0]}), factor=-0.0)  # type: ignore[operator]
    doubled(pl.DataFrame({"x": [-0.0, 2.0]}), factor=0.0)  # type: ignore[operator]
    assert len(calls) == 6


def test_a_kept_frame_is_handed_out_as_a_copy() -> None:
    calls, doubled = counted()
    frame = pl.DataFrame({"x": [1.0]})
    mine = doubled(frame)  # type: ignore[operator]
    mine.insert_column(1, pl.Series("y", [0]))
    mine[0, "x"] = 99.0
    assert doubled(frame).columns == ["x"]  # type: ignore[operator]
    assert doubled(frame)["x"].to_list() == [2.0]  # type: ignore[operator]
    assert len(calls) == 1


def test_large_or_lazy_inputs_are_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    calls, doubled = counted()
    monkeypatch.setattr(small, "MEMO_ROWS", 2)
    large = pl.DataFrame({"x": [1.0, 2.0, 3.0]})
    doubled(large)  # type: ignore[operator]
    doubled(large)  # type: ignore[operator]
    assert len(calls) == 2
    assert doubled.cache_size() == 0  # type: ignore[attr-defined]


def test_the_oldest_result_goes_first(monkeypatch: pytest.MonkeyPatch) -> None:
    calls, doubled = counted()
    monkeypatch.setattr(small, "MEMO_SIZE", 2)
    for value in (1.0, 2.0, 1.0, 3.0):  # 1 used again: 2 is the oldest when 3 comes
        doubled(pl.DataFrame({"x": [value]}))  # type: ignore[operator]
    assert doubled.cache_size() == 2  # type: ignore[attr-defined]
    doubled(pl.DataFrame({"x": [1.0]}))  # type: ignore[operator]
    assert len(calls) == 3
    doubled(pl.DataFrame({"x": [2.0]}))  # type: ignore[operator]
    assert len(calls) == 4


def test_a_kept_permit_time_line_is_the_computed_one() -> None:
    permits = pl.DataFrame(
        {
            "resident_id": [1],
            "permit_number": ["P1"],
            "issue_date": [date(2020, 5, 1)],
            "expiry_date": [date(2030, 5, 1)],
            "status": ["valid"],
        }
    )
    endorsed = pl.DataFrame(
        {"resident_id": [1], "permit_number": ["P1"], "endorsed_on": [date(2021, 4, 20)]},
        schema={"resident_id": pl.Int64, "permit_number": pl.String, "endorsed_on": pl.Date},
    )
    computed = permit_timeline.__wrapped__(permits, endorsed, date(2022, 6, 1))  # type: ignore[attr-defined]
    assert permit_timeline(permits, endorsed, date(2022, 6, 1)).equals(computed)
    assert permit_timeline(permits, endorsed, date(2022, 6, 1)).equals(computed)
    assert computed["permit_state"].to_list() == ["suspended"]  # 2022's anniversary missed
    # An endorsement sent since: another input, another answer.
    late = pl.concat([endorsed, endorsed.with_columns(endorsed_on=pl.lit(date(2022, 4, 15)))])
    assert permit_timeline(permits, late, date(2022, 6, 1))["permit_state"].to_list() == ["valid"]
