"""积分制总量分析 of one scoring run, as pure frame arithmetic (docs/analytics.md).

The service hands in the run's points (``resident_id``, ``total``, one column per indicator,
as ``scoring.frames.points_of`` gives them) and what the registry says of each resident
(``PEOPLE_COLUMNS``); everything here is Polars expressions over the whole population, no
Python loop over residents. Quantiles are Polars' "nearest" (as ``luodi score`` and the
scoring page print them), so the numbers agree with what staff already see.
"""

from __future__ import annotations

import calendar
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

import polars as pl

KEY: Final = "resident_id"
TOTAL: Final = "total"
UNKNOWN: Final = "unknown"
"""The group of a resident the registry says nothing about for a dimension (a resident the
actor's registry scope does not reach, an origin left blank): kept, so that every
dimension's groups add up to the whole run."""

PEOPLE_COLUMNS: Final = {
    KEY: pl.Int64(),
    "town_code": pl.String(),
    "origin_province": pl.String(),
    "birth_date": pl.Date(),
    "first_permit_date": pl.Date(),
    "employment_basis": pl.String(),
}
"""What the registry says of each resident, as the service reads it in bulk."""

AGE_BANDS: Final = (
    (0, 17, "<18"),
    (18, 25, "18–25"),
    (26, 35, "26–35"),
    (36, 45, "36–45"),
    (46, 55, "46–55"),
    (56, None, "56+"),
)
"""(lowest, highest completed years, label) at the run's as_of."""
PERMIT_BANDS: Final = (
    (0, 0, "<1"),
    (1, 2, "1–2"),
    (3, 4, "3–4"),
    (5, 9, "5–9"),
    (10, None, "10+"),
)
"""Completed years since the resident's first permit was issued, at the run's as_of."""
SECTORS: Final = {
    "labour_contract": "employee",
    "business_licence": "self_employed",
}
"""ASSUMPTION: the registry holds no industry code, only the basis of each employment
(``EmploymentBasis``): a labour contract is 单位就业, a business licence 个体经营; a resident
with no employment in force on the date is 无就业登记（含灵活就业）."""
SECTOR_ORDER: Final = ("employee", "self_employed", "none")
NO_SECTOR: Final = "none"


def threshold_column(threshold: float) -> str:
    """The column of residents at or above ``threshold``: ``at_least_60``, ``at_least_62.5``."""
    return f"at_least_{threshold:g}"


def completed_years(start: pl.Expr, as_of: date) -> pl.Expr:
    """Completed years from ``start`` to ``as_of``, as ``years_between`` of the policy
    expressions counts them (29 February's anniversary is 28 February in a common year):
    the dates as integers YYYYMMDD, whose difference's ten-thousands are the years."""
    month_day = start.dt.month().cast(pl.Int32) * 100 + start.dt.day().cast(pl.Int32)
    if not calendar.isleap(as_of.year):
        month_day = pl.when(month_day == 229).then(228).otherwise(month_day)
    started = start.dt.year().cast(pl.Int32) * 10_000 + month_day
    today = as_of.year * 10_000 + as_of.month * 100 + as_of.day
    return (pl.lit(today, pl.Int32) - started) // 10_000


def _band(years: pl.Expr, bands: Sequence[tuple[int, int | None, str]]) -> pl.Expr:
    """The label of the band ``years`` falls in (bands contiguous, lowest first); below the
    first band or null: ``UNKNOWN``. An index by comparisons, then one lookup: a chain of
    ``when`` over strings cost half a second a million."""
    index = pl.sum_horizontal([(years >= low).cast(pl.Int8) for low, _, _ in bands])
    labels = {position + 1: label for position, (_, _, label) in enumerate(bands)}
    return (
        pl.when(years.is_not_null())
        .then(index)
        .otherwise(None)
        .replace_strict(labels, default=pl.lit(UNKNOWN), return_dtype=pl.String)
    )


def population(points: pl.DataFrame, people: pl.DataFrame, as_of: date) -> pl.DataFrame:
    """The run's points with each resident's groups: ``town``, ``origin``, ``age_band``,
    ``sector``, ``permit_years`` (a resident absent from ``people``: ``UNKNOWN`` in each)
    and ``first_permit_date`` (the ranking's tie-break)."""
    # A dimension ``people`` does not hold (a scored dataset that did not carry it) is
    # unknown for everyone: its column null; the sector, which is "none" for a known resident
    # without a job, is ``UNKNOWN`` outright.
    sector_known = pl.lit("employment_basis" in people.columns)
    people = people.with_columns(
        pl.lit(None, dtype).alias(name)
        for name, dtype in PEOPLE_COLUMNS.items()
        if name not in people.columns
    )
    # The years first, as columns: an expression repeated inside the band's comparisons is
    # computed once per comparison.
    # Both sorted by resident (a no-op when they are): Polars merges sorted keys instead of
    # hashing them, a tenth of the time at a million.
    joined = (
        points.sort(KEY)
        .join(people.with_columns(pl.lit(True).alias("\0known")).sort(KEY), on=KEY, how="left")
        .with_columns(
            completed_years(pl.col("birth_date"), as_of).alias("\0age"),
            completed_years(pl.col("first_permit_date"), as_of).alias("\0permit"),
        )
    )
    return joined.with_columns(
        pl.col("town_code").fill_null(UNKNOWN).alias("town"),
        pl.when(pl.col("origin_province").str.len_chars() > 0)
        .then(pl.col("origin_province"))
        .otherwise(pl.lit(UNKNOWN))
        .alias("origin"),
        _band(pl.col("\0age"), AGE_BANDS).alias("age_band"),
        pl.when(pl.col("\0known") & sector_known)
        .then(
            pl.col("employment_basis").replace_strict(
                SECTORS, default=NO_SECTOR, return_dtype=pl.String
            )
        )
        .otherwise(pl.lit(UNKNOWN))
        .alias("sector"),
        _band(pl.col("\0permit"), PERMIT_BANDS).alias("permit_years"),
    ).drop(
        "town_code",
        "origin_province",
        "birth_date",
        "employment_basis",
        "\0known",
        "\0age",
        "\0permit",
    )


GROUP_ORDER: Final = {
    "age_band": [label for _, _, label in AGE_BANDS],
    "permit_years": [label for _, _, label in PERMIT_BANDS],
    "sector": list(SECTOR_ORDER),
}
"""Groups in their natural order (bands by age, not by text); others by their code."""


def summary(totals: pl.Series) -> dict[str, float]:
    """mean, p10, median, p90 and highest of the totals (empty: nothing)."""
    if totals.len() == 0:
        return {}
    return {
        "mean": float(totals.mean() or 0.0),  # type: ignore[arg-type]
        "p10": float(totals.quantile(0.1, "nearest") or 0.0),
        "median": float(totals.quantile(0.5, "nearest") or 0.0),
        "p90": float(totals.quantile(0.9, "nearest") or 0.0),
        "highest": float(totals.max() or 0.0),  # type: ignore[arg-type]
    }


def histogram(totals: pl.Series, width: float) -> pl.DataFrame:
    """``start, residents``: bars of ``width`` points from the lowest total's bar to the
    highest's, the empty ones too (a histogram without gaps)."""
    bar = (totals / width).floor().cast(pl.Int64).alias("bar")
    return histogram_of_bars(bar.value_counts(name="residents"), width)


def histogram_of_bars(counts: pl.DataFrame, width: float) -> pl.DataFrame:
    """``histogram`` from ``bar, residents`` (a bar is ``floor(total / width)``): the
    residents of each bar, gaps filled (the Spark path counts the bars where the data is)."""
    schema = {"start": pl.Float64, "residents": pl.Int64}
    if counts.height == 0:
        return pl.DataFrame(schema=schema)
    low, high = int(counts["bar"].min()), int(counts["bar"].max())  # type: ignore[arg-type]
    bars = pl.DataFrame({"bar": pl.int_range(low, high + 1, eager=True)})
    return (
        bars.join(counts, on="bar", how="left")
        .select(
            (pl.col("bar") * width).cast(pl.Float64).alias("start"),
            pl.col("residents").fill_null(0).cast(pl.Int64),
        )
        .sort("start")
    )


def _threshold_counts(thresholds: Sequence[float]) -> list[pl.Expr]:
    return [
        (pl.col(TOTAL) >= threshold).sum().cast(pl.Int64).alias(threshold_column(threshold))
        for threshold in thresholds
    ]


def by_dimension(
    frame: pl.DataFrame,
    dimension: str,
    thresholds: Sequence[float],
    labels: Mapping[str, str] | None = None,
) -> pl.DataFrame:
    """``group, label, residents, mean, median, p90`` and one ``at_least_<t>`` column per
    threshold, for each group of ``dimension`` (a column of ``population``)."""
    grouped = frame.group_by(pl.col(dimension).alias("group")).agg(
        pl.len().cast(pl.Int64).alias("residents"),
        pl.col(TOTAL).mean().alias("mean"),
        pl.col(TOTAL).quantile(0.5, "nearest").alias("median"),
        pl.col(TOTAL).quantile(0.9, "nearest").alias("p90"),
        *_threshold_counts(thresholds),
    )
    return arrange_groups(grouped, dimension, labels)


def arrange_groups(
    grouped: pl.DataFrame, dimension: str, labels: Mapping[str, str] | None = None
) -> pl.DataFrame:
    """``by_dimension`` from its groups (``group, residents, mean, median, p90,
    at_least_…``, any order): in their natural order, labelled."""
    order = GROUP_ORDER.get(dimension)
    if order is not None:
        rank = {name: index for index, name in enumerate([*order, UNKNOWN])}
        grouped = grouped.sort(
            pl.col("group").replace_strict(rank, default=len(rank), return_dtype=pl.Int64),
            "group",
        )
    else:
        # Unknown last; otherwise by code (towns, provinces).
        grouped = grouped.sort(pl.col("group") == UNKNOWN, "group")
    names = dict(labels or {})
    label = pl.col("group").replace_strict(names, default=pl.col("group"), return_dtype=pl.String)
    return grouped.select("group", label.alias("label"), pl.exclude("group"))


def indicators(
    frame: pl.DataFrame, indicator_ids: Sequence[str], labels: Mapping[str, str] | None = None
) -> pl.DataFrame:
    """Per indicator: ``indicator, label, residents_with_points`` (points other than 0; a
    deduction counts), ``mean`` (over everyone in ``frame``), ``total_points`` and
    ``share_of_points`` (of the sum of every indicator's points, which is the sum of the
    totals unless a floor lifted some)."""
    stats = frame.select(
        *[(pl.col(name) != 0).sum().cast(pl.Int64).alias(f"{name}\0n") for name in indicator_ids],
        *[pl.col(name).mean().alias(f"{name}\0mean") for name in indicator_ids],
        *[pl.col(name).sum().cast(pl.Float64).alias(f"{name}\0sum") for name in indicator_ids],
    )
    return indicators_of_row(
        stats.row(0, named=True) if stats.height else {}, indicator_ids, labels
    )


def indicators_of_row(
    row: Mapping[str, Any], indicator_ids: Sequence[str], labels: Mapping[str, str] | None = None
) -> pl.DataFrame:
    """``indicators`` from one row of ``<id>\\0n``, ``<id>\\0mean``, ``<id>\\0sum`` per indicator
    (the count of residents with points other than 0, the mean, the sum; empty: nobody)."""
    sums = [float(row.get(f"{name}\0sum") or 0.0) for name in indicator_ids]
    whole = sum(sums)
    names = dict(labels or {})
    return pl.DataFrame(
        {
            "indicator": list(indicator_ids),
            "label": [names.get(name, name) for name in indicator_ids],
            "residents_with_points": [int(row.get(f"{n}\0n") or 0) for n in indicator_ids],
            "mean": [float(row.get(f"{n}\0mean") or 0.0) for n in indicator_ids],
            "total_points": sums,
            "share_of_points": [value / whole if whole else 0.0 for value in sums],
        },
        schema={
            "indicator": pl.String,
            "label": pl.String,
            "residents_with_points": pl.Int64,
            "mean": pl.Float64,
            "total_points": pl.Float64,
            "share_of_points": pl.Float64,
        },
    )


def indicators_by_town(
    frame: pl.DataFrame, indicator_ids: Sequence[str], labels: Mapping[str, str] | None = None
) -> pl.DataFrame:
    """``town, indicator, label, residents_with_points, mean, total_points,
    share_of_points`` (the share of the town's points), towns by code, indicators in the
    policy's order."""
    grouped = frame.group_by("town").agg(
        *[(pl.col(name) != 0).sum().cast(pl.Int64).alias(f"{name}\0n") for name in indicator_ids],
        *[pl.col(name).mean().alias(f"{name}\0mean") for name in indicator_ids],
        *[pl.col(name).sum().cast(pl.Float64).alias(f"{name}\0sum") for name in indicator_ids],
    )
    return indicators_by_town_of(grouped, indicator_ids, labels)


def indicators_by_town_of(
    grouped: pl.DataFrame, indicator_ids: Sequence[str], labels: Mapping[str, str] | None = None
) -> pl.DataFrame:
    """``indicators_by_town`` from one row per town: ``town`` and, per indicator,
    ``<id>\\0n`` (Int64), ``<id>\\0mean`` and ``<id>\\0sum`` (Float64)."""
    # A small frame (towns × indicators × 3): long by indicator through one unpivot.
    long = grouped.unpivot(index="town", variable_name="key").with_columns(
        pl.col("key").str.split_exact("\0", 1).struct.rename_fields(["indicator", "stat"])
    )
    long = long.unnest("key").pivot("stat", index=["town", "indicator"], values="value")
    position = {name: index for index, name in enumerate(indicator_ids)}
    names = dict(labels or {})
    schema = {
        "town": pl.String,
        "indicator": pl.String,
        "label": pl.String,
        "residents_with_points": pl.Int64,
        "mean": pl.Float64,
        "total_points": pl.Float64,
        "share_of_points": pl.Float64,
    }
    if long.height == 0:
        return pl.DataFrame(schema=schema)
    whole = pl.col("sum").sum().over("town")
    return (
        long.with_columns(
            pl.col("indicator").replace_strict(position, return_dtype=pl.Int64).alias("position")
        )
        .sort(pl.col("town") == UNKNOWN, "town", "position")
        .select(
            "town",
            "indicator",
            pl.col("indicator")
            .replace_strict(names, default=pl.col("indicator"), return_dtype=pl.String)
            .alias("label"),
            pl.col("n").cast(pl.Int64).alias("residents_with_points"),
            pl.col("mean").cast(pl.Float64),
            pl.col("sum").cast(pl.Float64).alias("total_points"),
            pl.when(whole != 0)
            .then(pl.col("sum") / whole)
            .otherwise(0.0)
            .cast(pl.Float64)
            .alias("share_of_points"),
        )
    )


def counts_at(totals: pl.DataFrame, thresholds: Sequence[float]) -> pl.DataFrame:
    """``run_id, threshold, residents``: of ``totals`` (``run_id, total``), how many are at
    or above each threshold, per run."""
    return counts_of(totals.group_by("run_id").agg(*_threshold_counts(thresholds)), thresholds)


def counts_of(long: pl.DataFrame, thresholds: Sequence[float]) -> pl.DataFrame:
    """``counts_at`` from one row per run: ``run_id`` and an ``at_least_<t>`` count each."""
    return (
        long.unpivot(index="run_id", variable_name="column", value_name="residents")
        .with_columns(
            pl.col("column")
            .replace_strict({threshold_column(t): t for t in thresholds}, return_dtype=pl.Float64)
            .alias("threshold")
        )
        .select("run_id", "threshold", pl.col("residents").cast(pl.Int64))
        .sort("run_id", "threshold")
    )


NOT_ATTRIBUTED: Final = "none"
"""The indicator of a crossing whose lines did not change (only a total's floor moved it)."""


@dataclass(frozen=True)
class Movement:
    summary: pl.DataFrame
    """``threshold, residents_in_both, before, after, crossed_up, crossed_down``."""
    by_indicator: pl.DataFrame
    """``threshold, indicator, crossed_up, crossed_down, residents`` (who crossed: up plus
    down), only indicators someone crossed by."""


def movement(
    current: pl.DataFrame,
    previous: pl.DataFrame,
    thresholds: Sequence[float],
    indicator_ids: Sequence[str],
) -> Movement:
    """Who crossed each threshold between ``previous`` and ``current`` (each ``resident_id,
    total`` and indicator columns), among the residents in both: up (below before, at or
    above now) or down. Each crossing is put down to the indicator whose points changed
    most in absolute value; ties go to the indicator first in ``indicator_ids`` (the
    current policy's order, then any the previous run alone had)."""
    order = list(indicator_ids) + [
        name for name in previous.columns if name not in (KEY, TOTAL, *indicator_ids)
    ]

    def points(frame: pl.DataFrame, suffix: str) -> pl.DataFrame:
        return frame.select(
            KEY,
            pl.col(TOTAL).alias(f"{TOTAL}{suffix}"),
            *[
                (pl.col(name) if name in frame.columns else pl.lit(0.0))
                .cast(pl.Float64)
                .fill_null(0.0)
                .alias(f"{name}{suffix}")
                for name in order
            ],
        )

    both = (
        points(current, "")
        .sort(KEY)
        .join(points(previous, "\0before").sort(KEY), on=KEY, how="inner")
    )
    was, now = pl.col(f"{TOTAL}\0before"), pl.col(TOTAL)
    summary = pl.DataFrame(
        {
            "threshold": [float(t) for t in thresholds],
            "residents_in_both": [both.height] * len(thresholds),
        },
        schema={"threshold": pl.Float64, "residents_in_both": pl.Int64},
    )
    if thresholds:
        counted = both.select(
            *[(was >= t).sum().cast(pl.Int64).alias(f"b{i}") for i, t in enumerate(thresholds)],
            *[(now >= t).sum().cast(pl.Int64).alias(f"a{i}") for i, t in enumerate(thresholds)],
            *[
                ((was < t) & (now >= t)).sum().cast(pl.Int64).alias(f"u{i}")
                for i, t in enumerate(thresholds)
            ],
            *[
                ((was >= t) & (now < t)).sum().cast(pl.Int64).alias(f"d{i}")
                for i, t in enumerate(thresholds)
            ],
        ).row(0, named=True)
        summary = summary.with_columns(
            *[
                pl.Series(name, [int(counted[f"{key}{i}"]) for i in range(len(thresholds))])
                for key, name in (
                    ("b", "before"),
                    ("a", "after"),
                    ("u", "crossed_up"),
                    ("d", "crossed_down"),
                )
            ]
        )
    else:
        summary = summary.with_columns(
            *[
                pl.lit(0, pl.Int64).alias(n)
                for n in ("before", "after", "crossed_up", "crossed_down")
            ]
        )
    schema = {
        "threshold": pl.Float64,
        "indicator": pl.String,
        "crossed_up": pl.Int64,
        "crossed_down": pl.Int64,
        "residents": pl.Int64,
    }

    # A resident crossed some threshold when the number of thresholds their total reaches
    # changed: only those rows are attributed (a few percent of a run).
    def band(total: pl.Expr) -> pl.Expr:
        return pl.sum_horizontal([(total >= t).cast(pl.Int16) for t in thresholds])

    crossers = both.filter(band(was) != band(now)) if thresholds else both.head(0)
    if crossers.height == 0 or not order:
        return Movement(summary, pl.DataFrame(schema=schema))
    # The first indicator (in ``order``) whose change is the largest: comparisons against
    # the row's maximum, column by column (a list column per row cost seconds a million).
    changes = [(pl.col(name) - pl.col(f"{name}\0before")).abs() for name in order]
    crossers = crossers.with_columns(pl.max_horizontal(changes).alias("\0largest"))
    largest = pl.col("\0largest")
    position: pl.Expr = pl.lit(None, pl.Int64)
    for index in reversed(range(len(order))):
        position = pl.when(changes[index] == largest).then(index).otherwise(position)
    attributed = crossers.select(
        was,
        now,
        pl.when(largest > 0)
        .then(position)
        .otherwise(None)
        .replace_strict(dict(enumerate(order)), default=NOT_ATTRIBUTED, return_dtype=pl.String)
        .fill_null(NOT_ATTRIBUTED)
        .alias("indicator"),
    )
    crossed = pl.concat(
        [
            attributed.select(
                pl.lit(float(t)).alias("threshold"),
                "indicator",
                ((was < t) & (now >= t)).alias("up"),
                ((was >= t) & (now < t)).alias("down"),
            ).filter(pl.col("up") | pl.col("down"))
            for t in thresholds
        ]
    )
    rank = {name: index for index, name in enumerate([*order, NOT_ATTRIBUTED])}
    by_indicator = (
        crossed.group_by("threshold", "indicator")
        .agg(
            pl.col("up").sum().cast(pl.Int64).alias("crossed_up"),
            pl.col("down").sum().cast(pl.Int64).alias("crossed_down"),
        )
        .with_columns((pl.col("crossed_up") + pl.col("crossed_down")).alias("residents"))
        .sort("threshold", pl.col("indicator").replace_strict(rank, return_dtype=pl.Int64))
        .select(list(schema))
    )
    return Movement(summary, by_indicator.cast(schema))  # type: ignore[arg-type]


@dataclass(frozen=True)
class AdmissionClass:
    """A use of the points a city admits residents to in yearly batches (分类)."""

    id: str
    label_zh: str
    label_en: str
    threshold: float
    source: str
    """Where the threshold comes from; ``ASSUMPTION …`` where no source gives it."""


def layer_labels(thresholds: Sequence[float]) -> list[str]:
    """The threshold bands (分层), lowest first: ``<60``, ``60–90`` (60 up to, not
    including, 90), …, ``≥150``."""
    if not thresholds:
        return ["all"]
    cuts = list(thresholds)
    middle = [f"{low:g}–{high:g}" for low, high in itertools.pairwise(cuts)]
    return [f"<{cuts[0]:g}", *middle, f"≥{cuts[-1]:g}"]


def ranking(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` (``resident_id, total, first_permit_date`` …) in admission order with its
    ``rank`` (1 first): the highest total first; equal totals, the earlier first permit
    (longer residence; none last); then the lower resident id (registered earlier)."""
    return frame.sort(
        [TOTAL, "first_permit_date", KEY],
        descending=[True, False, False],
        nulls_last=True,
    ).with_row_index("rank", offset=1)


@dataclass(frozen=True)
class Layers:
    layers: pl.DataFrame
    """``class, threshold, layer, residents, batch, admitted``: per class, the residents of
    each threshold band who qualify for it (total at or above the class's threshold), and
    how many of them each yearly batch admits (``batch`` null: not within the batches
    counted, or no quota given)."""
    batches: pl.DataFrame
    """``class, batch, year, admitted, cumulative, lowest_total, highest_total``."""
    batch_one: pl.DataFrame
    """``rank, resident_id, total, town, classes`` (comma list of the classes whose first
    batch takes them): who would be in the first batch."""


def layers(
    frame: pl.DataFrame,
    thresholds: Sequence[float],
    classes: Sequence[AdmissionClass],
    quota: int | None,
    batches: int,
    first_year: int,
) -> Layers:
    """分层分类分批: ``frame`` is ``population`` (or any frame with ``resident_id, total,
    first_permit_date, town``). Each class admits its qualifying residents ``quota`` a year
    in ``ranking`` order, for ``batches`` years from ``first_year``.

    Those with a total at or above a class's threshold are a prefix of the one ranking, so a
    resident's rank in a class is their rank in the city; and which batch a rank falls in,
    its layer and the batch's lowest and highest totals depend on the totals alone, not on
    how ties are broken. So the counts come from the totals sorted (one Float64 column), and
    the tie-break ranks only the residents who may be in the first batch."""
    cuts = sorted(thresholds)
    ordered = (
        frame.select(pl.col(TOTAL).sort(descending=True))
        .with_row_index("rank", offset=1)
        .with_columns(
            pl.col("rank").cast(pl.Int64),
            # The band: how many thresholds the total reaches (0: below the lowest).
            layer_expr(pl.col(TOTAL), cuts).alias("layer"),
        )
    )
    layer_parts, batch_parts = [], []
    for admission in classes:
        qualifying = ordered.filter(pl.col(TOTAL) >= admission.threshold)
        batch = (
            ((pl.col("rank") - 1) // quota + 1).cast(pl.Int64) if quota else pl.lit(None, pl.Int64)
        )
        batched = qualifying.with_columns(
            pl.when(batch <= batches).then(batch).otherwise(None).alias("batch")
        )
        layer_parts.append(
            batched.group_by("layer", "batch").agg(
                pl.len().cast(pl.Int64).alias("admitted"), pl.lit(admission.id).alias("class")
            )
        )
        batch_parts.append(
            batched.filter(pl.col("batch").is_not_null())
            .group_by("batch")
            .agg(
                pl.len().cast(pl.Int64).alias("admitted"),
                pl.col(TOTAL).min().alias("lowest_total"),
                pl.col(TOTAL).max().alias("highest_total"),
            )
            .with_columns(pl.lit(admission.id).alias("class"))
        )
    pieces = pl.concat(layer_parts) if layer_parts else pl.DataFrame()
    in_batches = pl.concat(batch_parts) if batch_parts else pl.DataFrame()
    line = batch_one_line(ordered.get_column(TOTAL), classes, quota)
    candidates = frame.head(0) if line is None else frame.filter(pl.col(TOTAL) >= line)
    return layers_of(pieces, in_batches, candidates, cuts, classes, quota, first_year)


def layer_expr(total: pl.Expr, cuts: Sequence[float]) -> pl.Expr:
    """The threshold band (``layer_labels``) of each total: how many cuts it reaches."""
    labels = layer_labels(cuts)
    band = (
        pl.sum_horizontal([(total >= cut).cast(pl.Int64) for cut in cuts])
        if cuts
        else pl.lit(0, pl.Int64)
    )
    return band.replace_strict(dict(enumerate(labels)), return_dtype=pl.String)


def batch_one_line(
    totals_descending: pl.Series, classes: Sequence[AdmissionClass], quota: int | None
) -> float | None:
    """The lowest total the first batch may take: the quota-th highest total, or the lowest
    class's threshold if higher (None: no list to make)."""
    if not quota or not classes or totals_descending.len() == 0:
        return None
    lowest_class = min(admission.threshold for admission in classes)
    return max(float(totals_descending[min(quota, totals_descending.len()) - 1]), lowest_class)


def layers_of(
    pieces: pl.DataFrame,
    in_batches: pl.DataFrame,
    candidates: pl.DataFrame,
    cuts: Sequence[float],
    classes: Sequence[AdmissionClass],
    quota: int | None,
    first_year: int,
) -> Layers:
    """``layers`` from what either engine counts: ``pieces`` (``class, layer, batch,
    admitted``: residents of a class in a layer and batch, one row or several per key),
    ``in_batches`` (``class, batch, admitted, lowest_total, highest_total``, one row per
    class and batch) and the ``candidates`` of the first batch (those at or above
    ``batch_one_line``: ``resident_id, total, first_permit_date, town``)."""
    position = {label: index for index, label in enumerate(layer_labels(cuts))}
    class_rank = {admission.id: index for index, admission in enumerate(classes)}
    class_line = {admission.id: float(admission.threshold) for admission in classes}
    layer_schema = {
        "class": pl.String,
        "threshold": pl.Float64,
        "layer": pl.String,
        "residents": pl.Int64,
        "batch": pl.Int64,
        "admitted": pl.Int64,
    }
    layer_frame = (
        pieces.group_by("class", "layer", "batch")
        .agg(pl.col("admitted").sum().cast(pl.Int64))
        .with_columns(
            pl.col("admitted").sum().over("class", "layer").alias("residents"),
            pl.col("class").replace_strict(class_line, return_dtype=pl.Float64).alias("threshold"),
        )
        .select(list(layer_schema))
        .cast(layer_schema)  # type: ignore[arg-type]
        .sort(
            pl.col("class").replace_strict(class_rank, return_dtype=pl.Int64),
            pl.col("layer").replace_strict(position, return_dtype=pl.Int64),
            "batch",
            descending=[False, True, False],
            nulls_last=True,
        )
        if pieces.height
        else pl.DataFrame(schema=layer_schema)
    )
    batch_schema = {
        "class": pl.String,
        "batch": pl.Int64,
        "year": pl.Int64,
        "admitted": pl.Int64,
        "cumulative": pl.Int64,
        "lowest_total": pl.Float64,
        "highest_total": pl.Float64,
    }
    batch_frame = (
        in_batches.sort(pl.col("class").replace_strict(class_rank, return_dtype=pl.Int64), "batch")
        .with_columns(
            (pl.col("batch") + first_year - 1).cast(pl.Int64).alias("year"),
            pl.col("admitted").cast(pl.Int64).cum_sum().over("class").alias("cumulative"),
        )
        .select(list(batch_schema))
        .cast(batch_schema)  # type: ignore[arg-type]
        if in_batches.height
        else pl.DataFrame(schema=batch_schema)
    )
    return Layers(layer_frame, batch_frame, _batch_one(candidates, classes, quota))


def _batch_one(
    candidates: pl.DataFrame, classes: Sequence[AdmissionClass], quota: int | None
) -> pl.DataFrame:
    """Who the first batch of each class takes: the ``quota`` first of the ranking, of
    whom each class takes those at or above its threshold. Only the ``candidates`` (whose
    total reaches ``batch_one_line``) are ranked with the tie-break. The resident id keeps
    its type (a registry's integer, a dataset's text)."""
    key_type: pl.DataType = candidates.schema.get(KEY) or pl.Int64()
    schema: dict[str, pl.DataType] = {
        "rank": pl.Int64(),
        KEY: key_type,
        TOTAL: pl.Float64(),
        "town": pl.String(),
        "classes": pl.String(),
    }
    if not quota or not classes or candidates.height == 0:
        return pl.DataFrame(schema=schema)
    top = (
        ranking(candidates.select(KEY, TOTAL, "first_permit_date", "town"))
        .head(quota)
        .with_columns(pl.col("rank").cast(pl.Int64))
    )
    taken = pl.concat_str(
        [
            pl.when(pl.col(TOTAL) >= admission.threshold).then(pl.lit(admission.id))
            for admission in classes
        ],
        separator=",",
        ignore_nulls=True,
    )
    return top.select("rank", KEY, TOTAL, "town", taken.alias("classes")).cast(
        schema  # type: ignore[arg-type]
    )


# ------------------------------------------------------------------ a scored dataset's people

INPUTS: Final = "inputs"
"""The scored dataset's struct of typed inputs (``luodi.scale.layout``)."""


def person_sources(columns: Sequence[str], input_fields: Sequence[str]) -> dict[str, str | None]:
    """Where a scored dataset holds each of ``PEOPLE_COLUMNS`` (but the key): ``"column"``
    (carried, or a partition), ``"inputs"`` (a field of the typed inputs) or None (nowhere:
    unknown for everyone). The one rule both engines follow."""
    return {
        name: "column" if name in columns else INPUTS if name in input_fields else None
        for name in PEOPLE_COLUMNS
        if name != KEY
    }


class NotADate(ValueError):
    """A person's date the dataset holds as something else (text, a number): named, so
    that the service can say which column."""

    def __init__(self, column: str, type_name: str) -> None:
        super().__init__(f"{column} is {type_name}, not a date")
        self.column = column
        self.type_name = type_name


DATE_COLUMNS: Final = ("birth_date", "first_permit_date")


def scored_frames(
    scored: pl.DataFrame, indicator_ids: Sequence[str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(points, people) of a scored dataset read with Polars, as ``population`` takes them:
    the points (``resident_id``, ``total``, the indicators) and what the dataset says of each
    resident by ``person_sources`` (a dimension held nowhere is left out: unknown). Codes
    are text (a town code written as a number too); dates must be dates (``NotADate``)."""
    inputs = scored.schema.get(INPUTS)
    fields = [field.name for field in inputs.fields] if isinstance(inputs, pl.Struct) else []
    columns = []
    for name, where in person_sources(scored.columns, fields).items():
        if where is None:
            continue
        column = pl.col(name) if where == "column" else pl.col(INPUTS).struct.field(name)
        columns.append(
            column.cast(pl.String).alias(name) if name not in DATE_COLUMNS else column.alias(name)
        )
    people = scored.select(KEY, *columns)
    for name in DATE_COLUMNS:
        if name in people.columns and people.schema[name] != pl.Date():
            raise NotADate(name, str(people.schema[name]))
    return scored.select(KEY, TOTAL, *indicator_ids), people
