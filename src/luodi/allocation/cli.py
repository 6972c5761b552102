"""``luodi allocate``: the allocation kernel on plain files, no database needed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from rich.table import Table

from luodi.allocation.files import read_inputs
from luodi.console import console, error_console
from luodi.files import check_writable, write_table
from luodi.kernels.allocation import METHOD_LABELS, Method
from luodi.kernels.allocation.frames import APPLICANT, CHOICE_RANK, LOTTERY, TARGET, allocate

OUTPUT_COLUMNS = (APPLICANT, TARGET, CHOICE_RANK, LOTTERY)


def allocate_files(
    method: Annotated[Method, typer.Option("--method", help="分配方法 / mechanism")],
    applicants: Annotated[
        Path,
        typer.Option(
            "--applicants", help="申请人：applicant_id, points, priority_group, choices（; 分隔）"
        ),
    ],
    capacities: Annotated[Path, typer.Option("--capacities", help="名额：target_id, capacity")],
    seed: Annotated[str, typer.Option("--seed", help="公开的摇号种子 / published lottery seed")],
    output: Annotated[Path, typer.Option("--output", help="结果 .csv 或 .parquet")],
    priorities: Annotated[
        Path | None,
        typer.Option(
            "--priorities", help="按目标的优先组：applicant_id, target_id, priority_group"
        ),
    ] = None,
) -> None:
    """按积分与志愿分配名额（文件进、文件出） / allocate places on plain files.

    排序：优先组（小者先）→ 积分（高者先）→ 摇号号码（小者先，SHA-256("种子:申请人")前8字节）。
    """
    check_writable(output)
    with error_console.status("读取并检查输入 / checking the inputs …"):
        inputs = read_inputs(method, applicants, capacities, priorities)
    with error_console.status(f"分配 {inputs.applicants.height:,} 名申请人 / allocating …"):
        outcome = allocate(method, inputs.applicants, inputs.capacities, seed, inputs.overrides)
    write_table(outcome.frame.select(OUTPUT_COLUMNS), output)
    print_summary(outcome.frame, inputs.capacities, method)
    console.print(f"结果已写入 / written to {output}", highlight=False)


def print_summary(frame: pl.DataFrame, capacities: pl.DataFrame, method: Method) -> None:
    placed = frame.filter(pl.col(TARGET).is_not_null())
    seats = int(capacities["capacity"].sum())
    console.print(
        f"{METHOD_LABELS[method]} / {method.value}：申请 {frame.height:,} 人，名额 {seats:,}，"
        f"录取 {placed.height:,}，未录取 {frame.height - placed.height:,}",
        highlight=False,
    )
    by_choice = placed.group_by(CHOICE_RANK).len().sort(CHOICE_RANK)
    if by_choice.height > 1:
        table = Table("志愿 choice", "人数 placed")
        for rank, count in by_choice.iter_rows():
            table.add_row(f"第 {rank} 志愿", f"{count:,}")
        console.print(table)
