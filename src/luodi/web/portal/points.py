"""Resident portal: ``/my/points`` — every line of my points (the rule in words, my value, the
points, the cap, where the fact came from), what changed since the previous run and why, and
how I could get more (``kernels.policy.advice``: computed by the policy, not written by hand).

Everything read here is stored: the run's score and explanation (``scoring.service
.resident_score``), the typed inputs of this run and the previous one (``stored_scores``: only
the part of the frame that holds me). Nobody is rescored; the policy scores my one row and a
few dozen variants of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from luodi import workdays
from luodi.auth.actor import Actor
from luodi.errors import NotFound
from luodi.feeds import catalog
from luodi.kernels.policy import KEY, CompiledPolicy, Policy
from luodi.kernels.policy.advice import Suggestion, advise, read_inputs
from luodi.kernels.policy.expressions import AS_OF, Kind
from luodi.policy.words import Speaker, Unspeakable, indicator_words, number
from luodi.registry import service as registry_service
from luodi.scoring import repository as scoring_repository
from luodi.scoring import service as scoring
from luodi.scoring.schemas import RunRead, ScoreOfRun
from luodi.web import i18n
from luodi.web.dependencies import CurrentActor, DbSession
from luodi.web.i18n import N_, _
from luodi.web.portal import own_resident_id, resident_actor
from luodi.web.rendering import render

router = APIRouter()

KIND_WORDS = {"basic": N_("基础分"), "bonus": N_("加分"), "deduction": N_("减分")}
SOURCES_SHOWN = 3
"""Records listed under a line before "and n more" (insurance has one a month)."""
SUGGESTIONS_PER_LINE = 3
TOP_SUGGESTIONS = 6
"""The biggest gains, at the top of the page (each line lists its own below)."""


# ----------------------------------------------------------------------------- parts


@dataclass(frozen=True)
class Part:
    """A layer of the points: a capped group of the policy (省级共性指标 100, 县级个性指标
    200), the deductions, or what no layer holds."""

    key: str
    label: str
    points: float
    cap: float | None


def score_parts(policy: Policy, points: dict[str, float]) -> list[Part]:
    """My points by layer, read from the policy: each capped group (its label and cap), then
    the lines in no capped group, then the deductions (negative)."""
    parts: list[Part] = []
    placed: set[str] = set()
    deductions = {item.id for item in policy.indicators if item.kind == "deduction"}
    english = i18n.language() == "en"
    for group in policy.groups:
        if group.cap is None:
            continue
        members = [member for member in group.indicators if member not in deductions]
        placed.update(members)
        label = (group.label.en if english else group.label.zh) if group.label else group.id
        total = sum(points.get(member, 0.0) for member in members)
        parts.append(Part(group.id, label, total, group.cap))
    rest = [item.id for item in policy.indicators if item.id not in placed | deductions]
    if rest:
        parts.append(Part("other", _("其他指标"), sum(points.get(i, 0.0) for i in rest), None))
    if deductions:
        parts.append(
            Part("deduction", _("减分"), sum(points.get(i, 0.0) for i in deductions), None)
        )
    return parts


def parts_chart(parts: list[Part]) -> dict[str, Any]:
    """A bar per layer (ECharts option; the table beside it has the same numbers)."""
    return {
        "aria": {"enabled": True},
        "grid": {"left": 8, "right": 24, "top": 8, "bottom": 8, "containLabel": True},
        "xAxis": {"type": "value"},
        "yAxis": {"type": "category", "inverse": True, "data": [part.label for part in parts]},
        "series": [
            {
                "type": "bar",
                "data": [round(part.points, 2) for part in parts],
                "label": {"show": True, "position": "right"},
            }
        ],
    }


# ----------------------------------------------------------------------------- my score now


@dataclass(frozen=True)
class MyScore:
    """My newest stored score: the run, the total, each indicator's points, my typed row."""

    run: RunRead
    compiled: CompiledPolicy
    total: float
    points: dict[str, float]
    row: pl.DataFrame
    history: list[ScoreOfRun]


def my_score(actor: Actor, session: Session, resident_id: int) -> MyScore | None:
    """The newest run that scored me (None: never scored), read from the stored frame."""
    history = scoring.score_history(actor, session, resident_id)
    if not history:
        return None
    return _score_in(actor, session, resident_id, history[0].run.id, history)


def _score_in(
    actor: Actor, session: Session, resident_id: int, run_id: int, history: list[ScoreOfRun]
) -> MyScore | None:
    stored = scoring.stored_scores(actor, session, [resident_id], run_id=run_id)
    mine = stored.frame.filter(pl.col(KEY) == resident_id)
    if mine.height != 1:
        return None
    row = mine.drop("points")
    # One row: the reference path (the same arithmetic as the columnar one, without a query).
    scored = stored.compiled.score_row(row.row(0, named=True), stored.run.as_of)
    return MyScore(stored.run, stored.compiled, scored.total, scored.points, row, history)


# ----------------------------------------------------------------------------- words


def speaker(policy: Policy) -> Speaker:
    return Speaker(policy, i18n.language())


def input_label(policy: Policy, name: str) -> str:
    try:
        return speaker(policy).name_words(name)
    except Unspeakable:
        return name


def value_words(policy: Policy, name: str, value: Any) -> str:
    if value is None:
        return _("无记录")
    return speaker(policy).value_of(name, value)


def points_words(value: float) -> str:
    sign = "+" if value > 0 else ("−" if value < 0 else "")
    return _("%(sign)s%(points)s 分", sign=sign, points=number(round(abs(value), 4)))


def suggestion_words(policy: Policy, suggestion: Suggestion) -> str:
    """ "在浙累计缴纳社保月数 再增加 6 → +3 分": from the input's label and the numbers."""
    gain = points_words(suggestion.gain)
    if suggestion.kind == "time":
        labels = _listing([_indicator_label(policy, item) for item in suggestion.indicators])
        return _(
            "居住证按时签注，%(lines)s继续累计：%(months)s 个月后（%(day)s）%(gain)s",
            lines=labels,
            months=number(suggestion.step or 0),
            day=suggestion.proposed.isoformat(),
            gain=gain,
        )
    label = input_label(policy, suggestion.input)
    if suggestion.kind == "increase":
        words = _(
            "%(label)s 再增加 %(step)s（达到 %(value)s）→ %(gain)s",
            label=label,
            step=number(suggestion.step or 0),
            value=number(suggestion.proposed),
            gain=gain,
        )
    elif suggestion.kind == "choose":
        words = _(
            "%(label)s 达到“%(value)s” → %(gain)s",
            label=label,
            value=value_words(policy, suggestion.input, suggestion.proposed),
            gain=gain,
        )
    else:
        words = _("%(label)s：是 → %(gain)s", label=label, gain=gain)
    if suggestion.reaches_cap:
        words += _("（该项满分）")
    return words


def _listing(items: list[str]) -> str:
    return ("、" if i18n.language() == "zh" else ", ").join(items)


def _indicator_label(policy: Policy, indicator_id: str) -> str:
    indicator = next(item for item in policy.indicators if item.id == indicator_id)
    return indicator.label.en if i18n.language() == "en" else indicator.label.zh


# ----------------------------------------------------------------------------- changes


@dataclass(frozen=True)
class Change:
    label: str
    before: float
    after: float
    reasons: list[str] = field(default_factory=list)

    @property
    def difference(self) -> float:
        return self.after - self.before


def changes_since(previous: MyScore, now: MyScore) -> list[Change]:
    """Each indicator whose points differ between the previous run and this one, with the
    inputs that changed (the labels and both values), the scoring date when the line reads
    dates, and the policy version when it changed."""
    policy = now.compiled.policy
    before_policy = previous.compiled.policy
    before_row = previous.row.row(0, named=True)
    after_row = now.row.row(0, named=True)
    changes = []
    ids = [*policy.indicator_ids]
    ids += [item for item in before_policy.indicator_ids if item not in ids]
    for indicator_id in ids:
        before = previous.points.get(indicator_id, 0.0)
        after = now.points.get(indicator_id, 0.0)
        if abs(after - before) < 1e-9:
            continue
        owner = policy if indicator_id in policy.indicator_ids else before_policy
        indicator = next(item for item in owner.indicators if item.id == indicator_id)
        reasons = []
        for name in sorted(read_inputs(owner, indicator)):
            if name == AS_OF:
                if previous.run.as_of != now.run.as_of:
                    reasons.append(
                        _(
                            "计分日由 %(before)s 变为 %(after)s",
                            before=previous.run.as_of.isoformat(),
                            after=now.run.as_of.isoformat(),
                        )
                    )
                continue
            if name not in before_row or name not in after_row:
                continue
            if before_row[name] != after_row[name] and name in scoring.PERSONAL_INPUTS:
                reasons.append(_("%(label)s已更正", label=input_label(policy, name)))
            elif before_row[name] != after_row[name]:
                reasons.append(
                    _(
                        "%(label)s：%(before)s → %(after)s",
                        label=input_label(policy, name),
                        before=value_words(policy, name, before_row[name]),
                        after=value_words(policy, name, after_row[name]),
                    )
                )
        if (before_policy.id, before_policy.version) != (policy.id, policy.version):
            reasons.append(
                _(
                    "积分政策由 %(before)s 版改为 %(after)s 版",
                    before=before_policy.version,
                    after=policy.version,
                )
            )
        if not reasons:
            reasons.append(_("同组其他指标变化（组合或封顶）"))
        label = indicator.label.en if i18n.language() == "en" else indicator.label.zh
        changes.append(Change(label, before, after, reasons))
    return changes


# ----------------------------------------------------------------------------- lines


def _source_words(source: dict[str, Any], feeds: dict[str, Any]) -> str:
    """Where one fact came from: the department and feed, the batch, the record's date."""
    if "registry" in source:
        span = source.get("span")
        if span:
            reason = span["reason_en"] if i18n.language() == "en" else span["reason_zh"]
            return _("登记库（居住证）：%(reason)s", reason=reason)
        return _("登记库")
    spec = feeds.get(source.get("feed") or "")
    title = ""
    if spec is not None:
        title = spec.title.en if i18n.language() == "en" else spec.title.zh
        title = f"{spec.department} · {title}" if spec.department else title
    parts = [title or _("部门数据")]
    if source.get("batch"):
        parts.append(_("第 %(batch)s 批", batch=source["batch"]))
    day = source.get("period") or source.get("valid_from")
    if day:
        parts.append(_("记录日期 %(day)s", day=day))
    return " · ".join(parts)


def explained_lines(
    policy: Policy, explanation: dict[str, Any], suggestions: list[Suggestion]
) -> list[dict[str, Any]]:
    """Each line of the explanation as the page shows it: words, not formulas."""
    feeds = dict(catalog.load_feeds())
    english = i18n.language() == "en"
    by_indicator = {item.id: item for item in policy.indicators}
    advice: dict[str, list[str]] = {}
    for suggestion in suggestions:
        words = advice.setdefault(suggestion.indicators[0], [])
        if len(words) < SUGGESTIONS_PER_LINE:
            words.append(suggestion_words(policy, suggestion))
    lines = []
    for line in explanation["lines"]:
        indicator = by_indicator[line["indicator"]]
        values = []
        for name, value in line["inputs"].items():
            if name not in policy.inputs:
                continue  # derived values and the scoring date: the rule says them
            dated = policy.inputs[name].type.kind == Kind.DATE
            shown = (value or _("无记录")) if dated else value_words(policy, name, value)
            sources = line.get("sources", {}).get(name, [])
            values.append(
                {
                    "label": input_label(policy, name),
                    "value": shown,
                    "sources": [_source_words(item, feeds) for item in sources[:SOURCES_SHOWN]],
                    "more": max(len(sources) - SOURCES_SHOWN, 0),
                }
            )
        lines.append(
            {
                "id": indicator.id,
                "label": indicator.label.en if english else indicator.label.zh,
                "kind": line["kind"],
                "rule": indicator_words(policy, indicator, i18n.language()),
                "formula": line["rule"],
                "facts": values,
                "points": line["points"],
                "cap": line["cap"],
                "at_cap": line["cap"] is not None and line["capped"] >= line["cap"] - 1e-9,
                "group_change": line["group_change"],
                "groups": [
                    effect["rule_en"] if english else effect["rule_zh"] for effect in line["groups"]
                ],
                "advice": advice.get(indicator.id, []),
            }
        )
    return lines


# ----------------------------------------------------------------------------- the page


def points_context(actor: Actor, session: Session, resident_id: int) -> dict[str, Any]:
    problem = None
    try:
        # The newest score, or why a newer run left me out (a permit suspended since).
        explained = scoring.resident_score(actor, session, resident_id)
    except NotFound as error:
        history = scoring.score_history(actor, session, resident_id)
        if not history:
            return {"score": None, "problem": i18n.error_message(error)}
        explained = scoring.resident_score(actor, session, resident_id, history[0].run.id)
        newer = scoring_repository.newest_run_after(session, history[0].run.id)
        if newer is not None:
            # Said to the resident, in the second person, with what to do about it.
            span = registry_service.residence_span(actor, session, resident_id, newer[1])
            reason = span["reason_en"] if i18n.language() == "en" else span["reason_zh"]
            problem = _(
                "%(day)s 的最新一次计分没有计入您（%(reason)s）。下面是您此前最近一次的积分；"
                "按时签注居住证后，下一次计分会重新计入。",
                day=newer[1].isoformat(),
                reason=reason,
            )
        else:
            problem = i18n.error_message(error)
    history = scoring.score_history(actor, session, resident_id)
    now = _score_in(actor, session, resident_id, explained.run.id, history)
    if now is None:
        return {"score": None, "problem": problem}
    policy = now.compiled.policy
    suggestions = advise(now.compiled, now.row, now.run.as_of, today=workdays.today())
    previous = (
        _score_in(actor, session, resident_id, now.history[1].run.id, now.history)
        if len(now.history) > 1
        else None
    )
    parts = score_parts(policy, now.points)
    return {
        "score": now,
        "problem": problem,
        "parts": parts,
        "chart": parts_chart(parts),
        "chart_rows": [
            [
                part.label,
                number(round(part.points, 2)),
                "—" if part.cap is None else number(part.cap),
            ]
            for part in parts
        ],
        "lines": explained_lines(policy, explained.explanation, suggestions),
        "explanation": explained.explanation,
        "previous": previous,
        "changes": changes_since(previous, now) if previous else [],
        "suggestions": [
            suggestion_words(policy, item)
            # Keeping the permit endorsed costs nothing: first; then the biggest gains.
            for item in sorted(suggestions, key=lambda item: (item.kind != "time", -item.gain))[
                :TOP_SUGGESTIONS
            ]
        ],
        "policy_name": policy.name.en if i18n.language() == "en" else policy.name.zh,
        "KIND_WORDS": KIND_WORDS,
        "points_words": points_words,
    }


@router.get("/my/points", response_class=HTMLResponse)
def my_points(request: Request, actor: CurrentActor, session: DbSession) -> HTMLResponse:
    resident_id = own_resident_id(resident_actor(actor), session)
    return render(request, actor, "portal/points.html", points_context(actor, session, resident_id))
