"""Reading tabular files and collecting row-level problems, shared by every bulk path.

A problem names the file, the row as seen in the source (the header is row 1), the column,
the value and the reason in Chinese and English. A batch with any problem writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from luodi.errors import FieldProblem, Invalid

LINE = "_line"
"""Column added to every frame read: the row number as seen in the source file."""

MAX_LISTED_PROBLEMS = 50


def as_utf8(data: bytes) -> bytes:
    """UTF-8 (with or without BOM) as it is; otherwise GB18030, a superset of GBK and GB2312."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("gb18030").encode("utf-8")
    return data.removeprefix(b"\xef\xbb\xbf")


def read_csv_strings(path: Path, required: Iterable[str]) -> pl.DataFrame:
    """Every column as text (types are checked by the caller, with reasons), plus ``_line``."""
    if not path.exists():
        raise Invalid(
            f"找不到文件 {path}",
            f"file not found: {path}",
            [FieldProblem("file", str(path), "文件不存在", "file does not exist", file=path.name)],
        )
    data = as_utf8(path.read_bytes())
    if not data.strip():
        raise Invalid(f"文件 {path.name} 是空的", f"file {path.name} is empty")
    frame = pl.read_csv(data, infer_schema=False)
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

    def add(self, problem: FieldProblem) -> None:
        self.total += 1
        if len(self.problems) < MAX_LISTED_PROBLEMS:
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
            f"{what_zh}：发现 {self.total} 处错误{shown}，未写入任何数据。第一处：{first.describe()}",
            f"{what_en}: {self.total} problems found{shown_en}; nothing was written. "
            f"First: {first.describe()}",
            self.problems,
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
