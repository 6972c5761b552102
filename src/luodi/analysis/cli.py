"""``luodi analysis``: 积分制总量分析 of a scoring run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from luodi.auth.cli import AsUser, acting
from luodi.console import console
from luodi.db import session_scope

analysis_app = typer.Typer(
    help="积分制总量分析 / whole-population points analysis", no_args_is_help=True
)


@analysis_app.command("points")
def points(
    run: Annotated[int, typer.Option("--run", min=1, help="计分批次 / scoring run id")],
    output: Annotated[Path, typer.Option("--output", help="输出 .xlsx 或 .pdf / output file")],
    thresholds: Annotated[
        str,
        typer.Option("--thresholds", help="分数线，逗号分隔、从低到高 / ascending, comma list"),
    ] = "60,90,120,150",
    quota: Annotated[
        int | None,
        typer.Option(
            "--quota", min=1, help="每类每年可接纳人数（给出则列出第一批名单）/ yearly quota"
        ),
    ] = None,
    batches: Annotated[
        int, typer.Option("--batches", min=1, max=50, help="计算的年度批次数 / yearly batches")
    ] = 5,
    class_threshold: Annotated[
        list[str] | None,
        typer.Option(
            "--class-threshold",
            help="某类的分数线，如 school=95（可重复）/ a class's threshold, repeatable",
        ),
    ] = None,
    as_user: AsUser = None,
) -> None:
    """计分批次的积分制总量分析，导出 Excel 或 PDF / points analysis of a run to XLSX or PDF."""
    from luodi.analysis import exports, service
    from luodi.files import check_writable, write_bytes

    check_writable(output, (".xlsx", ".pdf"))
    chosen = service.parse_thresholds(thresholds)
    classes = service.parse_class_thresholds(class_threshold or [], "class-threshold")
    kind = output.suffix.lower()[1:]
    with console.status("分析中 / analysing …") as status, session_scope() as session:
        actor = acting(session, as_user)
        analysis = service.points_analysis(
            actor,
            session,
            run,
            chosen,
            quota=quota,
            batches=batches,
            class_thresholds=classes,
            progress=status.update,
        )
        status.update(f"写出 / writing {output.name}")
        content = exports.to_xlsx(analysis) if kind == "xlsx" else exports.to_pdf(analysis)
        # The audit entry and the file go together: a failed write rolls the entry back.
        service.record_batch_export(actor, session, analysis, f"cli:{kind}")
        write_bytes(output, content)
    counts = analysis.thresholds_over_runs.filter(
        analysis.thresholds_over_runs["run_id"] == analysis.run.id
    )
    console.print(
        f"计分批次 run {analysis.run.id} · {analysis.residents:,} 人 residents · "
        + " · ".join(
            f"≥{t:g}: {n:,}" for t, n in counts.select("threshold", "residents").iter_rows()
        ),
        highlight=False,
    )
    if analysis.batch_one.height:
        console.print(
            f"第一批名单 {analysis.batch_one.height:,} 人（已脱敏，已记入审计日志）/ "
            "batch 1 list (masked, audit-logged)",
            highlight=False,
        )
    console.print(f"已写入 / written to {output}（{len(content):,} bytes）", highlight=False)
