"""``luodi notice …`` and ``luodi objection …``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from luodi.auth.actor import SYSTEM_ACTOR
from luodi.auth.cli import AsUser, acting
from luodi.console import console, parse_day
from luodi.db import session_scope
from luodi.errors import Invalid
from luodi.files import check_writable, write_bytes
from luodi.notices import deadlines, service
from luodi.notices.models import Notice, notice_columns

notice_app = typer.Typer(help="结果公示 / public notices", no_args_is_help=True)
objection_app = typer.Typer(help="异议与复核 / objections", no_args_is_help=True)


def _describe(notice: Notice) -> str:
    return (
        f"公示 {notice.id}「{notice.title}」{notice.starts_on} 至 {notice.ends_on}，"
        f"{notice.row_count:,} 条，状态 {notice.status}"
    )


@notice_app.command("publish")
def publish(
    run: Annotated[int | None, typer.Option("--run", help="分配批次 id")] = None,
    scoring_run: Annotated[int | None, typer.Option("--scoring-run", help="计分批次 id")] = None,
    starts: Annotated[str | None, typer.Option("--starts", help="开始日期（默认今天）")] = None,
    days: Annotated[
        int | None,
        typer.Option("--days", help="工作日数（默认：周期的公示期，或 5）/ working days"),
    ] = None,
    title: Annotated[str | None, typer.Option("--title")] = None,
    qualification: Annotated[
        bool,
        typer.Option(
            "--qualification",
            help="只公示资格审核结果（公租房配租前）/ the qualified list only (before 配租)",
        ),
    ] = False,
    as_user: AsUser = None,
) -> None:
    """发布分配结果或积分排名公示（脱敏）/ publish a masked notice."""
    with session_scope() as session:
        notice = service.publish(
            acting(session, as_user),
            session,
            allocation_run_id=run,
            scoring_run_id=scoring_run,
            starts_on=parse_day("--starts", starts),
            working_days=days,
            title=title,
            qualification=qualification,
        )
        console.print(f"已发布 / published: {_describe(notice)}", highlight=False)


@notice_app.command("list")
def list_notices() -> None:
    """公示列表 / notices."""
    with session_scope() as session:
        table = Table(
            "id", "标题 title", "公示期 period", "状态", "条数", "异议 open/upheld/dismissed"
        )
        for notice in service.list_notices(SYSTEM_ACTOR, session):
            counts = service.objection_counts(session, notice.id)
            table.add_row(
                str(notice.id),
                notice.title,
                f"{notice.starts_on} — {notice.ends_on}",
                notice.status,
                f"{notice.row_count:,}",
                f"{counts['open']}/{counts['upheld']}/{counts['dismissed']}",
            )
    console.print(table)


def _cell(column: str, value: object) -> str:
    """A published value as the page writes it: an amount 200,000 (not 200000.0), points
    88 or 88.25 (not 88.0), nothing for none."""
    if value is None:
        return ""
    if isinstance(value, float):
        if column == "amount":
            return f"{value:,.0f}" if value == round(value) else f"{value:,.2f}"
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value)


@notice_app.command("show")
def show(
    notice_id: Annotated[int, typer.Argument(help="公示 id")],
    rows: Annotated[
        int, typer.Option("--rows", min=1, max=service.MAX_PAGE_ROWS, help="显示前 N 条")
    ] = 20,
    changes: Annotated[
        int,
        typer.Option("--changes", min=1, max=service.MAX_PAGE_ROWS, help="每次更正显示前 N 条变化"),
    ] = 20,
) -> None:
    """公示内容（脱敏）与每次更正的变化 / a notice's masked rows and its amendments."""
    with session_scope() as session:
        notice = service.get_notice(SYSTEM_ACTOR, session, notice_id)
        frame = service.rows_page(session, notice, 0, rows)
        amended = [
            (amendment, service.amendment_changes(session, notice, amendment.id, 0, changes))
            for amendment in service.amendments(session, notice.id)
        ]
        console.print(_describe(notice), highlight=False)
        if notice.seed:
            console.print(f"摇号种子 seed {notice.seed} · SHA-256 {notice.rows_digest}")
    table = Table(*notice_columns(notice).values())
    for row in frame.iter_rows(named=True):
        table.add_row(*[_cell(name, value) for name, value in row.items()])
    console.print(table)
    for amendment, shown in amended:
        console.print(
            f"更正 amendment {amendment.id}: run {amendment.previous_run_id} → "
            f"{amendment.new_run_id}（计分批次 scoring run {amendment.scoring_run_id}"
            f"{'，经确认改用' if amendment.other_scoring_run else ''}），"
            f"{amendment.changed} 条变化 / rows changed",
            highlight=False,
        )
        listing = Table("编号 ref", "姓名 name", "更正前 before", "更正后 after")
        for change in shown:
            listing.add_row(change["ref"], change["name"] or "", change["before"], change["after"])
        console.print(listing)


@notice_app.command("export")
def export(
    notice_id: Annotated[int, typer.Argument(help="公示 id")],
    output: Annotated[Path, typer.Argument(help="输出 .xlsx 或 .pdf")],
) -> None:
    """导出公示为 Excel 或 PDF（发布时生成的文件）/ export the stored XLSX or PDF."""
    check_writable(output, (".xlsx", ".pdf"))
    with session_scope() as session:
        notice = service.get_notice(SYSTEM_ACTOR, session, notice_id)
        content = service.stored_export(session, notice, output.suffix.lower()[1:]).content
    write_bytes(output, content)
    console.print(f"已导出 / written to {output}（{len(content):,} bytes）", highlight=False)


@notice_app.command("rerun")
def rerun(
    notice_id: Annotated[int, typer.Argument(help="公示 id")],
    scoring_run: Annotated[
        int | None, typer.Option("--scoring-run", help="更正数据后的计分批次")
    ] = None,
    seed: Annotated[str | None, typer.Option("--seed", help="默认沿用公示的种子")] = None,
    confirm_scoring_run: Annotated[
        bool,
        typer.Option(
            "--confirm-scoring-run",
            help="确认改用公示所依据之外的计分批次（会重算每一条）/ confirm another scoring run",
        ),
    ] = False,
    as_user: AsUser = None,
) -> None:
    """异议成立、更正后在公示所依据的计分批次上重新分配并记录每条变化 / re-run after
    upheld objections on the notice's own scoring run."""
    with session_scope() as session:
        amendment = service.rerun(
            acting(session, as_user),
            session,
            notice_id,
            scoring_run,
            seed,
            confirm_other_scoring_run=confirm_scoring_run,
        )
    console.print(
        f"公示 {notice_id} 已更正：批次 {amendment.previous_run_id} → {amendment.new_run_id}"
        f"（计分批次 {amendment.scoring_run_id}），{amendment.changed} 条变化 / rows changed"
        f"（luodi notice show {notice_id} --changes N 列出）",
        highlight=False,
    )


@notice_app.command("render")
def render(
    notice_id: Annotated[
        int | None, typer.Argument(help="公示 id（默认：缺少文件的全部公示）")
    ] = None,
    as_user: AsUser = None,
) -> None:
    """生成并保存公示的 Excel 与 PDF（如发布时缺少字体）/ render and store the XLSX and PDF."""
    with session_scope() as session:
        chosen = (
            [notice_id]
            if notice_id is not None
            else [notice.id for notice in service.notices_missing_exports(session)]
        )
        for chosen_id in chosen:
            missing = service.render_again(acting(session, as_user), session, chosen_id)
            console.print(
                f"公示 {chosen_id}: "
                + ("已生成 / rendered" if not missing else f"仍缺 / still missing {missing}"),
                highlight=False,
            )


@notice_app.command("verify")
def verify(notice_id: Annotated[int, typer.Argument(help="公示 id")]) -> None:
    """核对存储的名单与公布的 SHA-256 摘要 / check the stored rows against the digest."""
    with session_scope() as session:
        notice = service.get_notice(SYSTEM_ACTOR, session, notice_id)
        intact = service.verify_digest(session, notice)
    if not intact:
        console.print(f"公示 {notice_id} 的名单与摘要不符 / rows do not match the digest")
        raise typer.Exit(1)
    console.print(f"公示 {notice_id} 名单与摘要一致 / rows match {notice.rows_digest}")


@notice_app.command("finalize")
def finalize(
    notice_id: Annotated[int, typer.Argument(help="公示 id")],
    as_user: AsUser = None,
) -> None:
    """公示期满且无未决异议后确定结果 / finalise after the window."""
    with session_scope() as session:
        notice = service.finalize(acting(session, as_user), session, notice_id)
        console.print(f"已确定 / final: {_describe(notice)}", highlight=False)


@objection_app.command("file")
def file_objection(
    notice: Annotated[int, typer.Option("--notice", help="公示 id")],
    row: Annotated[str, typer.Option("--row", help="公示中的编号")],
    reason: Annotated[str, typer.Option("--reason", help="理由")],
    as_user: Annotated[str, typer.Option("--as", help="提出异议的居民账号")],
    attach: Annotated[
        list[Path] | None, typer.Option("--attach", help="附件 PDF/PNG/JPEG（最多3个）")
    ] = None,
) -> None:
    """居民对与本人有关的条目提出异议 / a resident objects to a row about them."""
    uploads = []
    for path in attach or []:
        if not path.is_file():
            raise Invalid.field("attach", str(path), "文件不存在", "no such file")
        with path.open("rb") as handle:
            uploads.append(service.Upload(path.name, handle.read(service.MAX_ATTACHMENT_BYTES + 1)))
    with session_scope() as session:
        objection = service.file_objection(
            acting(session, as_user), session, notice, row, reason, uploads
        )
        console.print(f"已受理异议 / objection {objection.id} filed", highlight=False)


@objection_app.command("list")
def list_objections(
    notice: Annotated[int | None, typer.Option("--notice", help="公示 id")] = None,
    as_user: AsUser = None,
) -> None:
    """异议列表 / objections."""
    with session_scope() as session:
        items = service.list_objections(acting(session, as_user), session, notice)
        table = Table(
            "id", "公示", "条目", "理由 reason", "状态", "复核期限 due", "复核意见 decision"
        )
        for o in items:
            table.add_row(
                str(o.id),
                str(o.notice_id),
                o.row_ref,
                o.reason,
                o.status,
                str(deadlines.review_due_on(session, o)),
                o.decision_reason or "",
            )
    console.print(table)


@objection_app.command("review")
def review(
    objection_id: Annotated[int, typer.Argument(help="异议 id")],
    reason: Annotated[str, typer.Option("--reason", help="复核意见（居民可见）")],
    uphold: Annotated[bool, typer.Option("--uphold/--dismiss", help="异议成立 / 不成立")] = False,
    as_user: AsUser = None,
) -> None:
    """主管部门复核异议 / the department decides."""
    with session_scope() as session:
        objection = service.review(acting(session, as_user), session, objection_id, uphold, reason)
        console.print(f"异议 {objection.id}: {objection.status}", highlight=False)
