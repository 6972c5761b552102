"""积分制总量分析 of a scoring run: distributions, thresholds, movement, layers.

STUB (foundation): the shapes below are the contract between the service, the CLI, the API,
the exports and the page; the implementation fills them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import polars as pl
from sqlalchemy.orm import Session

from luodi.auth.actor import Actor
from luodi.scoring.schemas import RunRead

DEFAULT_THRESHOLDS: Final = (60.0, 90.0, 120.0, 150.0)
DIMENSIONS: Final = {
    "town": ("镇街", "town"),
    "origin": ("来源省份", "origin province"),
    "age_band": ("年龄段", "age band"),
    "sector": ("行业", "sector"),
    "permit_years": ("居住证年限", "permit length"),
}
"""The groupings of the distributions: column → (Chinese, English)."""


@dataclass(frozen=True)
class PointsAnalysis:
    run: RunRead
    thresholds: tuple[float, ...]
    residents: int
    summary: dict[str, float]
    """mean, p10, median, p90, highest of the totals."""
    histogram: pl.DataFrame
    """``start, residents``: bars of the totals, no gaps."""
    by_dimension: dict[str, pl.DataFrame]
    """DIMENSIONS key → ``group, label, residents, mean, median, p90, <one column per
    threshold: residents at or above it>``."""
    indicators: pl.DataFrame
    """Per indicator of the policy: ``indicator, label, residents_with_points, mean,
    total_points, share_of_points`` (and by town in ``indicators_by_town``)."""
    indicators_by_town: pl.DataFrame
    thresholds_over_runs: pl.DataFrame
    """``run_id, as_of, threshold, residents``: now and in the earlier runs of the policy."""
    movement: pl.DataFrame
    """Against the previous run of the policy: ``threshold, crossed_up, crossed_down,
    indicator, residents`` (who crossed which threshold, by the indicator whose points
    changed most)."""
    layers: pl.DataFrame
    """分层分类分批: ``layer, class, threshold, residents, batch, admitted`` — a layer per
    threshold band, a class per use (settlement conditions, school, housing), the residents
    a city could admit per yearly batch."""


def points_analysis(
    actor: Actor,
    session: Session,
    run_id: int,
    thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS,
) -> PointsAnalysis:
    raise NotImplementedError
