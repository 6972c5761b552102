"""``luodi score``: score the registry with a published policy and store the run."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import polars as pl
import typer
from rich.table import Table

from luodi.auth.actor import SYSTEM_ACTOR
from luodi.console import console
from luodi.db import session_scope
from luodi.kernels.timeline.permits import STATE_LABELS
from luodi.policy.cli import parse_as_of
from luodi.policy.service import find_policy
from luodi.scoring import service
from luodi.scoring.service import RunResult

BAR_WIDTH = 40


def print_distribution(result: RunResult) -> None:
    run = result.run
    console.print(
        f"计分批次 run {run.id}: {run.policy_id} {run.policy_version} · as_of {run.as_of} · "
        f"{run.residents_scored:,} 人计分 scored · {run.residents_skipped:,} 人无有效居住证未计 "
        f"skipped (no valid permit) · 平均 mean {run.mean_total:.2f}",
        highlight=False,
    )
    console.print(
        f"[dim]策略摘要 policy digest {run.policy_digest} · "
        f"积分数据摘要 frame digest {run.frame_digest}[/]",
        highlight=False,
    )
    if result.skipped_by_state:
        console.print(
            "未计分居民按居住证状态 / not scored, by permit state: "
            + " · ".join(
                f"{STATE_LABELS.get(state, state)} {state} {count:,}"
                for state, count in sorted(result.skipped_by_state.items())
            ),
            highlight=False,
        )
    if run.defaulted_inputs:
        console.print(
            f"[dim]按默认值计分的输入（暂无数据来源）/ inputs at their default: "
            f"{run.defaulted_inputs}[/]",
            highlight=False,
        )
    totals = result.totals
    width = 20.0
    bins = (
        pl.DataFrame({"total": totals})
        .with_columns(bin=(pl.col("total") // width * width))
        .group_by("bin")
        .len()
        .sort("bin")
    )
    largest = int(bins.get_column("len").max() or 1)  # type: ignore[arg-type]
    table = Table("总分 total", "人数 residents", "", title="积分分布 distribution of totals")
    for start, count in bins.iter_rows():
        bar = "█" * max(1, round(BAR_WIDTH * count / largest))
        table.add_row(f"{start:g}–{start + width:g}", f"{count:,}", f"[cyan]{bar}[/]")
    console.print(table)
    quantiles = [totals.quantile(q, "nearest") for q in (0.1, 0.5, 0.9)]
    console.print(
        f"P10 {quantiles[0]:g} · 中位数 median {quantiles[1]:g} · P90 {quantiles[2]:g} · "
        f"最高 max {totals.max():g}",
        highlight=False,
    )


def score_and_store(policy_id: str, on: date, version: str | None = None) -> RunResult:
    compiled = find_policy(policy_id, on, version)
    with console.status("计分中 / scoring …") as status, session_scope() as session:
        return service.score_registry(
            SYSTEM_ACTOR, session, compiled, on, progress=lambda text: status.update(text)
        )


def score(
    policy: Annotated[str, typer.Option("--policy", help="已发布策略编号 / published policy id")],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="计分日期 YYYY-MM-DD（默认今天）")
    ] = None,
    version: Annotated[
        str | None, typer.Option("--version", help="指定版本（默认计分日生效的版本）")
    ] = None,
) -> None:
    """用已发布的策略为登记库中的居民计分并保存 / score the registry and store the run."""
    print_distribution(score_and_store(policy, parse_as_of(as_of), version))
