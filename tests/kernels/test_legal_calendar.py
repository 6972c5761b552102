"""The legal calendar kernel: statutory holidays (《全国年节及纪念日放假办法》 2024 revision),
the State Council's published arrangements (调休) through the ``holidays`` package, and the
city's own days; working-day windows held to their definition by Hypothesis."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from luodi.kernels.legal_calendar import HOLIDAY, WORKDAY, CityDay, LegalCalendar

CALENDAR = LegalCalendar()

days = st.dates(date(2001, 1, 1), date(2099, 12, 31))
lengths = st.integers(1, 30)


def monday_to_friday_end(start: date, working_days: int) -> date:
    """What luodi computed before: weekends only."""
    day, counted = start, 0
    while True:
        if day.weekday() < 5:
            counted += 1
            if counted == working_days:
                return day
        day += timedelta(days=1)


def test_a_notice_from_27_september_2027_does_not_end_on_national_day() -> None:
    # 2027 is not published in the package: 国庆 1–3 October are statutory (Art. 2), and
    # 2 and 3 October fall on the weekend, made up (Art. 6) on Monday 4 and Tuesday 5.
    start = date(2027, 9, 27)
    assert monday_to_friday_end(start, 5) == date(2027, 10, 1)
    assert [CALENDAR.is_working_day(date(2027, 10, d)) for d in range(1, 7)] == [
        False,
        False,
        False,
        False,
        False,
        True,
    ]
    assert CALENDAR.day_off_name(date(2027, 10, 1)) == "国庆节"
    assert CALENDAR.window_end(start, 5) == date(2027, 10, 6)
    assert CALENDAR.working_days_between(start, date(2027, 10, 6)) == 5


def test_a_notice_from_4_february_2027_does_not_run_across_the_spring_festival() -> None:
    # 春节 2027: 除夕 Friday 5 February, 正月初一 Saturday 6 February; 初一 and 初二 fall on the
    # weekend and are made up on Tuesday 9 and Wednesday 10 (Art. 6, the package's estimate).
    start = date(2027, 2, 4)
    assert monday_to_friday_end(start, 5) == date(2027, 2, 10)
    assert CALENDAR.day_off_name(date(2027, 2, 5)) == "农历除夕"
    assert CALENDAR.day_off_name(date(2027, 2, 8)) == "春节"
    assert not any(CALENDAR.is_working_day(date(2027, 2, d)) for d in range(5, 11))
    assert CALENDAR.window_end(start, 5) == date(2027, 2, 16)


def test_a_published_year_counts_its_adjusted_saturday_and_its_week_long_break() -> None:
    # 国务院办公厅关于2026年部分节假日安排的通知: 国庆 and 中秋 1–7 October off (Thursday to
    # Wednesday), Sunday 20 September and Saturday 10 October are working days.
    assert CALENDAR.is_published(2026)
    saturday = date(2026, 10, 10)
    assert saturday.weekday() == 5 and CALENDAR.is_working_day(saturday)
    assert CALENDAR.is_working_day(date(2026, 9, 20))
    assert not any(CALENDAR.is_working_day(date(2026, 10, d)) for d in range(1, 8))
    # Monday 28 September: 28, 29, 30 September, 8, 9 October.
    assert CALENDAR.window_end(date(2026, 9, 28), 5) == date(2026, 10, 9)
    # From Thursday 8 October the adjusted Saturday is the third working day.
    assert CALENDAR.window_end(date(2026, 10, 8), 3) == saturday
    assert CALENDAR.working_days_between(date(2026, 10, 5), date(2026, 10, 11)) == 3
    # 2025's Spring Festival: 28 January to 4 February off, Sunday 26 January and Saturday
    # 8 February working days.
    assert CALENDAR.is_working_day(date(2025, 1, 26))
    assert CALENDAR.is_working_day(date(2025, 2, 8))
    assert not any(CALENDAR.is_working_day(date(2025, 1, d)) for d in range(28, 32))
    assert CALENDAR.window_end(date(2025, 1, 27), 2) == date(2025, 2, 5)


def test_the_package_publishes_every_year_from_2001_and_computes_later_years() -> None:
    assert all(CALENDAR.is_published(year) for year in range(2001, 2027))
    assert not CALENDAR.is_published(2031)
    # 2031, statutory days only: 春节 正月初一 is Thursday 23 January 2031, 除夕 the 22nd.
    assert CALENDAR.day_off_name(date(2031, 1, 22)) == "农历除夕"
    assert CALENDAR.day_off_name(date(2031, 1, 24)) == "春节"
    assert not any(CALENDAR.is_working_day(day) for day in (date(2031, 5, 1), date(2031, 5, 2)))
    assert CALENDAR.is_working_day(date(2031, 5, 5))


def test_a_city_day_overrides_the_package() -> None:
    # The city transcribes a newer notice for 2027: 1–7 October off, Saturday 9 October worked.
    notice = [
        *(CityDay(date(2027, 10, d), HOLIDAY, "国庆节") for d in range(1, 8)),
        CityDay(date(2027, 9, 26), WORKDAY, "调休上班"),
        CityDay(date(2027, 10, 9), WORKDAY, "调休上班"),
    ]
    city = LegalCalendar(notice)
    assert city.is_published(2027)
    assert city.is_working_day(date(2027, 9, 26))  # a Sunday
    # 27–30 September, then Friday 8 October; from there the Saturday counts.
    assert city.window_end(date(2027, 9, 27), 5) == date(2027, 10, 8)
    assert city.window_end(date(2027, 10, 8), 2) == date(2027, 10, 9)
    assert city.day_off_name(date(2027, 10, 6)) == "国庆节"
    # A holiday on a published year's working day; a published holiday made a working day.
    city = LegalCalendar(
        [
            CityDay(date(2026, 12, 1), HOLIDAY, "台风停工"),
            CityDay(date(2026, 10, 7), WORKDAY, "调休上班"),
        ]
    )
    assert not city.is_working_day(date(2026, 12, 1))
    assert city.day_off_name(date(2026, 12, 1)) == "台风停工"
    assert city.is_working_day(date(2026, 10, 7))
    assert CALENDAR.is_working_day(date(2026, 12, 1))


def test_a_city_workday_cancels_an_estimate_and_nothing_else() -> None:
    # The package's 补假 estimate for 2027 (Monday 4 October) is not the city's notice's:
    # the city marks it a working day; the statutory days and other estimates stand.
    assert not CALENDAR.is_working_day(date(2027, 10, 4))
    city = LegalCalendar([CityDay(date(2027, 10, 4), WORKDAY, "上班")])
    assert city.is_working_day(date(2027, 10, 4))
    assert city.day_off_name(date(2027, 10, 4)) is None
    assert not city.is_working_day(date(2027, 10, 1))
    assert not city.is_working_day(date(2027, 10, 5))
    assert city.window_end(date(2027, 9, 27), 5) == date(2027, 10, 4)


def test_a_date_given_twice_or_a_window_of_no_days_is_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        LegalCalendar(
            [CityDay(date(2027, 1, 4), HOLIDAY, "a"), CityDay(date(2027, 1, 4), WORKDAY, "b")]
        )
    with pytest.raises(ValueError, match="at least one"):
        CALENDAR.window_end(date(2027, 1, 4), 0)


@given(days, lengths)
def test_a_window_holds_exactly_its_working_days_and_ends_on_one(start: date, n: int) -> None:
    end = CALENDAR.window_end(start, n)
    assert CALENDAR.is_working_day(end)
    assert CALENDAR.working_days_between(start, end) == n
    assert CALENDAR.working_days_between(start, end - timedelta(days=1)) == n - 1
    # Never shorter than weekends alone make it, and holidays are at most a few weeks a year.
    assert monday_to_friday_end(start, n) <= end or _has_weekend_workday(start, end)
    assert (end - start).days < 2 * n + 30


def _has_weekend_workday(start: date, end: date) -> bool:
    return any(
        CALENDAR.is_working_day(day) and day.weekday() >= 5
        for day in (start + timedelta(days=k) for k in range((end - start).days + 1))
    )


@given(days, lengths, st.integers(0, 60))
def test_adding_a_holiday_never_ends_a_window_earlier(start: date, n: int, offset: int) -> None:
    extra = start + timedelta(days=offset)
    kept = CALENDAR.window_end(start, n)
    city = LegalCalendar([CityDay(extra, HOLIDAY, "停工")])
    moved = city.window_end(start, n)
    assert moved >= kept
    # It moves exactly when it takes away one of the window's working days.
    takes_one = start <= extra <= kept and CALENDAR.is_working_day(extra)
    assert (moved > kept) == takes_one


@given(days, days)
def test_working_days_between_adds_up(first: date, second: date) -> None:
    start, end = min(first, second), max(first, second)
    if (end - start).days > 800:
        end = start + timedelta(days=800)
    middle = start + (end - start) / 2
    total = CALENDAR.working_days_between(start, end)
    assert total == CALENDAR.working_days_between(start, middle) + CALENDAR.working_days_between(
        middle + timedelta(days=1), end
    )
    assert CALENDAR.working_days_between(end + timedelta(days=1), end) == 0
