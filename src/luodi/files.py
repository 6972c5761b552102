"""Plain files in and out of the engine: CSV, Parquet or Excel in; CSV or Parquet out.

Output is written to a temporary file beside the target and renamed into place, so a failed
run never leaves a half-written or stale-looking result behind.
"""

from __future__ import annotations

import os
import re
import tempfile
import unicodedata
from pathlib import Path

import polars as pl

from luodi.errors import FieldProblem, Invalid
from luodi.tabular import LINE, check_xlsx_size, read_csv_strings

READABLE = (".csv", ".parquet", ".xlsx")
WRITABLE = (".csv", ".parquet")


def read_table(path: Path) -> pl.DataFrame:
    """A CSV (all text; UTF-8, BOM or GBK), Parquet or Excel (first sheet) file."""
    suffix = path.suffix.lower()
    if suffix not in READABLE:
        raise Invalid(
            f"不支持的输入格式 {path.name}（可用：CSV、Parquet、XLSX）",
            f"unsupported input format {path.name} (CSV, Parquet or XLSX)",
            [FieldProblem("file", str(path), "格式不支持", "unsupported format", file=path.name)],
        )
    if not path.is_file():
        raise Invalid(
            f"找不到文件 {path}",
            f"file not found: {path}",
            [FieldProblem("file", str(path), "文件不存在", "file does not exist", file=path.name)],
        )
    try:
        if suffix == ".csv":
            # The registry's reader: text, UTF-8 / BOM / GBK, trimmed, its structure checked
            # (rows wider than the header, open quotes, NUL); no columns required here.
            return read_csv_strings(path, []).drop(LINE)
        if suffix == ".parquet":
            frame = pl.read_parquet(path)
        else:
            # Bounded before the reader expands anything (a 2 KB file can ask for 17 billion
            # cells).
            check_xlsx_size(path, path.name)
            frame = pl.read_excel(path, engine="calamine")
            _refuse_numeric_id_numbers(frame, path.name)
    except Invalid:
        raise
    except Exception as error:  # a damaged file: say which and why, never a traceback
        raise Invalid(
            f"无法读取 {path.name}：{error}",
            f"cannot read {path.name}: {error}",
            [FieldProblem("file", str(path), "无法读取", str(error), file=path.name)],
        ) from error
    return frame.rename({name: str(name).strip() for name in frame.columns})


ID_COLUMN = re.compile(r"id_number|身份证|身份号码|证件号")
"""Headers of ID-number columns (id_number, child_id_number, 身份证号, 公民身份号码, 证件号码)."""


def _refuse_numeric_id_numbers(frame: pl.DataFrame, file_name: str) -> None:
    """An ID-number column the sheet holds as numbers has lost its last digits (Excel keeps
    15 significant digits, a double not every 18-digit number: 340522198305050376 becomes
    …368, which may pass the check digit). Refused naming the first such rows (Excel rows:
    the header is row 1); ``luodi.feeds.reading`` does the same for department feeds."""
    problems = []
    for name in frame.columns:
        column = frame.get_column(name)
        if not (column.dtype.is_numeric() and ID_COLUMN.search(str(name).lower())):
            continue
        for index in (column.abs() >= 10**15).fill_null(False).arg_true().head(10).to_list():
            problems.append(
                FieldProblem(
                    str(name),
                    str(column[index]),
                    "身份证号被表格存成了数字，末几位已丢失；请把该列设为文本后重新导出",
                    "the spreadsheet stored the ID number as a number and its last digits "
                    "are lost; set the column to text and export again",
                    file=file_name,
                    row=index + 2,
                )
            )
    if problems:
        first = problems[0]
        raise Invalid(
            f"文件 {file_name} 第 {first.row} 行 列 {first.field}：{first.reason_zh}",
            f"file {file_name} row {first.row} column {first.field}: {first.reason_en}",
            problems,
        )


def check_writable(path: Path, suffixes: tuple[str, ...] = WRITABLE) -> None:
    """Fail before the work, not after it, on an output we cannot write."""
    if path.suffix.lower() not in suffixes:
        listed = " 或 ".join(suffixes)
        raise Invalid(
            f"输出文件必须是 {listed}：{path.name}",
            f"the output must be {' or '.join(suffixes)}: {path.name}",
        )
    if not path.parent.exists():
        raise Invalid(
            f"输出目录不存在：{path.parent}", f"output folder does not exist: {path.parent}"
        )


def write_table(frame: pl.DataFrame, path: Path) -> None:
    """Write by extension, atomically (temporary file, then rename)."""
    check_writable(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(handle)
    try:
        if path.suffix.lower() == ".csv":
            frame.write_csv(temporary)
        else:
            frame.write_parquet(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_bytes(path: Path, content: bytes) -> None:
    """Write a file atomically (temporary file, then rename): a reader never sees half."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as target:
            target.write(content)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def safe_file_name(name: str) -> str:
    """A display name from an uploaded one: no folders (``../``, ``C:\\``), no control
    characters, at most 100 characters. It is only ever shown, never used as a path."""
    base = re.split(r"[\\/]", name)[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip().lstrip(".")
    return base[-100:] or "attachment"
