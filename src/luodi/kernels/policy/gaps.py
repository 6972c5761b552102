"""How far a rule is from holding: the number comparisons of a checked expression
(``expressions.parse_expression``) that a person's values fall short of, and whether time
or a larger number alone would make the rule hold (pure: no database, no web).

A comparison ``quantity >= threshold`` (or ``>``, or the same written the other way round)
whose quantity is a number the person has (a policy input, a context word, ``points``) or a
span of time up to the as-of date (``years_between(d, as_of)``, ``months_between``,
``days_between``: it grows as days pass) falls short by ``threshold - quantity``: it holds
once that much is added. Every other failing part (a yes/no fact, a value from a list, an
upper bound, an unknown value) cannot be met by waiting. ``and`` needs every part, ``or``
its nearest branch (the fewest shortfalls, then the least missing).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from luodi.kernels.calendar import years_after
from luodi.kernels.policy.expressions import (
    AS_OF,
    Call,
    Comparison,
    Logic,
    Name,
    Node,
)

SPANS = {"years_between": "years", "months_between": "months", "days_between": "days"}
"""The time functions whose value grows as the as-of date moves on, and their unit."""

FLIPPED = {">=": "<=", ">": "<", "<=": ">=", "<": ">"}


@dataclass(frozen=True)
class Shortfall:
    """One comparison a value falls short of."""

    name: str
    """The value's name: the input or word, or for a span of time the date it starts from."""
    current: float
    needed: float
    strict: bool
    """``>``: more than ``needed`` (``>=``: at least)."""
    span: str | None
    """``years``, ``months`` or ``days`` when time closes it (``SPANS``); None: a number."""
    met_on: date | None
    """A span up to the as-of date itself: the first day it holds."""

    @property
    def missing(self) -> float:
        """How much more is needed: for ``>`` on whole numbers one more than the difference."""
        difference = self.needed - self.current
        if self.strict and float(self.needed).is_integer() and float(self.current).is_integer():
            return difference + 1
        return difference


@dataclass(frozen=True)
class Remedy:
    possible: bool
    """The rule holds once the shortfalls are made up (time passes, the numbers grow)."""
    shortfalls: tuple[Shortfall, ...] = ()


HOLDS = Remedy(True)
NEVER = Remedy(False)


def value_of(node: Node, env: Mapping[str, Any]) -> Any:
    """The node's value on ``env`` (a row and ``as_of``), None when a value it needs is not
    known (a date not on record)."""
    try:
        return node.evaluate(env)
    except (TypeError, KeyError, ValueError, ArithmeticError):
        return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return None if math.isnan(value) else float(value)


def _constant(node: Node, env: Mapping[str, Any]) -> float | None:
    """A threshold: a number written in the rule (or computed from ``as_of`` alone)."""
    if node.names() - {AS_OF}:
        return None
    return _number(value_of(node, env))


def _met_on(call: Call, needed: float, env: Mapping[str, Any]) -> date | None:
    start_node, end_node = call.arguments
    if not (isinstance(end_node, Name) and end_node.name == AS_OF):
        return None
    start = value_of(start_node, env)
    if not isinstance(start, date) or not float(needed).is_integer():
        return None
    count = int(needed)
    unit = SPANS[call.function.name]
    if unit == "days":
        return start + timedelta(days=count)
    if unit == "years":
        return years_after(start, count)
    month = start.month - 1 + count
    year, month = start.year + month // 12, month % 12 + 1
    for day in range(start.day, 0, -1):  # the 31st of a shorter month: its last day
        try:
            return date(year, month, day)
        except ValueError:
            continue
    return None


def _shortfall(comparison: Comparison, env: Mapping[str, Any]) -> Shortfall | None:
    """The shortfall of a failing ``quantity >= threshold``, if it is one."""
    operator = comparison.operators[0]
    left, right = comparison.operands
    if operator in ("<=", "<"):
        left, right, operator = right, left, FLIPPED[operator]
    if operator not in (">=", ">"):
        return None
    needed = _constant(right, env)
    if needed is None:
        return None
    if isinstance(left, Name) and left.type.numeric and left.name != AS_OF:
        current = _number(value_of(left, env))
        if current is None:
            return None
        return Shortfall(left.name, current, needed, operator == ">", None, None)
    if isinstance(left, Call) and left.function.name in SPANS:
        start, end = left.arguments
        if AS_OF in start.names() or AS_OF not in end.names():
            return None  # not a span that grows as the days pass
        current = _number(value_of(left, env))
        if current is None:
            return None  # no start on record: nothing to wait for
        name = next(iter(sorted(start.names())), "")
        return Shortfall(
            name,
            current,
            needed,
            operator == ">",
            SPANS[left.function.name],
            _met_on(left, needed, env),
        )
    return None


def remedy(node: Node, env: Mapping[str, Any]) -> Remedy:
    """What it takes for ``node`` (a rule, checked) to hold on ``env``: nothing (``HOLDS``),
    shortfalls that time or larger numbers make up, or ``NEVER``."""
    if value_of(node, env) is True:
        return HOLDS
    if isinstance(node, Logic):
        parts = [remedy(operand, env) for operand in node.operands]
        if node.operator == "and":
            if not all(part.possible for part in parts):
                return NEVER
            return Remedy(True, tuple(gap for part in parts for gap in part.shortfalls))
        possible = [part for part in parts if part.possible]
        if not possible:
            return NEVER
        return min(
            possible,
            key=lambda part: (len(part.shortfalls), sum(gap.missing for gap in part.shortfalls)),
        )
    if isinstance(node, Comparison) and len(node.operators) == 1:
        found = _shortfall(node, env)
        return Remedy(True, (found,)) if found is not None else NEVER
    return NEVER
