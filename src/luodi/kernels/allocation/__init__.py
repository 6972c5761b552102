"""Allocation kernels: the lottery, the ranking order and the mechanisms, on arrays.

The methods' names are here at once; the rest (NumPy's) on first use, so that a module that
only names a method (a program's document, taking applications) starts without NumPy.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from luodi.kernels.allocation.terms import METHOD_LABELS, Method

if TYPE_CHECKING:
    from luodi.kernels.allocation.lottery import lottery_number, lottery_numbers
    from luodi.kernels.allocation.mechanisms import (
        UNPLACED,
        Matching,
        deferred_acceptance,
        serial_priority,
    )
    from luodi.kernels.allocation.ranking import NO_CHOICE, TieBreak, merit_rank, priority_keys

_LAZY = {
    "lottery_number": "lottery",
    "lottery_numbers": "lottery",
    "UNPLACED": "mechanisms",
    "Matching": "mechanisms",
    "deferred_acceptance": "mechanisms",
    "serial_priority": "mechanisms",
    "NO_CHOICE": "ranking",
    "TieBreak": "ranking",
    "merit_rank": "ranking",
    "priority_keys": "ranking",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "METHOD_LABELS",
    "NO_CHOICE",
    "UNPLACED",
    "Matching",
    "Method",
    "TieBreak",
    "deferred_acceptance",
    "lottery_number",
    "lottery_numbers",
    "merit_rank",
    "priority_keys",
    "serial_priority",
]
