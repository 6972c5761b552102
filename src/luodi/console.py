"""What every command shares: the consoles, the ``--debug`` switch, one YYYY-MM-DD parser, and
one renderer for failures (one line on stderr in Chinese and English, exit status 1, no
traceback unless ``--debug``). Kept light (Typer, Rich, ``luodi.errors``) because every command,
``luodi --help`` included, starts by importing it."""

from __future__ import annotations

import re
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


def root_options(
    debug: Annotated[
        bool, typer.Option("--debug", help="出错时显示完整堆栈 / show tracebacks")
    ] = False,
) -> None:
    """The options before the command; ``--debug`` is read back from the context when a
    command fails (``cli.LuodiGroup``)."""


def parse_day(option: str, text: str | None) -> date | None:
    """A date option written YYYY-MM-DD (None when not given), or an error naming it."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):  # well written, but no such day
            raise Invalid.field(
                option, text, "不是真实存在的日期（YYYY-MM-DD）", "is not a real date (YYYY-MM-DD)"
            ) from None
        raise Invalid.field(
            option, text[:40], "日期格式应为 YYYY-MM-DD", "a date is written YYYY-MM-DD"
        ) from None


def as_luodi_error(error: Exception) -> LuodiError:
    """What to tell the user about a failure: a typed error as it is; a database still locked
    by another writer in its own words; anything else by its kind only, because its text may
    name server paths."""
    if isinstance(error, LuodiError):
        return error
    if "sqlalchemy" in sys.modules:  # a database error can only come once SQLAlchemy is loaded
        from luodi.db import database_failure

        failure = database_failure(error)
        if failure is not None:
            return failure
    kind = type(error).__name__
    return LuodiError(
        f"内部错误（{kind}）；加 --debug 重新运行可看详情",
        f"internal error ({kind}); run again with --debug for details",
        500,
    )


def print_error(error: LuodiError) -> None:
    """The message on one line, Chinese then English, and the first problems below it."""
    error_console.print(
        f"[bold red]错误 Error[/] {escape(error.message_zh)} / {escape(error.message_en)}",
        highlight=False,
    )
    for problem in error.details[1:SHOWN_PROBLEMS]:
        error_console.print(f"  - {problem.describe()}", highlight=False, markup=False)
    if len(error.details) > SHOWN_PROBLEMS:
        more = len(error.details) - SHOWN_PROBLEMS
        error_console.print(f"  … 另有 {more} 条 / {more} more", highlight=False)


def main() -> None:
    """The ``luodi`` entry point. The command tree loads each domain's commands only when
    they run (``luodi.cli``), so that ``luodi --help`` and the file commands start fast."""
    from luodi.cli import app

    app()
