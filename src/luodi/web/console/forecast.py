"""The console's school-place forecast (``/console/forecast``): per town, the expected band against
the seats over the years (a chart and its table), the warning list, the scenario, the export.

The form is a GET (a forecast is a bookmarkable question, not a change). ``forecast_context``
turns a ``SchoolForecast`` into what the template shows and is pure (tested on forecasts built
by hand); the routes parse the form, ask the service, and render or stream."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Final
from urllib.parse import quote, urlencode

import polars as pl
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from luodi import workdays
from luodi.auth.actor import Actor
from luodi.errors import Invalid
from luodi.forecast import exports
from luodi.forecast import service as forecast_service
from luodi.forecast.service import Scenario, SchoolForecast
from luodi.kernels.forecast import ENTRY_GRADES, MAX_HORIZON, METHODS
from luodi.web import i18n
from luodi.web.dependencies import CurrentActor, DbSession
from luodi.web.i18n import N_, _
from luodi.web.rendering import console_actor, render

router = APIRouter(prefix="/console/forecast")

DEFAULT_HORIZON: Final = 3
SHOWN_HORIZONS: Final = (1, 3, 5)
"""The backtest's horizons published beside each town's forecast (the issue's 1, 3, 5 years)."""
GROWTH_RANGE: Final = tuple(bound * 100 for bound in forecast_service.INFLOW_GROWTH_RANGE)
"""The service's inflow growth range, in per cent a year as the form takes it."""

METHOD_WORDS: Final = {
    "auto": N_("自动"),
    "cohort": N_("队列递推"),
    "trend": N_("趋势外推"),
}
WARNING_WORDS: Final = {"red": N_("红色预警"), "yellow": N_("黄色预警"), "green": N_("绿色")}
WARNING_MARKS: Final = {"red": "‼", "yellow": "!", "green": "✓"}
"""A shape beside the word, so that no warning is told by colour alone."""
WARNING_SYMBOLS: Final = {"red": "triangle", "yellow": "diamond", "green": "circle"}
"""The chart's point shapes: the same warning, told by shape as well as by colour."""
WARNING_RANK: Final = {"red": 0, "yellow": 1, "green": 2}
GRADE_WORDS: Final = {1: N_("小学一年级"), 7: N_("初中七年级")}
FIELD_LABELS: Final = {
    "as_of": N_("预测基准日"),
    "horizon": N_("预测年数"),
    "method": N_("预测方法"),
    "inflow_growth": N_("新市民流入增长（%/年）"),
    "capture_rate": N_("入学申请率（%）"),
}
# Okabe–Ito colours (told apart with any colour vision); the warning is also a shape.
BAND_COLOUR: Final = "#56B4E9"
EXPECTED_COLOUR: Final = "#0072B2"
SEATS_COLOUR: Final = "#000000"
WARNING_COLOURS: Final = {"red": "#D55E00", "yellow": "#E69F00", "green": "#009E73"}


# ----------------------------------------------------------------------------------- the form


@dataclass(frozen=True)
class ForecastQuery:
    as_of: date
    horizon: int
    method: str
    scenario: Scenario

    def params(self) -> dict[str, str]:
        """The query string that asks this forecast again (the export links, a bookmark)."""
        given = {
            "as_of": self.as_of.isoformat(),
            "horizon": str(self.horizon),
            "method": self.method,
            "inflow_growth": _plain(self.scenario.inflow_growth * 100),
        }
        if self.scenario.capture_rate is not None:
            given["capture_rate"] = _plain(self.scenario.capture_rate * 100)
        return given


def _plain(value: float) -> str:
    """A per cent as typed: 5 not 5.0, 2.5 as 2.5 (and no float noise such as 5.000000001)."""
    rounded = round(value, 6)
    return str(int(rounded)) if rounded.is_integer() else str(rounded)


def _number(text: str) -> float | None:
    try:
        value = float(text.replace("%", "").replace("％", "").strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_query(
    given: Mapping[str, str], today: date
) -> tuple[ForecastQuery | None, dict[str, str], list[tuple[str | None, str]]]:
    """The form's values as typed → the query, or the problems: (field → reason, the error
    summary's (field, text) lines), in the current language. Empty fields take the defaults."""
    problems: dict[str, str] = {}
    as_of = today
    if text := given.get("as_of", "").strip():
        try:
            as_of = date.fromisoformat(text)
            if len(text) != 10:
                raise ValueError(text)
        except ValueError:
            problems["as_of"] = _("日期格式应为 YYYY-MM-DD 且为真实日期")
        else:
            if as_of > today:
                problems["as_of"] = _("不能晚于今天（%(today)s）", today=today.isoformat())
            elif as_of.year < 2000:
                problems["as_of"] = _("不能早于 2000 年")
    horizon = DEFAULT_HORIZON
    if text := given.get("horizon", "").strip():
        if not text.isdigit() or not 1 <= int(text) <= MAX_HORIZON:
            problems["horizon"] = _("应为 1 到 %(most)s 之间的整数", most=MAX_HORIZON)
        else:
            horizon = int(text)
    method = given.get("method", "").strip() or "auto"
    if method not in METHOD_WORDS:
        problems["method"] = _("应为自动、队列递推或趋势外推")
    growth = 0.0
    if text := given.get("inflow_growth", "").strip():
        value = _number(text)
        low, high = GROWTH_RANGE
        if value is None or not low <= value <= high:
            problems["inflow_growth"] = _(
                "应为 %(low)s 到 %(high)s 之间的数字", low=_plain(low), high=_plain(high)
            )
        else:
            growth = value
    capture: float | None = None
    if text := given.get("capture_rate", "").strip():
        value = _number(text)
        if value is None or not 0 < value <= 100:
            problems["capture_rate"] = _("应为大于 0、不超过 100 的数字，或留空（按历年实际）")
        else:
            capture = value
    summary: list[tuple[str | None, str]] = [
        (name, _("%(label)s：%(reason)s", label=_(FIELD_LABELS[name]), reason=reason))
        for name, reason in problems.items()
    ]
    if problems:
        return None, problems, summary
    scenario = Scenario(
        inflow_growth=growth / 100, capture_rate=None if capture is None else capture / 100
    )
    return ForecastQuery(as_of, horizon, method, scenario), {}, []


# ------------------------------------------------------------------------- what the page shows


def _count(value: Any) -> str:
    """A number of children as people read it (the forecast's fractions rounded)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{round(value):,}"


def _percent(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and math.isinf(value):
        return _("无学位")
    return f"{value * 100:.1f}%"


def _mape(value: Any) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.1f}%"


def _seats(value: Any) -> int:
    return 0 if value is None else int(value)


def warning_word(warning: str) -> str:
    return _(WARNING_WORDS.get(warning, warning))


def grade_word(grade: int) -> str:
    return _(GRADE_WORDS[grade]) if grade in GRADE_WORDS else str(grade)


def _band_chart(rows: list[dict[str, Any]], has_seats: bool) -> dict[str, Any]:
    """Expected applicants and their 80 % band against the planned seats over the school
    years. The band is drawn as an invisible base (low) and a stacked area (high − low), both
    left out of the tooltip (the area's own value is a width, not a number of children); two
    undrawn series give the tooltip the interval's true ends."""
    years = [str(row["school_year"]) for row in rows]
    band_name, low_name, high_name, expected_name, seats_name = (
        _("80% 预测区间"),
        _("区间下限"),
        _("区间上限"),
        _("预计申请人数"),
        _("计划学位"),
    )

    def rounded(value: Any) -> float | None:
        return None if value is None else round(float(value), 1)

    hidden = {"type": "line", "symbol": "none", "lineStyle": {"opacity": 0}}
    series: list[dict[str, Any]] = [
        {
            # Named as the band: its legend entry hides the base and the area together.
            **hidden,
            "name": band_name,
            "stack": "band",
            "tooltip": {"show": False},
            "data": [rounded(row["low"]) for row in rows],
        },
        {
            **hidden,
            "name": band_name,
            "stack": "band",
            "tooltip": {"show": False},
            "areaStyle": {"color": BAND_COLOUR, "opacity": 0.35},
            "itemStyle": {"color": BAND_COLOUR},
            "data": [
                None
                if row["low"] is None or row["high"] is None
                else round(float(row["high"]) - float(row["low"]), 1)
                for row in rows
            ],
        },
        {
            **hidden,
            "name": low_name,
            "itemStyle": {"color": BAND_COLOUR},
            "data": [rounded(row["low"]) for row in rows],
        },
        {
            **hidden,
            "name": high_name,
            "itemStyle": {"color": BAND_COLOUR},
            "data": [rounded(row["high"]) for row in rows],
        },
        {
            "name": expected_name,
            "type": "line",
            "symbolSize": 10,
            "itemStyle": {"color": EXPECTED_COLOUR},
            "lineStyle": {"width": 2, "color": EXPECTED_COLOUR},
            "data": [
                {
                    "value": rounded(row["expected"]),
                    "symbol": WARNING_SYMBOLS.get(row["warning"], "circle"),
                    "itemStyle": {"color": WARNING_COLOURS.get(row["warning"], EXPECTED_COLOUR)},
                }
                for row in rows
            ],
        },
    ]
    legend = [band_name, expected_name]
    if has_seats:
        series.append(
            {
                "name": seats_name,
                "type": "line",
                "step": "middle",
                "symbol": "none",
                "lineStyle": {"type": "dashed", "width": 2, "color": SEATS_COLOUR},
                "itemStyle": {"color": SEATS_COLOUR},
                "data": [_seats(row["seats"]) for row in rows],
            }
        )
        legend.append(seats_name)
    return {
        "aria": {"enabled": True},
        "tooltip": {"trigger": "axis"},
        # The legend takes two lines on a phone: room for them above the plot.
        "legend": {"top": 0, "data": legend},
        "grid": {"left": 8, "right": 16, "bottom": 8, "top": 64, "containLabel": True},
        "xAxis": {"type": "category", "boundaryGap": False, "data": years},
        "yAxis": {"type": "value", "minInterval": 1},
        "series": series,
    }


def _town_grade(town_code: str, grade: int, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One entry grade of one town's catchment: its chart (or why there is none) and its table."""
    has_history = any(row["expected"] is not None for row in rows)
    has_seats = any(_seats(row["seats"]) > 0 for row in rows)
    if not rows or not has_history:
        missing = _("没有这一学段的历史数据，无法预测。")
    elif not has_seats:
        missing = _("没有登记这一学段的计划学位，只列出预计人数，无法判断预警。")
    else:
        missing = None
    return {
        "grade": grade,
        "grade_word": grade_word(grade),
        "id": f"forecast-{town_code}-g{grade}",
        "title": _("%(grade)s：预计申请人数与计划学位", grade=grade_word(grade)),
        "missing": missing,
        "chart": _band_chart(rows, has_seats) if has_history and rows else None,
        "rows": [
            {
                "school_year": row["school_year"],
                "expected": _count(row["expected"]),
                "low": _count(row["low"]),
                "high": _count(row["high"]),
                "seats": _count(row["seats"]) if has_seats else "—",
                "utilisation": _percent(row["utilisation"]) if has_seats else "—",
                "warning": row["warning"] if has_seats else None,
                "warning_word": warning_word(row["warning"]) if has_seats else "—",
                "mark": WARNING_MARKS.get(row["warning"], "") if has_seats else "",
            }
            for row in rows
            if has_history
        ],
    }


def _changes_by_row(
    forecast: SchoolForecast, english: bool
) -> dict[tuple[str, str, int, int], str]:
    found: dict[tuple[str, str, int, int], list[str]] = {}
    for change in forecast.changes:
        key = (change.town_code, change.school_id, change.school_year, change.grade)
        found.setdefault(key, []).append(change.text_en if english else change.text_zh)
    separator = "; " if english else "；"
    return {key: separator.join(texts) for key, texts in found.items()}


def forecast_context(forecast: SchoolForecast, language: i18n.Language) -> dict[str, Any]:
    """What the page shows of ``forecast``, in ``language``: the one-line summary, per town its
    charts and tables (entry grades 1 and 7, the town's own rows: the catchment's schools
    together), the backtest's MAPE of each method at 1, 3 and 5 years, the children expected
    without a seat, and the warning list (red first, then yellow) with what would change it."""
    with i18n.speaking(language):
        return _context(forecast, language == "en")


def _context(forecast: SchoolForecast, english: bool) -> dict[str, Any]:
    rows = forecast.rows
    changes = _changes_by_row(forecast, english)
    school_rows = rows.filter(pl.col("school_id") != "")
    worst = (
        school_rows.group_by("town_code", "school_id")
        .agg(pl.col("warning").replace_strict(WARNING_RANK, default=2).min().alias("rank"))
        .get_column("rank")
        .to_list()
    )
    red, yellow = worst.count(0), worst.count(1)
    summary = _(
        "%(red)s 所学校红色预警，%(yellow)s 所黄色预警，%(green)s 所学位充足（共 %(total)s 所学校，%(horizon)s 年内）。",
        red=red,
        yellow=yellow,
        green=len(worst) - red - yellow,
        total=len(worst),
        horizon=forecast.horizon,
    )

    town_rows = rows.filter(pl.col("school_id") == "")
    used_methods = dict(rows.group_by("town_code").agg(pl.col("method").first()).iter_rows())
    towns: list[dict[str, Any]] = []
    codes = (
        list(forecast.towns) or rows.get_column("town_code").unique(maintain_order=True).to_list()
    )
    for code in codes:
        own = town_rows.filter(pl.col("town_code") == code)
        grades = [
            _town_grade(
                code,
                grade,
                own.filter(pl.col("grade") == grade).sort("school_year").to_dicts(),
            )
            for grade in ENTRY_GRADES
        ]
        method = used_methods.get(code)
        errors = forecast.backtest.filter(pl.col("town_code") == code)
        backtest_rows = []
        for candidate in METHODS:
            by_horizon = {
                int(horizon): mape
                for horizon, mape in errors.filter(pl.col("method") == candidate)
                .select("horizon", "mape")
                .iter_rows()
            }
            if not by_horizon:
                continue
            backtest_rows.append(
                {
                    "method": candidate,
                    "method_word": _(METHOD_WORDS[candidate]),
                    "used": candidate == method,
                    "mape": [_mape(by_horizon.get(horizon)) for horizon in SHOWN_HORIZONS],
                }
            )
        # Years with nobody left without a seat are not listed: the sentence says none.
        unplaced = (
            forecast.unplaced.filter(
                (pl.col("town_code") == code) & (pl.col("expected_unplaced") > 0)
            )
            .sort("school_year", "grade")
            .to_dicts()
        )
        towns.append(
            {
                "code": code,
                "name": forecast.towns.get(code, code),
                "method": method,
                "method_word": _(METHOD_WORDS[method]) if method in METHOD_WORDS else "—",
                "grades": grades,
                "backtest": backtest_rows,
                "unplaced": [
                    {
                        "school_year": item["school_year"],
                        "grade_word": grade_word(item["grade"]),
                        "count": _count(item["expected_unplaced"]),
                    }
                    for item in unplaced
                ],
                "unplaced_total": _count(sum(item["expected_unplaced"] or 0 for item in unplaced)),
            }
        )

    flagged = (
        rows.filter(pl.col("warning").is_in(["red", "yellow"]))
        .with_row_index("order")
        .sort(pl.col("warning").replace_strict(WARNING_RANK, default=2), "order")
        .to_dicts()
    )
    warnings = [
        {
            "town": row["town_name"] or forecast.towns.get(row["town_code"], row["town_code"]),
            "school": row["school_name"] if row["school_id"] else _("全镇街学区合计"),
            "school_year": row["school_year"],
            "grade_word": grade_word(row["grade"]),
            "expected": _count(row["expected"]),
            "low": _count(row["low"]),
            "high": _count(row["high"]),
            "seats": _count(row["seats"]),
            "utilisation": _percent(row["utilisation"]),
            "warning": row["warning"],
            "warning_word": warning_word(row["warning"]),
            "mark": WARNING_MARKS[row["warning"]],
            "changes": changes.get(
                (row["town_code"], row["school_id"], row["school_year"], row["grade"]), ""
            ),
        }
        for row in flagged
    ]
    return {
        "summary": summary,
        "counts": {"red": red, "yellow": yellow, "schools": len(worst)},
        "towns": towns,
        "warnings": warnings,
        "horizons": SHOWN_HORIZONS,
        "as_of": forecast.as_of,
        "method_asked": _(METHOD_WORDS.get(forecast.method, forecast.method)),
    }


# ---------------------------------------------------------------------------------- the routes


def _form_values(given: Mapping[str, str], today: date) -> dict[str, str]:
    """What the form shows: what was typed (kept after an error), else the defaults."""
    return {
        "as_of": given.get("as_of", "").strip()[:40] or today.isoformat(),
        "horizon": given.get("horizon", "").strip()[:40] or str(DEFAULT_HORIZON),
        "method": given.get("method", "").strip()[:40] or "auto",
        "inflow_growth": given.get("inflow_growth", "").strip()[:40] or "0",
        "capture_rate": given.get("capture_rate", "").strip()[:40],
    }


def _ask(
    request: Request, actor: Actor, session: Session
) -> tuple[
    SchoolForecast | None, ForecastQuery | None, dict[str, str], list[tuple[str | None, str]]
]:
    today = workdays.today()
    query, errors, summary = parse_query(request.query_params, today)
    if query is None:
        return None, None, errors, summary
    try:
        result = forecast_service.forecast_schools(
            actor, session, query.as_of, query.horizon, query.method, query.scenario
        )
    except Invalid as error:
        english = i18n.language() == "en"
        for problem in error.details:
            if problem.field in FIELD_LABELS:
                errors.setdefault(
                    problem.field, problem.reason_en if english else problem.reason_zh
                )
        summary = [
            (name, _("%(label)s：%(reason)s", label=_(FIELD_LABELS[name]), reason=reason))
            for name, reason in errors.items()
        ] or [(None, i18n.error_message(error))]
        return None, query, errors, summary
    return result, query, {}, []


def _page(
    request: Request,
    actor: Actor,
    result: SchoolForecast | None,
    query: ForecastQuery | None,
    errors: dict[str, str],
    summary: list[tuple[str | None, str]],
) -> HTMLResponse:
    today = workdays.today()
    context: dict[str, Any] = {
        "values": _form_values(request.query_params, today),
        "errors": errors,
        "error_summary": summary,
        "labels": {name: _(words) for name, words in FIELD_LABELS.items()},
        "method_choices": [(key, _(words)) for key, words in METHOD_WORDS.items()],
        "result": None,
    }
    if result is not None and query is not None:
        context["result"] = forecast_context(result, i18n.language_of(request))
        context["export_query"] = urlencode(query.params())
    return render(
        request,
        actor,
        "console/forecast/index.html",
        context,
        status_code=422 if summary else 200,
    )


@router.get("", response_class=HTMLResponse)
def forecast_page(request: Request, actor: CurrentActor, session: DbSession) -> HTMLResponse:
    console_actor(actor, "forecast")
    result, query, errors, summary = _ask(request, actor, session)
    return _page(request, actor, result, query, errors, summary)


def _export(request: Request, actor: Actor, session: Session, suffix: str) -> Response:
    """The forecast as CSV or XLSX, the same columns as the command line's; asked with the
    page's own query string (an invalid one shows the page and its error summary)."""
    console_actor(actor, "forecast")
    result, query, errors, summary = _ask(request, actor, session)
    if result is None or query is None:
        return _page(request, actor, result, query, errors, summary)
    if suffix == "csv":
        content = exports.forecast_csv(result.rows)
    else:
        content = exports.forecast_xlsx(result.rows, result.backtest)
    name = f"forecast-{query.as_of.isoformat()}.{suffix}"
    shown = f"学位预测-{query.as_of.isoformat()}.{suffix}"
    return Response(
        content,
        media_type=exports.MEDIA[suffix],
        headers={
            "content-disposition": (
                f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(shown)}"
            ),
            "cache-control": "no-store",
        },
    )


@router.get("/schools.csv", response_model=None)
def forecast_csv(request: Request, actor: CurrentActor, session: DbSession) -> Response:
    return _export(request, actor, session, "csv")


@router.get("/schools.xlsx", response_model=None)
def forecast_xlsx(request: Request, actor: CurrentActor, session: DbSession) -> Response:
    return _export(request, actor, session, "xlsx")
