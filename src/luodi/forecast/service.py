"""The school-place forecast on the registry: read the history, run the kernels, say it.

STUB (foundation): the shapes below are the contract between the service, the CLI, the API
and the page; the implementation fills them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import polars as pl
from sqlalchemy.orm import Session

from luodi.auth.actor import Actor
from luodi.kernels.forecast import BACKTEST_COLUMNS, FORECAST_COLUMNS

Progress = Callable[[str, int, int], None]
"""(phase "中文 / English", done, total), as a job's."""


@dataclass(frozen=True)
class Scenario:
    """What the user may change on the page and on the command line."""

    inflow_growth: float = 0.0
    """Yearly growth of the net inflow of families beyond what history shows (0.05 = +5 %)."""
    capture_rate: float | None = None
    """Share of the children of entry age who apply; None = as observed in past cycles."""


@dataclass(frozen=True)
class WarningChange:
    """What would change a school's or town's warning (new housing, boundary, inflow)."""

    town_code: str
    school_id: str
    school_year: int
    grade: int
    warning: str
    text_zh: str
    text_en: str


@dataclass(frozen=True)
class SchoolForecast:
    as_of: date
    horizon: int
    method: str
    """As asked: auto, cohort or trend."""
    scenario: Scenario
    rows: pl.DataFrame
    """FORECAST_COLUMNS, then ``town_name``, ``school_name`` and ``method`` (the one used
    for the row's town), sorted by town, school (town row first), school year, grade."""
    backtest: pl.DataFrame
    """BACKTEST_COLUMNS: the errors published beside the forecast."""
    unplaced: pl.DataFrame
    """``town_code, school_year, grade, expected_unplaced``: eligible children expected to
    find no seat, from the allocation kernel run on the forecast."""
    changes: list[WarningChange] = field(default_factory=list)
    towns: dict[str, str] = field(default_factory=dict)
    """code → name."""


def forecast_schools(
    actor: Actor,
    session: Session,
    as_of: date,
    horizon: int,
    method: str = "auto",
    scenario: Scenario | None = None,
    progress: Progress | None = None,
) -> SchoolForecast:
    raise NotImplementedError


def backtest(
    actor: Actor,
    session: Session,
    as_of: date | None = None,
    progress: Progress | None = None,
) -> pl.DataFrame:
    """BACKTEST_COLUMNS for every town, method and horizon 1…5 that history allows."""
    raise NotImplementedError


__all__ = [
    "BACKTEST_COLUMNS",
    "FORECAST_COLUMNS",
    "Scenario",
    "SchoolForecast",
    "WarningChange",
    "backtest",
    "forecast_schools",
]
