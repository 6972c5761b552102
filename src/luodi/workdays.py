"""The legal calendar in force: the kernel (``luodi.kernels.legal_calendar``) with the
city's calendar file (setting ``calendar_file``, docs/programs.md "Legal calendar").

The file is a CSV with the columns ``date`` (YYYY-MM-DD), ``kind`` (``holiday`` 放假 or
``workday`` 调休上班) and ``name`` (e.g. 国庆节, 调休上班): typically the State Council's
arrangement for a year luodi's holiday library does not have yet. A file with any bad row
is refused whole, each problem naming the file, row and column.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

import polars as pl

from luodi.kernels.legal_calendar import KINDS, CityDay, LegalCalendar
from luodi.kernels.text import FORBIDDEN_PATTERN
from luodi.settings import get_settings
from luodi.tabular import LINE, Problems, is_given, parse_date, read_csv_strings

COLUMNS = ("date", "kind", "name")
MAX_NAME = 50
FIRST_YEAR, LAST_YEAR = 1950, 2100
"""The years the holiday library computes (lunar dates included)."""


def read_city_days(path: Path) -> list[CityDay]:
    """The days of a city calendar file, or ``Invalid`` naming every bad row."""
    frame = read_csv_strings(path, COLUMNS)
    frame = frame.with_columns(parse_date("date").alias("_day"))
    problems = Problems()
    name = path.name
    problems.flag(name, frame, ~is_given("date"), "date", "日期不能为空", "the date must be given")
    problems.flag(
        name,
        frame,
        is_given("date") & pl.col("_day").is_null(),
        "date",
        "不是有效日期（应为 YYYY-MM-DD，且日历上有这一天）",
        "not a date (YYYY-MM-DD, a day that exists)",
    )
    problems.flag(
        name,
        frame,
        ~pl.col("_day").dt.year().is_between(FIRST_YEAR, LAST_YEAR),
        "date",
        f"年份应在 {FIRST_YEAR}–{LAST_YEAR} 之间",
        f"the year must be within {FIRST_YEAR}–{LAST_YEAR}",
    )
    problems.flag(
        name,
        frame,
        pl.col("_day").is_not_null() & pl.col("_day").is_duplicated(),
        "date",
        "同一日期出现多次",
        "the same date is given more than once",
    )
    problems.flag(
        name,
        frame,
        ~pl.col("kind").fill_null("").is_in(list(KINDS)),
        "kind",
        "应为 holiday（放假）或 workday（调休上班）",
        "must be holiday or workday (调休上班)",
    )
    problems.flag(name, frame, ~is_given("name"), "name", "名称不能为空", "the name must be given")
    problems.flag(
        name,
        frame,
        pl.col("name").str.len_chars() > MAX_NAME,
        "name",
        f"不能超过 {MAX_NAME} 个字符",
        f"must be at most {MAX_NAME} characters",
    )
    problems.flag(
        name,
        frame,
        pl.col("name").str.contains(FORBIDDEN_PATTERN),
        "name",
        "含有不可见的控制字符或方向控制字符",
        "contains an invisible control or bidirectional character",
    )
    problems.raise_if_any(f"日历文件 {name}", f"calendar file {name}")
    return [
        CityDay(day, kind, text)
        for day, kind, text in frame.sort(LINE).select("_day", "kind", "name").iter_rows()
    ]


@lru_cache(maxsize=4)
def _calendar(path: Path | None, content: str) -> LegalCalendar:
    # Keyed by the file's content too: an edited file is read again (a modification time
    # can stay the same across two quick writes).
    return LegalCalendar(read_city_days(path) if path is not None else ())


def current() -> LegalCalendar:
    """The calendar with the configured city file (none when the setting is empty); a
    missing or bad file is an ``Invalid`` naming it."""
    path = get_settings().calendar_file
    if path is None:
        return _calendar(None, "")
    content = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
    return _calendar(path, content)


CHINA_ZONE = "Asia/Shanghai"
"""The same for Polars, which converts by zone name."""
CHINA_TIME = timezone(timedelta(hours=8), "CST")
"""China Standard Time (UTC+8, no daylight saving): the day an event happened is the day
in China, whatever the server's zone."""


def local_day(moment: datetime) -> date:
    """The day in China of a stored (timezone-aware) moment; a naive one is taken as UTC
    (SQLite hands back what was stored)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(CHINA_TIME).date()


def utc_moments(moments: pl.Series) -> pl.Series:
    """Stored moments as UTC: SQLite may hand back naive ones (stored as UTC), PostgreSQL
    aware ones."""
    moments = moments.cast(pl.Datetime("us", moments.dtype.time_zone))  # type: ignore[union-attr]
    if moments.dtype.time_zone is None:  # type: ignore[union-attr]
        return moments.dt.replace_time_zone("UTC")
    return moments.dt.convert_time_zone("UTC")


def local_days(moments: pl.Series) -> pl.Series:
    """``local_day`` of a column of stored moments, in Polars."""
    return utc_moments(moments).dt.convert_time_zone(CHINA_ZONE).dt.date()


def today() -> date:
    """Today in China: the day deadlines, overdue lists and "in force today" are judged on,
    whatever the server's zone (between 00:00 and 08:00 in China a UTC server's date is
    still yesterday)."""
    return local_day(datetime.now(UTC))


def deadline(event_day: date, working_days: int) -> date:
    """The last day of a period of ``working_days`` working days after an event (a
    submission, an objection): the event's own day does not count and the period starts
    the next day (《民法典》第二百零一条: 开始的当日不计入，自下一日开始计算)."""
    return current().window_end(event_day + timedelta(days=1), working_days)


def deadlines(event_days: pl.Series, working_days: pl.Series) -> pl.Series:
    """``deadline`` of each (day, working days) pair, computed once per distinct pair: a
    list of many thousand applications has a few distinct days."""
    pairs = pl.DataFrame({"day": event_days, "n": working_days})
    distinct = pairs.unique().drop_nulls()
    calendar = current()
    due = distinct.with_columns(
        due=pl.Series(
            [calendar.window_end(day + timedelta(days=1), n) for day, n in distinct.iter_rows()],
            dtype=pl.Date,
        )
    )
    return pairs.join(due, on=["day", "n"], how="left", maintain_order="left")["due"]
