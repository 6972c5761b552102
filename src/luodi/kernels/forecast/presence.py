"""When a child's family was known to the city: from its parents' residence permits.

One definition, shared by the synthetic city (which counts its past school applicants with it)
and the forecast's data layer (which reads the registry with it), so that the registry as of a
past date reproduces the cohort that applied then. Pure: frames in, a frame out.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

PRESENCE_SCHEMA = {
    "child_id": pl.Int64,
    "birth_date": pl.Date,
    "town_code": pl.String,
    "present_from": pl.Date,
    "present_until": pl.Date,
}
"""``family_presence``'s columns (see ``ForecastHistory.children``)."""

CYCLE_COUNT_DAY = (4, 30)
"""(month, day): a school year's entry cohort is the children whose family the city knows on
30 April of that year. ASSUMPTION: 义务教育 enrolment in Zhejiang takes applications in spring
and closes them in May; a reported intake without its cycle's date is read as counted then."""


def permit_spans(permits: pl.DataFrame, today: date) -> pl.DataFrame:
    """``holder, town_code, issue_date, end`` of each permit (``family_presence``'s
    ``permits``), sorted by holder and issue: ``end`` the first day it no longer holds."""
    day = timedelta(days=1)
    return (
        permits.sort("holder", "issue_date")
        # The holder's next permit: the next row when it is the same holder's (sorted; a
        # window ``over`` the holder costs twenty times as much at a million).
        .with_columns(
            next_issue=pl.when(pl.col("holder").shift(-1) == pl.col("holder")).then(
                pl.col("issue_date").shift(-1)
            )
        )
        .select(
            "holder",
            "town_code",
            "issue_date",
            end=pl.min_horizontal(
                pl.col("expiry_date") + day,
                pl.when(pl.col("status") == "cancelled").then(
                    pl.coalesce("status_date", "next_issue", pl.lit(today, pl.Date))
                ),
            ),
        )
    )


def family_presence(children: pl.DataFrame, permits: pl.DataFrame, today: date) -> pl.DataFrame:
    """Per child: ``child_id, birth_date, town_code, present_from, present_until``.

    ``children``: ``child_id`` (Int64), ``birth_date``, ``parent`` and ``second_parent`` (the
    holders' keys, any one type; the second null when not a resident) and ``household_town``
    (the town when no parent ever held a permit). ``permits``: ``holder`` (the same key),
    ``town_code``, ``issue_date``, ``expiry_date``, ``status``, ``status_date`` (nullable).

    A permit holds from its issue date up to and including its expiry date, and no longer
    from a cancellation's ``status_date`` — without one, from the holder's next permit's issue
    or ``today`` (as ``kernels.timeline.permits`` reads a cancellation whose date was not
    reported). ``present_from`` is the earliest issue of either parent's permits, ``present_until``
    the first day none holds any more — null when one still holds after ``today``; a gap
    between two stays is not subtracted (ASSUMPTION: the contract of ``ForecastHistory``).
    ``town_code`` is the town of the parents' latest permit — latest issued, then latest
    ended, then the registering parent's (``parent``) — else ``household_town``.
    """
    ends = permit_spans(permits, today)
    links = pl.concat(
        [
            children.select("child_id", holder="parent", second=pl.lit(1, pl.Int8)),
            children.select("child_id", holder="second_parent", second=pl.lit(0, pl.Int8)),
        ]
    ).drop_nulls()
    known = (
        links.join(ends, on="holder", how="inner")
        .group_by("child_id")
        .agg(
            present_from=pl.col("issue_date").min(),
            last_end=pl.col("end").max(),
            # The latest permit; of two alike, the registering parent's.
            permit_town=pl.col("town_code").sort_by("issue_date", "end", "second").last(),
        )
    )
    return (
        children.select("child_id", "birth_date", "household_town")
        .join(known, on="child_id", how="left")
        .select(
            pl.col("child_id").cast(pl.Int64),
            pl.col("birth_date").cast(pl.Date),
            town_code=pl.coalesce("permit_town", "household_town").cast(pl.String),
            present_from=pl.col("present_from").cast(pl.Date),
            present_until=pl.when(pl.col("last_end") <= pl.lit(today, pl.Date))
            .then(pl.col("last_end"))
            .cast(pl.Date),
        )
    )


def present_on(day: date) -> pl.Expr:
    """Children of ``family_presence`` whose family the city knew on ``day``, born by then."""
    return (
        (pl.col("present_from") <= day)
        & (pl.col("present_until").is_null() | (pl.col("present_until") > day))
        & (pl.col("birth_date") <= day)
    )


def entry_age_born(school_year: int, age: int) -> tuple[date, date]:
    """Births (first, last day, inclusive) of the children ``age`` by 31 August of
    ``school_year`` and not yet ``age + 1``: the entry cohort (``ENTRY_GRADES``)."""
    return date(school_year - age - 1, 9, 1), date(school_year - age, 8, 31)
