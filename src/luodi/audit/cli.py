"""``luodi audit verify`` and ``luodi audit show``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from luodi.audit import service
from luodi.auth.actor import SYSTEM_ACTOR
from luodi.console import console, error_console
from luodi.db import session_scope

audit_app = typer.Typer(help="审计日志（哈希链）/ the audit log", no_args_is_help=True)


@audit_app.command("verify")
def verify() -> None:
    """校验整条哈希链；被改动时指出第一条不符的记录 / walk the chain."""
    with console.status("校验审计链 / verifying …"), session_scope() as session:
        check = service.verify(SYSTEM_ACTOR, session)
    if check.intact:
        console.print(
            f"审计链完整 / intact: {check.entries:,} 条 entries, head {check.head}",
            highlight=False,
        )
        return
    error_console.print(
        f"[bold red]审计链被破坏[/] 第 {check.broken_seq} 条（id {check.broken_id}）："
        f"{check.reason_zh}\n[bold red]Audit chain broken[/] at entry {check.broken_seq} "
        f"(id {check.broken_id}): {check.reason_en}; {check.entries:,} entries before it are intact",
        highlight=False,
    )
    raise typer.Exit(1)


@audit_app.command("show")
def show(
    object_ref: Annotated[str, typer.Option("--object", help="类型:编号，如 application:12")],
) -> None:
    """一个对象的全部变更记录 / an object's history."""
    object_type, object_id = service.parse_object(object_ref)
    with session_scope() as session:
        entries = service.history(SYSTEM_ACTOR, session, object_type, object_id)
        table = Table(
            "#", "时间 at", "操作人 actor", "角色 role", "操作 action", "之前 before", "之后 after"
        )
        for entry in entries:
            table.add_row(
                str(entry.seq),
                entry.at[:19],
                entry.actor,
                entry.role,
                entry.action,
                (entry.before_digest or "")[:12],
                (entry.after_digest or "")[:12],
            )
    console.print(table)
    console.print(f"{object_ref}: {len(entries)} 条记录 / entries", highlight=False)
