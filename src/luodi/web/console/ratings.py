"""The console's ratings area (``/console/ratings``): 好差评 summarised for the service centre —
counts per level, per program and month (a chart and the same numbers as a table), and the
latest comments (staff only). Who reads which rating is ``ratings.repository.readable``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from luodi.programs.catalog import load_programs
from luodi.ratings import service as ratings
from luodi.ratings.models import Level
from luodi.web import i18n
from luodi.web.dependencies import CurrentActor, DbSession
from luodi.web.i18n import N_, _
from luodi.web.rendering import console_actor, render

router = APIRouter(prefix="/console/ratings")

LEVEL_WORDS = {
    Level.VERY_SATISFIED: N_("非常满意"),
    Level.SATISFIED: N_("满意"),
    Level.FAIRLY_SATISFIED: N_("基本满意"),
    Level.DISSATISFIED: N_("不满意"),
    Level.VERY_DISSATISFIED: N_("非常不满意"),
}
LEVEL_COLOURS = {5: "#1e7b34", 4: "#6aa84f", 3: "#b7b7b7", 2: "#e69138", 1: "#a40000"}


def program_words(english: bool) -> dict[str | None, str]:
    """Program id → its name in the visitor's language (None: the score rankings)."""
    names: dict[str | None, str] = {
        program_id: spec.name.en if english else spec.name.zh
        for program_id, (spec, _text) in load_programs().items()
    }
    names[None] = _("积分排名")
    return names


def level_chart(summary: ratings.RatingSummary) -> dict[str, Any]:
    return {
        "aria": {"enabled": True},
        "tooltip": {"trigger": "axis"},
        "grid": {"left": 8, "right": 8, "bottom": 8, "top": 24, "containLabel": True},
        "xAxis": {"type": "category", "data": [_(LEVEL_WORDS[level]) for level in Level]},
        "yAxis": {"type": "value", "name": _("件数"), "minInterval": 1},
        "series": [
            {
                "name": _("件数"),
                "type": "bar",
                "data": [
                    {"value": summary.by_level[level.value], "itemStyle": {"color": colour}}
                    for level, colour in ((level, LEVEL_COLOURS[level.value]) for level in Level)
                ],
            }
        ],
    }


def month_chart(summary: ratings.RatingSummary) -> dict[str, Any]:
    """Each month's ratings stacked by level."""
    return {
        "aria": {"enabled": True},
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0},
        "grid": {"left": 8, "right": 8, "bottom": 8, "top": 48, "containLabel": True},
        "xAxis": {"type": "category", "data": [month for month, _levels, _n in summary.by_month]},
        "yAxis": {"type": "value", "name": _("件数"), "minInterval": 1},
        "series": [
            {
                "name": _(LEVEL_WORDS[level]),
                "type": "bar",
                "stack": "levels",
                "itemStyle": {"color": LEVEL_COLOURS[level.value]},
                "data": [levels[level.value] for _month, levels, _n in summary.by_month],
            }
            for level in Level
        ],
    }


@router.get("", response_class=HTMLResponse)
def ratings_page(
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    months: Annotated[int, Query(ge=1, le=36)] = 12,
) -> HTMLResponse:
    console_actor(actor, "ratings")
    summary = ratings.summary(actor, session, months)
    names = program_words(i18n.language_of(request) == "en")
    levels = list(Level)
    return render(
        request,
        actor,
        "console/ratings/summary.html",
        {
            "summary": summary,
            "months": months,
            "names": names,
            "levels": [(level.value, _(LEVEL_WORDS[level])) for level in levels],
            "level_chart": level_chart(summary),
            "level_rows": [
                [_(LEVEL_WORDS[level]), summary.by_level[level.value]] for level in levels
            ],
            "month_chart": month_chart(summary),
            "month_rows": [
                [month, *(counts[level.value] for level in levels), total]
                for month, counts, total in summary.by_month
            ],
            "level_words": {level.value: _(LEVEL_WORDS[level]) for level in levels},
        },
    )
