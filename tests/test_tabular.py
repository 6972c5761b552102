"""Reading tabular files safely: a CSV's structure, its encoding, an XLSX that would expand
far beyond its size, and reports that a spreadsheet never evaluates."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from luodi import tabular
from luodi.errors import Invalid
from luodi.tabular import (
    check_csv_bytes,
    check_csv_shape,
    check_xlsx_size,
    read_csv_strings,
    without_formulas,
)

SHEET_HEAD = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
)
WORKBOOK_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
        'package/2006/content-types"><Default Extension="rels" ContentType="application/'
        'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType='
        '"application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName='
        '"/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
        'officedocument.spreadsheetml.worksheet+xml"/></Types>'
    ),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
        'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://'
        'schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
        'Target="xl/workbook.xml"/></Relationships>'
    ),
    "xl/workbook.xml": (
        '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.'
        'org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/'
        'officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" '
        'r:id="rId1"/></sheets></workbook>'
    ),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
        'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://'
        'schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
        'Target="worksheets/sheet1.xml"/></Relationships>'
    ),
}


def write_xlsx(path: Path, rows: list[str] | None = None, *, repeat: int = 0) -> Path:
    """A minimal workbook with ``rows`` (``<row>`` elements) in its sheet, then ``repeat``
    copies of one small row: a sheet of any size from a few kilobytes, streamed."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, text in WORKBOOK_PARTS.items():
            archive.writestr(name, text)
        with archive.open("xl/worksheets/sheet1.xml", "w") as sheet:
            sheet.write(f"{SHEET_HEAD}<sheetData>".encode())
            for row in rows or []:
                sheet.write(row.encode())
            filler = b'<row><c t="inlineStr"><is><t>x</t></is></c></row>' * 1000
            for _ in range(repeat // 1000):
                sheet.write(filler)
            sheet.write(b"</sheetData></worksheet>")
    return path


CELL = '<row r="{row}"><c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c></row>'


def test_a_cell_far_away_is_refused_before_the_reader_allocates_it(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "far.xlsx",
        [
            CELL.format(row=1, ref="A1", text="id"),
            CELL.format(row=1048576, ref="XFD1048576", text="x"),
        ],
    )
    assert path.stat().st_size < 4_000
    with pytest.raises(Invalid) as refused:
        check_xlsx_size(path, "far.xlsx")
    assert "1,048,576 rows × 16,384 columns" in refused.value.message_en
    assert "far.xlsx" in refused.value.message_zh


def test_a_sheet_unpacking_far_beyond_its_size_is_refused_from_the_directory(
    tmp_path: Path,
) -> None:
    # 70 MB of XML in well under 1 MB: refused from the zip's directory, never decompressed.
    path = write_xlsx(tmp_path / "bomb.xlsx", repeat=1_400_000)
    size = path.stat().st_size
    unpacked = sum(part.file_size for part in zipfile.ZipFile(path).infolist())
    assert size < 1_000_000 and unpacked > 100 * size and unpacked > tabular.XLSX_RATIO_FROM_BYTES
    with pytest.raises(Invalid) as refused:
        check_xlsx_size(path, "bomb.xlsx")
    assert "unpack to" in refused.value.message_en


def test_the_refusal_keeps_memory_low(tmp_path: Path) -> None:
    """In a process of its own: the peak memory of refusing a workbook that would need
    gigabytes stays that of the interpreter with Polars loaded."""
    far = write_xlsx(
        tmp_path / "far.xlsx",
        [
            CELL.format(row=1, ref="A1", text="id"),
            CELL.format(row=1048576, ref="XFD1048576", text="x"),
        ],
    )
    bomb = write_xlsx(tmp_path / "bomb.xlsx", repeat=1_400_000)
    # VmHWM is the peak of this process image (ru_maxrss would carry over the parent's
    # across exec).
    probe = (
        "import re, sys\n"
        "from pathlib import Path\n"
        "from luodi.errors import Invalid\n"
        "from luodi.files import read_table\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n"
        "        read_table(Path(name))\n"
        "    except Invalid:\n"
        "        pass\n"
        "    else:\n"
        "        raise SystemExit('read: ' + name)\n"
        "status = open('/proc/self/status').read()\n"
        "print(int(re.search(r'VmHWM:\\s+(\\d+)', status).group(1)) // 1024)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, str(far), str(bomb)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    # Reading the far cell alone asks the reader for 17 billion cells (hundreds of GB).
    assert int(result.stdout) < 300


def test_an_ordinary_workbook_passes_and_a_damaged_one_is_named(tmp_path: Path) -> None:
    frame = pl.DataFrame({"id": [str(n) for n in range(5_000)], "name": ["张三"] * 5_000})
    frame.write_excel(tmp_path / "ok.xlsx")
    check_xlsx_size(tmp_path / "ok.xlsx", "ok.xlsx")
    damaged = tmp_path / "damaged.xlsx"
    damaged.write_bytes((tmp_path / "ok.xlsx").read_bytes()[:2_000])
    with pytest.raises(Invalid) as refused:
        check_xlsx_size(damaged, "damaged.xlsx")
    assert "not a valid XLSX" in refused.value.message_en


def test_the_cell_limit_counts_the_rectangle_not_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tabular, "XLSX_MAX_CELLS", 1_000)
    rows = [CELL.format(row=n, ref=f"A{n}", text="x") for n in range(1, 900)]
    check_xlsx_size(write_xlsx(tmp_path / "tall.xlsx", rows), "tall.xlsx")
    wide = [*rows, CELL.format(row=900, ref="B900", text="x")]
    with pytest.raises(Invalid):
        check_xlsx_size(write_xlsx(tmp_path / "wide.xlsx", wide), "wide.xlsx")


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("data", "row", "words"),
    [
        (b"a,b,c\n1,2,3\n4,5,6,7\n", 3, "has 4 fields, more than the header's 3"),
        (b'a,b,c\n1,2,3\n4,"5,6\n7,8,9\n', 3, "quote opened in this row is not closed"),
        (b'a,b,c\n1,"2"x,3\n', 2, "quote opened in this row is not closed"),
        (b"a,b,c\n1,2,3\n4,5\x00,6\n", 3, "NUL"),
        (b"a,b,c\n1,2,3\n\xff\xfe,5,6\n", 3, "neither UTF-8 nor GBK"),
    ],
)
def test_broken_csv_is_refused_naming_the_row(
    tmp_path: Path, data: bytes, row: int, words: str
) -> None:
    with pytest.raises(Invalid) as refused:
        read_csv_strings(write(tmp_path / "in.csv", data), [])
    assert words in refused.value.message_en
    assert f"file in.csv row {row}" in refused.value.message_en
    assert refused.value.details[0].row == row


def refusal(check: Callable[[], None]) -> str | None:
    try:
        check()
    except Invalid as refused:
        return refused.message_en
    return None


CSV_PIECES = ["a", "b", ",", "\n", "\r\n", "张"]
"""What a file the count can check is made of; quotes, NUL and a lone CR send it to the reader."""


@given(
    st.lists(st.sampled_from(CSV_PIECES), max_size=40)
    | st.lists(st.sampled_from([*CSV_PIECES, '"', "\r", "\x00"]), max_size=40)
)
@example(["\n", "a", ",", "b"])
@example(["a", ",", "b", "\n", "1", ",", "2", ",", "3", "\r\n"])
def test_the_bytes_check_refuses_what_the_reader_refuses(pieces: list[str]) -> None:
    """The counted shortcut and the ``csv`` reader agree on every file: same row, same
    words (files with quotes or NUL go to the reader; the others are counted)."""
    data = "".join(pieces).encode()
    if not data.strip():
        return
    stream = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline="")
    reader = refusal(lambda: check_csv_shape(stream, "in.csv", has_nul=b"\x00" in data))
    assert refusal(lambda: check_csv_bytes(data, "in.csv")) == reader


def test_the_bytes_check_counts_a_long_quoteless_file(tmp_path: Path) -> None:
    rows = [b"id,name,town"] + [b"%d,n%d,t" % (i, i) for i in range(1, 5000)]
    rows[3000] += b",extra"
    with pytest.raises(Invalid) as refused:
        check_csv_bytes(b"\r\n".join(rows), "big.csv")
    assert refused.value.message_en.startswith("file big.csv row 3001: has 4 fields")


def test_narrow_rows_and_quoted_commas_are_fine(tmp_path: Path) -> None:
    frame = read_csv_strings(write(tmp_path / "ok.csv", b'a,b,c\n1,"2,5",3\n4\n'), ["a"])
    assert frame.rows() == [(2, "1", "2,5", "3"), (3, "4", None, None)]


def test_report_cells_that_would_be_formulas_are_quoted() -> None:
    frame = pl.DataFrame(
        {
            "row": [2, 3, 4, 5, 6, 7],
            "value": ['=HYPERLINK("http://x")', "+1", "-2+3", "@SUM(A1)", "\tx", "张三"],
        }
    )
    safe = without_formulas(frame)
    assert safe["value"].to_list() == [
        '\'=HYPERLINK("http://x")',
        "'+1",
        "'-2+3",
        "'@SUM(A1)",
        "'\tx",
        "张三",
    ]
    assert safe["row"].to_list() == [2, 3, 4, 5, 6, 7]


def test_a_workbook_of_sixty_megabytes_in_a_quarter_of_one_is_refused(tmp_path: Path) -> None:
    """Below the old 64 MiB floor: 257 KB unpacking to 59 MB made the server read 1.2 million
    cells (half a gigabyte each time); the ratio now applies from 16 MiB."""
    path = write_xlsx(tmp_path / "dense.xlsx", repeat=1_200_000)
    size = path.stat().st_size
    unpacked = sum(part.file_size for part in zipfile.ZipFile(path).infolist())
    assert (16 << 20) < unpacked < (64 << 20) and unpacked > 100 * size
    with pytest.raises(Invalid):
        check_xlsx_size(path, "dense.xlsx")
