"""The console's 积分制总量分析 (``/console/analysis``): a scoring run's distributions, thresholds
over runs, movement and layers, as charts with their tables, and the exports.

The page is a GET form (run, thresholds, dimension): a link to it is the analysis it shows.
``analysis_context`` turns the service's ``PointsAnalysis`` into what the template shows — pure
(no session, no request), so that its numbers and its summary are tested on frames made by
hand."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import polars as pl
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from luodi.analysis import service as analysis_service
from luodi.analysis.service import DEFAULT_THRESHOLDS, DIMENSIONS, PointsAnalysis
from luodi.errors import LuodiError
from luodi.kernels.analysis.points import NOT_ATTRIBUTED, threshold_column
from luodi.kernels.masking import mask_id_number, mask_name
from luodi.policy.service import published_policies
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
MOST_QUOTA = 10_000_000
"""The service's own bound on a yearly quota."""
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000", "#F0E442")
"""Okabe–Ito: told apart with every common colour-vision deficiency; the charts add decal
patterns and line symbols so that no series is told by colour alone."""
SYMBOLS = ("circle", "rect", "triangle", "diamond", "pin", "arrow", "roundRect", "emptyCircle")
LINES = ("solid", "dashed", "dotted", "solid", "dashed", "dotted", "solid", "dashed")


# ----------------------------------------------------------------------------- words


def points_words(threshold: float) -> str:
    return _("%(points)s 分", points=number(threshold))


def percent(part: float, whole: float) -> str:
    return f"{part * 100 / whole:.1f}%" if whole else "—"


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


def class_words(analysis: PointsAnalysis, value: Any) -> str:
    """A class of the layers (分类) in words: the service's own label (``classes``:
    ``label_zh``, ``label_en``), else its id."""
    text = str(value)
    for row in analysis.classes.iter_rows(named=True) if analysis.classes.height else ():
        if str(row.get("class")) == text:
            english = row.get("label_en")
            return str(english if i18n.language() == "en" and english else row.get("label_zh"))
    return text


def batch_words(batch: Any) -> str:
    return _("第 %(batch)s 批", batch=batch) if batch is not None else _("不在各批次内")


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


MANY_GROUPS = 8
"""Past this many groups (the origin provinces) the bars lie down: a phone's width cannot
hold thirty columns of four bars, its height can (the canvas grows, ``.analysis-tall``)."""


def grouped_bars(categories: list[str], series: list[tuple[str, list[Any]]]) -> dict[str, Any]:
    counts = {"type": "value", "name": _("人数")}
    if len(categories) > MANY_GROUPS:
        return {
            **base_option(),
            "legend": {"top": 0, "type": "scroll"},
            "grid": {"left": 8, "right": 24, "bottom": 8, "top": 40, "containLabel": True},
            "xAxis": counts,
            # Top to bottom in the table's order.
            "yAxis": {"type": "category", "data": categories[::-1], "axisLabel": {"interval": 0}},
            "series": [{"name": name, "type": "bar", "data": data[::-1]} for name, data in series],
        }
    return {
        **base_option(),
        "legend": {"top": 0, "type": "scroll"},
        "xAxis": {
            "type": "category",
            "data": categories,
            "axisLabel": {"interval": 0, "rotate": 30 if len(categories) > 4 else 0},
        },
        "yAxis": counts,
        "series": [{"name": name, "type": "bar", "data": data} for name, data in series],
    }


# ----------------------------------------------------------------------------- the context


def reached_now(analysis: PointsAnalysis) -> dict[float, int]:
    """Residents at or above each threshold in the run itself."""
    over = analysis.thresholds_over_runs.filter(pl.col("run_id") == analysis.run.id)
    counts = {float(row["threshold"]): int(row["residents"]) for row in over.iter_rows(named=True)}
    return {threshold: counts.get(float(threshold), 0) for threshold in analysis.thresholds}


def reached_before(analysis: PointsAnalysis) -> dict[float, int]:
    """The previous run's counts at each threshold (empty when there is no previous run)."""
    if analysis.previous_run_id is None:
        return {}
    rows = analysis.thresholds_over_runs.filter(pl.col("run_id") == analysis.previous_run_id)
    return {float(row["threshold"]): int(row["residents"]) for row in rows.iter_rows(named=True)}


def movement_by_threshold(
    analysis: PointsAnalysis, names: dict[str, str]
) -> dict[float, dict[str, Any]]:
    """Per threshold: residents who crossed it upwards and downwards since the previous run
    (the service's summary where it gives one, else the sum over the indicators), and the
    indicator behind most of the upward crossings."""
    out: dict[float, dict[str, Any]] = {}
    summary = {
        float(row["threshold"]): row for row in analysis.movement_summary.iter_rows(named=True)
    }
    for threshold in analysis.thresholds:
        rows = (
            analysis.movement.filter(pl.col("threshold") == threshold)
            if analysis.movement.height
            else analysis.movement
        )
        given = summary.get(float(threshold))
        up = int(given["crossed_up"]) if given else int(rows["crossed_up"].sum() or 0)
        down = int(given["crossed_down"]) if given else int(rows["crossed_down"].sum() or 0)
        leading = None
        attributed = rows.filter(
            (pl.col("crossed_up") > 0) & (pl.col("indicator") != NOT_ATTRIBUTED)
        )
        if attributed.height:
            top = attributed.sort(["crossed_up", "indicator"], descending=[True, False]).row(
                0, named=True
            )
            leading = names.get(str(top["indicator"]), str(top["indicator"]))
        out[float(threshold)] = {"up": up, "down": down, "leading": leading}
    return out


def indicator_names(
    analysis: PointsAnalysis, policy_names: Mapping[str, tuple[str, str]] | None
) -> dict[str, str]:
    """Indicator id → its name in the page's language: the policy's own (zh, en) where the
    route found the run's policy, else the analysis' label."""
    names = {
        str(row["indicator"]): label_of(row) for row in analysis.indicators.iter_rows(named=True)
    }
    for indicator, (zh, en) in (policy_names or {}).items():
        names[indicator] = en if i18n.language() == "en" and en else zh
    names[NOT_ATTRIBUTED] = _("未归因")
    return names


def summary_lines(analysis: PointsAnalysis, names: dict[str, str]) -> list[str]:
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
    previous = analysis.previous_run_id
    before = reached_before(analysis)
    moved = movement_by_threshold(analysis, names)
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


def analysis_context(
    analysis: PointsAnalysis,
    language: Language,
    policy_names: Mapping[str, tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """Everything the page shows of ``analysis``, in ``language``: the summary sentences, and
    each chart's ECharts option with the rows of its table (the same numbers).
    ``policy_names``: indicator id → (zh, en) from the run's policy, when known."""
    with i18n.speaking(language):
        return _context(analysis, indicator_names(analysis, policy_names))


def _context(analysis: PointsAnalysis, names: dict[str, str]) -> dict[str, Any]:
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
    # The service gives the policy's runs up to this one; in the order they were made, as
    # "the previous run" is the one made before.
    over = analysis.thresholds_over_runs
    runs = over.select("run_id", "as_of").unique().sort("run_id")
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
        columns = [threshold_column(value) for value in thresholds]
        groups = [label_of(row) for row in frame.iter_rows(named=True)]
        dimensions[key] = {
            "title": en if i18n.language() == "en" else zh,
            "tall": len(groups) > MANY_GROUPS,
            "chart": grouped_bars(
                groups,
                [
                    (name, frame[column].to_list())
                    for name, column in zip(threshold_names, columns, strict=True)
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
    shown_names = [
        names.get(str(row["indicator"]), label_of(row)) for row in indicators.iter_rows(named=True)
    ]
    indicator_rows = [
        [
            name,
            number(row["residents_with_points"]),
            number(row["mean"]),
            number(row["total_points"]),
            f"{float(row['share_of_points']) * 100:.1f}%",
        ]
        for name, row in zip(shown_names, indicators.iter_rows(named=True), strict=True)
    ]
    indicator_chart = {
        **base_option(),
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "grid": {"left": 8, "right": 24, "bottom": 8, "top": 24, "containLabel": True},
        # Bars, not a pie: lengths compare where angles and colours do not.
        "xAxis": {"type": "value", "name": "%"},
        "yAxis": {"type": "category", "data": shown_names[::-1]},
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
    previous = analysis.previous_run_id
    moved = movement_by_threshold(analysis, names)
    movement_rows = [
        [
            points_words(float(row["threshold"])),
            names.get(str(row["indicator"]), str(row["indicator"])),
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
    # The service orders the layers (class, band, batch); a null batch is the qualifying
    # residents no batch within the years reaches.
    layers = analysis.layers
    batched = analysis.quota is not None
    layer_rows = [
        [
            str(row["layer"]),
            class_words(analysis, row["class"]),
            points_words(float(row["threshold"])),
            number(row["residents"]),
            # Without a quota nobody is batched: the band's residents are the whole answer.
            *((batch_words(row["batch"]), number(row["admitted"])) if batched else ()),
        ]
        for row in layers.iter_rows(named=True)
        if batched or row["batch"] is None
    ]
    per_batch = (
        layers.filter(pl.col("batch").is_not_null())
        .group_by("batch", "class")
        .agg(pl.col("admitted").sum())
    )
    batches = sorted({int(batch) for batch in per_batch["batch"].to_list()})
    classes = list(dict.fromkeys(layers["class"].to_list()))
    admitted = {
        (int(row["batch"]), str(row["class"])): int(row["admitted"])
        for row in per_batch.iter_rows(named=True)
    }
    layer_chart = grouped_bars(
        [batch_words(batch) for batch in batches],
        [
            (
                class_words(analysis, kind),
                [admitted.get((batch, str(kind)), 0) for batch in batches],
            )
            for kind in classes
        ],
    )

    mean = analysis.summary.get("mean", 0.0)
    return {
        "run": analysis.run,
        "run_words": run_words(analysis.run),
        "residents": whole,
        "thresholds": [number(value) for value in thresholds],
        "threshold_names": threshold_names,
        "summary": summary_lines(analysis, names),
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
        "indicators_tall": indicators.height > MANY_GROUPS,
        "indicator_rows": indicator_rows,
        "movement_chart": movement_chart,
        "movement_totals": movement_totals,
        "movement_rows": movement_rows,
        "in_both": number(int(analysis.movement_summary["residents_in_both"][0]))
        if "residents_in_both" in analysis.movement_summary.columns
        and analysis.movement_summary.height
        else None,
        "layer_chart": layer_chart if batches else None,
        "layer_rows": layer_rows,
        "layers_batched": batched,
    }


FIRST_BATCH_SHOWN = 50
"""The first batch's leading rows on the page; the whole list is in the XLSX export."""
PERSON_COLUMNS = (
    ("rank", N_("名次")),
    ("name", N_("姓名")),
    ("id_number", N_("证件号")),
    ("total", N_("总分")),
    ("town_name", N_("镇街")),
    ("classes", N_("类别")),
)


def first_batch_context(analysis: PointsAnalysis, language: Language) -> dict[str, Any] | None:
    """Who the first batch would admit, masked (names to their first character, ID numbers
    to their ends), for the roles that read the register; None when the service gives no
    such list. Masked here again, whatever the service did: a page is not the register."""
    frame = analysis.batch_one
    if frame.height == 0:
        return None
    with i18n.speaking(language):
        columns = [(name, label) for name, label in PERSON_COLUMNS if name in frame.columns]
        rows = []
        for row in frame.head(FIRST_BATCH_SHOWN).iter_rows(named=True):
            cells = []
            for name, _label in columns:
                value = row[name]
                if value is None:
                    cells.append("")
                elif name == "name":
                    cells.append(mask_name(str(value)))
                elif name == "id_number":
                    cells.append(mask_id_number(str(value)))
                elif name == "classes":
                    cells.append(
                        "、".join(
                            class_words(analysis, kind) for kind in str(value).split(",") if kind
                        )
                    )
                elif name in ("rank", "total"):
                    cells.append(number(value))
                else:
                    cells.append(str(value))
            rows.append(cells)
        return {
            "headers": [_(label) for _name, label in columns],
            "rows": rows,
            "total": frame.height,
            "shown": min(frame.height, FIRST_BATCH_SHOWN),
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


@dataclass(frozen=True)
class Params:
    run_id: int | None
    thresholds: tuple[float, ...]
    dimension: str
    quota: int | None


def check_params(
    run: str, thresholds: str, dimension: str, quota: str, runs: list[RunRead]
) -> tuple[Errors, Params]:
    """The form's problems (field, text), and what it asks for. A blank run is the newest
    the actor reads; a blank quota counts no batches."""
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
        key = "town"
    yearly: int | None = None
    typed = quota.strip().replace(",", "")
    if typed:
        if typed.isdigit() and 1 <= int(typed) <= MOST_QUOTA:
            yearly = int(typed)
        else:
            errors.append(("quota", _("每年名额应为 1–%(most)s 的整数", most=number(MOST_QUOTA))))
    return errors, Params(run_id, chosen, key, yearly)


def policy_names(run: RunRead) -> dict[str, tuple[str, str]]:
    """The indicators' (zh, en) names of the run's policy version, when it is still published
    (the analysis' own labels otherwise)."""
    for compiled in published_policies():
        policy = compiled.policy
        if policy.id == run.policy_id and policy.version == run.policy_version:
            return {item.id: (item.label.zh, item.label.en or "") for item in policy.indicators}
    return {}


def export_links(params: Params) -> dict[str, str]:
    """The API's exports of the same analysis (the session cookie signs them in)."""
    query: dict[str, Any] = {
        "run": params.run_id,
        "thresholds": ",".join(f"{value:g}" for value in params.thresholds),
    }
    if params.quota is not None:
        query["quota"] = params.quota
    return {
        kind: f"/api/v1/analysis/points?{urlencode({**query, 'format': kind})}"
        for kind in ("xlsx", "pdf")
    }


@router.get("", response_class=HTMLResponse)
def analysis_page(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    run: str = "",
    thresholds: str = "",
    dimension: str = "",
    quota: str = "",
) -> HTMLResponse:
    console_actor(actor, "analysis")
    runs = scoring.list_runs(actor, session)
    # Typed values come back as typed (bounded: the query string is not a place for essays).
    form = {
        "run": run[:40],
        "thresholds": thresholds[:200],
        "dimension": dimension[:40],
        "quota": quota[:40],
    }
    errors, params = check_params(
        form["run"], form["thresholds"], form["dimension"], form["quota"], runs
    )
    context: dict[str, Any] = {}
    if not errors and params.run_id is not None:
        try:
            analysis = analysis_service.points_analysis(
                actor, session, params.run_id, params.thresholds, quota=params.quota
            )
        except LuodiError as error:
            problem = error.details[0] if error.details else None
            field = problem.field if problem else ""
            errors.append(
                (
                    field if field in ("thresholds", "quota") else "run",
                    i18n.problem_text(problem) if problem else i18n.error_message(error),
                )
            )
        else:
            context = analysis_context(analysis, i18n.language(), policy_names(analysis.run))
            context["exports"] = export_links(params)
            if analysis_service.may_see_people(actor):
                context["first_batch"] = first_batch_context(analysis, i18n.language())
    if not form["run"] and params.run_id is not None:
        form["run"] = str(params.run_id)
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
            "dimension": params.dimension,
            "form": form,
            "errors": errors,
            "field_errors": {field: text for field, text in errors if field},
        },
        status_code=422 if errors else 200,
    )
