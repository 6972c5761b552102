"""积分制总量分析 on Apache Spark: the aggregates of ``points`` computed from a scored dataset
(``luodi.scale.layout``) without bringing the population to the driver, equal to the Polars
ones (docs/scale.md).

``population`` gives each resident their groups, as ``points.population`` does (the same
bands, the same completed years). ``SparkPopulation`` then reduces the population **once**
to counts by (dimension, group, total): a points table has a few thousand distinct totals,
so that frame is small whatever the population, and every quantile, threshold count, bar
and batch is exact arithmetic on it — ``nearest`` quantiles by cumulative counts (Polars'
rule: the value at index ``round((n − 1)·q)`` of the sorted totals, halves away from zero),
batches by rank ranges. Only the aggregates are collected, as Polars frames finished by the
same functions the Polars path ends with, so the two are equal frame for frame.

Means are sums divided by counts on both paths: equal to the bit when the sums are exact,
which they are whenever points are multiples of a power of two's fraction (every shipped
policy: halves and quarters); otherwise two summation orders may differ in the last bits.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Final

import polars as pl

from luodi.kernels.analysis import points as kernel
from luodi.kernels.analysis.points import (
    AGE_BANDS,
    INPUTS,
    KEY,
    NO_SECTOR,
    PERMIT_BANDS,
    SECTORS,
    TOTAL,
    UNKNOWN,
    AdmissionClass,
    Layers,
    threshold_column,
)

if TYPE_CHECKING:
    from pyspark.sql import Column
    from pyspark.sql import DataFrame as SparkFrame

DIMENSIONS: Final = ("town", "origin", "age_band", "sector", "permit_years")
"""The group columns of ``population`` (as ``points.population`` names them)."""
ALL: Final = "\0all"
"""The dimension whose one group is everyone."""
QUANTILES: Final = {"p10": 0.1, "median": 0.5, "p90": 0.9}


def to_polars(frame: SparkFrame) -> pl.DataFrame:
    """A small Spark result as a Polars frame (through Arrow: types kept, empty too)."""
    converted = pl.from_arrow(frame.toArrow())
    assert isinstance(converted, pl.DataFrame)
    return converted


def _completed_years(start: Column, as_of: date) -> Column:
    """``points.completed_years`` in Spark: integers YYYYMMDD, floor of the difference's
    ten-thousands (29 February's anniversary is 28 February in a common year)."""
    from pyspark.sql import functions as sf

    month_day = sf.month(start) * 100 + sf.dayofmonth(start)
    if not calendar.isleap(as_of.year):
        month_day = sf.when(month_day == 229, sf.lit(228)).otherwise(month_day)
    started = sf.year(start) * 10_000 + month_day
    today = as_of.year * 10_000 + as_of.month * 100 + as_of.day
    return sf.floor((sf.lit(today) - started) / sf.lit(10_000)).cast("long")


def _band(years: Column, bands: Sequence[tuple[int, int | None, str]]) -> Column:
    """The label of the highest band whose lowest ``years`` reach; below the first, or null:
    ``UNKNOWN`` (``points._band``)."""
    from pyspark.sql import functions as sf

    label: Column = sf.lit(UNKNOWN)
    for low, _, name in bands:
        label = sf.when(years >= sf.lit(low), sf.lit(name)).otherwise(label)
    return label


def population(scored: SparkFrame, as_of: date, indicator_ids: Sequence[str]) -> SparkFrame:
    """``resident_id, total``, the indicators, ``town, origin, age_band, sector,
    permit_years`` and ``first_permit_date`` of each resident of a scored dataset: a
    person's attribute is the carried column, else the ``inputs`` field, else unknown
    (``points.person_sources``), grouped as ``points.population`` groups them."""
    from pyspark.sql import functions as sf
    from pyspark.sql.types import DateType, StructType

    inputs_type = scored.schema[INPUTS].dataType if INPUTS in scored.columns else None
    fields = inputs_type.fieldNames() if isinstance(inputs_type, StructType) else []
    sources = kernel.person_sources(scored.columns, fields)

    def attribute(name: str, kind: str) -> Column:
        where = sources[name]
        if where is None:
            return sf.lit(None).cast(kind)
        column = sf.col(f"`{name}`") if where == "column" else sf.col(INPUTS).getField(name)
        return column.cast(kind) if kind == "string" else column

    for name in kernel.DATE_COLUMNS:
        where = sources[name]
        if where is None:
            continue
        found = (
            scored.schema[name].dataType
            if where == "column"
            else scored.select(sf.col(INPUTS).getField(name)).schema[0].dataType
        )
        if not isinstance(found, DateType):
            raise kernel.NotADate(name, found.simpleString())

    origin = attribute("origin_province", "string")
    basis = attribute("employment_basis", "string")
    sector: Column = sf.lit(NO_SECTOR)
    for value, name in reversed(SECTORS.items()):
        sector = sf.when(basis == sf.lit(value), sf.lit(name)).otherwise(sector)
    first_permit = attribute("first_permit_date", "date")
    return scored.select(
        sf.col(KEY),
        sf.col(TOTAL),
        *[sf.col(f"`{name}`") for name in indicator_ids],
        sf.coalesce(attribute("town_code", "string"), sf.lit(UNKNOWN)).alias("town"),
        sf.when(sf.length(origin) > 0, origin).otherwise(sf.lit(UNKNOWN)).alias("origin"),
        _band(_completed_years(attribute("birth_date", "date"), as_of), AGE_BANDS).alias(
            "age_band"
        ),
        (sector if sources["employment_basis"] is not None else sf.lit(UNKNOWN)).alias("sector"),
        _band(_completed_years(first_permit, as_of), PERMIT_BANDS).alias("permit_years"),
        first_permit.alias("first_permit_date"),
    )


class SparkPopulation:
    """The aggregates of ``population`` (a Spark DataFrame of its columns), each with the
    name, arguments and result of the Polars function it twins. The counts by (dimension,
    group, total) are computed once and kept by Spark until ``release``."""

    def __init__(self, frame: SparkFrame) -> None:
        self.frame = frame
        self._counts: SparkFrame | None = None
        self._stats: dict[tuple[float, ...], pl.DataFrame] = {}
        self._indicators: dict[tuple[str, ...], tuple[dict[str, object], pl.DataFrame]] = {}
        self._distribution: pl.DataFrame | None = None

    def counts(self) -> SparkFrame:
        """``dimension, group, total, n, sum``: how many residents of each group have each
        total (``ALL``: everyone, group ``""``), and those totals' sum. One pass over the
        data; each resident counted once per dimension."""
        if self._counts is None:
            from pyspark.sql import functions as sf

            groups = sf.array(
                sf.struct(sf.lit(ALL).alias("dimension"), sf.lit("").alias("group")),
                *[
                    sf.struct(sf.lit(name).alias("dimension"), sf.col(name).alias("group"))
                    for name in DIMENSIONS
                ],
            )
            self._counts = (
                self.frame.select(sf.explode(groups).alias("g"), sf.col(TOTAL))
                .groupBy(
                    sf.col("g.dimension").alias("dimension"),
                    sf.col("g.group").alias("group"),
                    TOTAL,
                )
                .agg(sf.count(sf.lit(1)).alias("n"), sf.sum(TOTAL).alias("sum"))
                .cache()
            )
        return self._counts

    def release(self) -> None:
        if self._counts is not None:
            self._counts.unpersist()
            self._counts = None

    def group_stats(self, thresholds: Sequence[float]) -> pl.DataFrame:
        """``dimension, group, residents, sum, mean, highest, p10, median, p90`` and one
        ``at_least_<t>`` count per threshold, for every group of every dimension (one job)."""
        key = tuple(float(t) for t in thresholds)
        if key not in self._stats:
            from pyspark.sql import Window
            from pyspark.sql import functions as sf

            group = Window.partitionBy("dimension", "group")
            running = group.orderBy(TOTAL).rowsBetween(Window.unboundedPreceding, Window.currentRow)
            ranked = (
                self.counts()
                .withColumn("cum", sf.sum("n").over(running))
                .withColumn("size", sf.sum("n").over(group))
            )

            def nearest(quantile: float) -> Column:
                # The 0-based index round((n − 1)·q), halves away from zero, as Polars.
                index = sf.round((sf.col("size") - 1).cast("double") * sf.lit(quantile), 0)
                holds = ((sf.col("cum") - sf.col("n")) <= index) & (index < sf.col("cum"))
                return sf.max(sf.when(holds, sf.col(TOTAL)))

            stats = ranked.groupBy("dimension", "group").agg(
                sf.sum("n").alias("residents"),
                sf.sum("sum").alias("sum"),
                sf.max(TOTAL).alias("highest"),
                *[nearest(q).alias(name) for name, q in QUANTILES.items()],
                *[
                    sf.sum(sf.when(sf.col(TOTAL) >= sf.lit(t), sf.col("n")).otherwise(0)).alias(
                        f"t{index}"
                    )
                    for index, t in enumerate(key)
                ],
            )
            collected = to_polars(stats).rename(
                {f"t{index}": threshold_column(t) for index, t in enumerate(key)}
            )
            self._stats[key] = collected.with_columns(
                pl.col("residents").cast(pl.Int64),
                (pl.col("sum") / pl.col("residents")).alias("mean"),
                *[pl.col(threshold_column(t)).cast(pl.Int64) for t in key],
            )
        return self._stats[key]

    def _everyone(self, thresholds: Sequence[float] | None = None) -> dict[str, object] | None:
        """The whole population's row (any thresholds' stats already counted will do when
        none are asked for: the count, the sum and the quantiles do not depend on them)."""
        if thresholds is None:
            thresholds = next(iter(self._stats), ())
        rows = self.group_stats(thresholds).filter(pl.col("dimension") == ALL)
        return rows.row(0, named=True) if rows.height else None

    def residents(self) -> int:
        row = self._everyone()
        return int(row["residents"]) if row else 0  # type: ignore[call-overload]

    def summary(self) -> dict[str, float]:
        """``points.summary`` of the totals."""
        row = self._everyone()
        if row is None:
            return {}
        return {
            "mean": float(row["sum"]) / float(row["residents"]),  # type: ignore[arg-type]
            **{name: float(row[name]) for name in QUANTILES},  # type: ignore[arg-type]
            "highest": float(row["highest"]),  # type: ignore[arg-type]
        }

    def distribution(self) -> pl.DataFrame:
        """``total, n``: how many residents have each distinct total, highest first (a row
        per distinct total: a few thousand in any points table, whatever the population)."""
        if self._distribution is None:
            from pyspark.sql import functions as sf

            everyone = self.counts().filter(sf.col("dimension") == sf.lit(ALL))
            self._distribution = (
                to_polars(everyone.select(TOTAL, "n"))
                .with_columns(pl.col("n").cast(pl.Int64))
                .sort(TOTAL, descending=True)
            )
        return self._distribution

    def histogram(self, width: float) -> pl.DataFrame:
        """``points.histogram`` of the totals."""
        bars = (
            self.distribution()
            .group_by((pl.col(TOTAL) / width).floor().cast(pl.Int64).alias("bar"))
            .agg(pl.col("n").sum().alias("residents"))
        )
        return kernel.histogram_of_bars(bars, width)

    def by_dimension(
        self,
        dimension: str,
        thresholds: Sequence[float],
        labels: Mapping[str, str] | None = None,
    ) -> pl.DataFrame:
        """``points.by_dimension``."""
        stats = self.group_stats(thresholds).filter(pl.col("dimension") == dimension)
        grouped = stats.select(
            pl.col("group").cast(pl.String),
            "residents",
            pl.col("mean").cast(pl.Float64),
            pl.col("median").cast(pl.Float64),
            pl.col("p90").cast(pl.Float64),
            *[threshold_column(t) for t in thresholds],
        )
        return kernel.arrange_groups(grouped, dimension, labels)

    def counts_at(self, thresholds: Sequence[float], run_id: int | None) -> pl.DataFrame:
        """``points.counts_at`` of this population as run ``run_id``."""
        row = self._everyone(thresholds)
        long = pl.DataFrame(
            [{"run_id": run_id} | {c: (row or {})[c] for c in map(threshold_column, thresholds)}]
            if row
            else [],
            schema={
                "run_id": pl.Int64,
                **dict.fromkeys(map(threshold_column, thresholds), pl.Int64),
            },
            orient="row",
        )
        return kernel.counts_of(long, thresholds)

    def _indicator_stats(
        self, indicator_ids: Sequence[str]
    ) -> tuple[dict[str, object], pl.DataFrame]:
        """The whole population's row and each town's, in one pass (a rollup by town)."""
        key = tuple(indicator_ids)
        if key not in self._indicators:
            from pyspark.sql import functions as sf

            aggregates = []
            for index, name in enumerate(indicator_ids):
                column = sf.col(f"`{name}`")
                aggregates += [
                    sf.sum(sf.when(column != 0, 1).otherwise(0)).alias(f"n{index}"),
                    sf.avg(column).alias(f"mean{index}"),
                    sf.sum(column).alias(f"sum{index}"),
                ]
            rolled = to_polars(
                self.frame.rollup("town").agg(
                    sf.grouping("town").cast("int").alias("everyone"), *aggregates
                )
            )
            names = {"town": "town"}
            for index, name in enumerate(indicator_ids):
                names |= {
                    f"n{index}": f"{name}\0n",
                    f"mean{index}": f"{name}\0mean",
                    f"sum{index}": f"{name}\0sum",
                }
            typed = rolled.select(
                "everyone",
                pl.col("town").cast(pl.String),
                *[
                    pl.col(short)
                    .cast(pl.Int64 if short.startswith("n") else pl.Float64)
                    .alias(long)
                    for short, long in names.items()
                    if short != "town"
                ],
            )
            whole = typed.filter(pl.col("everyone") == 1)
            by_town = typed.filter(pl.col("everyone") == 0).drop("everyone")
            # Nobody: the Polars path's row of a select over nothing (counts 0, the rest null).
            row = whole.row(0, named=True) if whole.height else {}
            self._indicators[key] = (row, by_town)
        return self._indicators[key]

    def indicators(
        self, indicator_ids: Sequence[str], labels: Mapping[str, str] | None = None
    ) -> pl.DataFrame:
        """``points.indicators``."""
        return kernel.indicators_of_row(
            self._indicator_stats(indicator_ids)[0], indicator_ids, labels
        )

    def indicators_by_town(
        self, indicator_ids: Sequence[str], labels: Mapping[str, str] | None = None
    ) -> pl.DataFrame:
        """``points.indicators_by_town``."""
        return kernel.indicators_by_town_of(
            self._indicator_stats(indicator_ids)[1], indicator_ids, labels
        )

    def layers(
        self,
        thresholds: Sequence[float],
        classes: Sequence[AdmissionClass],
        quota: int | None,
        batches: int,
        first_year: int,
    ) -> Layers:
        """``points.layers``: the ranks ``start``..``end`` of each distinct total (ties
        share a total) split by the yearly batches, from ``distribution``; only the first
        batch's candidates are read from the population, to be ranked with the tie-break."""
        cuts = sorted(thresholds)
        ranked = (
            self.distribution()
            .with_columns(
                pl.col("n").cum_sum().alias("end"),
                kernel.layer_expr(pl.col(TOTAL), cuts).alias("layer"),
            )
            .with_columns((pl.col("end") - pl.col("n") + 1).alias("start"))
        )
        pieces, in_batches = [], []
        for admission in classes:
            qualifying = ranked.filter(pl.col(TOTAL) >= admission.threshold).with_columns(
                pl.lit(admission.id).alias("class")
            )
            if not quota:
                pieces.append(
                    qualifying.select(
                        "class",
                        "layer",
                        pl.lit(None, pl.Int64).alias("batch"),
                        pl.col("n").alias("admitted"),
                    )
                )
                continue
            # The batches a total's ranks fall in (up to the last counted), and after them.
            first = (pl.col("start") - 1) // quota + 1
            last = pl.min_horizontal((pl.col("end") - 1) // quota + 1, pl.lit(batches, pl.Int64))
            batch = pl.col("batch")
            within = (
                qualifying.filter(first <= last)
                .with_columns(pl.int_ranges(first, last + 1, dtype=pl.Int64).alias("batch"))
                .explode("batch")
                .with_columns(
                    (
                        pl.min_horizontal(pl.col("end"), batch * quota)
                        - pl.max_horizontal(pl.col("start"), (batch - 1) * quota + 1)
                        + 1
                    ).alias("admitted")
                )
            )
            after = batches * quota
            later = qualifying.filter(pl.col("end") > after).select(
                "class",
                "layer",
                pl.lit(None, pl.Int64).alias("batch"),
                (pl.col("end") - pl.max_horizontal(pl.col("start"), pl.lit(after + 1)) + 1).alias(
                    "admitted"
                ),
            )
            pieces += [within.select("class", "layer", "batch", "admitted"), later]
            in_batches.append(
                within.group_by("class", "batch").agg(
                    pl.col("admitted").sum(),
                    pl.col(TOTAL).min().alias("lowest_total"),
                    pl.col(TOTAL).max().alias("highest_total"),
                )
            )
        layer_pieces = pl.concat(pieces) if pieces else pl.DataFrame()
        batch_pieces = pl.concat(in_batches) if in_batches else pl.DataFrame()
        line = self._line(ranked, classes, quota)
        return kernel.layers_of(
            layer_pieces, batch_pieces, self._candidates(line), cuts, classes, quota, first_year
        )

    def _line(
        self, ranked: pl.DataFrame, classes: Sequence[AdmissionClass], quota: int | None
    ) -> float | None:
        """``points.batch_one_line``: the quota-th highest total is the distinct total whose
        ranks hold min(quota, residents)."""
        residents = int(ranked["n"].sum())
        if not quota or not classes or residents == 0:
            return None
        place = min(quota, residents)
        quota_th = ranked.filter((pl.col("start") <= place) & (pl.col("end") >= place))
        lowest_class = min(admission.threshold for admission in classes)
        return max(float(quota_th[TOTAL][0]), lowest_class)

    def _candidates(self, line: float | None) -> pl.DataFrame:
        from pyspark.sql import functions as sf

        columns = [KEY, TOTAL, "first_permit_date", "town"]
        chosen = self.frame.select(*columns)
        if line is None:
            return to_polars(chosen.limit(0))
        return to_polars(chosen.filter(sf.col(TOTAL) >= sf.lit(line)))
