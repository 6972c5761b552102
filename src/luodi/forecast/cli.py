"""``luodi forecast``: the school-place forecast, its warnings and its backtest."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import polars as pl
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from luodi.auth.actor import SYSTEM_ACTOR
from luodi.console import console, error_console, parse_day
from luodi.errors import Invalid

if TYPE_CHECKING:
    from luodi.forecast.service import SchoolForecast

forecast_app = typer.Typer(help="学位需求预测与预警 / school-place forecast", no_args_is_help=True)

SHOWN_WARNINGS = 10


def check_output(path: Path, suffixes: tuple[str, ...]) -> None:
    """Before any work: an output we can write, by its extension."""
    from luodi.files import check_writable

    check_writable(path, suffixes)


def number(option: str, text: str, whole: bool = False) -> float:
    """An option's number, or an error naming it in Chinese and English (Typer's own is
    English only)."""
    try:
        value = int(text) if whole else float(text)
    except ValueError:
        kind_zh, kind_en = ("整数", "a whole number") if whole else ("数字", "a number")
        raise Invalid.field(option, text, f"应为{kind_zh}", f"must be {kind_en}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise Invalid.field(option, text, "应为有限的数字", "must be a finite number")
    return value


@contextmanager
def progress_bar() -> Iterator[Callable[[str, int, int], None]]:
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=error_console,
        transient=True,
    ) as bar:
        task = bar.add_task("开始 / starting", total=None)

        def progress(phase: str, done: int, total: int) -> None:
            bar.update(task, description=phase, completed=done, total=total or None)

        yield progress


@forecast_app.command("schools")
def schools(
    as_of: Annotated[str, typer.Option("--as-of", help="预测日期 YYYY-MM-DD / as-of date")],
    horizon: Annotated[str, typer.Option("--horizon", help="预测年数 1–5 / years ahead")],
    output: Annotated[Path, typer.Option("--output", help="结果 .csv 或 .xlsx / output file")],
    method: Annotated[
        str, typer.Option("--method", help="auto | cohort | trend（默认按回测选择 auto）")
    ] = "auto",
    inflow_growth: Annotated[
        str, typer.Option("--inflow-growth", help="流入年增长率，0.05 即 +5% / inflow growth")
    ] = "0",
    capture_rate: Annotated[
        str | None,
        typer.Option("--capture-rate", help="报名比例 0–1（默认按往年） / share applying"),
    ] = None,
) -> None:
    """按镇街、学校预测入学人数并预警 / forecast entry-grade applicants per town and school."""
    from luodi.db import session_scope
    from luodi.files import write_bytes
    from luodi.forecast import exports, service

    day = parse_day("--as-of", as_of)
    assert day is not None
    years = int(number("--horizon", horizon, whole=True))
    scenario = service.Scenario(
        inflow_growth=number("--inflow-growth", inflow_growth),
        capture_rate=None if capture_rate is None else number("--capture-rate", capture_rate),
    )
    service.check_request(years, method, scenario, day)
    check_output(output, exports.FORMATS)
    with progress_bar() as progress, session_scope() as session:
        result = service.forecast_schools(
            SYSTEM_ACTOR, session, day, years, method, scenario, progress=progress
        )
    if output.suffix.lower() == ".csv":
        content = exports.forecast_csv(result.rows)
    else:
        content = exports.forecast_xlsx(result.rows, result.backtest)
    write_bytes(output, content)
    print_summary(result)
    console.print(f"结果已写入 / written to {output}", highlight=False)


def print_summary(result: SchoolForecast) -> None:
    from luodi.kernels.forecast import WARNING_WORDS

    rows = result.rows
    counts = {name: rows.filter(pl.col("warning") == name).height for name in WARNING_WORDS}
    console.print(
        f"预测 forecast as_of {result.as_of} · {result.horizon} 年 years · 方法 method "
        f"{result.method} · {rows.height:,} 行 rows · "
        + " · ".join(f"{WARNING_WORDS[name]} {name} {count:,}" for name, count in counts.items()),
        highlight=False,
    )
    flagged = rows.filter(pl.col("warning") == "red").sort("utilisation", descending=True)
    for row in flagged.head(SHOWN_WARNINGS).iter_rows(named=True):
        where = row["school_name"] or "全镇街 whole town"
        console.print(
            f"  [red]红色 red[/] {row['town_name']} {where} {row['school_year']} "
            f"{row['grade']} 年级 grade: 预计 expected {row['expected']:.0f} / 学位 seats "
            f"{row['seats']}",
            highlight=False,
        )
    if flagged.height > SHOWN_WARNINGS:
        console.print(f"  … 另有 {flagged.height - SHOWN_WARNINGS} 条 / more", highlight=False)
    unplaced = int(result.unplaced["expected_unplaced"].sum())
    console.print(f"预计无学位的适龄儿童 expected without a seat: {unplaced:,}", highlight=False)


@forecast_app.command("backtest")
def backtest(
    output: Annotated[Path, typer.Option("--output", help="结果 .csv / output file")],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="回测截止日期 YYYY-MM-DD（默认今天）")
    ] = None,
) -> None:
    """回测各方法在 1–5 年的误差（MAPE）/ backtest the methods: MAPE per town and horizon."""
    from luodi.db import session_scope
    from luodi.files import write_bytes
    from luodi.forecast import exports, service

    day = parse_day("--as-of", as_of)
    check_output(output, (".csv",))
    with progress_bar() as progress, session_scope() as session:
        mape = service.backtest(SYSTEM_ACTOR, session, day, progress=progress)
    write_bytes(output, exports.backtest_csv(mape))
    console.print(
        f"回测 backtest: {mape['town_code'].n_unique()} 个镇街 towns · {mape.height:,} 行 rows",
        highlight=False,
    )
    console.print(f"结果已写入 / written to {output}", highlight=False)
