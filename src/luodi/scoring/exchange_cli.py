"""``luodi export inputs`` and ``luodi import scores``: a city's datasets for the province's
cluster and back (docs/scale.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from luodi.auth.cli import AsUser, acting
from luodi.console import console, error_console, parse_day
from luodi.db import session_scope
from luodi.errors import Invalid

export_app = typer.Typer(
    help="导出数据集给省级集群 / datasets for the province", no_args_is_help=True
)
import_app = typer.Typer(
    help="导入省级集群的结果 / results from the province", no_args_is_help=True
)


@export_app.command("inputs")
def export_inputs(
    as_of: Annotated[str, typer.Option("--as-of", help="计分日期 YYYY-MM-DD / scoring date")],
    output: Annotated[
        Path, typer.Option("--output", help="输出目录（须不存在或为空）/ new dataset directory")
    ],
    policy: Annotated[
        str | None,
        typer.Option("--policy", help="只导出该策略的输入（计分日生效的版本）/ only its inputs"),
    ] = None,
    partition_by: Annotated[
        str,
        typer.Option("--partition-by", help="分区列，逗号分隔（空：不分区）/ partition columns"),
    ] = "town_code",
    batch_residents: Annotated[
        int,
        typer.Option("--batch-residents", min=1, help="每批读取与写出的居民数 / residents a batch"),
    ] = 100_000,
    as_user: AsUser = None,
) -> None:
    """登记库在计分日的计分输入，分区 Parquet 数据集 / the registry's scoring inputs as Parquet."""
    from luodi.policy.service import find_policy
    from luodi.scoring import exchange

    day = parse_day("--as-of", as_of)
    if day is None:  # pragma: no cover - the option is required
        raise Invalid.field("as-of", as_of, "缺少计分日期", "the date is required")
    compiled = find_policy(policy, day) if policy else None
    columns = [name.strip() for name in partition_by.split(",") if name.strip()]
    with (
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=error_console,
            transient=True,
        ) as bar,
        session_scope() as session,
    ):
        task = bar.add_task("导出批次 / batches", total=None)

        def progress(done: int, batches: int) -> None:
            bar.update(task, completed=done, total=batches)

        result = exchange.export_inputs(
            acting(session, as_user),
            session,
            day,
            output,
            compiled=compiled,
            partition_by=columns,
            batch_residents=batch_residents,
            progress=progress,
        )
    console.print(
        f"已导出 exported {result.rows:,} 人 residents · {result.files:,} 个文件 files · "
        f"{result.batches:,} 批 batches · {len(result.columns) - 1} 列输入与附带列 columns → "
        f"{result.output}",
        highlight=False,
    )
    if result.skipped_by_state:
        console.print(
            "无有效居住证未导出 / not exported (no valid permit): "
            + " · ".join(f"{state} {count:,}" for state, count in result.skipped_by_state.items()),
            highlight=False,
        )
    console.print(f"[dim]文件摘要 files digest {result.digest}[/]", highlight=False)


@import_app.command("scores")
def import_scores(
    path: Annotated[Path, typer.Argument(help="计分数据集目录 / scored dataset directory")],
    as_user: AsUser = None,
) -> None:
    """把省级集群的计分数据集导入为计分批次 / a scored dataset as a scoring run."""
    from luodi.scoring import exchange

    with console.status("导入中 / importing …") as status, session_scope() as session:
        result = exchange.import_scores(
            acting(session, as_user), session, path, progress=status.update
        )
    run = result.run
    console.print(
        f"计分批次 run {run.id}: {run.policy_id} {run.policy_version} · as_of {run.as_of} · "
        f"{run.residents_scored:,} 人 residents · 来自 from {result.source} ({result.engine})",
        highlight=False,
    )
    console.print(f"积分数据摘要 frame digest {run.frame_digest}", highlight=False)
