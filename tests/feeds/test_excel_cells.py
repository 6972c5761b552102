"""What Excel does to typed values, as the feed reader meets it: an ID number stored as a
number (its last digits lost) is refused naming the cell; a month typed as 2025-01 (stored as
the date 2025-01-01) reads as that month."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter

from luodi.errors import Invalid
from luodi.feeds import catalog, reading
from luodi.kernels.feeds.checks import parse_period

LOST = 340522198305050376
"""As a double this is 340522198305050368, which happens to pass the check digit."""


def workbook(path: Path, rows: list[tuple[object, object, object]]) -> Path:
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet()
    month = book.add_format({"num_format": "mmm-yy"})
    sheet.write_row(0, 0, ["身份证号", "费款所属期", "缴费月数"])
    for index, (person, period, months) in enumerate(rows, start=1):
        if isinstance(person, int):
            sheet.write_number(index, 0, person)
        else:
            sheet.write_string(index, 0, str(person))
        if isinstance(period, datetime):
            sheet.write_datetime(index, 1, period, month)
        elif isinstance(period, int):
            sheet.write_number(index, 1, period)
        else:
            sheet.write_string(index, 1, str(period))
        sheet.write_number(index, 2, int(str(months)))
    book.close()
    return path


def read(path: Path) -> pl.DataFrame:
    with reading.open_source(catalog.find_feed("social_insurance"), path) as source:
        return source.rows.collect()


def test_an_id_number_stored_as_a_number_is_refused_naming_row_and_column(
    tmp_path: Path,
) -> None:
    path = workbook(
        tmp_path / "社保.xlsx",
        [(str(LOST), "2025-01", 1), (LOST, "2025-02", 1), (LOST, "2025-03", 1)],
    )
    with pytest.raises(Invalid) as refused:
        read(path)
    error = refused.value
    assert "身份证号被表格存成了数字，末几位已丢失；请把该列设为文本后重新导出" in error.message_zh
    assert "第 3 行" in error.message_zh and "id_number" in error.message_zh
    assert "stored the ID number as a number" in error.message_en
    assert "set the column to text" in error.message_en
    assert [(p.row, p.field, p.value) for p in error.details] == [
        (3, "id_number", "340522198305050368"),
        (4, "id_number", "340522198305050368"),
    ]


def test_an_id_number_as_text_that_a_double_could_hold_is_read(tmp_path: Path) -> None:
    # Text that looks like a double's exact value is read again typed, and is text.
    path = workbook(tmp_path / "社保.xlsx", [("340522198305050368", "2025-01", 1)])
    assert read(path)["id_number"].to_list() == ["340522198305050368"]


def test_short_numbers_in_an_id_column_are_left_to_the_check_digit(tmp_path: Path) -> None:
    # 15 digits fit a double exactly (old 15-digit ID numbers): the checks judge them.
    path = workbook(tmp_path / "社保.xlsx", [(110105491231002, "2025-01", 1)])
    assert read(path)["id_number"].to_list() == ["110105491231002"]


def test_a_month_typed_in_excel_reads_as_that_month(tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "社保.xlsx",
        [
            ("11010519491231002X", datetime(2025, 1, 1), 1),
            ("11010519491231002X", datetime(2025, 1, 15), 1),
            ("11010519491231002X", 2024, 12),
            ("11010519491231002X", 202502, 1),
        ],
    )
    periods = read(path).select(parse_period(pl.col("period")).alias("p"))["p"].to_list()
    assert periods == ["2025-01", None, "2024", "2025-02"]
