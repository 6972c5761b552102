"""Calendar arithmetic shared by the synthetic city and the fact windows."""

from __future__ import annotations

from datetime import date


def years_before(day: date, years: int) -> date:
    """The same day ``years`` earlier; 29 February falls back to the 28th."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def years_after(day: date, years: int) -> date:
    """The ``years``-th anniversary of ``day``; 29 February falls on 28 February in common
    years, the day 民法典 Art. 202 ends a year ("没有对应日的，月末日为期间的最后一日") and
    ``years_between`` (policy expressions) counts it completed."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return date(day.year + years, 2, 28)
