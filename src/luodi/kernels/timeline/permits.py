"""The permit time line: a resident's current continuous residence span on a date.

《浙江省流动人口居住登记条例》Art. 19 (docs/policy.md, "The permit time line"): the residence
permit is endorsed (签注) once a year, in the month before each anniversary of its issue; a
late endorsement suspends the permit's functions until it is made, and the years of residence
count again from the late endorsement's date. An expired or cancelled permit ends the count;
a new permit starts a new span.

As luodi reads it (each point is tested in tests/kernels/timeline/test_permits.py):

* A span starts on a permit's issue date.
* Anniversaries are those of the issue date (29 February falls on 28 February in common
  years, the day 民法典 Art. 202 and ``years_between`` complete a year). An anniversary falling on or after the
  expiry date asks for no endorsement: the permit ends there.
* An endorsement dated in the ``ENDORSEMENT_WINDOW_DAYS`` (30) days up to and including an
  anniversary keeps the permit valid past it. With none, the permit is suspended from the
  anniversary itself.
* The first endorsement after the anniversary restores the permit and the span restarts on
  its date. (An endorsement is one act: a late one that also falls in the next anniversary's
  window covers that anniversary too.)
* A permit is valid up to and including its expiry date, whatever its status says now (an
  expired permit was valid on every earlier day: a retrospective date reads it so).
* A cancelled permit ends on its ``status_date`` (the first day it no longer holds) when the
  frame has one. Without a date it ended no later than the next permit's issue, or than the
  as-of date for the latest permit (the department tells the status now, not since when);
  its reason then says the date was not reported.
* Cancellation always ends the span: the next permit starts a new one on its issue date.
* A new permit issued while the previous one is still valid and not cancelled (issue date
  on or before the old expiry date: renewal, no day without a valid permit) carries the
  span on. Issued after the old one expired, or over a suspended one, it starts a new span.
  ASSUMPTION (the regulation speaks of a new permit after one has ended; a renewal with no
  gap is continuous residence): docs/policy.md says so.

Everything is column-wise, one lazy Polars query for the whole population: no Python loop
over residents, nor over anniversaries (which anniversaries were endorsed in time is a bit
mask per permit).
"""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum

import polars as pl

from luodi.kernels.policy.expressions import corresponding_day_expr
from luodi.kernels.small import engine_for, small_memo

ENDORSEMENT_WINDOW_DAYS = 30
"""An endorsement up to this many days before an anniversary (and on it) is in time."""
MAX_ANNIVERSARIES = 61
"""Anniversaries tracked per permit (bits 1–61 of an Int64 mask); no permit runs 61 years."""

RESIDENT = "resident_id"
NUMBER = "permit_number"


class PermitState(StrEnum):
    VALID = "valid"  # 有效
    SUSPENDED = "suspended"  # 中止（逾期未签注）
    EXPIRED = "expired"  # 已过期
    CANCELLED = "cancelled"  # 已注销
    NONE = "none"  # 无居住证


STATE_LABELS: dict[PermitState, str] = {
    PermitState.VALID: "有效",
    PermitState.SUSPENDED: "中止（逾期未签注）",
    PermitState.EXPIRED: "已过期",
    PermitState.CANCELLED: "已注销",
    PermitState.NONE: "无居住证",
}

PERMIT_SCHEMA: dict[str, pl.DataType] = {
    RESIDENT: pl.Int64(),
    NUMBER: pl.String(),
    "issue_date": pl.Date(),
    "expiry_date": pl.Date(),
    "status": pl.String(),
}
"""Columns ``permit_timeline`` needs of permits; ``status_date`` (pl.Date) is optional."""
ENDORSEMENT_SCHEMA: dict[str, pl.DataType] = {
    RESIDENT: pl.Int64(),
    NUMBER: pl.String(),
    "endorsed_on": pl.Date(),
}
TIMELINE_SCHEMA: dict[str, pl.DataType] = {
    RESIDENT: pl.Int64(),
    NUMBER: pl.String(),
    "span_start": pl.Date(),
    "permit_state": pl.String(),
    "permit_valid": pl.Boolean(),
    "next_endorsement_due": pl.Date(),
    "suspended_since": pl.Date(),
    "reason_zh": pl.String(),
    "reason_en": pl.String(),
}
"""One row per resident with a permit issued by the date; a resident absent from it has
state ``none``."""


def _completed_years(start: pl.Expr, end: pl.Expr) -> pl.Expr:
    """Completed years from ``start`` to ``end`` (``end`` ≥ ``start``), as ``years_between``."""
    before_in_year = (end.dt.month().cast(pl.Int32) * 100 + end.dt.day().cast(pl.Int32)) < (
        start.dt.month().cast(pl.Int32) * 100 + corresponding_day_expr(start, end, same_month=False)
    )
    return (
        end.dt.year().cast(pl.Int64)
        - start.dt.year().cast(pl.Int64)
        - before_in_year.cast(pl.Int64)
    )


def anniversary_expr(issue: pl.Expr, years: pl.Expr | int) -> pl.Expr:
    """The ``years``-th anniversary of ``issue`` (29 February → 28 February in common years), as
    ``luodi.kernels.calendar.years_after`` computes one date. Give ``years`` as a number or
    a plain column: the expression repeats it (Polars does not share nested expressions)."""
    shifted = issue.dt.offset_by(
        f"{years}y" if isinstance(years, int) else pl.format("{}y", years.cast(pl.Int64))
    )
    # offset_by puts 29 February on the 28th in common years, where 民法典 Art. 202 ends the
    # year ("没有对应日的，月末日为期间的最后一日").
    return shifted


def _covered_anniversary(issue: pl.Expr, day: pl.Expr) -> pl.Expr:
    """The number (≥ 1) of the first anniversary on or after ``day``, the one an endorsement
    on that day could be in time for: the years completed by the day, less one when the day
    is itself an anniversary (a year completed on it, not the day before). Integer arithmetic
    on the date parts; no date is built."""
    completed = _completed_years(issue, day)
    on_anniversary = (completed > _completed_years(issue, day - timedelta(days=1))) & (
        completed >= 1
    )
    return completed + 1 - on_anniversary.cast(pl.Int64)


def _same_resident(offset: int) -> pl.Expr:
    # Rows are sorted by resident: a neighbour ``offset`` rows away is the same resident's
    # permit when the ids match (a global shift, much faster than a window per resident).
    return pl.col(RESIDENT).shift(offset) == pl.col(RESIDENT)


def _bits_up_to(count: pl.Expr) -> pl.Expr:
    """2 ** (count + 1): less one, the mask of bits 0…count."""
    return pl.lit(2, pl.Int64).pow(count.cast(pl.Int64) + 1)


def _has_bit(mask: pl.Expr, bit: pl.Expr | int) -> pl.Expr:
    power = pl.lit(2, pl.Int64).pow(pl.lit(bit, pl.Int64) if isinstance(bit, int) else bit)
    return (mask // power) % 2 == 1


@small_memo
def permit_timeline(
    permits: pl.DataFrame, endorsements: pl.DataFrame, as_of: date, *, reasons: bool = True
) -> pl.DataFrame:
    """Each resident's current span on ``as_of`` (``TIMELINE_SCHEMA``), from their permits
    (``PERMIT_SCHEMA`` [+ ``status_date``]) and endorsements (``ENDORSEMENT_SCHEMA``).
    Permits issued after ``as_of`` and endorsements dated after it are not known yet.
    ``reasons=False`` leaves the reasons empty: a city's scoring reads none of them, and
    writing them is most of the work (explanations ask for one resident's)."""
    day = timedelta(days=1)
    window = timedelta(days=ENDORSEMENT_WINDOW_DAYS)
    status_date = (
        pl.col("status_date").cast(pl.Date)
        if "status_date" in permits.columns
        else pl.lit(None, pl.Date).alias("status_date")
    )
    chain = (
        permits.lazy()
        .select(*[pl.col(name).cast(kind) for name, kind in PERMIT_SCHEMA.items()], status_date)
        .filter(pl.col("issue_date") <= as_of)
        .sort(RESIDENT, "issue_date", NUMBER)
        .with_columns(
            next_issue=pl.when(_same_resident(-1)).then(pl.col("issue_date").shift(-1)),
            previous_number=pl.when(_same_resident(1)).then(pl.col(NUMBER).shift(1)),
            previous_status=pl.when(_same_resident(1)).then(pl.col("status").shift(1)),
            previous_expiry=pl.when(_same_resident(1)).then(pl.col("expiry_date").shift(1)),
        )
        .with_columns(
            # Each permit is looked at on the last day it governs: the day before its
            # successor's issue, or the as-of date for the latest permit.
            at=pl.coalesce(pl.col("next_issue") - day, pl.lit(as_of)),
            # The first day it no longer holds: after expiry (an expired permit was valid
            # before: its status is today's), on cancellation (its date, else by the next
            # permit's issue or the as-of date: when is not known).
            end=pl.min_horizontal(
                pl.col("expiry_date") + day,
                pl.when(pl.col("status") == PermitState.CANCELLED).then(
                    pl.coalesce("status_date", pl.col("next_issue"), pl.lit(as_of, pl.Date))
                ),
            ),
        )
        .with_columns(
            # Anniversaries that ask for an endorsement by ``at``: reached, before expiry.
            due_count=pl.when(pl.col("at") >= pl.col("issue_date"))
            .then(
                pl.min_horizontal(
                    _completed_years(pl.col("issue_date"), pl.col("at")),
                    _completed_years(pl.col("issue_date"), pl.col("expiry_date") - day),
                    pl.lit(MAX_ANNIVERSARIES),
                )
            )
            .otherwise(0)
            .clip(lower_bound=0),
        )
        .with_row_index("permit", offset=0)
        .with_columns(pl.col("permit").cast(pl.Int64))
    )
    # One lazy query, collected once (Polars' lazy group-by and joins take a fraction of the
    # eager ones' time on millions of endorsements). Endorsements by permit (an integer
    # index: joins and groups on it are cheap), only those of the permit's holder, on or
    # after its issue and by the last day it governs.
    endorsed = (
        endorsements.lazy()
        .select(*[pl.col(name).cast(kind) for name, kind in ENDORSEMENT_SCHEMA.items()])
        .join(
            chain.select(RESIDENT, NUMBER, "permit", "issue_date", "at"),
            on=[RESIDENT, NUMBER],
            how="inner",
        )
        .filter(pl.col("endorsed_on").is_between(pl.col("issue_date"), pl.col("at")))
        .with_columns(
            # The anniversary reached within 30 days of the endorsement (years completed by
            # then) is one it is in time for when it was not reached the day before it.
            covers=_completed_years(pl.col("issue_date"), pl.col("endorsed_on") + window),
            before=_completed_years(pl.col("issue_date"), pl.col("endorsed_on") - day),
        )
        .select(
            "permit",
            "endorsed_on",
            # Bit k set: the k-th anniversary had an endorsement in time.
            bit=pl.when(
                (pl.col("covers") > pl.col("before"))
                & pl.col("covers").is_between(1, MAX_ANNIVERSARIES)
            )
            .then(pl.lit(2, pl.Int64).pow(pl.col("covers")))
            .otherwise(0),
        )
    )
    per_permit = endorsed.group_by("permit").agg(
        covered=pl.col("bit").bitwise_or(), last_endorsed=pl.col("endorsed_on").max()
    )
    # Joins keep the chain's order: previous rows and the forward fill below read neighbours
    # (the streaming engine does not keep it unless asked).
    chain = chain.join(per_permit, on="permit", how="left", maintain_order="left").with_columns(
        pl.col("covered").fill_null(0)
    )
    # Bits 1…due_count not covered: the anniversaries missed. The latest is the highest bit;
    # a suspension runs from the first one missed after the last endorsement (the k-th comes
    # after it when fewer than k years were completed on its date): the lowest bit above.
    chain = chain.with_columns(
        missed=~pl.col("covered") & (_bits_up_to(pl.col("due_count")) - 1 - 1),
        endorsed_years=_completed_years(pl.col("issue_date"), pl.col("last_endorsed"))
        .fill_null(0)
        .clip(upper_bound=MAX_ANNIVERSARIES),
    ).with_columns(
        missed_count=pl.when(pl.col("missed") != 0).then(
            63 - pl.col("missed").bitwise_leading_zeros().cast(pl.Int64)
        ),
        missed_after=pl.col("missed") & ~(_bits_up_to(pl.col("endorsed_years")) - 1),
    )
    chain = chain.with_columns(
        missed_on=anniversary_expr(pl.col("issue_date"), pl.col("missed_count")),
        suspended_on=anniversary_expr(
            pl.col("issue_date"),
            pl.when(pl.col("missed_after") != 0).then(
                pl.col("missed_after").bitwise_trailing_zeros().cast(pl.Int64)
            ),
        ),
    )
    # The first endorsement after the latest missed anniversary restores the permit.
    restored = (
        endorsed.join(
            chain.filter(pl.col("missed_on").is_not_null()).select("permit", "missed_on"),
            on="permit",
            how="inner",
        )
        .filter(pl.col("endorsed_on") > pl.col("missed_on"))
        .group_by("permit")
        .agg(restored_on=pl.col("endorsed_on").min())
    )
    chain = chain.join(restored, on="permit", how="left", maintain_order="left")
    if reasons:
        # The endorsement before the restoring one: the suspension began at the first
        # anniversary missed after it (a reason says since when, not only the latest
        # missed). Only reasons read it: a city's scoring skips the join.
        prior = (
            endorsed.join(restored, on="permit", how="inner")
            .filter(pl.col("endorsed_on") < pl.col("restored_on"))
            .group_by("permit")
            .agg(prior_endorsed=pl.col("endorsed_on").max())
        )
        gap = pl.col("missed") & ~(
            _bits_up_to(
                _completed_years(pl.col("issue_date"), pl.col("prior_endorsed"))
                .fill_null(0)
                .clip(upper_bound=MAX_ANNIVERSARIES)
            )
            - 1
        )
        chain = (
            chain.join(prior, on="permit", how="left", maintain_order="left")
            .with_columns(gap=gap)
            .with_columns(
                suspended_from=pl.when(pl.col("restored_on").is_not_null() & (pl.col("gap") != 0))
                .then(
                    anniversary_expr(
                        pl.col("issue_date"),
                        pl.col("gap").bitwise_trailing_zeros().cast(pl.Int64),
                    )
                )
                .otherwise("missed_on")
            )
        )

    cancelled = (pl.col("status") == PermitState.CANCELLED) & (
        pl.col("end") <= pl.col("expiry_date")
    )
    state = (
        pl.when(pl.col("at") < pl.col("issue_date"))
        .then(pl.lit(PermitState.NONE))
        .when(pl.col("at") >= pl.col("end"))
        .then(
            pl.when(cancelled)
            .then(pl.lit(PermitState.CANCELLED))
            .otherwise(pl.lit(PermitState.EXPIRED))
        )
        .when(pl.col("missed_on").is_not_null() & pl.col("restored_on").is_null())
        .then(pl.lit(PermitState.SUSPENDED))
        .otherwise(pl.lit(PermitState.VALID))
    )
    chain = chain.with_columns(state=state).with_columns(
        own_start=pl.when(pl.col("state") == PermitState.VALID).then(
            pl.coalesce("restored_on", "issue_date")
        ),
        previous_state=pl.when(_same_resident(1)).then(pl.col("state").shift(1)),
    )
    # Only a renewal carries the span on: issued while the previous permit was valid (on or
    # before its expiry date), that one not cancelled (a cancellation always ends the span).
    continues = (
        (pl.col("previous_state") == PermitState.VALID)
        & (pl.col("previous_status") != PermitState.CANCELLED)
        & (pl.col("issue_date") <= pl.col("previous_expiry"))
    ).fill_null(False)
    # How the previous permit ended, as the new span's reason tells it.
    previous_how = (
        pl.when(pl.col("previous_status") == PermitState.CANCELLED)
        .then(pl.lit(PermitState.CANCELLED.value))
        .when(pl.col("issue_date") > pl.col("previous_expiry"))
        .then(pl.lit(PermitState.EXPIRED.value))
        .otherwise(pl.col("previous_state"))
    )
    late = pl.col("restored_on").is_not_null()
    own_zh = (
        pl.when(late)
        .then(
            pl.format(
                "逾期签注 {} 恢复居住证 {}，居住年限自该日重新计算（自 {} 周年未按时签注起中止）",
                "restored_on",
                NUMBER,
                "suspended_from",
            )
        )
        .when(pl.col("previous_number").is_not_null())
        .then(
            pl.format(
                "前证 {} 已{}，新证 {} 于 {} 签发，重新计算",
                "previous_number",
                previous_how.replace_strict(_PAST_ZH, default="失效"),
                NUMBER,
                "issue_date",
            )
        )
        .otherwise(pl.format("居住证 {} 于 {} 签发", NUMBER, "issue_date"))
    )
    own_en = (
        pl.when(late)
        .then(
            pl.format(
                "late endorsement {} restored permit {} and restarted the count "
                "(suspended since anniversary {} passed without endorsement)",
                "restored_on",
                NUMBER,
                "suspended_from",
            )
        )
        .when(pl.col("previous_number").is_not_null())
        .then(
            pl.format(
                "new permit {} issued {} after permit {} {}",
                NUMBER,
                "issue_date",
                "previous_number",
                previous_how.replace_strict(_PAST_EN, default="ended"),
            )
        )
        .otherwise(pl.format("permit {} issued {}", NUMBER, "issue_date"))
    )
    anchor = (pl.col("state") == PermitState.VALID) & (~continues | late)
    chain = chain.with_columns(
        anchor_start=pl.when(anchor).then("own_start"),
        anchor_zh=pl.when(anchor).then(own_zh) if reasons else pl.lit(None, pl.String),
        anchor_en=pl.when(anchor).then(own_en) if reasons else pl.lit(None, pl.String),
        anchor_number=pl.when(anchor).then(NUMBER),
    ).with_columns(
        # A valid row that is no anchor continues its resident's previous row, itself valid:
        # the fill never crosses to another resident where it is read.
        pl.col("anchor_start", "anchor_zh", "anchor_en", "anchor_number").forward_fill()
    )

    # The latest permit issued by the date decides; what came before is in its anchor.
    # The next anniversary on or after the date, or the one after it when already endorsed.
    current = (
        chain.filter(pl.col("next_issue").is_null())
        .with_columns(upcoming=_covered_anniversary(pl.col("issue_date"), pl.lit(as_of, pl.Date)))
        .with_columns(
            pl.col("upcoming")
            + _has_bit(
                pl.col("covered"), pl.col("upcoming").clip(upper_bound=MAX_ANNIVERSARIES)
            ).cast(pl.Int64)
        )
        .with_columns(due=anniversary_expr(pl.col("issue_date"), pl.col("upcoming")))
    )
    valid = pl.col("state") == PermitState.VALID
    renewed = valid & (pl.col("anchor_number") != pl.col(NUMBER))
    due = pl.col("due")
    reason_zh = (
        pl.when(renewed)
        .then(
            pl.format("{}；换发居住证 {}（{}）无间断，连续计算", "anchor_zh", NUMBER, "issue_date")
        )
        .when(valid)
        .then("anchor_zh")
        .when(pl.col("state") == PermitState.SUSPENDED)
        .then(
            pl.format(
                "居住证 {} 于 {} 周年未签注，自该日中止，居住年限不计", NUMBER, "suspended_on"
            )
        )
        .when(pl.col("state") == PermitState.CANCELLED)
        .then(
            pl.format(
                "居住证 {} 已注销（{}），居住年限终止",
                NUMBER,
                pl.coalesce(pl.col("status_date").cast(pl.String), pl.lit("注销日期未报送")),
            )
        )
        .otherwise(pl.format("居住证 {} 已于 {} 过期，居住年限终止", NUMBER, "expiry_date"))
    )
    reason_en = (
        pl.when(renewed)
        .then(
            pl.format(
                "{}; renewed as permit {} on {} without a gap, counted on",
                "anchor_en",
                NUMBER,
                "issue_date",
            )
        )
        .when(valid)
        .then("anchor_en")
        .when(pl.col("state") == PermitState.SUSPENDED)
        .then(
            pl.format(
                "permit {} suspended since anniversary {} passed without endorsement",
                NUMBER,
                "suspended_on",
            )
        )
        .when(pl.col("state") == PermitState.CANCELLED)
        .then(
            pl.format(
                "permit {} cancelled ({}): the count ended",
                NUMBER,
                pl.coalesce(
                    pl.col("status_date").cast(pl.String),
                    pl.lit("date of cancellation not reported"),
                ),
            )
        )
        .otherwise(pl.format("permit {} expired on {}: the count ended", NUMBER, "expiry_date"))
    )
    timeline = current.select(
        RESIDENT,
        NUMBER,
        span_start=pl.when(valid).then("anchor_start"),
        permit_state="state",
        permit_valid=valid,
        next_endorsement_due=pl.when(valid & (due < pl.col("expiry_date"))).then(due),
        suspended_since=pl.when(pl.col("state") == PermitState.SUSPENDED).then("suspended_on"),
        reason_zh=reason_zh if reasons else pl.lit(None, pl.String),
        reason_en=reason_en if reasons else pl.lit(None, pl.String),
    )
    return timeline.cast(TIMELINE_SCHEMA).collect(  # type: ignore[arg-type]
        engine=engine_for(permits.height + endorsements.height)
    )


_PAST_ZH = {
    PermitState.EXPIRED.value: "过期",
    PermitState.CANCELLED.value: "注销",
    PermitState.SUSPENDED.value: "中止（逾期未签注）",
    PermitState.NONE.value: "失效",
}
_PAST_EN = {
    PermitState.EXPIRED.value: "expired",
    PermitState.CANCELLED.value: "was cancelled",
    PermitState.SUSPENDED.value: "was suspended (not endorsed in time)",
    PermitState.NONE.value: "ended",
}
