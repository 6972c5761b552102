"""Bad input to a feed is refused with the file, row and column named, never a 500: broken
CSV structure, undecodable bytes, NUL characters, dates out of range, numbers that are not
finite, an XLSX that would expand far beyond its size; and the refused-rows report never
holds a formula."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy.orm import Session

from luodi.auth.actor import SYSTEM_ACTOR
from luodi.errors import Invalid
from luodi.feeds import service
from luodi.feeds.schemas import ImportStatus
from tests.test_tabular import CELL, write_xlsx


def people(small_city: Path, count: int) -> list[str]:
    return pl.read_csv(small_city / "residents.csv", infer_schema=False)["id_number"][
        :count
    ].to_list()


def insurance_csv(small_city: Path, count: int = 3) -> str:
    rows = "".join(f"{person},2024,12\n" for person in people(small_city, count))
    return "公民身份号码,缴费年度,缴费月数\n" + rows


@pytest.mark.parametrize(
    ("extra", "row", "words"),
    [
        ("1,2,3,4\n", 5, "has 4 fields, more than the header's 3"),
        ('1,"2024,12\n', 5, "quote opened in this row is not closed"),
        ("1,20\x0024,12\n", 5, "NUL"),
    ],
)
def test_a_broken_csv_names_the_file_and_the_row(
    db: Session, small_city: Path, tmp_path: Path, extra: str, row: int, words: str
) -> None:
    path = tmp_path / "社保.csv"
    path.write_text(insurance_csv(small_city) + extra, encoding="utf-8")
    with pytest.raises(Invalid) as refused:
        service.import_file(SYSTEM_ACTOR, db, "social_insurance", path)
    assert f"file 社保.csv row {row}" in refused.value.message_en
    assert words in refused.value.message_en


def test_a_title_row_wider_than_the_header_is_not_a_wide_row(
    db: Session, small_city: Path, tmp_path: Path
) -> None:
    path = tmp_path / "titled.csv"
    path.write_text("2024 年社保缴费,,,,\n" + insurance_csv(small_city), encoding="utf-8")
    result = service.import_file(SYSTEM_ACTOR, db, "social_insurance", path)
    assert result.status == ImportStatus.IMPORTED and result.rows_imported == 3


def test_a_first_data_row_blank_or_narrow_reads_as_empty_cells(
    db: Session, small_city: Path, tmp_path: Path
) -> None:
    path = tmp_path / "narrow.csv"
    first = people(small_city, 1)[0]
    path.write_text(f"id_number,period,months_paid\n\n{first},2024\n", encoding="utf-8")
    result = service.import_file(SYSTEM_ACTOR, db, "social_insurance", path, dry_run=True)
    assert [(item.row, item.column) for item in result.rejections] == [(3, "months_paid")]


def test_bytes_in_no_known_encoding_name_the_row(db: Session, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(
        "公民身份号码,缴费年度,缴费月数\n".encode("gbk") + b"1,2024,12\n\x80\xff,1,1\n"
    )
    with pytest.raises(Invalid) as refused:
        service.import_file(SYSTEM_ACTOR, db, "social_insurance", path)
    assert "file bad.csv row 3" in refused.value.message_en
    assert "neither UTF-8 nor GBK" in refused.value.message_en


def test_records_with_nul_bad_dates_and_infinite_numbers_are_refused_by_row_and_column(
    db: Session, small_city: Path
) -> None:
    ids = people(small_city, 5)

    def record(number: int, **values: str) -> dict[str, str]:
        base = {
            "record_number": f"BAD-{number}",
            "id_number": ids[number],
            "kind": "volunteer",
            "record_date": "2025-06-01",
            "hours": "2",
        }
        return {**base, **values}

    result = service.import_records(
        SYSTEM_ACTOR,
        db,
        "volunteering_honours",
        [
            record(0, record_date="0000-01-01"),
            record(1, record_date="99999-01-01"),
            record(2, hours="nan"),
            record(3, title="a\x00b", kind="honour", level="县级"),
            record(4),
        ],
    )
    assert result.status == ImportStatus.REJECTED
    assert {(item.row, item.column) for item in result.rejections} == {
        (1, "record_date"),
        (2, "record_date"),
        (3, "hours"),
        (4, "title"),
    }
    reasons = {item.row: item.reason_en for item in result.rejections}
    assert reasons[1] == "date must be between 1900-01-01 and 2100-12-31"
    assert reasons[4] == "contains a NUL character (0x00)"


def test_an_xlsx_bomb_is_refused_before_it_is_opened(db: Session, tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "社保.xlsx",
        [
            '<row r="1"><c r="A1" t="inlineStr"><is><t>公民身份号码</t></is></c></row>',
            CELL.format(row=1048576, ref="XFD1048576", text="x"),
        ],
    )
    with pytest.raises(Invalid) as refused:
        service.import_file(SYSTEM_ACTOR, db, "social_insurance", path)
    assert "workbook too large" in refused.value.message_en
    assert "社保.xlsx" in refused.value.message_zh


def test_the_report_quotes_values_a_spreadsheet_would_evaluate(
    db: Session, small_city: Path, tmp_path: Path
) -> None:
    ids = people(small_city, 1)
    path = tmp_path / "inject.csv"
    pl.DataFrame(
        {
            "record_number": ['=HYPERLINK("http://evil","x")', "@SUM(1)"],
            "id_number": [ids[0], "-1+2"],
            "kind": ["volunteer", "volunteer"],
            "record_date": ["2025-06-01", "2025-06-01"],
            "hours": ["+99", "2"],
        }
    ).write_csv(path)
    result = service.import_file(
        SYSTEM_ACTOR, db, "volunteering_honours", path, report=tmp_path / "report"
    )
    assert result.status == ImportStatus.REJECTED
    csv_report = next(Path(name) for name in result.report_files if name.endswith(".csv"))
    values = pl.read_csv(csv_report, infer_schema=False)["值 value"].to_list()
    # The ID-number cell is masked (it no longer starts like a formula); the hours quoted.
    assert "'+99" in values and "****" in values and "-1+2" not in values
    assert not any(value[0] in "=+-@" for value in values)
    xlsx_report = next(Path(name) for name in result.report_files if name.endswith(".xlsx"))
    sheet = pl.read_excel(xlsx_report)
    assert sheet["行号 row"].dtype.is_integer()
    assert not any(value[0] in "=+-@" for value in sheet["值 value"].to_list())


def test_excel_libraries_load_only_when_a_workbook_is_read() -> None:
    probe = (
        "import sys\n"
        "import luodi.files, luodi.tabular\n"
        "from luodi.feeds import api, cli, reading, service\n"
        "heavy = ('fastexcel', 'xlsxwriter', 'openpyxl', 'calamine')\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] in heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_a_sheet_the_reader_cannot_parse_is_named(db: Session, tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "broken.xlsx", ['<row r="1"><c r="A1" t="s"><v>99</v></c></row>'])
    with pytest.raises(Invalid) as refused:
        service.import_file(SYSTEM_ACTOR, db, "social_insurance", path)
    assert "broken.xlsx: the sheet cannot be read" in refused.value.message_en


def test_an_open_quote_in_the_header_names_row_1(db: Session, tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text('公民身份号码,缴费年度,"缴费月数\n1,2024,12\n', encoding="utf-8")
    with pytest.raises(Invalid) as refused:
        service.import_file(SYSTEM_ACTOR, db, "social_insurance", path)
    assert "file header.csv row 1: a quote opened in this row" in refused.value.message_en
