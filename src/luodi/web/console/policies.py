"""The console's policies area (``/console/policies…``): the published points policies as
readable tables (each indicator's kind, rule in words, cap and source), and a version's own
test cases with their results (the runner of ``luodi policy test``)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from luodi import workdays
from luodi.auth.permissions import acts_as
from luodi.errors import NotFound
from luodi.kernels.policy import CompiledPolicy
from luodi.kernels.policy.engine import TestOutcome
from luodi.policy.service import in_force, published_policies
from luodi.policy.whatif import WHATIF_ROLES
from luodi.policy.words import Speaker, indicator_words
from luodi.web.dependencies import CurrentActor
from luodi.web.i18n import N_, _, language
from luodi.web.rendering import console_actor, render

router = APIRouter(prefix="/console/policies")

KIND_WORDS = {"basic": N_("基础分"), "bonus": N_("加分"), "deduction": N_("减分")}


def text_of(text: Any) -> str:
    """A policy's ``Text`` (zh, en) in the page's language."""
    return str(text.en if language() == "en" else text.zh)


@dataclass(frozen=True)
class IndicatorRow:
    id: str
    label: str
    kind_id: str
    kind: str
    words: str | None
    """The rule in words; None when it cannot be said (then ``formula`` is shown)."""
    formula: str
    cap: float | None
    source: str
    evidence: str


def indicator_rows(compiled: CompiledPolicy) -> list[IndicatorRow]:
    policy = compiled.policy
    return [
        IndicatorRow(
            indicator.id,
            text_of(indicator.label),
            indicator.kind,
            _(KIND_WORDS[indicator.kind]),
            indicator_words(policy, indicator, language()),
            indicator.rule(),
            indicator.cap,
            indicator.source or "",
            indicator.evidence or "",
        )
        for indicator in policy.indicators
    ]


def group_rows(compiled: CompiledPolicy) -> list[tuple[str, str]]:
    """(name, rule in words) of each group of indicators."""
    policy = compiled.policy
    speaker = Speaker(policy, language())
    labels = {indicator.id: text_of(indicator.label) for indicator in policy.indicators}
    return [
        (text_of(group.label) if group.label else group.id, speaker.group(group, labels))
        for group in policy.groups
    ]


def standing(compiled: CompiledPolicy, today: date) -> tuple[str, str]:
    """(status class, words): in force today, ended, or not yet in force."""
    policy = compiled.policy
    if in_force(policy, today):
        return "ok", _("施行中")
    if policy.effective_from > today:
        return "warn", _("尚未施行")
    return "", _("已失效")


def version_summary(compiled: CompiledPolicy, today: date) -> dict[str, Any]:
    policy = compiled.policy
    status, words = standing(compiled, today)
    return {
        "id": policy.id,
        "version": policy.version,
        "name": text_of(policy.name),
        "effective_from": policy.effective_from,
        "effective_to": policy.effective_to,
        "status": status,
        "status_words": words,
        "indicators": len(policy.indicators),
        "tests": len(policy.tests),
        "digest": policy.digest,
        "url": f"/console/policies/{policy.id}/{policy.version}",
    }


def rules_context(compiled: CompiledPolicy) -> dict[str, Any]:
    policy = compiled.policy
    return {
        "indicators": indicator_rows(compiled),
        "groups": group_rows(compiled),
        "floor": Speaker(policy, language()).floor(policy.total_floor)
        if policy.total_floor is not None
        else None,
    }


@router.get("", response_class=HTMLResponse)
def policies_index(request: Request, actor: CurrentActor) -> HTMLResponse:
    console_actor(actor, "policies")
    today = workdays.today()
    versions = published_policies()
    current: dict[str, CompiledPolicy] = {}
    for compiled in versions:  # by id, then date: the last in force today wins
        if in_force(compiled.policy, today):
            current[compiled.policy.id] = compiled
    return render(
        request,
        actor,
        "console/policies/index.html",
        {
            "versions": [version_summary(compiled, today) for compiled in versions],
            # The what-if (web/console/whatif.py) is for the analysis roles only.
            "may_whatif": acts_as(actor, *WHATIF_ROLES),
            "current": [
                {**version_summary(compiled, today), **rules_context(compiled)}
                for compiled in current.values()
            ],
        },
    )


OUTCOMES_KEPT = 16
_outcomes: OrderedDict[str, list[TestOutcome]] = OrderedDict()
_outcomes_lock = threading.Lock()


def case_outcomes(compiled: CompiledPolicy) -> list[TestOutcome]:
    """The version's test cases run as ``luodi policy test`` runs them, once per document
    text (its SHA-256): the outcome of a text never changes, and a page read by many staff
    should not score every case each time."""
    digest = compiled.policy.digest
    with _outcomes_lock:
        if digest in _outcomes:
            _outcomes.move_to_end(digest)
            return _outcomes[digest]
    outcomes = compiled.run_tests()
    with _outcomes_lock:
        _outcomes[digest] = outcomes
        while len(_outcomes) > OUTCOMES_KEPT:
            _outcomes.popitem(last=False)
    return outcomes


@router.get("/{policy_id}/{version}", response_class=HTMLResponse)
def policy_version(
    policy_id: str, version: str, request: Request, actor: CurrentActor
) -> HTMLResponse:
    console_actor(actor, "policies")
    compiled = next(
        (
            item
            for item in published_policies()
            if item.policy.id == policy_id and item.policy.version == version
        ),
        None,
    )
    if compiled is None:
        raise NotFound(
            f"没有已发布的策略 {policy_id} {version}", f"no published policy {policy_id} {version}"
        )
    labels = {indicator.id: text_of(indicator.label) for indicator in compiled.policy.indicators}
    labels["total"] = _("总分")
    outcomes = case_outcomes(compiled)
    return render(
        request,
        actor,
        "console/policies/version.html",
        {
            "summary": version_summary(compiled, workdays.today()),
            **rules_context(compiled),
            "outcomes": outcomes,
            "passed": sum(outcome.passed for outcome in outcomes),
            "labels": labels,
        },
    )
