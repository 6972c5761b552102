"""Why a resident has the points they have: one line per indicator, from the same columnar
query that scores the population (so an explanation can never disagree with a score)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import polars as pl

from luodi.kernels.policy.document import KIND_LABELS, Policy
from luodi.kernels.policy.engine import (
    KEY,
    TOTAL,
    CompiledPolicy,
    amount_column,
    capped_column,
    derived_column,
    raw_column,
)
from luodi.kernels.policy.expressions import AS_OF


@dataclass(frozen=True)
class GroupEffect:
    group_id: str
    rule_zh: str
    rule_en: str


@dataclass(frozen=True)
class ExplanationLine:
    indicator_id: str
    label_zh: str
    label_en: str
    kind: str
    rule: str
    evidence: str | None
    inputs: dict[str, Any]
    raw: float
    cap: float | None
    capped: float
    groups: list[GroupEffect]
    group_change: float
    points: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "indicator": self.indicator_id,
            "label_zh": self.label_zh,
            "label_en": self.label_en,
            "kind": self.kind,
            "kind_zh": KIND_LABELS[self.kind][0],
            "rule": self.rule,
            "evidence": self.evidence,
            "inputs": {name: _plain(value) for name, value in self.inputs.items()},
            "raw": self.raw,
            "cap": self.cap,
            "capped": self.capped,
            "groups": [
                {"group": effect.group_id, "rule_zh": effect.rule_zh, "rule_en": effect.rule_en}
                for effect in self.groups
            ],
            "group_change": self.group_change,
            "points": self.points,
        }


@dataclass(frozen=True)
class Explanation:
    resident_id: str
    policy_id: str
    policy_version: str
    as_of: date
    lines: list[ExplanationLine]
    total: float
    floor: float | None
    floored: bool
    sum_of_lines: float
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "resident_id": self.resident_id,
            "policy_id": self.policy_id,
            "policy_version": self.policy_version,
            "as_of": self.as_of.isoformat(),
            "total": self.total,
            "sum_of_lines": self.sum_of_lines,
            "total_floor": self.floor,
            "floored": self.floored,
            "lines": [line.as_dict() for line in self.lines],
        }


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _used_names(policy: Policy, names: set[str]) -> list[str]:
    """Names an indicator reads, each derived name followed by what it is derived from."""
    derived = {item.name: item for item in policy.derived}
    ordered: list[str] = []

    def visit(name: str) -> None:
        if name in ordered:
            return
        ordered.append(name)
        if name in derived:
            for inner in sorted(derived[name].expression.names()):
                visit(inner)

    for name in sorted(names, key=lambda n: (n not in derived, n)):
        visit(name)
    return ordered


def _group_rule(policy: Policy, group_id: str) -> tuple[str, str]:
    group = next(item for item in policy.groups if item.id == group_id)
    parts_zh, parts_en = [], []
    if group.combine == "max":
        parts_zh.append("只取最高一项")
        parts_en.append("highest line only")
    if group.cap is not None:
        parts_zh.append(f"合计封顶 {group.cap:g}")
        parts_en.append(f"sum capped at {group.cap:g}")
    return "，".join(parts_zh), ", ".join(parts_en)


def explain(
    compiled: CompiledPolicy, inputs: pl.DataFrame, resident_id: Any, as_of: date
) -> Explanation:
    """Explain one resident of ``inputs`` (typed, as from ``prepare_inputs``)."""
    policy = compiled.policy
    row_frame = inputs.filter(pl.col(KEY).cast(pl.String) == str(resident_id))
    if row_frame.height != 1:
        raise KeyError(resident_id)
    detail = compiled.score(row_frame, as_of, detail=True).row(0, named=True)
    values: dict[str, Any] = {**row_frame.row(0, named=True), AS_OF: as_of}
    values.update({item.name: detail[derived_column(item.name)] for item in policy.derived})
    lines = []
    for indicator in policy.indicators:
        groups = [
            GroupEffect(group.id, *_group_rule(policy, group.id))
            for group in policy.groups
            if indicator.id in group.indicators
        ]
        capped = float(detail[capped_column(indicator.id)])
        lines.append(
            ExplanationLine(
                indicator.id,
                indicator.label.zh,
                indicator.label.en,
                indicator.kind,
                indicator.rule(),
                indicator.evidence,
                {name: values[name] for name in _used_names(policy, indicator.names())},
                float(detail[raw_column(indicator.id)]),
                indicator.cap,
                capped,
                groups,
                float(detail[amount_column(indicator.id)]) - capped,
                float(detail[indicator.id]),
            )
        )
    sum_of_lines = 0.0
    for line in lines:
        sum_of_lines = sum_of_lines + line.points
    total = float(detail[TOTAL])
    return Explanation(
        str(resident_id),
        policy.id,
        policy.version,
        as_of,
        lines,
        total,
        policy.total_floor,
        total != sum_of_lines,
        sum_of_lines,
    )
