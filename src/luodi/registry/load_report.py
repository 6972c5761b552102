"""``luodi load``'s refusal written out: the terminal shows the first problems, the report
beside the directory holds every listed one with its file (as ``luodi feed import`` writes
its rejection report beside the file)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from luodi.errors import Invalid
from luodi.tabular import without_formulas


def report_path(directory: Path) -> Path:
    return directory.resolve().parent / f"{directory.resolve().name}.rejected.csv"


def with_report(error: Invalid, directory: Path) -> Invalid:
    """``error`` with its problems written to ``report_path(directory)`` (CSV, UTF-8 with
    BOM for Excel; ID numbers and phones masked as on the terminal) and its message saying
    how many and where."""
    if not error.details:
        return error
    target = report_path(directory)
    table = pl.DataFrame(
        {
            "文件 file": [problem.file or "" for problem in error.details],
            "行号 row": [problem.row for problem in error.details],
            "列 column": [problem.field for problem in error.details],
            "值 value": [
                None if problem.value is None else str(problem.shown_value())
                for problem in error.details
            ],
            "原因": [problem.reason_zh for problem in error.details],
            "reason": [problem.reason_en for problem in error.details],
        },
        schema_overrides={"行号 row": pl.Int64},
    ).pipe(without_formulas)
    try:
        table.write_csv(target, include_bom=True)
    except OSError:
        return error  # a read-only place: the message alone, as before
    listed = len(error.details)
    return Invalid(
        f"{error.message_zh}（列出的 {listed} 条见 {target}）",
        f"{error.message_en} (the {listed} listed are in {target})",
        error.details,
    )
