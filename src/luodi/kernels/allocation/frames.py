"""The allocation kernel on frames: applicants, capacities and optional per-target priority
groups in; one row per applicant out, in input order. Inputs are assumed checked (the files
layer and the programs layer name bad rows); what is checked here raises ``ValueError``.

Applicants: ``applicant_id`` (text), ``points`` (number), ``priority_group`` (integer),
``choices`` (list of target ids, preference order) and any tie-break columns named.
Capacities: ``target_id``, ``capacity``. Overrides: ``applicant_id``, ``target_id``,
``priority_group`` (the group at that target instead of the applicant's own).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from luodi.kernels.allocation.lottery import lottery_numbers
from luodi.kernels.allocation.mechanisms import (
    UNPLACED,
    Method,
    deferred_acceptance,
    serial_priority,
)
from luodi.kernels.allocation.ranking import NO_CHOICE, TieBreak, merit_rank, priority_keys
from luodi.kernels.allocation.terms import TieBreakColumn

APPLICANT = "applicant_id"
TARGET = "target_id"
CHOICE_RANK = "choice_rank"
LOTTERY = "lottery"
RANK = "rank"
"""Output column: the applicant's place in the global order (1 = first): points, tie-breaks
and lottery; for serial dictatorship the order in which applicants chose (group first)."""


@dataclass(frozen=True)
class AllocationOutcome:
    frame: pl.DataFrame
    """``applicant_id, target_id, choice_rank, lottery, rank`` in input order."""
    rounds: int


def choice_matrix(
    choices: pl.Series, target_ids: pl.Series
) -> tuple[npt.NDArray[np.int64], pl.DataFrame]:
    """Target indices (n x longest list, padded) and the exploded (row, position, target)."""
    index = pl.DataFrame({TARGET: target_ids.cast(pl.String)}).with_row_index("target")
    flat = choices.explode(empty_as_null=False, keep_nulls=False)
    if flat.null_count():
        # A null in a list is no choice: dropped before positions are counted (a copy of
        # every list, so only when there is one).
        choices = choices.list.drop_nulls()
        flat = choices.explode(empty_as_null=False, keep_nulls=False)
    # Row and position of each choice from the lengths of the lists: the values are read in
    # place, neither copied into new lists nor numbered by a window.
    lengths = choices.list.len().fill_null(0).to_numpy().astype(np.int64)
    rows = np.repeat(np.arange(len(choices), dtype=np.uint32), lengths)
    positions = np.arange(len(flat), dtype=np.int64) - np.repeat(
        np.cumsum(lengths) - lengths, lengths
    )
    exploded = pl.DataFrame({"row": rows, TARGET: flat, "position": positions}).join(
        index, on=TARGET, how="left"
    )
    unknown = exploded.filter(pl.col("target").is_null())
    if unknown.height:
        raise ValueError(f"unknown targets in choices: {unknown[TARGET].unique().to_list()[:5]}")
    length = int(exploded["position"].to_numpy().max()) + 1 if exploded.height else 0
    matrix = np.full((len(choices), length), NO_CHOICE, dtype=np.int64)
    matrix[exploded["row"].to_numpy(), exploded["position"].to_numpy()] = exploded[
        "target"
    ].to_numpy()
    return matrix, exploded


def allocate(
    method: Method,
    applicants: pl.DataFrame,
    capacities: pl.DataFrame,
    seed: str | int,
    overrides: pl.DataFrame | None = None,
    tie_breaks: Sequence[TieBreakColumn] = (),
) -> AllocationOutcome:
    count = applicants.height
    ids = applicants[APPLICANT].cast(pl.String)
    lottery = lottery_numbers(seed, ids.to_list())
    if method is Method.LOTTERY:
        # By lot alone: every applicant has the same "points" and no tie-break, so the
        # lottery number decides the order (the group still comes first, below).
        rank = merit_rank(np.zeros(count), lottery)
    else:
        rank = merit_rank(
            applicants["points"].cast(pl.Float64).to_numpy(),
            lottery,
            [
                TieBreak(applicants[key.column].cast(pl.Float64).to_numpy(), key.higher_first)
                for key in tie_breaks
            ],
        )
    choices, exploded = choice_matrix(applicants["choices"], capacities[TARGET])
    if method is Method.RANKED_QUOTA and choices.shape[1] > 1:
        raise ValueError("ranked-quota takes one target per applicant")
    own_group = applicants["priority_group"].cast(pl.Int64).to_numpy()
    if method in (Method.SERIAL_DICTATORSHIP, Method.LOTTERY):
        if overrides is not None and overrides.height:
            raise ValueError("serial dictatorship has one global order: no per-target groups")
        # One global order: the applicant's own group, then merit.
        order = np.lexsort((rank, own_group))
        rank = np.empty(count, dtype=np.int64)
        rank[order] = np.arange(count, dtype=np.int64)
        priority = serial_priority(rank, choices.shape[1])
    else:
        groups = np.repeat(own_group[:, None], choices.shape[1], axis=1)
        if overrides is not None and overrides.height:
            cells = exploded.join(
                pl.DataFrame(
                    {
                        "row": pl.Series(np.arange(count), dtype=pl.UInt32),
                        APPLICANT: ids,
                    }
                ),
                on="row",
            ).join(
                overrides.select(
                    pl.col(APPLICANT).cast(pl.String),
                    pl.col(TARGET).cast(pl.String),
                    pl.col("priority_group").cast(pl.Int64).alias("override"),
                ),
                on=[APPLICANT, TARGET],
                how="inner",
            )
            groups[cells["row"].to_numpy(), cells["position"].to_numpy()] = cells[
                "override"
            ].to_numpy()
        priority = priority_keys(groups, rank, choices)
    capacity = capacities["capacity"].cast(pl.Int64).to_numpy()
    matching = deferred_acceptance(choices, priority, capacity)
    placed = matching.target != UNPLACED
    target_ids = capacities[TARGET].cast(pl.String)
    frame = pl.DataFrame(
        {
            APPLICANT: ids,
            TARGET: target_ids.gather(np.where(placed, matching.target, 0))
            if target_ids.len()
            else pl.Series([None] * count, dtype=pl.String),
            CHOICE_RANK: pl.Series(matching.held + 1, dtype=pl.Int64),
            LOTTERY: pl.Series(lottery, dtype=pl.UInt64),
            RANK: pl.Series(rank + 1, dtype=pl.Int64),
        }
    ).with_columns(
        pl.when(pl.Series(placed)).then(pl.col(TARGET)).alias(TARGET),
        pl.when(pl.Series(placed)).then(pl.col(CHOICE_RANK)).alias(CHOICE_RANK),
    )
    return AllocationOutcome(frame, matching.rounds)
