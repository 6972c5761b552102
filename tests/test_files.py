"""Plain files in (``luodi allocate``, application files): a broken CSV or an oversized XLSX
is refused naming the file and the row, by the reader every command shares."""

from __future__ import annotations

from pathlib import Path

import pytest
import xlsxwriter

from luodi.errors import Invalid
from luodi.files import read_table
from tests.test_cli import run_luodi
from tests.test_tabular import CELL, write_xlsx

CAPACITIES = "target_id,capacity\nS1,1\n"


def test_luodi_allocate_refuses_a_wide_row_naming_file_and_row(tmp_path: Path) -> None:
    (tmp_path / "A.csv").write_text(
        "applicant_id,points,priority_group,choices\na1,80,0,S1\na2,90,0,S1,S2\n",
        encoding="utf-8",
    )
    (tmp_path / "C.csv").write_text(CAPACITIES, encoding="utf-8")
    result = run_luodi(
        "allocate",
        "--method",
        "deferred-acceptance",
        "--applicants",
        "A.csv",
        "--capacities",
        "C.csv",
        "--seed",
        "1",
        "--output",
        "out.csv",
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "file A.csv row 3: has 5 fields, more than the header's 4" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out.csv").exists()


def test_an_unterminated_quote_in_an_application_file(tmp_path: Path) -> None:
    path = tmp_path / "applications.csv"
    path.write_text('id_number,school\n1,"A\n2,B\n', encoding="utf-8")
    with pytest.raises(Invalid) as refused:
        read_table(path)
    assert refused.value.details[0].row == 2
    assert "applications.csv" in refused.value.message_zh


def test_an_xlsx_spanning_billions_of_cells_is_not_opened(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "applicants.xlsx",
        [
            CELL.format(row=1, ref="A1", text="id"),
            CELL.format(row=1048576, ref="XFD1048576", text="x"),
        ],
    )
    with pytest.raises(Invalid) as refused:
        read_table(path)
    assert "workbook too large" in refused.value.message_en


def test_old_xls_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "old.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(Invalid) as refused:
        read_table(path)
    assert "old.xls" in refused.value.message_en


def test_an_id_number_column_held_as_numbers_is_refused_naming_the_row(tmp_path: Path) -> None:
    path = tmp_path / "申请.xlsx"
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, ["id_number", "points"])
    sheet.write_row(1, 0, [340522198305050376, 12])  # a double: …368, the last digits lost
    book.close()
    with pytest.raises(Invalid) as refused:
        read_table(path)
    assert "第 2 行 列 id_number" in refused.value.message_zh
    assert "身份证号被表格存成了数字，末几位已丢失" in refused.value.message_zh
    assert "set the column to text" in refused.value.message_en
    # Other numbers of that size are not ID numbers: left alone.
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, ["id_number", "amount"])
    sheet.write_row(1, 0, ["340522198305050376", 10**16])
    book.close()
    assert read_table(path)["id_number"].to_list() == ["340522198305050376"]
