"""``luodi policy …``: check, test, score, explain and compare policies on plain files."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.table import Table

from luodi.console import console, error_console, parse_day, print_error
from luodi.errors import Invalid, NotFound
from luodi.kernels.policy import CompiledPolicy
from luodi.kernels.policy.compare import QUANTILE_LABELS, Comparison
from luodi.kernels.policy.document import KIND_LABELS
from luodi.kernels.policy.explain import Explanation
from luodi.policy import service

policy_app = typer.Typer(
    help="积分策略：检查、测试、计分、解释、比较 / points policies on plain files",
    no_args_is_help=True,
)

PolicyFile = Annotated[Path, typer.Argument(help="策略文件 YAML / policy document")]
AsOf = Annotated[
    str | None,
    typer.Option("--as-of", help="计分日期 YYYY-MM-DD（默认今天） / scoring date (default today)"),
]


def parse_as_of(text: str | None) -> date:
    return parse_day("--as-of", text) or date.today()


def points(value: float) -> str:
    return f"{value:,.2f}".rstrip("0").rstrip(".") if value != int(value) else f"{value:,.0f}"


def warn_if_not_in_force(compiled: CompiledPolicy, as_of: date) -> None:
    policy = compiled.policy
    if not service.in_force(policy, as_of):
        error_console.print(
            f"[yellow]注意[/] {policy.id} {policy.version} 在 {as_of} 不在有效期内 "
            f"({policy.effective_from} – {policy.effective_to or '…'}) / "
            f"not in force on {as_of}",
            highlight=False,
        )


@policy_app.command("check")
def check(file: PolicyFile) -> None:
    """检查策略文件 / validate a policy document."""
    compiled = service.load_policy_file(file)
    policy = compiled.policy
    console.print(
        f"[green]✓[/] {policy.name.both()} — {policy.id} {policy.version}，"
        f"生效 effective {policy.effective_from} – {policy.effective_to or '…'}",
        highlight=False,
    )
    table = Table("指标 id", "类别 kind", "名称 label", "规则 rule", "封顶 cap", "依据 evidence")
    for indicator in policy.indicators:
        table.add_row(
            indicator.id,
            KIND_LABELS[indicator.kind][0],
            indicator.label.both(),
            indicator.rule(),
            "" if indicator.cap is None else points(indicator.cap),
            indicator.evidence or "",
        )
    console.print(table)
    for group in policy.groups:
        rule = "只取最高 max" if group.combine == "max" else ""
        cap = f" 封顶 cap {points(group.cap)}" if group.cap is not None else ""
        console.print(f"分组 group {group.id}: {', '.join(group.indicators)} {rule}{cap}")
    console.print(
        f"输入 {len(policy.inputs)} inputs · 派生 {len(policy.derived)} derived · "
        f"指标 {len(policy.indicators)} indicators · 测试 {len(policy.tests)} tests · "
        f"sha256 {policy.digest[:12]}",
        highlight=False,
    )


@policy_app.command("test")
def test(file: PolicyFile) -> None:
    """运行策略自带的测试用例 / run the policy's own test cases (exit 1 failed, 2 malformed,
    as ``luodi program test``)."""
    try:
        compiled = service.load_policy_file(file)
    except (Invalid, NotFound) as error:
        print_error(error)
        raise typer.Exit(2) from None
    outcomes = compiled.run_tests()
    if not outcomes:
        raise Invalid(f"{file.name} 没有测试用例", f"{file.name} has no test cases")
    for outcome in outcomes:
        mark = "[green]✓ 通过 pass[/]" if outcome.passed else "[red]✗ 失败 FAIL[/]"
        console.print(f"{mark}  {outcome.name}  (as_of {outcome.as_of})", highlight=False)
        for key, expected in outcome.expected.items():
            actual = outcome.actual[key]
            flag = "  [red]≠[/]" if key in outcome.failures else ""
            console.print(
                f"      {key:<24} 期望 expected {points(expected):>8}   "
                f"实际 actual {points(actual):>8}{flag}",
                highlight=False,
            )
    failed = sum(not outcome.passed for outcome in outcomes)
    console.print(
        f"{len(outcomes) - failed}/{len(outcomes)} 通过 passed",
        style="green" if not failed else "red",
    )
    if failed:
        raise typer.Exit(1)


@policy_app.command("score")
def score(
    policy: Annotated[str, typer.Option("--policy", help="策略文件或编号 / policy file or id")],
    input_path: Annotated[
        Path,
        typer.Option("--input", help="CSV / Parquet / XLSX，或分区 Parquet 目录 / or a dataset"),
    ],
    output: Annotated[
        Path, typer.Option("--output", help="结果 .csv、.parquet 或目录 / result file or dataset")
    ],
    as_of: AsOf = None,
    engine: Annotated[
        str | None,
        typer.Option(
            "--engine",
            help="polars（本机）或 spark；给出即按分区数据集计分 / polars or spark: a dataset",
        ),
    ] = None,
    master: Annotated[
        str | None,
        typer.Option(
            "--master", help="Spark master（默认 local[*]）/ e.g. spark://host:7077, yarn"
        ),
    ] = None,
    partition_by: Annotated[
        str | None,
        typer.Option(
            "--partition-by",
            help="输出分区列，逗号分隔（默认 town_code；none 不分区）/ output partition columns",
        ),
    ] = None,
    on_refused: Annotated[
        str,
        typer.Option(
            "--on-refused",
            help="stop：有拒收行则不计分（默认）；skip：计其余行 / stop (all or nothing) or skip",
        ),
    ] = "stop",
) -> None:
    """为文件或数据集中的每位居民计分 / score every resident of a file or a dataset."""
    on = parse_as_of(as_of)
    compiled = service.resolve_policy(policy, on)
    warn_if_not_in_force(compiled, on)
    dataset = (
        engine is not None
        or input_path.is_dir()
        or not output.suffix
        or partition_by is not None
        or master is not None
    )
    if dataset:
        score_dataset_command(
            compiled, input_path, output, on, engine or "polars", master, partition_by, on_refused
        )
        return
    with console.status(f"计分中 / scoring {input_path.name} …"):
        summary = service.score_file(compiled, input_path, output, on)
    console.print(
        f"已为 {summary.residents:,} 名居民计分 / scored {summary.residents:,} residents "
        f"({compiled.policy.id} {compiled.policy.version}, as_of {on})；"
        f"平均 mean {summary.mean:.2f}，最低 min {points(summary.minimum)}，"
        f"最高 max {points(summary.maximum)} → {summary.output}",
        highlight=False,
    )


REFUSED_SHOWN = 10


def score_dataset_command(
    compiled: CompiledPolicy,
    source: Path,
    output: Path,
    on: date,
    engine: str,
    master: str | None,
    partition_by: str | None,
    on_refused: str,
) -> None:
    import polars as pl

    from luodi.scale.score import ENGINES, ON_REFUSED, score_dataset

    if engine not in ENGINES:
        raise Invalid.field(
            "engine", engine, "--engine 只能是 polars 或 spark", "--engine: polars or spark"
        )
    if on_refused not in ON_REFUSED:
        raise Invalid.field(
            "on_refused",
            on_refused,
            "--on-refused 只能是 stop 或 skip",
            "--on-refused: stop or skip",
        )
    if master is not None and engine != "spark":
        raise Invalid.field(
            "master", master, "--master 只用于 --engine spark", "--master is for --engine spark"
        )
    columns = None
    if partition_by is not None:
        columns = [] if partition_by.strip().lower() == "none" else partition_by.split(",")
    with console.status(f"计分中 / scoring {source.name} …") as status:
        result = score_dataset(
            compiled,
            source,
            output,
            on,
            engine=engine,  # type: ignore[arg-type]
            partition_by=columns,
            on_refused=on_refused,  # type: ignore[arg-type]
            master=master,
            progress=status.update,
        )
    if result.refused_records:
        refused = pl.read_csv(result.refused_path, infer_schema=False).head(REFUSED_SHOWN)
        table = Table("文件 file", "行 row", "列 column", "原因 reason", "值 value")
        for row in refused.iter_rows(named=True):
            table.add_row(
                row["file"],
                row["row"],
                row["column"],
                f"{row['reason_zh']} / {row['reason_en']}",
                row["value"] or "",
            )
        error_console.print(table)
        error_console.print(
            f"拒收 {result.refused_records:,} 行（{result.refused_reasons:,} 处问题）/ "
            f"{result.refused_records:,} records refused → {result.refused_path}",
            highlight=False,
        )
    if not result.written:
        error_console.print(
            "[red]未计分[/]：有拒收行，未写出任何结果（全有或全无）；修正后重试，或用 "
            "--on-refused skip 只计其余行 / nothing scored: records were refused (all or "
            "nothing); mend them, or --on-refused skip",
            highlight=False,
        )
        raise typer.Exit(1)
    if result.plan.dropped:
        error_console.print(
            f"[yellow]注意[/] 未带出与输出列同名的输入列 / not carried (named like an output "
            f"column): {', '.join(result.plan.dropped)}",
            highlight=False,
        )
    console.print(
        f"已为 {result.residents:,} 名居民计分 / scored {result.residents:,} residents "
        f"({compiled.policy.id} {compiled.policy.version}, as_of {on}, {result.engine}, "
        f"{result.seconds:.1f} s)；平均 mean {result.mean:.2f}，最低 min "
        f"{points(result.minimum)}，最高 max {points(result.maximum)} → {result.output}"
        + (
            f"（按 {', '.join(result.plan.partition_by)} 分区）" if result.plan.partition_by else ""
        ),
        highlight=False,
    )


def print_explanation(explanation: Explanation) -> None:
    console.print(
        f"居民 resident {explanation.resident_id} · {explanation.policy_id} "
        f"{explanation.policy_version} · as_of {explanation.as_of}",
        highlight=False,
    )
    table = Table(
        "指标 indicator",
        "规则 rule",
        "所用数据 inputs",
        "原始 raw",
        "封顶 cap",
        "分组 group",
        "得分 points",
        "依据 evidence",
    )
    for line in explanation.lines:
        inputs = "\n".join(f"{name} = {value}" for name, value in line.inputs.items())
        group = "\n".join(f"{effect.group_id}: {effect.rule_zh}" for effect in line.groups)
        if line.group_change:
            group += f"\n{points(line.group_change)}"
        cap = ""
        if line.cap is not None:
            cap = f"≤ {points(line.cap)}" + (
                f" ({points(line.capped - max(line.raw, 0.0))})"
                if line.capped != max(line.raw, 0.0)
                else ""
            )
        table.add_row(
            f"{line.label_zh} {line.label_en}\n[dim]{line.indicator_id} · {KIND_LABELS[line.kind][0]}[/]",
            line.rule,
            inputs,
            points(line.raw),
            cap,
            group,
            f"[bold]{points(line.points)}[/]",
            line.evidence or "",
        )
    console.print(table)
    floor = ""
    if explanation.floored:
        floor = (
            f"（各项合计 {points(explanation.sum_of_lines)}，"
            f"保底 raised to floor {points(explanation.floor or 0)}）"
        )
    console.print(f"[bold]总分 total {points(explanation.total)}[/]{floor}", highlight=False)


@policy_app.command("explain")
def explain(
    policy: Annotated[str, typer.Option("--policy", help="策略文件或编号 / policy file or id")],
    input_path: Annotated[Path, typer.Option("--input", help="CSV / Parquet / XLSX")],
    resident: Annotated[str, typer.Option("--resident", help="居民编号 resident_id")],
    as_of: AsOf = None,
) -> None:
    """逐项解释一位居民的积分 / explain one resident's points line by line."""
    on = parse_as_of(as_of)
    compiled = service.resolve_policy(policy, on)
    warn_if_not_in_force(compiled, on)
    print_explanation(service.explain_file(compiled, input_path, resident, on))


def print_comparison(old: CompiledPolicy, new: CompiledPolicy, comparison: Comparison) -> None:
    old_name = f"{old.policy.id} {old.policy.version}"
    new_name = f"{new.policy.id} {new.policy.version}"
    console.print(f"{comparison.residents:,} 名居民 residents: {old_name} → {new_name}")
    table = Table("", f"旧 old ({old_name})", f"新 new ({new_name})", title="总分分布 totals")
    for label, before, after in zip(
        QUANTILE_LABELS, comparison.quantiles_old, comparison.quantiles_new, strict=True
    ):
        table.add_row(label, points(before), points(after))
    table.add_row("平均 mean", f"{comparison.mean_old:.2f}", f"{comparison.mean_new:.2f}")
    console.print(table)
    console.print(
        f"上升 gain [green]{comparison.gained:,}[/] · 下降 lose [red]{comparison.lost:,}[/] · "
        f"不变 same {comparison.unchanged:,} · 名次相关 Spearman "
        f"{'—' if comparison.rank_correlation is None else f'{comparison.rank_correlation:.4f}'}",
        highlight=False,
    )
    if comparison.thresholds:
        thresholds = Table("线 threshold", "旧 old ≥", "新 new ≥", "变化 change", title="达线人数")
        for threshold, before, after in comparison.thresholds:
            thresholds.add_row(
                points(threshold), f"{before:,}", f"{after:,}", f"{after - before:+,}"
            )
        console.print(thresholds)
    movers = Table(
        "resident_id",
        "旧 old",
        "新 new",
        "变化 delta",
        "旧名次 rank",
        "新名次 rank",
        title="变化最大 largest movers",
    )
    for row in comparison.movers.iter_rows(named=True):
        movers.add_row(
            str(row["resident_id"]),
            points(row["total_old"]),
            points(row["total_new"]),
            f"{row['delta']:+.2f}",
            f"{row['rank_old']:,}",
            f"{row['rank_new']:,}",
        )
    console.print(movers)


@policy_app.command("compare")
def compare(
    old: Annotated[str, typer.Argument(help="旧策略文件或编号 / old policy")],
    new: Annotated[str, typer.Argument(help="新策略文件或编号 / new policy")],
    input_path: Annotated[Path, typer.Option("--input", help="CSV / Parquet / XLSX")],
    threshold: Annotated[
        list[float] | None, typer.Option("--threshold", help="达线分数，可多次 / repeatable")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", help="逐人对比 .csv/.parquet / per resident")
    ] = None,
    top: Annotated[int, typer.Option("--top", min=0, help="列出变化最大的人数")] = 10,
    as_of: AsOf = None,
) -> None:
    """在同一人群上比较两个策略版本 / compare two policies on the same residents."""
    on = parse_as_of(as_of)
    old_policy = service.resolve_policy(old, on)
    new_policy = service.resolve_policy(new, on)
    with console.status("两个版本计分中 / scoring under both …"):
        comparison = service.compare_files(
            old_policy, new_policy, input_path, on, sorted(threshold or []), top, output
        )
    print_comparison(old_policy, new_policy, comparison)
    if output is not None:
        console.print(f"逐人对比已写入 / per-resident comparison written to {output}")


@policy_app.command("list")
def list_policies() -> None:
    """列出已发布的策略 / list the published policies."""
    table = Table("id", "版本 version", "名称 name", "生效 from", "失效 to", "sha256")
    for compiled in service.published_policies():
        policy = compiled.policy
        table.add_row(
            policy.id,
            policy.version,
            policy.name.both(),
            str(policy.effective_from),
            str(policy.effective_to or "…"),
            policy.digest[:12],
        )
    console.print(table)


@policy_app.command("whatif")
def whatif(
    draft: Annotated[Path, typer.Option("--draft", help="草稿策略 YAML / draft policy")],
    output: Annotated[Path, typer.Option("--output", help="结果工作簿 .xlsx / workbook")],
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="计分日期 YYYY-MM-DD（默认今天） / date (default today)"),
    ] = None,
    thresholds: Annotated[
        str | None,
        typer.Option("--thresholds", help="分数线，逗号分隔（默认 60,90,120,150） / e.g. 60,90"),
    ] = None,
    run: Annotated[
        int | None,
        typer.Option(
            "--run",
            help="取输入的计分批次（默认：该日同一策略最新的批次） / the scoring run to take "
            "the inputs from (default: the newest of the policy on the date)",
        ),
    ] = None,
    engine: Annotated[
        Literal["polars", "spark"],
        typer.Option(
            "--engine",
            help="polars：登记库；spark：输入数据集（--input、--policy） / polars: the "
            "registry; spark: an inputs dataset (--input, --policy)",
        ),
    ] = "polars",
    policy: Annotated[
        str | None,
        typer.Option("--policy", help="对照的策略文件或编号（--engine spark） / baseline"),
    ] = None,
    input_path: Annotated[
        Path | None,
        typer.Option("--input", help="输入数据集目录（--engine spark） / inputs dataset"),
    ] = None,
    master: Annotated[
        str | None,
        typer.Option("--master", help="Spark master URL（默认 local[*]） / Spark master"),
    ] = None,
) -> None:
    """在登记库上试算草稿策略，与现行版本比较 / a draft policy against the published one on
    the registry: bands, thresholds, distribution and the next school cycle."""
    from rich.progress import BarColumn, Progress, TextColumn

    from luodi import workdays
    from luodi.auth.actor import SYSTEM_ACTOR
    from luodi.db import session_scope
    from luodi.files import check_writable
    from luodi.policy import whatif as whatif_service
    from luodi.scoring import service as scoring_service

    given = parse_day("--as-of", as_of)
    on_dataset = engine == "spark" or input_path is not None or policy is not None
    if on_dataset and (engine != "spark" or input_path is None or policy is None):
        raise Invalid(
            "数据集试算在 Spark 上运行：请同时给出 --engine spark、--input 与 --policy",
            "a what-if on a dataset runs on Spark: give --engine spark, --input and --policy "
            "together",
        )
    if on_dataset and run is not None:
        raise Invalid(
            "--run（数据库中的计分批次）与 --input（数据集）二者选一",
            "give either --run (a scoring run in the database) or --input (a dataset), not both",
        )
    check_writable(output, (".xlsx",))
    chosen = parse_thresholds(thresholds)
    if not draft.is_file():
        raise NotFound(f"找不到草稿 {draft}", f"draft not found: {draft}")
    try:
        text = draft.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise Invalid(
            f"草稿 {draft.name} 不是 UTF-8 编码", f"draft {draft.name} is not UTF-8"
        ) from None
    if on_dataset:
        assert input_path is not None and policy is not None
        on = given or workdays.today()
        baseline = service.resolve_policy(policy, on)
        with Progress(TextColumn("{task.description}"), BarColumn(), console=error_console) as bar:
            task = bar.add_task("政策试算 / what-if (Spark)", total=4)

            def spark_progress(phase: str, done: int, _total: int) -> None:
                bar.update(task, description=phase, completed=done)

            result = whatif_service.dataset_whatif(
                text, draft.name, baseline, input_path, on, chosen,
                master=master, progress=spark_progress,
            )  # fmt: skip
            bar.update(task, completed=4)
        _write_whatif(result, output)
        return
    with (
        Progress(TextColumn("{task.description}"), BarColumn(), console=error_console) as bar,
        session_scope() as session,
    ):
        task = bar.add_task("政策试算 / what-if", total=len(whatif_service.PHASES))
        # A run named without a date: the what-if is on the run's date.
        on = given or (
            scoring_service.get_run(SYSTEM_ACTOR, session, run).as_of
            if run is not None
            else workdays.today()
        )

        def progress(phase: str, done: int, _total: int) -> None:
            bar.update(task, description=phase, completed=done)

        result = whatif_service.run_whatif(
            SYSTEM_ACTOR, session, text, draft.name, on, chosen, progress, run
        )
        bar.update(task, completed=len(whatif_service.PHASES))
    _write_whatif(result, output)


def _write_whatif(result: dict[str, Any], output: Path) -> None:
    from luodi.files import write_bytes
    from luodi.policy.whatif_book import workbook

    write_bytes(output, workbook(result))
    for zh, en in zip(result["summary"]["zh"], result["summary"]["en"], strict=True):
        console.print(f"{zh}\n[dim]{en}[/]", highlight=False)
    console.print(f"已写入 / written: {output}", highlight=False)


def parse_thresholds(text: str | None) -> list[float] | None:
    """``60,90,120`` → [60.0, 90.0, 120.0]; None → the defaults."""
    if text is None or not text.strip():
        return None
    from luodi.analysis.service import threshold_numbers

    return threshold_numbers(text, "--thresholds")
