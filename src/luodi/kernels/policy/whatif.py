"""Policy what-if on a population: who gains and who loses in bands of points (overall, by
town, by origin), how the distribution shifts, who crosses which threshold, and what a
school allocation decides differently under the two policies' points.

Pure: frames in, frames out. The bands follow PolicyEngine's winners/losers breakdown in
five bands (policyengine-api ``endpoints/economy/compare.py``), in points instead of percent:
a points total is what a threshold or a school's cut-off compares, not a share of income.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from luodi.kernels.policy.engine import TOLERANCE

BAND_WIDTH = 10.0
"""Points that separate a small change from a large one (the issue's bands)."""

BANDS = ("lose_more", "lose_less", "same", "gain_less", "gain_more")
"""The five bands, from the largest loss to the largest gain."""

BAND_LABELS: dict[str, tuple[str, str]] = {
    "lose_more": ("减少超过 10 分", "lose more than 10"),
    "lose_less": ("减少 10 分以内", "lose 10 or less"),
    "same": ("不变", "no change"),
    "gain_less": ("增加 10 分以内", "gain 10 or less"),
    "gain_more": ("增加超过 10 分", "gain more than 10"),
}

DEFAULT_THRESHOLDS = (60.0, 90.0, 120.0, 150.0)
"""The thresholds cities publish most (docs/analytics.md)."""

HISTOGRAM_WIDTH = 10.0

OLD, NEW, DELTA, BAND = "total_old", "total_new", "delta", "band"


def band_expr(delta: pl.Expr, width: float = BAND_WIDTH) -> pl.Expr:
    """The band of each change. "No change" is |Δ| < TOLERANCE (the engine's: totals equal
    up to the last bits of float sums); a change of exactly ``width`` is small. The bands are
    defined on |Δ| and its sign only, so negating every Δ mirrors them exactly."""
    size = delta.abs()
    return (
        pl.when(size < TOLERANCE)
        .then(pl.lit("same"))
        .when(size <= width + TOLERANCE)
        .then(pl.when(delta > 0).then(pl.lit("gain_less")).otherwise(pl.lit("lose_less")))
        .otherwise(pl.when(delta > 0).then(pl.lit("gain_more")).otherwise(pl.lit("lose_more")))
    )


def with_bands(frame: pl.DataFrame, width: float = BAND_WIDTH) -> pl.DataFrame:
    """``frame`` (``total_old``, ``total_new``) with ``delta`` (new − old) and ``band``."""
    return frame.with_columns((pl.col(NEW) - pl.col(OLD)).alias(DELTA)).with_columns(
        band_expr(pl.col(DELTA), width).alias(BAND)
    )


def band_counts(banded: pl.DataFrame, by: str | None = None) -> pl.DataFrame:
    """One row per group (or one row overall): ``residents`` and one count column per band
    (every band, zeros too), groups sorted, an empty group named by null."""
    keys = [by] if by else []
    return band_counts_of(banded.group_by([*keys, BAND]).len(), by)


def band_counts_of(counts: pl.DataFrame, by: str | None = None) -> pl.DataFrame:
    """``band_counts`` from the residents of each (group and) band: ``[by,] band, len``."""
    keys = [by] if by else []
    wide = counts.pivot(on=BAND, index=keys or None, values="len") if keys else None
    if wide is None:
        totals = dict(counts.select(BAND, "len").iter_rows())
        return pl.DataFrame(
            {
                "residents": [int(counts["len"].sum())],
                **{band: [int(totals.get(band, 0))] for band in BANDS},
            },
            schema={"residents": pl.Int64, **dict.fromkeys(BANDS, pl.Int64)},
        )
    for band in BANDS:
        if band not in wide.columns:
            wide = wide.with_columns(pl.lit(0, pl.Int64).alias(band))
    wide = wide.with_columns([pl.col(band).fill_null(0).cast(pl.Int64) for band in BANDS])
    return (
        wide.with_columns(pl.sum_horizontal(*BANDS).cast(pl.Int64).alias("residents"))
        .select(by, "residents", *BANDS)
        .sort(by, nulls_last=True)
    )


def histogram(banded: pl.DataFrame, width: float = HISTOGRAM_WIDTH) -> pl.DataFrame:
    """``start`` of each bar of ``width`` points and the residents in it under the old and
    the new policy: one set of bars covering both, empty bars included."""
    if banded.height == 0:
        return histogram_of(pl.DataFrame(), pl.DataFrame(), width)
    low = min(float(banded[OLD].min()), float(banded[NEW].min()))  # type: ignore[arg-type]
    high = max(float(banded[OLD].max()), float(banded[NEW].max()))  # type: ignore[arg-type]
    first, last = math.floor(low / width), math.floor(high / width)

    def count(column: str) -> pl.DataFrame:
        return (
            banded.select((pl.col(column) / width).floor().cast(pl.Int64).alias("bar"))
            .group_by("bar")
            .len()
        )

    return histogram_of(count(OLD), count(NEW), width, (first, last))


def histogram_of(
    old: pl.DataFrame,
    new: pl.DataFrame,
    width: float,
    span: tuple[int, int] | None = None,
) -> pl.DataFrame:
    """``histogram`` from the residents of each bar (``bar, len``; a bar is ``floor(total /
    width)``) under each policy: bars ``span`` (first, last; default: those counted),
    empty ones included."""
    if old.height == 0 and new.height == 0:
        return pl.DataFrame(schema={"start": pl.Float64, "old": pl.Int64, "new": pl.Int64})
    if span is None:
        both = pl.concat([old.select("bar"), new.select("bar")])["bar"]
        span = (int(both.min()), int(both.max()))  # type: ignore[arg-type]
    first, last = span
    bars = pl.DataFrame({"bar": pl.int_range(first, last + 1, eager=True).cast(pl.Int64)})
    return (
        bars.join(old.select("bar", pl.col("len").alias("old")), on="bar", how="left")
        .join(new.select("bar", pl.col("len").alias("new")), on="bar", how="left")
        .select(
            (pl.col("bar") * width).cast(pl.Float64).alias("start"),
            pl.col("old").fill_null(0).cast(pl.Int64),
            pl.col("new").fill_null(0).cast(pl.Int64),
        )
    )


def crossings(banded: pl.DataFrame, thresholds: Sequence[float]) -> pl.DataFrame:
    """Per threshold: residents at or above it under each policy, and who crosses it upwards
    (below under the old, at or above under the new) and downwards."""
    rows = []
    for threshold in sorted(set(thresholds)):
        old_in, new_in = pl.col(OLD) >= threshold, pl.col(NEW) >= threshold
        row = banded.select(
            old_in.sum().alias("old"),
            new_in.sum().alias("new"),
            (~old_in & new_in).sum().alias("up"),
            (old_in & ~new_in).sum().alias("down"),
        ).row(0)
        rows.append((float(threshold), *(int(value or 0) for value in row)))
    return crossings_of(rows)


def crossings_of(rows: Sequence[tuple[float, ...]]) -> pl.DataFrame:
    """``crossings`` from (threshold, old, new, up, down) rows, thresholds ascending."""
    return pl.DataFrame(
        rows,
        schema={
            "threshold": pl.Float64,
            "old": pl.Int64,
            "new": pl.Int64,
            "up": pl.Int64,
            "down": pl.Int64,
        },
        orient="row",
    )


@dataclass(frozen=True)
class PopulationShift:
    residents: int
    mean_old: float
    mean_new: float
    median_old: float
    median_new: float
    bands: pl.DataFrame
    """One row: residents and one count per band."""
    by_town: pl.DataFrame
    by_origin: pl.DataFrame
    histogram: pl.DataFrame
    crossings: pl.DataFrame


def population_shift(
    frame: pl.DataFrame,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    *,
    town: str = "town_code",
    origin: str = "origin_province",
    width: float = BAND_WIDTH,
    histogram_width: float = HISTOGRAM_WIDTH,
) -> PopulationShift:
    """``frame``: one row per resident, ``total_old``, ``total_new``, ``town`` and ``origin``."""
    banded = with_bands(frame.select(OLD, NEW, town, origin), width)
    stats = banded.select(
        pl.col(OLD).mean().alias("mean_old"),
        pl.col(NEW).mean().alias("mean_new"),
        pl.col(OLD).median().alias("median_old"),
        pl.col(NEW).median().alias("median_new"),
    ).row(0, named=True)
    return PopulationShift(
        banded.height,
        float(stats["mean_old"] or 0.0),
        float(stats["mean_new"] or 0.0),
        float(stats["median_old"] or 0.0),
        float(stats["median_new"] or 0.0),
        band_counts(banded),
        band_counts(banded, town),
        band_counts(banded, origin),
        histogram(banded, histogram_width),
        crossings(banded, thresholds),
    )


# ----------------------------------------------------------------------------- the school cycle

PLACED = "placed"
CHOICE = "choice"


@dataclass(frozen=True)
class SchoolShift:
    applications: int
    placed_old: int
    placed_new: int
    gained: int
    """Children without a place under the old points who get one under the new."""
    lost: int
    moved: int
    """Placed under both, at another school."""
    by_town: pl.DataFrame
    """``town_code``, ``gained``, ``lost``, ``moved`` (the family's town)."""
    schools: pl.DataFrame
    """``target_id``, ``name``, ``town_code``, ``capacity``, ``placed_old``, ``placed_new``,
    ``cutoff_old``, ``cutoff_new`` (the lowest points admitted by rank; null when nobody was)."""


def school_shift(old: pl.DataFrame, new: pl.DataFrame, targets: pl.DataFrame) -> SchoolShift:
    """``old``/``new``: one row per application (``application_id``, ``town_code``,
    ``outcome``, ``target_id``, ``placement``, ``points``) as decided with each policy's
    points; ``targets``: ``target_id``, ``name``, ``town_code``, ``capacity``. A cut-off is the
    lowest points of those placed at the school by rank (``placement`` "choice"): a child
    placed by its town (就近/统筹) or by 直接申请 was not admitted by its points."""
    columns = ["application_id", "town_code", "outcome", "target_id", "placement", "points"]
    joined = (
        old.select(columns)
        .join(
            new.select("application_id", "outcome", "target_id", "placement", "points"),
            on="application_id",
            how="full",
            coalesce=True,
            suffix="_new",
        )
        .with_columns(
            placed_old=pl.col("outcome").fill_null("") == PLACED,
            placed_new=pl.col("outcome_new").fill_null("") == PLACED,
        )
        .with_columns(
            gained=~pl.col("placed_old") & pl.col("placed_new"),
            lost=pl.col("placed_old") & ~pl.col("placed_new"),
            moved=pl.col("placed_old")
            & pl.col("placed_new")
            & (pl.col("target_id") != pl.col("target_id_new")).fill_null(False),
        )
    )
    by_town = (
        joined.group_by("town_code")
        .agg(
            pl.col("gained").sum().cast(pl.Int64),
            pl.col("lost").sum().cast(pl.Int64),
            pl.col("moved").sum().cast(pl.Int64),
        )
        .sort("town_code", nulls_last=True)
    )

    def per_school(frame: pl.DataFrame, suffix: str) -> pl.DataFrame:
        placed = frame.filter(pl.col("outcome") == PLACED)
        return placed.group_by("target_id").agg(
            pl.len().cast(pl.Int64).alias(f"placed_{suffix}"),
            pl.col("points")
            .filter(pl.col("placement") == CHOICE)
            .min()
            .cast(pl.Float64)
            .alias(f"cutoff_{suffix}"),
        )

    schools = (
        targets.select("target_id", "name", "town_code", pl.col("capacity").cast(pl.Int64))
        .join(per_school(old, "old"), on="target_id", how="left")
        .join(per_school(new, "new"), on="target_id", how="left")
        .with_columns(pl.col("placed_old").fill_null(0), pl.col("placed_new").fill_null(0))
    )
    totals = [
        int(value or 0)
        for value in joined.select(
            pl.col("placed_old").sum(),
            pl.col("placed_new").sum(),
            pl.col("gained").sum(),
            pl.col("lost").sum(),
            pl.col("moved").sum(),
        ).row(0)
    ]
    return SchoolShift(
        applications=joined.height,
        placed_old=totals[0],
        placed_new=totals[1],
        gained=totals[2],
        lost=totals[3],
        moved=totals[4],
        by_town=by_town,
        schools=schools,
    )
