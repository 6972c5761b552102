"""``luodi id check``: apart from the other registry commands, so that checking a number loads
neither the database layer nor NumPy and Polars (a pure-Python check, in a command that starts
in a fifth of a second)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from luodi.console import console
from luodi.kernels.identifiers import check_id_number

id_app = typer.Typer(help="身份证号码 / citizen ID numbers", no_args_is_help=True)


@id_app.command("check")
def id_check(
    numbers: Annotated[list[str], typer.Argument(help="一个或多个18位身份证号 / ID numbers")],
) -> None:
    """检查身份证号（GB 11643）：逐个给出有效或无效的确切原因 / check ID numbers."""
    all_valid = True
    for raw in numbers:
        check = check_id_number(raw)
        if check.valid:
            console.print(
                f"[green]有效 valid[/]  {check.number}  出生 {check.birth_date}  "
                f"{'男 male' if check.sex == 'male' else '女 female'}  籍贯 {check.origin_province}",
                highlight=False,
            )
        else:
            all_valid = False
            console.print(
                f"[red]无效 invalid[/]  {escape(raw)}  {escape(f'[{check.problem}]')} "
                f"{check.reason_zh} / {check.reason_en}",
                highlight=False,
            )
    if not all_valid:
        raise typer.Exit(1)
