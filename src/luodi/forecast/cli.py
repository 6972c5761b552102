"""``luodi forecast``: the school-place forecast, its warnings and its backtest."""

from __future__ import annotations

import typer

forecast_app = typer.Typer(help="学位需求预测与预警 / school-place forecast", no_args_is_help=True)
