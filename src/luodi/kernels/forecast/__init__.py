"""School-place demand forecast (教育发展预警): pure kernels on Polars frames.

The contract every surface shares (CLI, API, page, export): the columns of a forecast and of a
backtest, the entry grades and the Zhejiang warning rule (浙教基〔2018〕100号: a school or
catchment is yellow when expected applicants reach 90 % of its planned seats, red at 100 % and
above, green below). Nothing here reads a database or the web.
"""

from __future__ import annotations

from typing import Final

import polars as pl

FORECAST_COLUMNS: Final = (
    "town_code",
    "school_id",
    "school_year",
    "grade",
    "expected",
    "low",
    "high",
    "seats",
    "utilisation",
    "warning",
)
"""``luodi forecast schools``, ``GET /api/v1/forecast/schools``: one row per town and school,
school year and entry grade. A town's own row (the catchment as a whole: its schools' seats
together) has an empty ``school_id``. ``school_year`` is the year the school year starts (its
September); ``low``/``high`` the 80 % empirical interval; ``utilisation`` expected ÷ seats."""

BACKTEST_COLUMNS: Final = ("town_code", "method", "horizon", "mape")
"""``luodi forecast backtest``: mean absolute percentage error (in per cent) of each method
at each horizon (years ahead), per town."""

METHODS: Final = ("cohort", "trend")
"""Forecast methods; ``auto`` picks, per town, the one whose backtest MAPE is lowest."""

ENTRY_GRADES: Final = {1: 6, 7: 12}
"""Entry grade → age a child reaches by 31 August of the school year (小学一年级 at six,
初中七年级 at twelve: 《义务教育法》第十一条, Zhejiang's 8月31日 cut-off)."""

MAX_HORIZON: Final = 5
YELLOW: Final = 0.9
RED: Final = 1.0
WARNINGS: Final = ("green", "yellow", "red")
WARNING_WORDS: Final = {"green": "绿色", "yellow": "黄色预警", "red": "红色预警"}


def warning_expr(utilisation: pl.Expr) -> pl.Expr:
    """green below 90 % of the planned seats, yellow from 90 % to under 100 %, red at 100 %
    and above (浙教基〔2018〕100号); a school with no seats planned is red when anyone is
    expected (utilisation is then infinite)."""
    return (
        pl.when(utilisation >= RED)
        .then(pl.lit("red"))
        .when(utilisation >= YELLOW)
        .then(pl.lit("yellow"))
        .otherwise(pl.lit("green"))
    )
