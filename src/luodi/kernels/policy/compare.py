"""What-if: the same population under two policies, before one is published."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from luodi.kernels.policy.engine import KEY, TOLERANCE, TOTAL

QUANTILES = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0)
QUANTILE_LABELS = ("最低 min", "P10", "P25", "中位数 median", "P75", "P90", "最高 max")


@dataclass(frozen=True)
class Comparison:
    residents: int
    quantiles_old: list[float]
    quantiles_new: list[float]
    mean_old: float
    mean_new: float
    gained: int
    lost: int
    unchanged: int
    rank_correlation: float | None
    thresholds: list[tuple[float, int, int]]
    """(threshold, residents at or above it under the old, under the new)."""
    movers: pl.DataFrame
    per_resident: pl.DataFrame

    def as_dict(self) -> dict[str, Any]:
        return {
            "residents": self.residents,
            "quantiles": [
                {"q": q, "old": old, "new": new}
                for q, old, new in zip(
                    QUANTILES, self.quantiles_old, self.quantiles_new, strict=True
                )
            ],
            "mean_old": self.mean_old,
            "mean_new": self.mean_new,
            "gained": self.gained,
            "lost": self.lost,
            "unchanged": self.unchanged,
            "rank_correlation": self.rank_correlation,
            "thresholds": [
                {"threshold": t, "old": old, "new": new} for t, old, new in self.thresholds
            ],
            "movers": self.movers.to_dicts(),
        }


def compare_totals(
    old: pl.DataFrame,
    new: pl.DataFrame,
    *,
    thresholds: list[float] | None = None,
    top: int = 10,
) -> Comparison:
    """``old`` and ``new`` hold ``resident_id`` and ``total`` for the same residents."""
    joined = (
        old.select(KEY, pl.col(TOTAL).alias("total_old"))
        .join(new.select(KEY, pl.col(TOTAL).alias("total_new")), on=KEY, how="inner")
        .with_columns(delta=pl.col("total_new") - pl.col("total_old"))
        .with_columns(
            rank_old=pl.col("total_old").rank("min", descending=True).cast(pl.Int64),
            rank_new=pl.col("total_new").rank("min", descending=True).cast(pl.Int64),
        )
    )
    count = joined.height
    if count == 0:
        raise ValueError("no residents to compare")
    stats = joined.select(
        *[pl.col("total_old").quantile(q, "nearest").alias(f"old_{q}") for q in QUANTILES],
        *[pl.col("total_new").quantile(q, "nearest").alias(f"new_{q}") for q in QUANTILES],
        pl.col("total_old").mean().alias("mean_old"),
        pl.col("total_new").mean().alias("mean_new"),
        (pl.col("delta") > TOLERANCE).sum().alias("gained"),
        (pl.col("delta") < -TOLERANCE).sum().alias("lost"),
        pl.corr("total_old", "total_new", method="spearman").alias("spearman"),
    ).row(0, named=True)
    spearman = stats["spearman"]
    if spearman is not None and spearman != spearman:  # NaN: a constant column
        spearman = None
    counts = []
    for threshold in thresholds or []:
        row = joined.select(
            (pl.col("total_old") >= threshold).sum(), (pl.col("total_new") >= threshold).sum()
        ).row(0)
        counts.append((threshold, int(row[0]), int(row[1])))
    movers = (
        joined.with_columns(pl.col("delta").abs().alias("_size"))
        .sort(["_size", KEY], descending=[True, False])
        .head(top)
        .drop("_size")
    )
    gained, lost = int(stats["gained"]), int(stats["lost"])
    return Comparison(
        count,
        [float(stats[f"old_{q}"]) for q in QUANTILES],
        [float(stats[f"new_{q}"]) for q in QUANTILES],
        float(stats["mean_old"]),
        float(stats["mean_new"]),
        gained,
        lost,
        count - gained - lost,
        None if spearman is None else float(spearman),
        counts,
        movers,
        joined.sort(KEY),
    )
