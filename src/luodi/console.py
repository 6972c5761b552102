"""What every command shares: the consoles, the ``--debug`` switch, and one renderer for typed
errors (a message on stderr in Chinese and English, exit status 1, no traceback unless
``--debug``). Kept light so that a command can start without the database layer."""

from __future__ import annotations

import sys
from datetime import date
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from luodi.errors import Invalid, LuodiError

console = Console(soft_wrap=True)
error_console = Console(stderr=True, soft_wrap=True)
SHOWN_PROBLEMS = 10
_debug = {"on": False}


def root_options(
    debug: Annotated[
        bool, typer.Option("--debug", help="出错时显示完整堆栈 / show tracebacks")
    ] = False,
) -> None:
    _debug["on"] = debug


def parse_day(option: str, text: str | None) -> date | None:
    """A date option written YYYY-MM-DD (None when not given), or an error naming it."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise Invalid.field(
            option, text, "日期格式应为 YYYY-MM-DD", "a date is written YYYY-MM-DD"
        ) from None


def print_error(error: LuodiError) -> None:
    error_console.print(f"[bold red]错误[/] {escape(error.message_zh)}", highlight=False)
    error_console.print(f"[bold red]Error[/] {escape(error.message_en)}", highlight=False)
    for problem in error.details[1:SHOWN_PROBLEMS]:
        error_console.print(f"  - {problem.describe()}", highlight=False, markup=False)
    if len(error.details) > SHOWN_PROBLEMS:
        more = len(error.details) - SHOWN_PROBLEMS
        error_console.print(f"  … 另有 {more} 条 / {more} more", highlight=False)


def run(app: typer.Typer) -> None:
    try:
        app()
    except LuodiError as error:
        if _debug["on"]:
            raise
        print_error(error)
        sys.exit(1)


def main() -> None:
    """The ``luodi`` entry point. ``luodi policy …`` works on plain files and must start fast
    (a million residents scored in under 3 s end to end), so it loads only its own commands,
    not the database layer and the synthetic city that the full command tree imports."""
    words = [word for word in sys.argv[1:] if not word.startswith("-")]
    if words[:1] == ["policy"]:
        from luodi.policy.cli import policy_app

        standalone = typer.Typer(name="luodi", no_args_is_help=True, pretty_exceptions_enable=False)
        standalone.callback()(root_options)
        standalone.add_typer(policy_app, name="policy")
        run(standalone)
        return
    from luodi.cli import app

    run(app)
