"""``luodi analysis``: 积分制总量分析 of a scoring run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from luodi.auth.cli import AsUser, acting
from luodi.console import console
from luodi.db import session_scope
from luodi.errors import Invalid

if TYPE_CHECKING:
    from luodi.analysis.service import PointsAnalysis

Engine = Literal["polars", "spark"]

analysis_app = typer.Typer(
    help="积分制总量分析 / whole-population points analysis", no_args_is_help=True
)


@analysis_app.command("points")
def points(
    output: Annotated[Path, typer.Option("--output", help="输出 .xlsx 或 .pdf / output file")],
    run: Annotated[
        int | None, typer.Option("--run", min=1, help="计分批次 / scoring run id")
    ] = None,
    input_path: Annotated[
        Path | None,
        typer.Option(
            "--input",
            help="计分数据集目录（luodi policy score --output），代替 --run / a scored dataset",
        ),
    ] = None,
    engine: Annotated[
        Engine,
        typer.Option("--engine", help="读取数据集的引擎 polars|spark / engine for --input"),
    ] = "polars",
    master: Annotated[
        str | None,
        typer.Option("--master", help="Spark master URL（默认 local[*]） / Spark master"),
    ] = None,
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
    """计分批次或计分数据集的积分制总量分析，导出 Excel 或 PDF / points analysis of a run or
    a scored dataset to XLSX or PDF."""
    from luodi.analysis import exports, service
    from luodi.files import check_writable, write_bytes

    if (run is None) == (input_path is None):
        raise Invalid(
            "请给出 --run（数据库中的计分批次）或 --input（计分数据集），二者选一",
            "give either --run (a scoring run in the database) or --input (a scored dataset), "
            "not both",
        )
    if engine == "spark" and input_path is None:
        raise Invalid(
            "--engine spark 读取计分数据集：请用 --input 代替 --run",
            "--engine spark reads a scored dataset: give --input instead of --run",
        )
    check_writable(output, (".xlsx", ".pdf"))
    chosen = service.parse_thresholds(thresholds)
    classes = service.parse_class_thresholds(class_threshold or [], "class-threshold")
    kind = output.suffix.lower()[1:]
    if input_path is not None:
        with console.status("分析中 / analysing …") as status:
            analysis = service.dataset_analysis(
                input_path,
                chosen,
                engine=engine,
                quota=quota,
                batches=batches,
                class_thresholds=classes,
                master=master,
                progress=status.update,
            )
            status.update(f"写出 / writing {output.name}")
            content = exports.to_xlsx(analysis) if kind == "xlsx" else exports.to_pdf(analysis)
            write_bytes(output, content)
        _print_result(analysis, output, content)
        return
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
    _print_result(analysis, output, content)


def _print_result(analysis: PointsAnalysis, output: Path, content: bytes) -> None:
    counts = analysis.thresholds_over_runs.filter(
        analysis.thresholds_over_runs["run_id"] == analysis.run.id
    )
    subject = (
        f"计分数据集 dataset {analysis.dataset}"
        if analysis.dataset
        else f"计分批次 run {analysis.run.id}"
    )
    console.print(
        f"{subject} · {analysis.residents:,} 人 residents · "
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
    for zh, en in analysis.notes:
        console.print(f"注意 {zh}\n[dim]note: {en}[/]", highlight=False)
    console.print(f"已写入 / written to {output}（{len(content):,} bytes）", highlight=False)
