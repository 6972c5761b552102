"""Allocation mechanisms on arrays: one row per applicant, no object per person.

An instance is a choice matrix (applicant x preference position → target index, padded with
``NO_CHOICE``), a priority matrix of the same shape (the applicant's priority at that choice,
smaller is better, strict at every target) and a capacity per target. The result is the
choice position each applicant holds (``-1``: unplaced).

All three mechanisms are deferred acceptance:

* **deferred-acceptance** — applicant-proposing, with each target's own priorities: the
  applicant-optimal stable matching (Gale and Shapley 1962).
* **serial-dictatorship** — applicants choose in one global order. That is deferred
  acceptance when every target ranks applicants in that same order, so it is computed so.
* **ranked-quota** — one target per applicant, filled in its rank order: deferred acceptance
  with one choice each.

Proposals are made in rounds, all free applicants at once (McVitie and Wilson: the order of
proposals does not change the outcome), so each round is a handful of array operations.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from luodi.kernels.allocation.ranking import NO_CHOICE

UNPLACED = -1


class Method(StrEnum):
    DEFERRED_ACCEPTANCE = "deferred-acceptance"
    SERIAL_DICTATORSHIP = "serial-dictatorship"
    RANKED_QUOTA = "ranked-quota"


METHOD_LABELS = {
    Method.DEFERRED_ACCEPTANCE: "延迟接受（志愿优先、积分排序）",
    Method.SERIAL_DICTATORSHIP: "顺序选择（按排名依次选房）",
    Method.RANKED_QUOTA: "按名额排序录取",
}


@dataclass(frozen=True)
class Matching:
    held: npt.NDArray[np.int64]
    """Per applicant: the choice position held (0-based), or ``UNPLACED``."""
    target: npt.NDArray[np.int64]
    """Per applicant: the target index, or ``UNPLACED``."""
    rounds: int


def deferred_acceptance(
    choices: npt.NDArray[np.int64],
    priority: npt.NDArray[np.int64],
    capacity: npt.NDArray[np.int64],
) -> Matching:
    """Applicant-proposing deferred acceptance."""
    count, length = choices.shape
    everyone = np.arange(count)
    next_position = np.zeros(count, dtype=np.int64)
    held = np.full(count, UNPLACED, dtype=np.int64)
    held_target = np.full(count, UNPLACED, dtype=np.int64)
    touched = np.zeros(len(capacity), dtype=bool)
    rounds = 0
    if length == 0:
        return Matching(held, held_target, rounds)
    while True:
        # Everyone free with a choice left proposes to their next choice.
        candidate_target = choices[everyone, np.minimum(next_position, length - 1)]
        proposing = np.flatnonzero(
            (held == UNPLACED) & (next_position < length) & (candidate_target != NO_CHOICE)
        )
        if proposing.size == 0:
            break
        rounds += 1
        targets = candidate_target[proposing]
        held[proposing] = next_position[proposing]
        held_target[proposing] = targets
        next_position[proposing] += 1
        # Each target that received proposals keeps its best ``capacity`` among those it
        # holds and the new ones, and rejects the rest.
        touched[:] = False
        touched[targets] = True
        pool = np.flatnonzero((held_target >= 0) & touched[np.maximum(held_target, 0)])
        pool_target = held_target[pool]
        pool_priority = priority[pool, held[pool]]
        order = np.lexsort((pool_priority, pool_target))
        pool, pool_target = pool[order], pool_target[order]
        first_of_target = np.searchsorted(pool_target, pool_target, side="left")
        place_in_line = np.arange(len(pool)) - first_of_target
        rejected = pool[place_in_line >= capacity[pool_target]]
        held[rejected] = UNPLACED
        held_target[rejected] = UNPLACED
    return Matching(held, held_target, rounds)


def serial_priority(rank: npt.NDArray[np.int64], length: int) -> npt.NDArray[np.int64]:
    """The priority matrix in which every target ranks applicants in one global order."""
    return np.repeat(rank[:, None], max(length, 1), axis=1)[:, :length]
