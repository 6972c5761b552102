"""``luodi analysis``: 积分制总量分析 of a scoring run."""

from __future__ import annotations

import typer

analysis_app = typer.Typer(
    help="积分制总量分析 / whole-population points analysis", no_args_is_help=True
)
