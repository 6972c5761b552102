"""Reading tabular files and collecting row-level problems, shared by every bulk path.

A problem names the file, the row as seen in the source (the header is row 1), the column,
the value and the reason in Chinese and English. A batch with any problem writes nothing.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import polars as pl

from luodi.errors import FieldProblem, Invalid

LINE = "_line"
"""Column added to every frame read: the row number as seen in the source file."""

MAX_LISTED_PROBLEMS = 50

REPORTED_PROBLEMS = 10_000
"""Problems kept for a report file (``luodi load``'s): the terminal shows a few, the file
lists these, so that a city with many bad rows is not fixed fifty at a time."""


def _refused(file_name: str, row: int | None, field_name: str, zh: str, en: str) -> Invalid:
    where_zh = f"文件 {file_name}" + (f" 第 {row} 行" if row is not None else "")
    where_en = f"file {file_name}" + (f" row {row}" if row is not None else "")
    return Invalid(
        f"{where_zh}：{zh}",
        f"{where_en}: {en}",
        [FieldProblem(field_name, None, zh, en, file=file_name, row=row)],
    )


def _first_undecodable_line(lines: Iterable[bytes]) -> tuple[int, int] | None:
    """(line, byte in it) of the first line that is not GB18030 (nor therefore UTF-8 ASCII).
    Lines split at ``\\n`` decode one by one: in neither encoding does that byte occur
    inside a character."""
    for number, line in enumerate(lines, start=1):
        try:
            line.decode("gb18030")
        except UnicodeDecodeError as error:
            return number, error.start + 1
    return None


def undecodable(file_name: str, lines: Iterable[bytes]) -> Invalid:
    """The refusal of a file that is neither UTF-8 nor GB18030, naming its first bad line."""
    found = _first_undecodable_line(lines)
    row, at_zh, at_en = None, "", ""
    if found is not None:
        row, byte = found
        at_zh, at_en = f"（该行第 {byte} 个字节）", f" (byte {byte} of the row)"
    return _refused(
        file_name,
        row,
        "encoding",
        f"既不是 UTF-8 也不是 GBK/GB18030 编码{at_zh}；请另存为 UTF-8 的 CSV",
        f"neither UTF-8 nor GBK/GB18030{at_en}; save it as a UTF-8 CSV",
    )


def as_utf8(data: bytes, file_name: str = "") -> bytes:
    """UTF-8 (with or without BOM) as it is; otherwise GB18030, a superset of GBK and GB2312;
    anything else is refused naming the first line that is neither."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            return data.decode("gb18030").encode("utf-8")
        except UnicodeDecodeError:
            raise undecodable(file_name, io.BytesIO(data)) from None
    return data.removeprefix(b"\xef\xbb\xbf")


def _too_wide(file_name: str, row: int, fields: int, width: int) -> Invalid:
    return _refused(
        file_name,
        row,
        "row",
        f"有 {fields} 个字段，多于表头的 {width} 个（值中的逗号要加引号）",
        f"has {fields} fields, more than the header's {width} "
        "(a comma inside a value must be quoted)",
    )


def check_csv_shape(
    text: IO[str], file_name: str, *, header_index: int = 0, has_nul: bool = False
) -> None:
    """Refuse a CSV whose structure is broken, naming the row (the line a record starts on):
    a record with more fields than the header (a stray comma: its values would slide into the
    wrong columns), a quote that is never closed or is followed by other text (the rest of
    the file would become one value), and, when ``has_nul`` (the caller saw a 0x00 byte), a
    record with a NUL character (a damaged or binary file; databases refuse it in text).

    ``header_index`` is the record holding the header (title rows above it are not checked).
    A record narrower than the header is fine: its missing cells are empty. One pass of the C
    ``csv`` reader, 0.4–0.65 s per million rows (a whole import of them: 16–40 s)."""
    reader = csv.reader(text, strict=True)
    start = 1
    width = 0
    try:
        for index, record in enumerate(reader):
            if index == header_index:
                width = len(record)
            elif index > header_index and len(record) > width:
                raise _too_wide(file_name, start, len(record), width)
            if has_nul and any("\x00" in value for value in record):
                raise _refused(
                    file_name,
                    start,
                    "row",
                    "含有空字符（NUL，0x00）：文件已损坏或不是文本文件",
                    "contains a NUL character (0x00): the file is damaged or not text",
                )
            start = reader.line_num + 1
    except csv.Error as error:
        raise _refused(
            file_name,
            start,
            "row",
            f"从此行开始的引号没有正确闭合（{error}）",
            f"a quote opened in this row is not closed properly ({error})",
        ) from None


def _record_lines(data: bytes) -> pl.Series | None:
    """The lines of a UTF-8 file if each is one record whose fields are its commas plus one:
    no quote, no NUL, no carriage return but in CRLF, no line the ``csv`` reader would refuse
    as too long, and a header that is not blank. ``None`` for any other file."""
    if (
        b'"' in data
        or b"\x00" in data
        or (b"\r" in data and data.count(b"\r") != data.count(b"\r\n"))
    ):
        return None
    lines = pl.Series([data.decode()]).str.split("\n").explode()
    if (lines.str.len_bytes().max() or 0) >= csv.field_size_limit() or not lines[0].rstrip("\r"):
        return None
    return lines


def check_csv_bytes(data: bytes, file_name: str) -> None:
    """:func:`check_csv_shape` of a whole UTF-8 file (header on its first line). Where every
    line is one record, the widths are its commas counted by Polars (100,000 rows: 8 ms
    instead of the reader's 50); any other file is read by the reader."""
    lines = _record_lines(data)
    if lines is None:
        check_csv_shape(
            io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline=""),
            file_name,
            has_nul=b"\x00" in data,
        )
        return
    commas = lines.str.count_matches(",", literal=True)
    wider = (commas > commas[0]).arg_true()
    if wider.len():
        row = wider[0]
        raise _too_wide(file_name, row + 1, commas[row] + 1, commas[0] + 1)


def read_csv_strings(path: Path, required: Iterable[str]) -> pl.DataFrame:
    """Every column as text (types are checked by the caller, with reasons), plus ``_line``."""
    if not path.exists():
        raise Invalid(
            f"找不到文件 {path}",
            f"file not found: {path}",
            [FieldProblem("file", str(path), "文件不存在", "file does not exist", file=path.name)],
        )
    data = as_utf8(path.read_bytes(), path.name)
    if not data.strip():
        raise Invalid(f"文件 {path.name} 是空的", f"file {path.name} is empty")
    check_csv_bytes(data, path.name)
    try:
        frame = pl.read_csv(data, infer_schema=False)
    except pl.exceptions.PolarsError as error:
        # What the shape check lets through and Polars still cannot split (an odd number of
        # quotes inside an unquoted value): the file is named, the parser's first line kept.
        reason = str(error).splitlines()[0][:200]
        raise _refused(
            path.name, None, "file", f"无法解析 CSV（{reason}）", f"cannot parse CSV ({reason})"
        ) from None
    frame = frame.rename({name: name.strip() for name in frame.columns})
    missing = [name for name in required if name not in frame.columns]
    if missing:
        raise Invalid(
            f"文件 {path.name} 缺少列：{', '.join(missing)}",
            f"file {path.name} lacks columns: {', '.join(missing)}",
            [
                FieldProblem(name, None, "缺少该列", "column missing", file=path.name, row=1)
                for name in missing
            ],
        )
    return frame.with_columns(pl.col(pl.String).str.strip_chars()).with_row_index(LINE, offset=2)


@dataclass
class Problems:
    """Collects row problems across a whole batch, then raises them together."""

    problems: list[FieldProblem] = field(default_factory=list)
    total: int = 0
    limit: int = MAX_LISTED_PROBLEMS
    """How many are kept to be listed; the rest are only counted."""

    def add(self, problem: FieldProblem) -> None:
        self.total += 1
        if len(self.problems) < self.limit:
            self.problems.append(problem)

    def flag(
        self,
        file: str,
        frame: pl.DataFrame,
        bad: pl.Expr,
        column: str,
        reason_zh: str,
        reason_en: str,
    ) -> None:
        """Record every row of ``frame`` where ``bad`` is true."""
        for line, value in frame.filter(bad.fill_null(False)).select(LINE, column).iter_rows():
            self.add(FieldProblem(column, value, reason_zh, reason_en, file=file, row=line))

    def raise_if_any(self, what_zh: str, what_en: str) -> None:
        if not self.total:
            return
        first = self.problems[0]
        shown = f"（仅列出前 {len(self.problems)} 条）" if self.total > len(self.problems) else ""
        shown_en = (
            f" (first {len(self.problems)} listed)" if self.total > len(self.problems) else ""
        )
        raise Invalid(
            f"{what_zh}：发现 {self.total} 处错误{shown}，未写入任何数据。第一处：{first.describe('zh')}",
            f"{what_en}: {self.total} problem{'s' if self.total != 1 else ''} found{shown_en}; "
            "nothing was written. "
            f"First: {first.describe('en')}",
            self.problems,
        )


FORMULA_START = r"^[=+\-@\t\r]"
"""What makes a spreadsheet read a text cell as a formula (or, after a tab or CR, as one
once the cell is split)."""


def without_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """Every text cell that a spreadsheet would evaluate (``=HYPERLINK(…)``, ``+1``,
    ``-2+3``, ``@SUM``) prefixed with a single quote, so that a report written from values
    someone sent us shows them as text (CSV injection). Number columns are left alone."""
    return frame.with_columns(
        pl.when(pl.col(name).str.contains(FORMULA_START))
        .then(pl.lit("'") + pl.col(name))
        .otherwise(pl.col(name))
        .alias(name)
        for name, dtype in frame.schema.items()
        if dtype == pl.String
    )


def parse_date(column: str) -> pl.Expr:
    return pl.col(column).str.to_date("%Y-%m-%d", strict=False)


def is_given(column: str) -> pl.Expr:
    return pl.col(column).is_not_null() & (pl.col(column) != "")


TRUE_WORDS = ["true", "1", "yes", "y", "是", "有"]
FALSE_WORDS = ["false", "0", "no", "n", "否", "无", ""]


def parse_bool(column: str) -> pl.Expr:
    lowered = pl.col(column).str.to_lowercase()
    return (
        pl.when(lowered.is_in(TRUE_WORDS))
        .then(True)
        .when(lowered.is_in(FALSE_WORDS) | lowered.is_null())
        .then(False)
        .otherwise(None)
    )


XLSX_MAX_UNPACKED_BYTES = 1 << 30
"""An XLSX never unpacks to more than 1 GiB of XML, whatever its size."""
XLSX_MAX_RATIO = 100
"""Nor to more than 100 × its own size (ordinary workbooks: 5–20 ×) ..."""
XLSX_RATIO_FROM_BYTES = 16 << 20
"""... once past 16 MiB unpacked (a 257 KB file of 59 MB of XML cost the server half a GB to
read, four at once 1.9 GB)."""
XLSX_MAX_CELLS = 10_000_000
"""Cells in the rectangle a sheet spans (the reader allocates every one, filled or not):
1,048,576 rows × 9 columns, or 100,000 rows × 100; about 700 MB for the reader at most."""
XLSX_SCAN_BYTES = 1 << 22
_SHEET_PART = re.compile(r"^xl/worksheets/[^/]+\.xml$")
# Two passes with one group each beat one with two: the C set() then does the reducing.
_CELL_COLUMN = re.compile(rb' r="([A-Z]{1,3})[0-9]')
_CELL_ROW = re.compile(rb' r="[A-Z]{1,3}([0-9]{1,7})"')
_DIMENSION = re.compile(
    rb'<(?:\w+:)?dimension\s+ref="([A-Z]{1,3})?([0-9]{1,7})?:?([A-Z]{1,3})?([0-9]{1,7})?"'
)


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


def _too_big(file_name: str, zh: str, en: str) -> Invalid:
    return _refused(
        file_name, None, "file", f"工作簿过大，拒绝展开：{zh}", f"workbook too large to open: {en}"
    )


def _sheet_span(file_name: str, part: str, stream: IO[bytes]) -> None:
    """Stream one sheet's XML (never held whole) and refuse it as soon as the rectangle its
    cell references span, or the cells it holds, pass ``XLSX_MAX_CELLS``. A cell far away
    (``XFD1048576`` in a 2 KB file) makes the reader allocate every cell up to it."""
    rows = columns = cells = 0
    tail = b""
    first = True
    while chunk := stream.read(XLSX_SCAN_BYTES):
        if first and (dimension := _DIMENSION.search(chunk)):
            start_col, start_row, end_col, end_row = dimension.groups()
            declared = _column_number(end_col or start_col or b"A") * int(end_row or start_row or 1)
            if declared > XLSX_MAX_CELLS:
                raise _too_big(
                    file_name,
                    f"{part} 声明的范围有 {declared:,} 个单元格（上限 {XLSX_MAX_CELLS:,}）",
                    f"{part} declares {declared:,} cells (limit {XLSX_MAX_CELLS:,})",
                )
        first = False
        # Overlap the chunks by a reference's length so that none is cut in two.
        window = tail + chunk
        cells += chunk.count(b"<c ") + chunk.count(b"<c>")
        columns = max(columns, 0, *map(_column_number, set(_CELL_COLUMN.findall(window))))
        rows = max(rows, 0, *map(int, set(_CELL_ROW.findall(window))))
        tail = window[-24:]
        spanned = max(rows, 1) * max(columns, 1)
        if spanned > XLSX_MAX_CELLS or cells > XLSX_MAX_CELLS:
            raise _too_big(
                file_name,
                f"{part} 跨越 {rows:,} 行 × {columns:,} 列、含 {cells:,} 个单元格"
                f"（上限 {XLSX_MAX_CELLS:,}）；请删除远处的单元格或拆分文件",
                f"{part} spans {rows:,} rows × {columns:,} columns with {cells:,} cells "
                f"(limit {XLSX_MAX_CELLS:,}); delete far-away cells or split the file",
            )


def check_xlsx_size(path: Path, file_name: str) -> None:
    """Refuse an XLSX that would expand far beyond its size, before any reader expands it.

    The zip's central directory gives each part's unpacked size: their sum must stay under
    ``XLSX_MAX_UNPACKED_BYTES`` and, past ``XLSX_RATIO_FROM_BYTES``, under
    ``XLSX_MAX_RATIO`` × the file's size. Each sheet is then streamed once (the zip reader
    stops at the declared size and checks the CRC, so a part that lies about its size is
    refused as damaged) to bound the cells it makes the reader allocate."""
    size = path.stat().st_size
    try:
        with zipfile.ZipFile(path) as archive:
            parts = archive.infolist()
            unpacked = sum(part.file_size for part in parts)
            ratio = unpacked / max(size, 1)
            if unpacked > XLSX_MAX_UNPACKED_BYTES or (
                unpacked > XLSX_RATIO_FROM_BYTES and ratio > XLSX_MAX_RATIO
            ):
                raise _too_big(
                    file_name,
                    f"{size:,} 字节的文件解压后有 {unpacked:,} 字节（{ratio:,.0f} 倍；"
                    f"上限 {XLSX_MAX_UNPACKED_BYTES:,} 字节、{XLSX_MAX_RATIO} 倍）",
                    f"{size:,} bytes unpack to {unpacked:,} ({ratio:,.0f} ×; limits "
                    f"{XLSX_MAX_UNPACKED_BYTES:,} bytes, {XLSX_MAX_RATIO} ×)",
                )
            for part in parts:
                if _SHEET_PART.match(part.filename):
                    with archive.open(part) as stream:
                        _sheet_span(file_name, part.filename, stream)
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        zlib.error,
        EOFError,
        NotImplementedError,
    ) as error:
        raise _refused(
            file_name,
            None,
            "file",
            f"不是有效的 XLSX 文件（压缩包已损坏或加密：{error}）",
            f"not a valid XLSX file (damaged or encrypted archive: {error})",
        ) from None
