"""The school-place forecast on the registry: read the history, run the kernels, say it.

The history comes from ``repository.history`` (bulk reads); the numbers from the pure kernels
in ``luodi.kernels.forecast`` (the methods, the backtest, the intervals, the warnings); the
expected children without a seat from the allocation kernel run on the forecast.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Final

import polars as pl
from sqlalchemy.orm import Session

from luodi import workdays
from luodi.auth.actor import Actor
from luodi.auth.permissions import CONSOLE_AREAS, require
from luodi.errors import Invalid
from luodi.forecast import repository
from luodi.forecast.repository import ForecastHistory
from luodi.kernels.forecast import BACKTEST_COLUMNS, FORECAST_COLUMNS, MAX_HORIZON, METHODS
from luodi.kernels.forecast import backtest as backtest_kernel
from luodi.kernels.forecast.backtest import DETAIL_SCHEMA
from luodi.kernels.forecast.model import HistoryFrames, Scenario, known_at
from luodi.kernels.forecast.warnings import expected_unplaced, warning_changes

Progress = Callable[[str, int, int], None]
"""(phase "中文 / English", done, total), as a job's."""

CHOICES: Final = ("auto", *METHODS)
STEPS: Final = 4
INFLOW_GROWTH_RANGE: Final = (-0.9, 1.0)
"""A scenario's yearly inflow growth: from −90 % to +100 %."""


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
    """FORECAST_COLUMNS, then ``town_name``, ``school_name``, ``method`` (the one used
    for the row's town) and ``horizon`` (years ahead), sorted by town, school (town row
    first), school year, grade."""
    backtest: pl.DataFrame
    """BACKTEST_COLUMNS: the errors published beside the forecast."""
    unplaced: pl.DataFrame
    """``town_code, school_year, grade, expected_unplaced``: eligible children expected to
    find no seat, from the allocation kernel run on the forecast."""
    changes: list[WarningChange] = field(default_factory=list)
    towns: dict[str, str] = field(default_factory=dict)
    """code → name."""
    detail: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=DETAIL_SCHEMA))
    """The backtest's every error (``kernels.forecast.backtest.DETAIL_SCHEMA``)."""


def check_area(actor: Actor) -> None:
    """The forecast is the city's aggregate: the roles of ``CONSOLE_AREAS["forecast"]``
    (401 before sign-in, 403 for another role)."""
    require(actor, *CONSOLE_AREAS["forecast"])


def check_as_of(as_of: date) -> None:
    """A forecast starts from what is known: never from a day after the city's today (a date
    in the future would be a forecast made on no data, and a backtest from it would walk
    back over every year between)."""
    today = workdays.today()
    if as_of > today:
        raise Invalid.field(
            "as_of",
            as_of.isoformat(),
            f"预测基准日不能晚于今天（{today.isoformat()}）：预测只能从已知的数据出发",
            f"the as-of date cannot be after today ({today.isoformat()}): a forecast starts "
            "from what is known",
        )


def check_request(horizon: int, method: str, scenario: Scenario, as_of: date) -> None:
    check_as_of(as_of)
    if not 1 <= horizon <= MAX_HORIZON:
        raise Invalid.field(
            "horizon",
            horizon,
            f"预测年数应为 1 至 {MAX_HORIZON}",
            f"the horizon is 1 to {MAX_HORIZON} years",
        )
    if method not in CHOICES:
        raise Invalid.field(
            "method", method, f"方法应为 {'、'.join(CHOICES)}", f"method is {', '.join(CHOICES)}"
        )
    low, high = INFLOW_GROWTH_RANGE
    if not low <= scenario.inflow_growth <= high:
        raise Invalid.field(
            "inflow_growth",
            scenario.inflow_growth,
            f"流入增长率应在 {low} 至 {high} 之间（0.05 即 +5%）",
            f"inflow growth is between {low} and {high} (0.05 = +5 %)",
        )
    if scenario.capture_rate is not None and not 0 < scenario.capture_rate <= 1:
        raise Invalid.field(
            "capture_rate",
            scenario.capture_rate,
            "报名比例应大于 0、不超过 1",
            "the capture rate is above 0 and at most 1",
        )


def frames_of(history: ForecastHistory) -> HistoryFrames:
    return HistoryFrames(history.children, history.intakes, history.new_permits, history.seats)


def _require_intakes(frames: HistoryFrames, as_of: date) -> None:
    if frames.intakes.filter(pl.col("cycle_as_of") <= as_of).height == 0:
        raise Invalid.field(
            "as_of",
            as_of.isoformat(),
            "该日期之前没有已知的入学周期（需要至少一年的招生数据）",
            "no school intake is known before this date (at least one year is needed)",
        )


def _names(history: ForecastHistory, rows: pl.DataFrame) -> pl.DataFrame:
    schools = pl.concat(
        [
            history.seats.select("school_id", "school_name"),
            history.intakes.sort("school_year").select("school_id", "school_name"),
        ]
    ).unique("school_id", keep="last")
    towns = pl.DataFrame(
        {"town_code": list(history.towns), "town_name": list(history.towns.values())},
        schema={"town_code": pl.String, "town_name": pl.String},
    )
    return (
        rows.join(towns, on="town_code", how="left")
        .join(schools, on="school_id", how="left")
        .with_columns(
            pl.col("town_name").fill_null(pl.col("town_code")),
            pl.col("school_name").fill_null(""),
        )
        .select(*FORECAST_COLUMNS, "town_name", "school_name", "method", "horizon")
        .sort("town_code", "school_id", "school_year", "grade")
    )


def forecast_schools(
    actor: Actor,
    session: Session,
    as_of: date,
    horizon: int,
    method: str = "auto",
    scenario: Scenario | None = None,
    progress: Progress | None = None,
) -> SchoolForecast:
    """The forecast from ``as_of`` (only what was known that day is read) for ``horizon``
    school years, with its backtest, intervals, warnings, expected unplaced and changes."""
    check_area(actor)
    scenario = scenario or Scenario()
    check_request(horizon, method, scenario, as_of)
    say = progress or (lambda _phase, _done, _total: None)
    say("读取历史 / reading the history", 0, STEPS)
    history = repository.history(session, actor)
    frames = frames_of(history)
    _require_intakes(frames, as_of)
    say("回测与预测 / backtest and forecast", 1, STEPS)
    result = backtest_kernel.forecast(frames, as_of, horizon, method, scenario)
    rows = _names(history, result.rows)
    say("分配模拟 / allocation on the forecast", 2, STEPS)
    unplaced = expected_unplaced(rows)
    say("预警与变化 / warnings and what changes them", 3, STEPS)
    changes = [
        WarningChange(**change)
        for change in warning_changes(rows, history.towns).iter_rows(named=True)
    ]
    say("完成 / done", STEPS, STEPS)
    return SchoolForecast(
        as_of=as_of,
        horizon=horizon,
        method=method,
        scenario=scenario,
        rows=rows,
        backtest=result.backtest.mape,
        unplaced=unplaced,
        changes=changes,
        towns=dict(history.towns),
        detail=result.backtest.detail,
    )


def backtest_run(
    actor: Actor, session: Session, as_of: date | None = None, progress: Progress | None = None
) -> backtest_kernel.Backtest:
    """The backtest (MAPE and every error) as of ``as_of`` (default: the city's today)."""
    check_area(actor)
    on = as_of or workdays.today()
    check_as_of(on)
    say = progress or (lambda _phase, _done, _total: None)
    say("读取历史 / reading the history", 0, 2)
    frames = frames_of(repository.history(session, actor))
    _require_intakes(frames, on)
    say("回测 / backtest", 1, 2)
    tested = backtest_kernel.backtest(known_at(frames, on), on)
    say("完成 / done", 2, 2)
    return tested


def backtest(
    actor: Actor,
    session: Session,
    as_of: date | None = None,
    progress: Progress | None = None,
) -> pl.DataFrame:
    """BACKTEST_COLUMNS for every town, method and horizon 1…5 that history allows."""
    return backtest_run(actor, session, as_of, progress).mape


__all__ = [
    "BACKTEST_COLUMNS",
    "FORECAST_COLUMNS",
    "Scenario",
    "SchoolForecast",
    "WarningChange",
    "backtest",
    "backtest_run",
    "forecast_schools",
]
