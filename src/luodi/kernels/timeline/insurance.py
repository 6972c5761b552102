"""Insurance by month: months paid in total, the unbroken run of paid months, and whether a
person is insured now, as of a date, from records of a year's total or of one month.

The Ningbo / 慈溪 school-entry practice (docs/policy.md, "Insurance by month"; 海曙 2016, 鄞州
2018): pension insurance "按月缴纳、连续满一年、检查日仍在参保、补缴无效". As luodi reads it (each
point is tested in tests/kernels/timeline/test_insurance.py):

* A record covers one period: one month (0 or 1 month paid) or one calendar year (the year's
  total, 0 to 12). A record whose period starts after the as-of date does not count.
* A month counts "passed" once it has ended before the as-of date: scored on 2026-02-01 only
  January 2026 has passed. A year's total counts at most its passed months (the as-of month
  never comes from a year's total: the total does not say which months it holds). A month's
  own record counts from the month's first day (paid for the as-of month is the best proof of
  being insured now).
* A year's total and month records of the same year: the month records say what they say
  (paid, unpaid, back-paid) for their months; the year's total only fills the passed months
  the month records leave out, with at most ``total − paid month records of the passed
  months`` of them. Month records covering every passed month therefore override the total.
* A year's total that fills every passed month it could (a full past year: 12, or this year:
  at least the months passed) says each of them was paid: they are continuous. A smaller total
  does not say which months are missing: its months count in the total but break the run.
* Back-paid (补缴) months count in the total and never in the run nor as current.
* ``continuous_months``: the unbroken run of paid, not back-paid months ending at the as-of
  month (when it is paid) or at the month before; 0 when neither is paid.
* ``current``: the as-of month or the month before is paid and not back-paid (so current ⇔
  ``continuous_months`` ≥ 1).

Column-wise throughout: a year's months are never expanded one by one; the run is found by
merging intervals of month indices (year × 12 + month − 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Literal

import polars as pl

from luodi.kernels.small import engine_for, small_memo

RESIDENT = "resident_id"
START = "period_start"
"""The first day of the record's period (a date)."""
END = "period_end"
"""The last day of the record's period (a date)."""
MONTHS_PAID = "months_paid"
BACK_PAID = "back_paid"
"""Optional (null: not back-paid)."""
SCHEME = "scheme"
"""Optional: employee / resident (medical insurance)."""
RECORDS_SCHEMA: dict[str, pl.DataType] = {
    RESIDENT: pl.Int64(),
    START: pl.Date(),
    END: pl.Date(),
    MONTHS_PAID: pl.Int64(),
    BACK_PAID: pl.Boolean(),
    SCHEME: pl.String(),
}
"""The records the kernel reads, typed as the registry builds them."""

MONTHS = "months"
CONTINUOUS = "continuous_months"
CURRENT = "current"
MEASURES = (MONTHS, CONTINUOUS, CURRENT)

COUNTED = "counted_months"
"""Per record: the months it adds to the total as of the date."""
PASSED = "passed_months"
"""Per year record: the months of the year that had passed by the date."""
COVERED = "covered_months"
"""Per year record: the passed months that month records of the same year speak for."""
IN_RUN = "in_run"
"""Per record: whether some of its months are in the run counted by ``continuous_months``."""


def _engine(records: pl.DataFrame | pl.LazyFrame) -> Literal["in-memory", "auto"]:
    """In memory for a resident's few records; Polars' choice for a city (or a lazy read)."""
    return engine_for(records.height) if isinstance(records, pl.DataFrame) else "auto"


def _normalised(
    records: pl.LazyFrame, as_of: date, scheme: str | None, keep: tuple[str, ...] = ()
) -> pl.LazyFrame:
    names = records.collect_schema().names()
    if scheme is not None:
        records = records.filter(pl.col(SCHEME) == scheme) if SCHEME in names else records.clear()
    back = pl.col(BACK_PAID).fill_null(False) if BACK_PAID in names else pl.lit(False)
    start = pl.col(START)
    months = pl.col(MONTHS_PAID).fill_null(0).clip(0, 12).cast(pl.Int64)
    year = start.dt.year().cast(pl.Int64)
    return (
        records.filter(start <= as_of)
        .select(
            *keep,
            pl.col(RESIDENT).cast(pl.Int64),
            months.alias(MONTHS_PAID),
            back.cast(pl.Boolean).alias(BACK_PAID),
            # Only months and calendar years exist in the feeds; anything longer counts as
            # a year's total of the year it starts in.
            _is_month().alias("_is_month"),
            year.alias("_year"),
            (year * 12 + start.dt.month().cast(pl.Int64) - 1).alias("_index"),
        )
        .with_columns(
            (pl.col(MONTHS_PAID) >= 1).alias("_paid"),
        )
        .with_columns((pl.col("_paid") & ~pl.col(BACK_PAID)).alias("_clean"))
    )


def _is_month() -> pl.Expr:
    # A period within one calendar month (the feeds' months start on the 1st): at most 30
    # days from its first to its last day; a year is 364 or 365.
    return (pl.col(END) - pl.col(START)).dt.total_days() <= 30


def _month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


SPAN = 1 << 16
"""Month indices (year × 12 + month − 1, < 25,212 up to 2100) fit below this, so that
``resident × SPAN + index`` orders by resident, then month, in one integer."""


def _years(frame: pl.LazyFrame, as_of: date) -> pl.LazyFrame:
    """One row per resident and year with a record: months of the year's total it counts
    (``counted_months``), the paid month records, and whether the total fills the passed
    months that month records leave open (then those months are paid, continuous)."""
    now = _month_index(as_of)
    is_month = pl.col("_is_month")
    told = is_month & (pl.col("_index") < now)
    passed = pl.when(pl.col("_year") < as_of.year).then(12).otherwise(as_of.month - 1)
    # Plain sums in the aggregation (Polars' fast path), their parts computed before it.
    # Resident and year as one integer to group by (as ``SPAN`` orders months; a year is
    # below it too): a third less time than grouping by two columns.
    parts = frame.select(
        (pl.col(RESIDENT) * SPAN + pl.col("_year")).alias("_resident_year"),
        (~is_month).cast(pl.Int64).alias("_years"),
        pl.when(is_month).then(0).otherwise(pl.col(MONTHS_PAID)).alias("_total"),
        (~is_month & ~pl.col(BACK_PAID)).cast(pl.Int64).alias("_year_not_back"),
        told.cast(pl.Int64).alias(COVERED),
        (told & pl.col("_paid")).cast(pl.Int64).alias("_told_paid"),
        (is_month & pl.col("_paid")).cast(pl.Int64).alias("_month_paid"),
    )
    sums = ["_years", "_total", "_year_not_back", COVERED, "_told_paid", "_month_paid"]
    return (
        parts.group_by("_resident_year")
        .agg(pl.col(sums).sum())
        .select(
            (pl.col("_resident_year") // SPAN).alias(RESIDENT),
            (pl.col("_resident_year") % SPAN).alias("_year"),
            *sums,
        )
        .with_columns(
            (pl.col("_years") > 0).alias("_has_year"),
            pl.col("_total").clip(0, 12),
            passed.cast(pl.Int64).alias(PASSED),
        )
        .with_columns(
            (pl.col(PASSED) - pl.col(COVERED)).alias("_open"),
            (pl.col("_total") - pl.col("_told_paid")).clip(0, None).alias("_left"),
        )
        .with_columns(
            pl.when(pl.col("_has_year"))
            .then(pl.min_horizontal("_left", "_open"))
            .otherwise(0)
            .alias(COUNTED),
            (
                (pl.col("_year_not_back") > 0)
                & (pl.col("_left") >= pl.col("_open"))
                & (pl.col("_open") > 0)
            ).alias("_fills"),
        )
    )


def _last_run(frame: pl.LazyFrame, years: pl.LazyFrame, as_of: date) -> pl.LazyFrame:
    """Per resident whose paid, not back-paid months reach the as-of month or the month
    before: ``_from`` and ``_to`` (month indices) of that unbroken run."""
    now = _month_index(as_of)
    # Paid months: each clean month record, and the passed months of a year whose total
    # fills them (months inside it that month records tell as unpaid or back-paid are holes,
    # taken out below).
    intervals = pl.concat(
        [
            frame.filter(pl.col("_is_month") & pl.col("_clean")).select(
                RESIDENT, pl.col("_index").alias("_from"), pl.col("_index").alias("_to")
            ),
            years.filter(pl.col("_fills")).select(
                RESIDENT,
                (pl.col("_year") * 12).alias("_from"),
                (pl.col("_year") * 12 + pl.col(PASSED) - 1).alias("_to"),
            ),
        ]
    )
    # Merge in one sorted pass: with resident × SPAN + month as one number, a running maximum
    # never crosses from one resident to the next.
    base = pl.col(RESIDENT) * SPAN
    reach = (base + pl.col("_to")).cum_max()
    merged = (
        # One integer to sort by (a third of the time of two columns).
        intervals.sort(base + pl.col("_from"))
        .with_columns(
            pl.when(reach.shift(1).is_null() | (base + pl.col("_from") > reach.shift(1) + 1))
            .then(pl.col("_from"))
            .forward_fill()
            .alias("_start"),
            (reach - base).alias("_reach"),
        )
        .filter(pl.col(RESIDENT) != pl.col(RESIDENT).shift(-1).fill_null(-1))
        .select(RESIDENT, pl.col("_start").alias("_from"), pl.col("_reach").alias("_to"))
        .filter(pl.col("_to") >= now - 1)
    )
    holes = (
        frame.filter(pl.col("_is_month") & ~pl.col("_clean"))
        .select(RESIDENT, "_index")
        .join(merged, on=RESIDENT, how="inner")
        .filter(pl.col("_index").is_between(pl.col("_from"), pl.col("_to")))
        .group_by(RESIDENT)
        .agg(pl.col("_index").max().alias("_hole"))
    )
    return (
        merged.join(holes, on=RESIDENT, how="left")
        .with_columns(
            pl.max_horizontal("_from", pl.col("_hole") + 1)
            .fill_null(pl.col("_from"))
            .alias("_from")
        )
        .filter(pl.col("_from") <= pl.col("_to"))
        .select(RESIDENT, "_from", "_to")
    )


def insurance_as_of(
    records: pl.DataFrame | pl.LazyFrame, as_of: date, scheme: str | None = None
) -> pl.DataFrame:
    """One row per resident with a record begun by ``as_of``: ``months`` (total),
    ``continuous_months`` and ``current`` (bool). ``scheme``: only records of that scheme.
    Records are one per resident and period (the feeds' key: a person's month or year)."""
    normalised = _normalised(records.lazy(), as_of, scheme).collect(engine=_engine(records))
    engine = engine_for(normalised.height)
    frame = normalised.lazy()
    years = _years(frame, as_of).collect(engine=engine).lazy()
    total = years.group_by(RESIDENT).agg(
        (pl.col("_month_paid") + pl.col(COUNTED)).sum().alias(MONTHS)
    )
    run = _last_run(frame, years, as_of).select(
        RESIDENT, (pl.col("_to") - pl.col("_from") + 1).alias(CONTINUOUS)
    )
    return (
        total.join(run, on=RESIDENT, how="left")
        .select(
            RESIDENT,
            pl.col(MONTHS).cast(pl.Int64),
            pl.col(CONTINUOUS).fill_null(0).cast(pl.Int64),
            pl.col(CONTINUOUS).fill_null(0).gt(0).alias(CURRENT),
        )
        .sort(RESIDENT)
        .collect(engine=engine)
    )


@small_memo
def record_counts(
    records: pl.DataFrame | pl.LazyFrame, as_of: date, scheme: str | None = None
) -> pl.DataFrame:
    """The records as given, each with how it counted as of ``as_of`` (for ``scheme``, if
    named: other schemes' records count 0): ``counted_months``, ``passed_months`` and
    ``covered_months`` (year records; null for months), ``in_run``, and a note in Chinese
    and English (``note_zh``, ``note_en``; null when the record counted as it reads) saying
    why a record counted less than it says: not begun, months not yet passed, months that
    month records speak for, back-paid."""
    given = records.lazy().with_row_index("_order")
    normalised = _normalised(given, as_of, scheme, keep=("_order",)).collect(
        engine=_engine(records)
    )
    engine = engine_for(normalised.height)
    frame = normalised.lazy()
    years = _years(frame, as_of).collect(engine=engine).lazy()
    run = _last_run(frame, years, as_of)
    month_rows = (
        frame.filter(pl.col("_is_month"))
        .join(run, on=RESIDENT, how="left")
        .select(
            "_order",
            pl.col("_paid").cast(pl.Int64).alias(COUNTED),
            pl.lit(None, pl.Int64).alias(PASSED),
            pl.lit(None, pl.Int64).alias(COVERED),
            (pl.col("_clean") & pl.col("_index").is_between(pl.col("_from"), pl.col("_to")))
            .fill_null(False)
            .alias(IN_RUN),
        )
    )
    first, last = pl.col("_year") * 12, pl.col("_year") * 12 + pl.col(PASSED) - 1
    year_rows = (
        frame.filter(~pl.col("_is_month"))
        .join(
            years.select(RESIDENT, "_year", COUNTED, PASSED, COVERED, "_fills"),
            on=[RESIDENT, "_year"],
            how="left",
        )
        .join(run, on=RESIDENT, how="left")
        .select(
            "_order",
            COUNTED,
            PASSED,
            COVERED,
            (pl.col("_fills") & (last >= pl.col("_from")) & (first <= pl.col("_to")))
            .fill_null(False)
            .alias(IN_RUN),
        )
    )
    has_back = BACK_PAID in records.lazy().collect_schema().names()
    return (
        given.join(pl.concat([month_rows, year_rows]), on="_order", how="left")
        .with_columns(pl.col(COUNTED).fill_null(0), pl.col(IN_RUN).fill_null(False))
        .with_columns(_notes(as_of, has_back))
        .sort("_order")
        .drop("_order")
        .collect(engine=engine)
    )


def _notes(as_of: date, has_back: bool) -> list[pl.Expr]:
    """Why a record counted less than it says, in Chinese and in English."""
    day = pl.lit(str(as_of))
    year = pl.col(START).dt.year().cast(pl.String)
    months = pl.col(MONTHS_PAID).fill_null(0).cast(pl.String)
    counted, passed = pl.col(COUNTED).cast(pl.String), pl.col(PASSED).cast(pl.String)
    covered = pl.col(COVERED).fill_null(0)
    not_begun = pl.col(START) > as_of
    partial = ~not_begun & ~_is_month() & (pl.col(COUNTED) < pl.col(MONTHS_PAID).fill_null(0))
    back = ~not_begun & (pl.col(BACK_PAID).fill_null(False) if has_back else pl.lit(False))
    zh = [
        pl.when(not_begun).then(pl.lit(f"所属期晚于 {as_of}，不计")),
        pl.when(partial & (covered == 0)).then(
            pl.format(
                "年度合计 {} 个月，截至 {} 该年只过去 {} 个月，计 {} 个月",
                months,
                day,
                passed,
                counted,
            )
        ),
        pl.when(partial & (covered > 0)).then(
            pl.format(
                "年度合计 {} 个月，截至 {} 该年已过 {} 个月，其中 {} 个月以逐月记录为准，计 {} 个月",
                months,
                day,
                passed,
                covered.cast(pl.String),
                counted,
            )
        ),
        pl.when(back).then(pl.lit("补缴：计入累计月数，不计入连续缴费与正在缴纳")),
    ]
    en = [
        pl.when(not_begun).then(pl.lit(f"the period begins after {as_of}: not counted")),
        pl.when(partial & (covered == 0)).then(
            pl.format(
                "year total of {} months; only {} months of {} had passed by {}: counts {}",
                months,
                passed,
                year,
                day,
                counted,
            )
        ),
        pl.when(partial & (covered > 0)).then(
            pl.format(
                "year total of {} months; {} months of {} had passed by {}, {} of them told by "
                "month records: counts {}",
                months,
                passed,
                year,
                day,
                covered.cast(pl.String),
                counted,
            )
        ),
        pl.when(back).then(
            pl.lit("paid in arrears (补缴): counts in the total, not as continuous or current")
        ),
    ]

    def joined(parts: Sequence[pl.Expr]) -> pl.Expr:
        text = pl.concat_str(parts, separator="；", ignore_nulls=True)
        return pl.when(text != "").then(text)

    return [joined(zh).alias("note_zh"), joined(en).alias("note_en")]
