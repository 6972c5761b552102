"""The console's 积分制总量分析 (``/console/analysis``): a scoring run's distributions, thresholds
over runs, movement and layers, as charts with their tables, and the exports.

The page is a GET form (run, thresholds, dimension): a link to it is the analysis it shows.
``analysis_context`` turns the service's ``PointsAnalysis`` into what the template shows — pure
(no session, no request), so that its numbers and its summary are tested on frames made by
hand."""

from __future__ import annotations

import math
import re
from typing import Any
from urllib.parse import urlencode

import polars as pl
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from luodi.analysis import service as analysis_service
from luodi.analysis.service import DEFAULT_THRESHOLDS, DIMENSIONS, PointsAnalysis
from luodi.auth.actor import Actor
from luodi.auth.permissions import may_open
from luodi.errors import LuodiError
from luodi.scoring import service as scoring
from luodi.scoring.schemas import RunRead
from luodi.web import i18n
from luodi.web.dependencies import CurrentActor, DbSession
from luodi.web.i18n import N_, Language, _
from luodi.web.rendering import console_actor, number, render

router = APIRouter(prefix="/console/analysis")

Errors = list[tuple[str | None, str]]

MOST_THRESHOLDS = 8
"""More lines than this make the charts unreadable (and the colours run out)."""
HIGHEST_THRESHOLD = 10_000.0
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000", "#F0E442")
"""Okabe–Ito: told apart with every common colour-vision deficiency; the charts add decal
patterns and line symbols so that no series is told by colour alone."""
SYMBOLS = ("circle", "rect", "triangle", "diamond", "pin", "arrow", "roundRect", "emptyCircle")
LINES = ("solid", "dashed", "dotted", "solid", "dashed", "dotted", "solid", "dashed")
FIXED_COLUMNS = ("group", "label", "label_en", "residents", "mean", "median", "p90")
"""The columns of a ``by_dimension`` frame that are not a threshold's count."""
CLASS_WORDS = {
    "settlement": N_("落户条件"),
    "school": N_("子女入学"),
    "housing": N_("住房保障"),
}
"""The layers' classes (``PointsAnalysis.layers``), named as the documents name them."""


# ----------------------------------------------------------------------------- words


def points_words(threshold: float) -> str:
    return _("%(points)s 分", points=number(threshold))


def percent(part: float, whole: float) -> str:
    return f"{part * 100 / whole:.1f}%" if whole else "—"


def signed(value: int) -> str:
    return f"+{number(value)}" if value > 0 else number(value)


def run_words(run: RunRead) -> str:
    """ "计分批次 7（2026-03-01，zj-cixi 2026.1）": a run as the select lists it."""
    return _(
        "计分批次 %(id)s（%(day)s，%(policy)s %(version)s）",
        id=run.id,
        day=run.as_of.isoformat(),
        policy=run.policy_id,
        version=run.policy_version,
    )


def label_of(row: dict[str, Any], column: str = "label") -> str:
    """A row's label in the page's language (``label_en`` where the frame has one)."""
    english = row.get(f"{column}_en")
    if i18n.language() == "en" and english:
        return str(english)
    text = row.get(column)
    return str(text) if text not in (None, "") else _("未登记")


def class_words(value: Any) -> str:
    text = str(value)
    return _(CLASS_WORDS[text]) if text in CLASS_WORDS else text


def threshold_columns(frame: pl.DataFrame, thresholds: tuple[float, ...]) -> list[str]:
    """The columns of a ``by_dimension`` frame that count the residents at or above each
    threshold, in the thresholds' order: whatever the service names them, they are the
    columns past the fixed ones, one per threshold."""
    columns = [column for column in frame.columns if column not in FIXED_COLUMNS]
    return columns[: len(thresholds)]


# ----------------------------------------------------------------------------- charts


def base_option() -> dict[str, Any]:
    return {
        "color": list(PALETTE),
        "aria": {"enabled": True, "decal": {"show": True}},
        "tooltip": {"trigger": "axis"},
        "grid": {"left": 8, "right": 16, "bottom": 8, "top": 48, "containLabel": True},
    }


def histogram_chart(analysis: PointsAnalysis, width: float) -> dict[str, Any]:
    starts = analysis.histogram["start"].to_list()
    labels = [f"{number(start)}–{number(start + width)}" for start in starts]
    marks = []
    for threshold in analysis.thresholds:
        # The bar a threshold falls in carries its mark (a category axis has no in-between).
        inside = [label for start, label in zip(starts, labels, strict=True) if start <= threshold]
        if inside and threshold < starts[-1] + width:
            marks.append({"xAxis": inside[-1], "name": points_words(threshold)})
    return {
        **base_option(),
        "xAxis": {
            "type": "category",
            "name": _("总分"),
            "nameLocation": "middle",
            "nameGap": 28,
            "data": labels,
        },
        "yAxis": {"type": "value", "name": _("人数")},
        "grid": {"left": 8, "right": 16, "bottom": 28, "top": 48, "containLabel": True},
        "series": [
            {
                "name": _("人数"),
                "type": "bar",
                "barCategoryGap": "2%",
                "data": analysis.histogram["residents"].to_list(),
                "markLine": {
                    "symbol": "none",
                    "lineStyle": {"color": "#000000", "type": "dashed", "width": 2},
                    "label": {"formatter": "{b}", "position": "end"},
                    "data": marks,
                },
            }
        ],
    }


def threshold_series(index: int, name: str, data: list[Any]) -> dict[str, Any]:
    return {
        "name": name,
        "type": "line",
        "data": data,
        "symbol": SYMBOLS[index % len(SYMBOLS)],
        "symbolSize": 9,
        "lineStyle": {"type": LINES[index % len(LINES)], "width": 2},
    }


def grouped_bars(categories: list[str], series: list[tuple[str, list[Any]]]) -> dict[str, Any]:
    return {
        **base_option(),
        "legend": {"top": 0, "type": "scroll"},
        "xAxis": {
            "type": "category",
            "data": categories,
            "axisLabel": {"interval": 0, "rotate": 30 if len(categories) > 4 else 0},
        },
        "yAxis": {"type": "value", "name": _("人数")},
        "series": [{"name": name, "type": "bar", "data": data} for name, data in series],
    }


# ----------------------------------------------------------------------------- the context


def earlier_runs(analysis: PointsAnalysis) -> pl.DataFrame:
    """``thresholds_over_runs`` without the run itself and later ones: what it is compared with."""
    over = analysis.thresholds_over_runs
    return over.filter(pl.col("run_id") != analysis.run.id).filter(
        pl.col("as_of") <= analysis.run.as_of
    )


def reached_now(analysis: PointsAnalysis) -> dict[float, int]:
    """Residents at or above each threshold in the run: from its by-town table's counts when
    it has one (the same numbers), else from the runs' table."""
    over = analysis.thresholds_over_runs.filter(pl.col("run_id") == analysis.run.id)
    counts = {float(row["threshold"]): int(row["residents"]) for row in over.iter_rows(named=True)}
    return {threshold: counts.get(float(threshold), 0) for threshold in analysis.thresholds}


def reached_before(analysis: PointsAnalysis) -> tuple[int | None, dict[float, int]]:
    """The previous run's id and its counts at each threshold (None when there is none)."""
    earlier = earlier_runs(analysis)
    if earlier.height == 0:
        return None, {}
    previous = earlier.sort(["as_of", "run_id"]).row(-1, named=True)
    rows = earlier.filter(pl.col("run_id") == previous["run_id"])
    counts = {float(row["threshold"]): int(row["residents"]) for row in rows.iter_rows(named=True)}
    return int(previous["run_id"]), counts


def movement_by_threshold(analysis: PointsAnalysis) -> dict[float, dict[str, Any]]:
    """Per threshold: residents who crossed it upwards and downwards since the previous run,
    and the indicator behind most of the upward crossings."""
    out: dict[float, dict[str, Any]] = {}
    if analysis.movement.height == 0:
        return out
    labels = indicator_labels(analysis)
    for threshold in analysis.thresholds:
        rows = analysis.movement.filter(pl.col("threshold") == threshold)
        if rows.height == 0:
            continue
        leading = rows.sort(["crossed_up", "indicator"], descending=[True, False]).row(
            0, named=True
        )
        out[float(threshold)] = {
            "up": int(rows["crossed_up"].sum()),
            "down": int(rows["crossed_down"].sum()),
            "leading": labels.get(str(leading["indicator"]), str(leading["indicator"]))
            if leading["crossed_up"]
            else None,
            "leading_up": int(leading["crossed_up"]),
        }
    return out


def indicator_labels(analysis: PointsAnalysis) -> dict[str, str]:
    return {
        str(row["indicator"]): label_of(row) for row in analysis.indicators.iter_rows(named=True)
    }


def summary_lines(analysis: PointsAnalysis) -> list[str]:
    """The page's first screen in plain words: how many were scored, then per threshold how
    many reach it, the change since the previous run and the indicator behind most of it."""
    whole = analysis.residents
    lines = [
        _(
            "本批次 %(residents)s 人，平均 %(mean)s 分，中位数 %(median)s 分，最高 %(highest)s 分。",
            residents=number(whole),
            mean=number(analysis.summary.get("mean", 0.0)),
            median=number(analysis.summary.get("median", 0.0)),
            highest=number(analysis.summary.get("highest", 0.0)),
        )
    ]
    now = reached_now(analysis)
    previous, before = reached_before(analysis)
    moved = movement_by_threshold(analysis)
    for threshold in analysis.thresholds:
        count = now[threshold]
        line = _(
            "达到 %(points)s %(count)s 人（%(share)s）",
            points=points_words(threshold),
            count=number(count),
            share=percent(count, whole),
        )
        if previous is not None:
            change = count - before.get(float(threshold), 0)
            if change > 0:
                line += _("，比上一批次多 %(change)s 人", change=number(change))
            elif change < 0:
                line += _("，比上一批次少 %(change)s 人", change=number(-change))
            else:
                line += _("，与上一批次持平")
            movement = moved.get(float(threshold))
            if movement and change > 0 and movement["leading"]:
                line += _("，主要因为 %(indicator)s", indicator=movement["leading"])
        lines.append(line + _("。"))
    if previous is None:
        lines.append(_("没有更早的计分批次可比较。"))
    else:
        lines.append(_("与计分批次 %(id)s 比较。", id=previous))
    return lines


def analysis_context(analysis: PointsAnalysis, language: Language) -> dict[str, Any]:
    """Everything the page shows of ``analysis``, in ``language``: the summary sentences, and
    each chart's ECharts option with the rows of its table (the same numbers)."""
    with i18n.speaking(language):
        return _context(analysis)


def _context(analysis: PointsAnalysis) -> dict[str, Any]:
    thresholds = analysis.thresholds
    threshold_names = [_("达到 %(points)s", points=points_words(value)) for value in thresholds]
    whole = analysis.residents

    # The totals' histogram, its bars as wide as the gap between two starts.
    starts = analysis.histogram["start"].to_list()
    width = float(starts[1] - starts[0]) if len(starts) > 1 else 1.0
    histogram_rows = [
        [f"{number(start)}–{number(start + width)}", number(count)]
        for start, count in zip(starts, analysis.histogram["residents"].to_list(), strict=True)
    ]

    # Residents at or above each threshold, in this run and in the earlier ones.
    over = analysis.thresholds_over_runs.filter(pl.col("as_of") <= analysis.run.as_of)
    runs = over.select("run_id", "as_of").unique().sort(["as_of", "run_id"])
    counts = {
        (int(row["run_id"]), float(row["threshold"])): int(row["residents"])
        for row in over.iter_rows(named=True)
    }
    run_labels = [
        _("批次 %(id)s（%(day)s）", id=row["run_id"], day=row["as_of"].isoformat())
        for row in runs.iter_rows(named=True)
    ]
    over_rows = [
        [label, *(number(counts.get((int(run_id), float(value)), 0)) for value in thresholds)]
        for label, run_id in zip(run_labels, runs["run_id"].to_list(), strict=True)
    ]
    over_chart = {
        **base_option(),
        "legend": {"top": 0, "type": "scroll"},
        "xAxis": {"type": "category", "data": run_labels, "boundaryGap": False},
        "yAxis": {"type": "value", "name": _("人数")},
        "series": [
            threshold_series(
                index,
                name,
                [counts.get((int(run_id), float(value)), 0) for run_id in runs["run_id"]],
            )
            for index, (value, name) in enumerate(zip(thresholds, threshold_names, strict=True))
        ],
    }

    # Each dimension: residents at or above each threshold per group, and the group's mean.
    dimensions = {}
    for key, (zh, en) in DIMENSIONS.items():
        frame = analysis.by_dimension.get(key)
        if frame is None:
            continue
        columns = threshold_columns(frame, thresholds)
        groups = [label_of(row) for row in frame.iter_rows(named=True)]
        dimensions[key] = {
            "title": en if i18n.language() == "en" else zh,
            "chart": grouped_bars(
                groups,
                [
                    (name, frame[column].to_list())
                    for name, column in zip(threshold_names, columns, strict=False)
                ],
            ),
            "rows": [
                [
                    group,
                    number(row["residents"]),
                    number(row["mean"]),
                    number(row["median"]),
                    number(row["p90"]),
                    *(number(row[column]) for column in columns),
                ]
                for group, row in zip(groups, frame.iter_rows(named=True), strict=True)
            ],
        }

    # The indicators' share of all points given.
    indicators = analysis.indicators.sort("share_of_points", descending=True)
    indicator_names = [label_of(row) for row in indicators.iter_rows(named=True)]
    indicator_rows = [
        [
            name,
            number(row["residents_with_points"]),
            number(row["mean"]),
            number(row["total_points"]),
            f"{float(row['share_of_points']) * 100:.1f}%",
        ]
        for name, row in zip(indicator_names, indicators.iter_rows(named=True), strict=True)
    ]
    indicator_chart = {
        **base_option(),
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "grid": {"left": 8, "right": 24, "bottom": 8, "top": 24, "containLabel": True},
        # Bars, not a pie: lengths compare where angles and colours do not.
        "xAxis": {"type": "value", "name": "%", "max": 100},
        "yAxis": {"type": "category", "data": indicator_names[::-1]},
        "series": [
            {
                "name": _("占总积分的比例"),
                "type": "bar",
                "data": [
                    round(float(share) * 100, 1)
                    for share in indicators["share_of_points"].to_list()[::-1]
                ],
                "label": {"show": True, "position": "right", "formatter": "{c}%"},
            }
        ],
    }

    # Movement since the previous run.
    previous, _before = reached_before(analysis)
    moved = movement_by_threshold(analysis)
    labels = indicator_labels(analysis)
    movement_rows = [
        [
            points_words(float(row["threshold"])),
            labels.get(str(row["indicator"]), str(row["indicator"])),
            number(row["crossed_up"]),
            number(row["crossed_down"]),
        ]
        for row in analysis.movement.sort(
            ["threshold", "crossed_up", "indicator"], descending=[False, True, False]
        ).iter_rows(named=True)
    ]
    movement_chart = grouped_bars(
        [points_words(value) for value in thresholds],
        [
            (_("向上越过"), [moved.get(float(value), {}).get("up", 0) for value in thresholds]),
            (_("向下越过"), [moved.get(float(value), {}).get("down", 0) for value in thresholds]),
        ],
    )
    movement_totals = [
        [
            points_words(value),
            number(moved.get(float(value), {}).get("up", 0)),
            number(moved.get(float(value), {}).get("down", 0)),
        ]
        for value in thresholds
    ]

    # 分层分类分批: the residents a city could admit per yearly batch, by class.
    layers = analysis.layers.sort(["batch", "threshold", "class"], descending=[False, True, False])
    layer_rows = [
        [
            str(row["layer"]),
            class_words(row["class"]),
            points_words(float(row["threshold"])),
            number(row["residents"]),
            _("第 %(batch)s 批", batch=row["batch"]),
            number(row["admitted"]),
        ]
        for row in layers.iter_rows(named=True)
    ]
    per_batch = (
        layers.group_by("batch", "class").agg(pl.col("admitted").sum()).sort("batch", "class")
    )
    batches = sorted({int(batch) for batch in per_batch["batch"].to_list()})
    classes = list(dict.fromkeys(layers["class"].to_list()))
    admitted = {
        (int(row["batch"]), str(row["class"])): int(row["admitted"])
        for row in per_batch.iter_rows(named=True)
    }
    layer_chart = {
        **grouped_bars(
            [_("第 %(batch)s 批", batch=batch) for batch in batches],
            [
                (class_words(kind), [admitted.get((batch, str(kind)), 0) for batch in batches])
                for kind in classes
            ],
        ),
    }

    mean = analysis.summary.get("mean", 0.0)
    return {
        "run": analysis.run,
        "run_words": run_words(analysis.run),
        "residents": whole,
        "thresholds": [number(value) for value in thresholds],
        "threshold_names": threshold_names,
        "summary": summary_lines(analysis),
        "facts": {
            "mean": number(mean if not math.isnan(mean) else 0.0),
            "p10": number(analysis.summary.get("p10", 0.0)),
            "median": number(analysis.summary.get("median", 0.0)),
            "p90": number(analysis.summary.get("p90", 0.0)),
            "highest": number(analysis.summary.get("highest", 0.0)),
        },
        "histogram": histogram_chart(analysis, width) if starts else None,
        "histogram_rows": histogram_rows,
        "histogram_width": number(width),
        "has_earlier": previous is not None,
        "previous": previous,
        "over_chart": over_chart,
        "over_rows": over_rows,
        "dimensions": dimensions,
        "indicator_chart": indicator_chart if indicators.height else None,
        "indicator_rows": indicator_rows,
        "movement_chart": movement_chart,
        "movement_totals": movement_totals,
        "movement_rows": movement_rows,
        "layer_chart": layer_chart if layers.height else None,
        "layer_rows": layer_rows,
    }


# ----------------------------------------------------------------------------- the form


def parse_thresholds(text: str) -> tuple[tuple[float, ...], str | None]:
    """The thresholds typed as a list ("60,90,120", also with "，", "、" or spaces), sorted and
    without repeats; or the reason they cannot be used, in the page's language."""
    parts = [part for part in re.split(r"[,，、;；\s]+", text.strip()) if part]
    if not parts:
        return DEFAULT_THRESHOLDS, None
    values: list[float] = []
    for part in parts:
        try:
            value = float(part)
        except ValueError:
            return (), _(
                "“%(value)s”不是数字；请写成用逗号分隔的分数，如 60,90,120", value=part[:20]
            )
        if not math.isfinite(value) or not 0 < value <= HIGHEST_THRESHOLD:
            return (), _(
                "“%(value)s”不在 0（不含）到 %(most)s 分之间",
                value=part[:20],
                most=number(HIGHEST_THRESHOLD),
            )
        values.append(value)
    chosen = tuple(sorted(set(values)))
    if len(chosen) > MOST_THRESHOLDS:
        return (), _("最多 %(most)s 个门槛分", most=MOST_THRESHOLDS)
    return chosen, None


def check_params(
    run: str, thresholds: str, dimension: str, runs: list[RunRead]
) -> tuple[Errors, int | None, tuple[float, ...], str]:
    """The form's problems (field, text), else the run's id, the thresholds and the dimension.
    A blank run is the newest the actor reads."""
    errors: Errors = []
    run_id: int | None = None
    text = run.strip()
    if not text:
        run_id = runs[0].id if runs else None
    elif text.isdigit() and int(text) in {item.id for item in runs}:
        run_id = int(text)
    else:
        errors.append(("run", _("请从列表中选择一个计分批次")))
    chosen, problem = parse_thresholds(thresholds)
    if problem:
        errors.append(("thresholds", _("门槛分：%(reason)s", reason=problem)))
    key = dimension.strip() or "town"
    if key not in DIMENSIONS:
        errors.append(("dimension", _("请从列表中选择一个分组")))
    return errors, run_id, chosen, key


def may_see_people(actor: Actor) -> bool:
    """Who may see the (masked) residents of a batch: the roles that open the residents'
    register (a department's reviewer reads the aggregates only)."""
    return may_open(actor, "residents")


@router.get("", response_class=HTMLResponse)
def analysis_page(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    run: str = "",
    thresholds: str = "",
    dimension: str = "",
) -> HTMLResponse:
    console_actor(actor, "analysis")
    runs = scoring.list_runs(actor, session)
    # Typed values come back as typed (bounded: the query string is not a place for essays).
    form = {"run": run[:40], "thresholds": thresholds[:200], "dimension": dimension[:40]}
    errors, run_id, chosen, key = check_params(
        form["run"], form["thresholds"], form["dimension"], runs
    )
    context: dict[str, Any] = {}
    if not errors and run_id is not None:
        try:
            analysis = analysis_service.points_analysis(actor, session, run_id, chosen)
        except LuodiError as error:
            field = error.details[0].field if error.details else ""
            errors.append(
                (
                    "thresholds" if "threshold" in field else "run",
                    i18n.problem_text(error.details[0])
                    if error.details
                    else i18n.error_message(error),
                )
            )
        else:
            context = analysis_context(analysis, i18n.language())
            query = urlencode(
                {"run": run_id, "thresholds": ",".join(f"{value:g}" for value in chosen)}
            )
            context["exports"] = {
                "xlsx": f"/api/v1/analysis/points?{query}&format=xlsx",
                "pdf": f"/api/v1/analysis/points?{query}&format=pdf",
            }
    if not form["run"] and run_id is not None:
        form["run"] = str(run_id)
    if not form["thresholds"].strip():
        form["thresholds"] = ",".join(f"{value:g}" for value in DEFAULT_THRESHOLDS)
    return render(
        request,
        actor,
        "console/analysis/index.html",
        {
            **context,
            "runs": [(str(item.id), run_words(item)) for item in runs],
            "dimension_options": [
                (name, en if i18n.language() == "en" else zh)
                for name, (zh, en) in DIMENSIONS.items()
            ],
            "dimension": key if key in DIMENSIONS else "town",
            "form": form,
            "errors": errors,
            "field_errors": {field: text for field, text in errors if field},
            "may_see_people": may_see_people(actor),
        },
        status_code=422 if errors else 200,
    )
