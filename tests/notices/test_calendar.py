"""Notice windows by the legal calendar, on SQLite and PostgreSQL: the end date skips
statutory holidays and counts 调休 weekends, the city's calendar file decides its days, the
same end date is stored, shown by the CLI and served by the API; a bad calendar file is
refused naming file, row and column."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from luodi import workdays
from luodi.auth.actor import SYSTEM_ACTOR
from luodi.db import session_scope
from luodi.errors import Invalid
from luodi.kernels.legal_calendar import HOLIDAY, WORKDAY, LegalCalendar
from luodi.notices import service
from luodi.registry import service as registry
from luodi.settings import SHIPPED_CALENDAR_FILE, get_settings
from tests.conftest import city_engine
from tests.notices.conftest import education_cycle, score
from tests.test_cli import run_luodi


def monday_to_friday_end(start: date, working_days: int) -> date:
    day, counted = start, 0
    while True:
        counted += day.weekday() < 5
        if counted == working_days:
            return day
        day += timedelta(days=1)


def next_start_across_a_holiday(calendar: LegalCalendar, today: date) -> date:
    """The first day from ``today`` whose five-working-day window differs from Monday to
    Friday: one that meets a holiday (there is one within any year)."""
    day = today
    while calendar.window_end(day, 5) == monday_to_friday_end(day, 5):
        day += timedelta(days=1)
    assert (day - today).days <= service.MAX_DAYS_AHEAD
    return day


def next_working_day(calendar: LegalCalendar, day: date) -> date:
    while not calendar.is_working_day(day):
        day += timedelta(days=1)
    return day


@pytest.fixture
def calendar_file(tmp_path: Path) -> Iterator[Path]:
    """A city calendar file in force for the test (the setting pointed at it)."""
    path = tmp_path / "calendar.csv"
    path.write_text("date,kind,name\n", encoding="utf-8")
    settings = get_settings()
    shipped = settings.calendar_file
    settings.calendar_file = path
    try:
        yield path
    finally:
        settings.calendar_file = shipped


def test_the_shipped_city_file_is_read_and_adds_nothing_yet() -> None:
    assert SHIPPED_CALENDAR_FILE.exists()
    assert workdays.read_city_days(SHIPPED_CALENDAR_FILE) == []


def test_a_city_file_is_read_with_its_kinds_and_names(tmp_path: Path) -> None:
    path = tmp_path / "cixi.csv"
    path.write_text(
        "date,kind,name\n2027-10-04,holiday,国庆节\n 2027-10-09 ,workday,调休上班\n",
        encoding="utf-8",
    )
    days = workdays.read_city_days(path)
    assert [(d.day, d.kind, d.name) for d in days] == [
        (date(2027, 10, 4), HOLIDAY, "国庆节"),
        (date(2027, 10, 9), WORKDAY, "调休上班"),
    ]


def test_a_bad_city_file_is_refused_naming_file_row_and_column(tmp_path: Path) -> None:
    path = tmp_path / "cixi.csv"
    path.write_text(
        "date,kind,name\n"
        "2027-10-04,holiday,国庆节\n"
        "2027-02-30,holiday,春节\n"
        "2027-10-04,workday,调休上班\n"
        "2027-10-09,上班,调休上班\n"
        "2027-10-10,workday,\n"
        "1900-01-01,holiday,x\n",
        encoding="utf-8",
    )
    with pytest.raises(Invalid) as raised:
        workdays.read_city_days(path)
    found = {(p.file, p.row, p.field) for p in raised.value.details}
    assert found == {
        ("cixi.csv", 3, "date"),  # no such day
        ("cixi.csv", 2, "date"),  # given twice
        ("cixi.csv", 4, "date"),
        ("cixi.csv", 5, "kind"),
        ("cixi.csv", 6, "name"),
        ("cixi.csv", 7, "date"),  # before the library's years
    }
    assert "日历文件 cixi.csv" in raised.value.message_zh
    assert "calendar file cixi.csv" in raised.value.message_en
    missing = tmp_path / "no-kind.csv"
    missing.write_text("date,name\n2027-10-04,国庆节\n", encoding="utf-8")
    with pytest.raises(Invalid) as raised:
        workdays.read_city_days(missing)
    assert [(p.field, p.row) for p in raised.value.details] == [("kind", 1)]


def test_the_calendar_in_force_reads_the_setting_and_an_edited_file(calendar_file: Path) -> None:
    day = next_working_day(LegalCalendar(), date.today() + timedelta(days=30))
    assert workdays.current().is_working_day(day)
    calendar_file.write_text(f"date,kind,name\n{day},holiday,台风停工\n", encoding="utf-8")
    assert workdays.current().day_off_name(day) == "台风停工"
    get_settings().calendar_file = None
    assert workdays.current().is_working_day(day)


def test_a_notice_window_skips_holidays_and_counts_adjusted_weekends() -> None:
    """The two windows of the issue, and a published year's 调休 Saturday, as publish
    computes them (``working_days_end`` with the shipped city file)."""
    assert service.working_days_end(date(2027, 9, 27), 5) == date(2027, 10, 6)
    assert service.working_days_end(date(2027, 2, 4), 5) == date(2027, 2, 16)
    assert service.working_days_end(date(2026, 10, 8), 3) == date(2026, 10, 10)


def test_a_published_notice_ends_by_the_legal_calendar(db: Session) -> None:
    calendar = workdays.current()
    start = next_start_across_a_holiday(calendar, date.today())
    numbers = registry.people(SYSTEM_ACTOR, db)["id_number"].head(3).to_list()
    cycle = education_cycle(db, numbers, [True] * 3, score(db))
    notice = service.publish(
        SYSTEM_ACTOR, db, allocation_run_id=cycle["run"], starts_on=start, working_days=5
    )
    assert notice.ends_on == calendar.window_end(start, 5)
    assert notice.ends_on != monday_to_friday_end(start, 5)
    assert calendar.working_days_between(start, notice.ends_on) == 5
    assert calendar.is_working_day(notice.ends_on)


def test_the_city_file_moves_a_notice_end(db: Session, calendar_file: Path) -> None:
    start = next_working_day(LegalCalendar(), date.today() + timedelta(days=1))
    numbers = registry.people(SYSTEM_ACTOR, db)["id_number"].head(3).to_list()
    cycle = education_cycle(db, numbers, [True] * 3, score(db))
    # A bad file refuses the publication, naming the file and row, and nothing is written.
    calendar_file.write_text("date,kind,name\n2027-02-30,holiday,x\n", encoding="utf-8")
    with pytest.raises(Invalid) as raised:
        service.publish(SYSTEM_ACTOR, db, allocation_run_id=cycle["run"], starts_on=start)
    assert (raised.value.details[0].file, raised.value.details[0].row) == ("calendar.csv", 2)
    calendar_file.write_text(f"date,kind,name\n{start},holiday,台风停工\n", encoding="utf-8")
    notice = service.publish(
        SYSTEM_ACTOR, db, allocation_run_id=cycle["run"], starts_on=start, working_days=1
    )
    assert notice.ends_on == next_working_day(LegalCalendar(), start + timedelta(days=1))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def committed(request: pytest.FixtureRequest, small_city: Path, tmp_path: Path) -> Iterator[Engine]:
    with city_engine(request.param, small_city, tmp_path) as engine:
        yield engine


def test_the_cli_and_the_api_show_the_stored_end(committed: Engine, tmp_path: Path) -> None:
    """Published through the CLI with a city file in force: the end printed, the end listed,
    the end stored and the end the public API serves are one date, the calendar's."""
    from fastapi.testclient import TestClient

    from luodi.app import create_app

    with session_scope(committed) as session:
        numbers = registry.people(SYSTEM_ACTOR, session)["id_number"].head(3).to_list()
        cycle = education_cycle(session, numbers, [True] * 3, score(session))
    start = next_working_day(LegalCalendar(), date.today() + timedelta(days=1))
    city = tmp_path / "city.csv"
    city.write_text(f"date,kind,name\n{start},holiday,台风停工\n", encoding="utf-8")
    expected = LegalCalendar(workdays.read_city_days(city)).window_end(start, 3)
    assert expected != LegalCalendar().window_end(start, 3)
    url = committed.url.render_as_string(hide_password=False)
    env = {"LUODI_DATABASE_URL": url, "LUODI_CALENDAR_FILE": str(city)}
    arguments = ["--run", str(cycle["run"]), "--starts", str(start), "--days", "3"]
    published = run_luodi("notice", "publish", *arguments, env=env)
    assert published.returncode == 0, published.stderr
    assert f"{start} 至 {expected}" in published.stdout
    listed = run_luodi("notice", "list", env=env)
    assert f"{start} — {expected}" in listed.stdout
    with TestClient(create_app(committed)) as client:
        notices = client.get("/api/v1/notices").json()
        shown = client.get(f"/api/v1/notices/{notices[0]['id']}").json()
    assert shown["ends_on"] == expected.isoformat()
