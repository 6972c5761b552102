"""Allocation kernels: the lottery, the ranking order and the mechanisms, on arrays."""

from luodi.kernels.allocation.lottery import lottery_number, lottery_numbers
from luodi.kernels.allocation.mechanisms import (
    METHOD_LABELS,
    UNPLACED,
    Matching,
    Method,
    deferred_acceptance,
    serial_priority,
)
from luodi.kernels.allocation.ranking import (
    NO_CHOICE,
    TieBreak,
    merit_rank,
    priority_keys,
)

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
