"""The forecast and the backtest as files (CSV, XLSX): the CLI and the API write the same."""

from __future__ import annotations

import io
import math
from typing import Final

import polars as pl

from luodi.kernels.forecast import BACKTEST_COLUMNS, FORECAST_COLUMNS

FORMATS: Final = (".csv", ".xlsx")
MEDIA: Final = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def rounded(frame: pl.DataFrame) -> pl.DataFrame:
    """Numbers as published: children to 0.01, utilisation to 0.0001, MAPE to 0.01 %; an
    infinite utilisation (no seat planned, children expected: red) written empty."""
    exprs = []
    for name in ("expected", "low", "high", "mape"):
        if name in frame.columns:
            exprs.append(pl.col(name).round(2))
    if "utilisation" in frame.columns:
        exprs.append(
            pl.when(pl.col("utilisation").is_infinite())
            .then(None)
            .otherwise(pl.col("utilisation").round(4))
            .alias("utilisation")
        )
    return frame.with_columns(exprs)


def forecast_csv(rows: pl.DataFrame) -> bytes:
    return rounded(rows.select(FORECAST_COLUMNS)).write_csv().encode()


def backtest_csv(mape: pl.DataFrame) -> bytes:
    return rounded(mape.select(BACKTEST_COLUMNS)).write_csv().encode()


def forecast_xlsx(rows: pl.DataFrame, mape: pl.DataFrame) -> bytes:
    """Sheet ``forecast``: exactly FORECAST_COLUMNS; sheet ``backtest``: BACKTEST_COLUMNS.
    Codes stay text (a town code 0101 must not become 101)."""
    import xlsxwriter  # type: ignore[import-untyped]

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"constant_memory": True, "strings_to_formulas": False})
    bold = book.add_format({"bold": True})
    for title, frame in (
        ("forecast", rounded(rows.select(FORECAST_COLUMNS))),
        ("backtest", rounded(mape.select(BACKTEST_COLUMNS))),
    ):
        sheet = book.add_worksheet(title)
        for c, column in enumerate(frame.columns):
            sheet.write_string(0, c, column, bold)
        for r, row in enumerate(frame.iter_rows(), start=1):
            for c, value in enumerate(row):
                if value is None or (isinstance(value, float) and math.isnan(value)):
                    continue
                if isinstance(value, str):
                    sheet.write_string(r, c, value)
                else:
                    sheet.write_number(r, c, value)
        sheet.set_column(0, len(frame.columns) - 1, 14)
    book.close()
    return buffer.getvalue()


def json_rows(frame: pl.DataFrame) -> list[dict[str, object]]:
    """Rows for JSON: an infinite utilisation as null (JSON has no infinity)."""
    return rounded(frame).to_dicts()
