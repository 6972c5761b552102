"""The ranking order of DESIGN.md: priority group (smaller first), points (higher first), the
program's tie-break keys in order, then the lottery number (smaller first).

Everything but the group is the same at every target, so it is computed once as a global
order (``merit_rank``); the group may differ per target (a school's own town first), so a
target's priority of an applicant is the pair (group there, merit rank), packed in one
integer so that the mechanisms compare single numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

NO_CHOICE = -1
"""Padding in a choice matrix, after an applicant's last choice."""


@dataclass(frozen=True)
class TieBreak:
    """One tie-break key: a number per applicant, and whether larger is better."""

    values: npt.NDArray[np.float64]
    higher_first: bool = True


def merit_rank(
    points: npt.NDArray[np.float64],
    lottery: npt.NDArray[np.uint64],
    tie_breaks: Sequence[TieBreak] = (),
) -> npt.NDArray[np.int64]:
    """Rank 0 for the best applicant by points, tie-breaks, lottery; a strict total order
    (the input position settles the 2^-64 chance of two equal lottery numbers)."""
    count = len(points)
    # np.lexsort sorts by its last key first: the keys are given least significant first.
    keys: list[npt.NDArray[np.generic]] = [np.arange(count), lottery]
    for tie_break in reversed(tie_breaks):
        values = np.nan_to_num(tie_break.values, nan=-np.inf if tie_break.higher_first else np.inf)
        keys.append(-values if tie_break.higher_first else values)
    keys.append(-points)
    order = np.lexsort(keys)
    rank = np.empty(count, dtype=np.int64)
    rank[order] = np.arange(count, dtype=np.int64)
    return rank


DENSE_TABLE_SPAN = 1 << 16
"""Groups spanning fewer numbers than this are renumbered through a table, not a sort."""


def dense_groups(groups: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Groups renumbered 0, 1, 2 … in the same order (any integers may name groups)."""
    if groups.size == 0:
        return groups.astype(np.int64)
    lowest = int(groups.min())
    span = int(groups.max()) - lowest + 1
    if span > DENSE_TABLE_SPAN:
        _, dense = np.unique(groups, return_inverse=True)
        return dense.reshape(groups.shape).astype(np.int64)
    # A handful of groups (0, 1, 2; a town's own first): a table from each number used to
    # its rank among those used, in one pass instead of sorting every cell.
    offset = groups - lowest
    used = np.zeros(span, dtype=bool)
    used[offset] = True
    renumbered: npt.NDArray[np.int64] = (np.cumsum(used, dtype=np.int64) - 1)[offset]
    return renumbered


def priority_keys(
    groups: npt.NDArray[np.int64], rank: npt.NDArray[np.int64], choices: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """Priority of each applicant at each of their choices (n x L; smaller is better):
    ``group there * n + merit rank``. Padding cells get the largest value."""
    count = len(rank)
    dense = dense_groups(groups)
    keys = dense * count + rank[:, None]
    return np.where(choices == NO_CHOICE, np.iinfo(np.int64).max, keys)
