"""The legal calendar: which days are working days (工作日) in mainland China.

A day is a working day when it is Monday to Friday and not a holiday, or a Saturday or
Sunday the State Council has made a working day (调休上班). The holidays are

- the statutory days of 《全国年节及纪念日放假办法》 (2024 revision, 国务院令第795号)
  Art. 2: 元旦 1 January; 春节 农历除夕 and 正月初一至初三; 清明 (the solar term's day);
  劳动节 1–2 May; 端午 (农历五月初五); 中秋 (农历八月十五); 国庆 1–3 October — computed for
  any year by the ``holidays`` package, lunar dates included;
- Art. 6's 补假: a statutory day falling on a Saturday or Sunday is made up on a working
  day. For a year the State Council has published, the day it chose; for a year not yet
  published, the ``holidays`` package's estimate, the next working day;
- the State Council's yearly arrangement (国务院办公厅关于某年部分节假日安排的通知): the
  week-long breaks and the 调休 working weekends, as the ``holidays`` package transcribes
  them (2001 to the last year it has);
- the city's own days (``CityDay``), each of which decides its own date over all of the
  above: a city transcribing a notice the package does not have yet lists its days off and
  its 调休 working days, and marks ``workday`` an estimated 补假 the notice did not keep.
  (Each row decides its day only, so that adding a holiday never shortens a window.)

Pure: no database, no web. ``holidays`` is imported on first use, not at import time,
because it costs a third of a second and most commands never count days.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

DayKind = Literal["holiday", "workday"]
HOLIDAY: DayKind = "holiday"
WORKDAY: DayKind = "workday"
KINDS: tuple[DayKind, ...] = (HOLIDAY, WORKDAY)

WEEKEND_NAME = "周末"

MAX_SPAN_DAYS = 3660
"""A window longer than this many calendar days is refused (ten years): a sane window is
weeks long, and a city file that made every day a holiday must not make a loop endless."""


@dataclass(frozen=True)
class CityDay:
    """One day of the city's calendar file: a holiday or a working day (调休上班)."""

    day: date
    kind: DayKind
    name: str


@dataclass(frozen=True)
class _Year:
    days_off: dict[date, str]
    """Weekday holidays and named weekend holidays, with their names."""
    weekend_workdays: frozenset[date]
    published: bool
    """Whether the package has the State Council's arrangement for the year."""


def _library_year(year: int) -> tuple[dict[date, str], frozenset[date]]:
    """(every holiday with Art. 6 补假, weekend working days) of ``year`` as the
    ``holidays`` package gives them, named in Chinese."""
    import holidays  # on first use: see the module docstring

    observed = holidays.country_holidays("CN", years=year, language="zh_CN")
    workdays = frozenset(day for day in observed.weekend_workdays if day.year == year)
    return {day: str(name) for day, name in observed.items() if day.year == year}, workdays


class LegalCalendar:
    """Working days by law, the State Council's arrangements and the city's own days."""

    def __init__(self, city_days: Iterable[CityDay] = ()) -> None:
        self._city: dict[date, CityDay] = {}
        for city_day in city_days:
            if city_day.day in self._city:
                raise ValueError(f"{city_day.day} is given twice")
            self._city[city_day.day] = city_day
        self._city_years = {day.year for day in self._city}
        self._years: dict[int, _Year] = {}

    def _year(self, year: int) -> _Year:
        known = self._years.get(year)
        if known is not None:
            return known
        days_off, workdays = _library_year(year)
        # The package has a year's arrangement when it names a 调休 working weekend in it:
        # every notice since 2001 has had one. Without it, 补假 days are its estimates.
        made = _Year(days_off, workdays, bool(workdays))
        self._years[year] = made
        return made

    def is_working_day(self, day: date) -> bool:
        city = self._city.get(day)
        if city is not None:
            return city.kind == WORKDAY
        known = self._year(day.year)
        if day.weekday() >= 5:
            return day in known.weekend_workdays
        return day not in known.days_off

    def day_off_name(self, day: date) -> str | None:
        """Why ``day`` is not a working day (the holiday's name, or 周末), None if it is one."""
        if self.is_working_day(day):
            return None
        city = self._city.get(day)
        if city is not None:
            return city.name
        return self._year(day.year).days_off.get(day, WEEKEND_NAME)

    def is_published(self, year: int) -> bool:
        """Whether the year's arrangement is known: from the package or the city file."""
        return year in self._city_years or self._year(year).published

    def window_end(self, start: date, working_days: int) -> date:
        """The last day of a window of ``working_days`` working days from ``start``
        (``start`` counts when it is a working day)."""
        if working_days < 1:
            raise ValueError("a window has at least one working day")
        day, counted = start, 0
        for _ in range(MAX_SPAN_DAYS):
            if self.is_working_day(day):
                counted += 1
                if counted == working_days:
                    return day
            day += timedelta(days=1)
        raise ValueError(f"no {working_days} working days within {MAX_SPAN_DAYS} days of {start}")

    def working_days_between(self, start: date, end: date) -> int:
        """How many working days from ``start`` to ``end``, both included (0 when ``end``
        is before ``start``)."""
        if (end - start).days >= MAX_SPAN_DAYS:
            raise ValueError(f"more than {MAX_SPAN_DAYS} days from {start} to {end}")
        count, day = 0, start
        while day <= end:
            count += self.is_working_day(day)
            day += timedelta(days=1)
        return count
