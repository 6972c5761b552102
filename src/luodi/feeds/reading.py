"""Opening a department's file as a lazy frame of text columns named as the feed declares.

CSV in UTF-8, UTF-8 with BOM or GBK/GB18030 (detected while the digest is computed, in one
streaming pass); a GB18030 file is transcoded to a temporary UTF-8 file in chunks, so no file
is ever held in memory whole. XLSX: the first sheet or a named one, read by fastexcel
(calamine), which holds the sheet in memory; an Excel sheet has at most 1,048,576 rows, and
a workbook that would expand far beyond its size is refused before the reader opens it
(``tabular.check_xlsx_size``). A CSV's structure is checked in one pass before it is read:
a row wider than the header, a quote never closed or a NUL character is refused naming
the row (``tabular.check_csv_shape``).

The header row is found among the first rows (title rows and two-level merged headers are
common): the row matching the most declared headers; an empty cell takes the header written
above it (a cell merged downwards). Rows are numbered as seen in the source (Excel's row
numbers; the CSV record number counting the header as row 1 when it is on the first line).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from luodi.errors import FieldProblem, Invalid
from luodi.kernels.feeds.checks import LINE
from luodi.kernels.feeds.spec import ColumnType, FeedSpec, normalise_header
from luodi.tabular import MAX_LISTED_PROBLEMS, check_csv_shape, check_xlsx_size, undecodable

if TYPE_CHECKING:
    import fastexcel

HEADER_SEARCH_ROWS = 20
CHUNK_BYTES = 1 << 22
PLAIN_CHUNK_BYTES = 1 << 24
XLSX_MAGIC = b"PK\x03\x04"
EXCEL_SUFFIXES = (".xlsx", ".xlsm")


@dataclass
class SourceTable:
    rows: pl.LazyFrame
    """Canonical column names (text) and ``_line``."""
    file_name: str
    digest: str
    encoding: str
    header_row: int
    headers: dict[str, str]
    """Canonical column → the header as written in the file."""
    ignored: list[str] = field(default_factory=list)
    """Headers in the file that the feed does not declare."""


@dataclass(frozen=True)
class Scanned:
    digest: str
    """SHA-256 of the bytes."""
    encoding: str
    """'utf-8', 'utf-8-sig' or 'gb18030'."""
    has_nul: bool
    """A 0x00 byte somewhere (never in text: the row is found and refused)."""


def scan_bytes(path: Path) -> Scanned:
    """Digest, encoding and NUL bytes, in one streaming pass."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8 = True
    has_nul = False
    first = b""
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK_BYTES):
            if not first:
                first = chunk[:3]
            digest.update(chunk)
            has_nul = has_nul or b"\x00" in chunk
            if utf8:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    utf8 = False
    if utf8:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8 = False
    if not utf8:
        return Scanned(digest.hexdigest(), "gb18030", has_nul)
    return Scanned(
        digest.hexdigest(), "utf-8-sig" if first == codecs.BOM_UTF8 else "utf-8", has_nul
    )


def _unreadable(path: Path, zh: str, en: str) -> Invalid:
    return Invalid(
        f"无法读取文件 {path.name}：{zh}",
        f"cannot read file {path.name}: {en}",
        [FieldProblem("file", path.name, zh, en, file=path.name)],
    )


def locate_header(
    spec: FeedSpec, top_rows: list[list[str | None]], file_name: str
) -> tuple[int, dict[int, str], list[str]]:
    """(header row index, column position → canonical name, ignored headers)."""
    names = spec.header_names()

    def matches(row: list[str | None]) -> dict[int, str]:
        found: dict[int, str] = {}
        for position, cell in enumerate(row):
            if cell is not None and (name := names.get(normalise_header(cell))):
                found.setdefault(position, name)
        return found

    best, best_index = {}, -1
    for index, row in enumerate(top_rows):
        found = matches(row)
        if len(set(found.values())) > len(set(best.values())):
            best, best_index = found, index
    if best_index < 0:
        accepted = "、".join(
            f"{name}（{'/'.join(column.headers)}）" if column.headers else name
            for name, column in spec.columns.items()
            if column.required
        )
        raise Invalid(
            f"文件 {file_name} 的前 {HEADER_SEARCH_ROWS} 行中找不到 {spec.label} 的表头；必需的列：{accepted}",
            f"file {file_name}: no header row of feed {spec.id} in the first "
            f"{HEADER_SEARCH_ROWS} rows; required columns: {accepted}",
            [
                FieldProblem(
                    "header", None, "找不到表头", "header row not found", file=file_name, row=1
                )
            ],
        )
    header = top_rows[best_index]
    # A header merged downwards (公民身份号码 over two header rows) is written above.
    for position in range(len(header)):
        if position in best or (header[position] or "").strip():
            continue
        for above in range(best_index - 1, -1, -1):
            cell = top_rows[above][position] if position < len(top_rows[above]) else None
            if cell and (name := names.get(normalise_header(cell))):
                if name not in best.values():
                    best[position] = name
                break
    seen: dict[str, int] = {}
    for position, name in sorted(best.items()):
        if name in seen:
            raise Invalid(
                f"文件 {file_name} 第 {best_index + 1} 行：列 {name} 出现了两次（第 {seen[name] + 1} 和第 {position + 1} 列）",
                f"file {file_name} row {best_index + 1}: column {name} appears twice "
                f"(columns {seen[name] + 1} and {position + 1})",
                [
                    FieldProblem(
                        name,
                        header[position],
                        "表头重复",
                        "header repeated",
                        file=file_name,
                        row=best_index + 1,
                    )
                ],
            )
        seen[name] = position
    missing = [
        name for name, column in spec.columns.items() if column.required and name not in seen
    ]
    if missing:
        raise Invalid(
            f"文件 {file_name} 缺少必需的列：{', '.join(missing)}",
            f"file {file_name} lacks required columns: {', '.join(missing)}",
            [
                FieldProblem(
                    name,
                    None,
                    f"缺少该列（可用表头：{'、'.join([name, *spec.columns[name].headers])}）",
                    f"column missing (accepted headers: {', '.join([name, *spec.columns[name].headers])})",
                    file=file_name,
                    row=best_index + 1,
                )
                for name in missing
            ],
        )
    ignored = [
        cell.strip()
        for position, cell in enumerate(header)
        if cell and cell.strip() and position not in best
    ]
    return best_index, best, ignored


def _not_blank(columns: list[str]) -> pl.Expr:
    return pl.any_horizontal(
        pl.col(name).is_not_null() & (pl.col(name).str.strip_chars() != "") for name in columns
    )


@contextmanager
def open_source(
    spec: FeedSpec, path: Path, sheet: str | None = None, file_name: str | None = None
) -> Iterator[SourceTable]:
    """The file as a :class:`SourceTable`; temporary files are removed on leaving."""
    shown = file_name or path.name
    if not path.is_file():
        raise Invalid(
            f"找不到文件 {path}",
            f"file not found: {path}",
            [FieldProblem("file", str(path), "文件不存在", "file does not exist", file=shown)],
        )
    if path.stat().st_size == 0:
        raise _unreadable(path, "文件是空的", "the file is empty")
    with path.open("rb") as stream:
        magic = stream.read(4)
    if magic == XLSX_MAGIC or path.suffix.lower() in EXCEL_SUFFIXES:
        yield _open_excel(spec, path, sheet, shown)
        return
    if path.suffix.lower() == ".xls":
        raise _unreadable(
            path,
            "不支持旧版 .xls，请另存为 .xlsx 或 CSV",
            "old .xls is not supported; save as .xlsx or CSV",
        )
    if sheet is not None:
        raise _unreadable(path, "--sheet 只用于 XLSX 文件", "--sheet applies to XLSX files only")
    scanned = scan_bytes(path)
    with tempfile.TemporaryDirectory(prefix="luodi-feed-") as workdir:
        text_path = path
        if scanned.encoding == "gb18030":
            text_path = Path(workdir) / "utf8.csv"
            decoder = codecs.getincrementaldecoder("gb18030")(errors="strict")
            try:
                with path.open("rb") as source, text_path.open("wb") as target:
                    while chunk := source.read(CHUNK_BYTES):
                        target.write(decoder.decode(chunk).encode("utf-8"))
                    target.write(decoder.decode(b"", final=True).encode("utf-8"))
            except UnicodeDecodeError:
                with path.open("rb") as lines:
                    raise undecodable(shown, lines) from None
        with text_path.open(encoding="utf-8-sig", newline="") as stream:
            top_rows: list[list[str | None]] = []
            try:
                for row in csv.reader(stream, strict=True):
                    top_rows.append(list(row))
                    if len(top_rows) >= HEADER_SEARCH_ROWS:
                        break
            except csv.Error:
                # A broken quote among the first rows: name its row rather than report a
                # missing header (the check meets the same error at the same record).
                stream.seek(0)
                check_csv_shape(stream, shown, header_index=len(top_rows))
        header_index, positions, ignored = locate_header(spec, top_rows, shown)
        width = len(top_rows[header_index])
        if scanned.has_nul or not _plain_shape_fits(text_path, header_index, width):
            # Quotes, a NUL, a lone carriage return, a row too wide: the csv reader decides
            # and names the row.
            with text_path.open(encoding="utf-8-sig", newline="") as stream:
                check_csv_shape(stream, shown, header_index=header_index, has_nul=scanned.has_nul)
        generic = [f"c{position}" for position in range(width)]
        rows = pl.scan_csv(
            text_path,
            has_header=False,
            skip_rows=header_index + 1,
            schema=dict.fromkeys(generic, pl.String),
            # The first data row may be blank or narrower than the header: its missing
            # cells are empty (no row is wider: the shape check refused that).
            missing_columns="insert",
            infer_schema=False,
            truncate_ragged_lines=True,
            row_index_name=LINE,
            row_index_offset=header_index + 2,
            encoding="utf8",
        )
        canonical = {f"c{position}": name for position, name in positions.items()}
        rows = rows.select(LINE, *[pl.col(c).alias(n) for c, n in canonical.items()]).filter(
            _not_blank(list(canonical.values()))
        )
        yield SourceTable(
            rows,
            shown,
            scanned.digest,
            scanned.encoding,
            header_index + 1,
            _written_headers(top_rows, header_index, positions),
            ignored,
        )


def _plain_shape_fits(path: Path, header_index: int, width: int) -> bool:
    """True when every record after the header of a file with no quote character and no lone
    carriage return (each line one record, as departments' exports mostly are) is at most
    ``width`` fields: the commas of each line counted by Polars, 16 MiB at a time (a million
    rows: 0.1 s instead of the csv reader's 0.5). False when the file is not that plain or
    a row is too wide, for :func:`check_csv_shape` to decide and name the row."""
    limit = csv.field_size_limit()
    skip = header_index + 1
    rest = b""
    with path.open("rb") as stream:
        while True:
            chunk = stream.read(PLAIN_CHUNK_BYTES)
            data = rest + chunk
            if chunk:
                cut = data.rfind(b"\n") + 1
                data, rest = data[:cut], data[cut:]
            if not data:
                if chunk and len(rest) < limit:
                    continue
                return not chunk
            if b'"' in data or data.count(b"\r") != data.count(b"\r\n"):
                return False
            lines = pl.Series([data.decode("utf-8")]).str.split("\n").explode()
            if skip:
                dropped = min(skip, lines.len())
                lines, skip = lines.slice(dropped), skip - dropped
            if lines.len() and (
                (lines.str.len_bytes().max() or 0) >= limit
                or (lines.str.count_matches(",", literal=True).max() or 0) >= width
            ):
                return False
            if not chunk:
                return True


def _open_excel(spec: FeedSpec, path: Path, sheet: str | None, shown: str) -> SourceTable:
    # Imported here: the Excel reader is a large native module most commands never need.
    import fastexcel

    digest = scan_bytes(path).digest
    check_xlsx_size(path, shown)
    try:
        reader = fastexcel.read_excel(path)
    except Exception as error:  # fastexcel raises its own types for a broken file
        raise _unreadable(
            path, f"不是有效的 XLSX 文件（{error}）", f"not a valid XLSX file ({error})"
        ) from None
    if sheet is not None and sheet not in reader.sheet_names:
        raise _unreadable(
            path,
            f"没有工作表 {sheet!r}；有：{'、'.join(reader.sheet_names)}",
            f"no sheet {sheet!r}; sheets: {', '.join(reader.sheet_names)}",
        )
    try:
        frame = reader.load_sheet(
            sheet if sheet is not None else 0, header_row=None, dtypes="string"
        ).to_polars()
    except Exception as error:  # a sheet the reader cannot parse (broken XML, references)
        reason = str(error).splitlines()[0][:200]
        raise _unreadable(
            path, f"工作表无法读取（{reason}）", f"the sheet cannot be read ({reason})"
        ) from None
    if frame.height == 0:
        raise _unreadable(path, "工作表是空的", "the sheet is empty")
    top_rows = [list(row) for row in frame.head(HEADER_SEARCH_ROWS).iter_rows()]
    header_index, positions, ignored = locate_header(spec, top_rows, shown)
    _refuse_numeric_identifiers(
        spec, reader, sheet if sheet is not None else 0, frame, header_index, positions, shown
    )
    rows = (
        frame.with_row_index(LINE, offset=1)
        .slice(header_index + 1)
        .select(
            pl.col(LINE).cast(pl.Int64),
            *[
                pl.col(frame.columns[p]).cast(pl.String).alias(name)
                for p, name in positions.items()
            ],
        )
    )
    rows = rows.filter(_not_blank(list(positions.values())))
    headers = _written_headers(top_rows, header_index, positions)
    return SourceTable(rows.lazy(), shown, digest, "xlsx", header_index + 1, headers, ignored)


TEXT_TYPES = (ColumnType.ID_NUMBER, ColumnType.CREDIT_CODE, ColumnType.STRING)
"""Columns of identifiers and text: a number cell in them is a code Excel took for a number."""
FLOAT_EXACT_DIGITS = 15
"""Excel keeps 15 significant digits, and a double cannot hold every 16-digit integer: a
number cell with more digits than this has lost its last ones (340522198305050376 is
stored as 340522198305050368, which may even pass the check digit)."""


def _refuse_numeric_identifiers(
    spec: FeedSpec,
    reader: fastexcel.ExcelReader,
    sheet: str | int,
    frame: pl.DataFrame,
    header_index: int,
    positions: dict[int, str],
    shown: str,
) -> None:
    """Refuse number cells of more than 15 digits in identifier and text columns, naming row
    and column. The sheet is read as text, which hides whether a cell was a number; such a
    cell reads as the double's exact value, so only digit strings a double holds exactly are
    candidates, and only then are those columns read again typed to see which were numbers
    (a 16+-digit number is too large for a date, so it is the one cell a date read reports as
    a number). Usually nothing is read twice."""
    text_positions = [p for p, name in positions.items() if spec.columns[name].type in TEXT_TYPES]
    candidates: list[tuple[int, int]] = []  # (row index in the sheet, column position)
    for position in text_positions:
        text = frame.get_column(frame.columns[position]).slice(header_index + 1).str.strip_chars()
        exact = text.cast(pl.Float64, strict=False).cast(pl.UInt64, strict=False).cast(pl.String)
        candidate = text.str.contains(rf"^\d{{{FLOAT_EXACT_DIGITS + 1},}}$") & (
            (exact == text.str.strip_chars_start("0")) | exact.is_null()
        )
        candidates += [(header_index + 1 + i, position) for i in candidate.arg_true().to_list()]
    if not candidates:
        return
    typed = reader.load_sheet(
        sheet,
        header_row=None,
        dtypes="date",
        use_columns=sorted({position for _, position in candidates}),
    )
    _, errors = typed.to_arrow_with_errors()
    numbers = {
        error.position
        for error in (errors.errors if errors is not None else [])
        if "Float(" in error.detail or "Int(" in error.detail
    }
    lost = [(row, position) for row, position in candidates if (row, position) in numbers]
    if not lost:
        return
    problems = []
    for row, position in lost[:MAX_LISTED_PROBLEMS]:
        name = positions[position]
        what = "身份证号" if spec.columns[name].type == ColumnType.ID_NUMBER else name
        what_en = "ID number" if spec.columns[name].type == ColumnType.ID_NUMBER else name
        problems.append(
            FieldProblem(
                name,
                frame.item(row, position),
                f"{what}被表格存成了数字，末几位已丢失；请把该列设为文本后重新导出",
                f"the spreadsheet stored the {what_en} as a number and its last digits are "
                "lost; set the column to text and export again",
                file=shown,
                row=row + 1,
            )
        )
    first = problems[0]
    raise Invalid(
        f"文件 {shown} 第 {first.row} 行 列 {first.field}：{first.reason_zh}"
        f"（共 {len(lost)} 个单元格）",
        f"file {shown} row {first.row} column {first.field}: {first.reason_en} ({len(lost)} cells)",
        problems,
    )


def _written_headers(
    top_rows: list[list[str | None]], header_index: int, positions: dict[int, str]
) -> dict[str, str]:
    """Canonical column → its header as written (the cell above for a downward merge)."""
    written: dict[str, str] = {}
    for position, name in positions.items():
        for index in range(header_index, -1, -1):
            row = top_rows[index]
            cell = row[position] if position < len(row) else None
            if cell and cell.strip():
                written[name] = cell.strip()
                break
        else:
            written[name] = name
    return written
