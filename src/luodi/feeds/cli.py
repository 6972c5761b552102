"""``luodi feed list | show | import | batches | history``."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from luodi.auth.actor import SYSTEM_ACTOR
from luodi.console import console, error_console, parse_day
from luodi.db import session_scope
from luodi.facts import service as facts_service
from luodi.feeds import catalog, service
from luodi.feeds.schemas import STATUS_LABELS, ImportResult, ImportStatus
from luodi.kernels.masking import mask_id_number
from luodi.registry import service as registry_service

feed_app = typer.Typer(help="部门数据交换 / department data feeds", no_args_is_help=True)
SHOWN_REJECTIONS = 10


@feed_app.command("list")
def feed_list() -> None:
    """列出已声明的数据源 / list the declared feeds."""
    table = Table("数据源 feed", "部门 dept", "名称 title", "文件 file", "键 key", "事实 facts")
    for spec in catalog.load_feeds().values():
        table.add_row(
            spec.id,
            spec.department,
            spec.title.zh,
            spec.file or "",
            "+".join(spec.key),
            ", ".join(dict.fromkeys(fact.variable for fact in spec.facts)),
        )
    console.print(table)


@feed_app.command("show")
def feed_show(feed: Annotated[str, typer.Argument(help="数据源 / feed id")]) -> None:
    """显示数据源的列、可用中文表头与校验规则 / show a feed's columns and headers."""
    spec = catalog.find_feed(feed)
    console.print(f"[bold]{escape(spec.id)}[/] {escape(spec.label)}（{spec.department}）")
    table = Table("列 column", "类型 type", "必填", "可用表头 headers", "规则 rules")
    for name, column in spec.columns.items():
        rules = []
        if column.values:
            rules.append(" / ".join(column.values))
        if column.min is not None or column.max is not None:
            rules.append(
                f"{column.min if column.min is not None else ''}–"
                f"{column.max if column.max is not None else ''}"
            )
        if column.pattern:
            rules.append(column.pattern)
        if column.reference:
            rules.append(f"registry: {column.reference}")
        table.add_row(
            name,
            column.type,
            "是" if column.required else "",
            "、".join(column.headers),
            escape("; ".join(rules)),
        )
    console.print(table)
    console.print(f"键 key: {'+'.join(spec.key)}；未登记的人 unknown person: {spec.unknown_person}")


def print_result(result: ImportResult) -> None:
    style = {
        ImportStatus.IMPORTED: "green",
        ImportStatus.ALREADY_IMPORTED: "yellow",
        ImportStatus.DRY_RUN: "cyan",
        ImportStatus.REJECTED: "red",
    }[result.status]
    console.print(
        f"[bold {style}]{STATUS_LABELS[result.status]}[/]  {escape(result.file_name)} → "
        f"{result.feed}",
        highlight=False,
    )
    if result.status == ImportStatus.ALREADY_IMPORTED:
        console.print(
            f"  同一内容（SHA-256 {result.digest[:12]}…）已于 {result.already_imported_at:%Y-%m-%d %H:%M} "
            f"作为批次 {result.batch_id} 导入 / the same content was imported as batch "
            f"{result.batch_id}",
            highlight=False,
        )
        return
    console.print(
        f"  编码 encoding {result.encoding}；表头在第 {result.header_row} 行 header row"
        + (
            f"；忽略的列 ignored: {escape('、'.join(result.ignored_headers))}"
            if result.ignored_headers
            else ""
        ),
        highlight=False,
    )
    console.print(
        f"  读取 read {result.rows_read:,} 行 · 通过 accepted {result.rows_read - result.rows_rejected:,}"
        f" · 拒绝 rejected {result.rows_rejected:,} · 写入事实 facts {result.facts_written:,}"
        f" · 取代旧事实 superseded {result.facts_superseded:,}"
        + (f" · 写入登记库 registered {result.registered:,}" if result.registered else "")
        + (
            f" · 新登记居民 residents created {result.residents_created:,}"
            if result.residents_created
            else ""
        )
        + (f" · 批次 batch {result.batch_id}" if result.batch_id else "")
        + f" · {result.seconds:.1f} s",
        highlight=False,
    )
    if result.rejections:
        table = Table(
            "行 row", "列 column", "值 value", "原因 reason", title="被拒绝的行 / rejected rows"
        )
        for item in result.rejections[:SHOWN_REJECTIONS]:
            table.add_row(
                str(item.row),
                escape(item.header),
                escape(item.value or ""),
                escape(f"{item.reason_zh} / {item.reason_en}"),
            )
        console.print(table)
        if result.rows_rejected > SHOWN_REJECTIONS:
            console.print("  … 完整清单见报告 / all of them are in the report", highlight=False)
    for path in result.report_files:
        console.print(f"  报告 report: {escape(path)}", highlight=False)
    if result.status == ImportStatus.IMPORTED and result.rows_rejected:
        console.print(
            f"  [yellow]--accept-partial：{result.rows_rejected:,} 行未导入 / rows left out[/]",
            highlight=False,
        )


@feed_app.command("import")
def feed_import(
    feed: Annotated[str, typer.Argument(help="数据源 / feed id（luodi feed list）")],
    file: Annotated[Path, typer.Argument(help="CSV（UTF-8/GBK）或 XLSX 文件")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="只校验，不写入")] = False,
    accept_partial: Annotated[
        bool, typer.Option("--accept-partial", help="导入通过的行，跳过有错误的行")
    ] = False,
    sheet: Annotated[
        str | None, typer.Option("--sheet", help="XLSX 工作表名（默认第一个）")
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="拒绝报告路径（.xlsx/.csv；默认写在文件旁）"),
    ] = None,
) -> None:
    """导入一个部门数据文件：全部通过才写入 / import a department file, all or nothing."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=error_console,
        transient=True,
    ) as bar:
        task = bar.add_task("读取 / reading", total=None)

        def progress(phase: str, done: int, total: int) -> None:
            bar.update(task, description=phase, completed=done, total=total or None)

        with session_scope() as session:
            result = service.import_file(
                SYSTEM_ACTOR,
                session,
                feed,
                file,
                dry_run=dry_run,
                accept_partial=accept_partial,
                sheet=sheet,
                report=report,
                progress=progress,
            )
            bar.update(task, description="提交 / committing")
    print_result(result)
    if result.status == ImportStatus.REJECTED or (
        result.status == ImportStatus.DRY_RUN and result.rows_rejected
    ):
        raise typer.Exit(1)


@feed_app.command("batches")
def feed_batches(
    feed: Annotated[str | None, typer.Option("--feed", help="只看一个数据源")] = None,
) -> None:
    """已导入的批次（文件、摘要、导入人、时间）/ imported batches."""
    table = Table(
        "批次 batch",
        "数据源 feed",
        "文件 file",
        "SHA-256",
        "导入人 by",
        "时间 at",
        "行 rows",
        "事实 facts",
        "取代 superseded",
    )
    with session_scope() as session:
        for batch in service.list_batches(SYSTEM_ACTOR, session, feed):
            table.add_row(
                str(batch.id),
                batch.feed,
                escape(batch.file_name),
                batch.digest[:12],
                batch.imported_by,
                f"{batch.imported_at:%Y-%m-%d %H:%M:%S}",
                f"{batch.rows_imported:,}/{batch.rows_read:,}",
                f"{batch.facts_written:,}",
                f"{batch.facts_superseded:,}",
            )
    console.print(table)


@feed_app.command("history")
def feed_history(
    id_number: Annotated[str, typer.Argument(help="身份证号 / ID number")],
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="居住证时间线的日期 YYYY-MM-DD（默认今天）/ time line date"),
    ] = None,
) -> None:
    """一位居民的全部事实及其来源（数据源、批次、文件、行），及居住证时间线 / a resident's
    facts and sources, and the permit time line."""
    on = parse_day("--as-of", as_of) or date.today()
    with session_scope() as session:
        resident = registry_service.resident_for(session, SYSTEM_ACTOR, id_number)
        sources = facts_service.fact_sources(SYSTEM_ACTOR, session, resident.id)
        span = registry_service.residence_span(SYSTEM_ACTOR, session, resident.id, on)
    console.print(
        f"[bold]{mask_id_number(resident.id_number)}[/] 的事实 / facts: {len(sources)}",
        highlight=False,
    )
    rows = []
    for source in sources:
        valid = f"{source.valid_from or '…'} – {source.valid_to or '…'}"
        where = f"{source.feed or ''} {source.file_name or ''}:{source.source_row or ''}".strip()
        rows.append(
            [
                source.name,
                source.value,
                valid,
                where,
                str(source.batch_id or ""),
                f"{source.imported_by or ''} {source.imported_at:%Y-%m-%d %H:%M}"
                if source.imported_at
                else "",
                f"已被批次 {source.superseded_by} 取代 superseded"
                if source.superseded_by
                else "当前 current",
            ]
        )
    print_rows(
        [
            "变量 variable",
            "值 value",
            "有效期 valid",
            "来源 source",
            "批次 batch",
            "导入 imported",
            "状态 state",
        ],
        rows,
    )
    print_span(span)


def print_rows(headers: list[str], rows: list[list[str]], title: str | None = None) -> None:
    """A table on a terminal; tab-separated lines of whole values when stdout is piped or
    redirected, where Rich would fit the table into 80 columns and cut the values
    ('social_…') that grep, cut or a spreadsheet are after. Tabs and line breaks inside a
    value become spaces so that one line stays one row."""
    if console.is_terminal:
        table = Table(*headers, title=title)
        for row in rows:
            table.add_row(*map(escape, row))
        console.print(table)
        return
    lines = [title] if title else []
    for row in [headers, *rows]:
        lines.append("\t".join(" ".join(cell.split("\t")).replace("\n", " ") for cell in row))
    # Written as is: Rich would expand the tabs into spaces.
    console.file.write("\n".join(lines) + "\n")


def print_span(span: dict[str, Any]) -> None:
    """The permit time line (《浙江省流动人口居住登记条例》第十九条): each permit with its
    endorsements, then the current span and why it starts where it does."""
    print_rows(
        ["居住证 permit", "签发 issued", "有效期至 expires", "状态 status", "签注 endorsed"],
        [
            [
                permit["permit_number"],
                permit["issue_date"],
                permit["expiry_date"],
                permit["status"],
                ", ".join(permit["endorsed_on"]) or "—",
            ]
            for permit in span["permits"]
        ],
        title=f"居住证时间线 / permit time line · {span['as_of']}",
    )
    start = span["span_start"] or "—"
    console.print(
        f"当前连续居住起算 span start: [bold]{start}[/] · 状态 state: {span['permit_state']}"
        + (
            f" · 下次签注 next due: {span['next_endorsement_due']}"
            if span.get("next_endorsement_due")
            else ""
        ),
        highlight=False,
    )
    console.print(f"{escape(span['reason_zh'])} / {escape(span['reason_en'])}", highlight=False)
