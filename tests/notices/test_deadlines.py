"""Notice windows and 复核 deadlines by the legal calendar, on SQLite and PostgreSQL: a
notice lasts the program's own ``notice_days`` unless the cycle gives one; the two windows of
issue 15 as ``publish`` stores them; an objection's 复核 deadline (5 working days after the
day it was filed) and the objections past it, each reviewer only their department's."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from luodi import workdays
from luodi.auth.actor import SYSTEM_ACTOR, Actor, Role
from luodi.errors import Forbidden
from luodi.notices import deadlines, service
from luodi.notices.models import Objection
from luodi.programs import service as programs
from luodi.programs.spec import load_program_spec
from luodi.registry import service as registry
from tests.notices.conftest import AS_OF, REVIEWER, education_cycle, resident_actor, score

TODAY = date(2026, 11, 30)
"""The day the two windows are published on (``publish`` takes "today"), so the test keeps
meaning what it says after those days have passed."""
FILED = datetime(2027, 1, 28, 3, 0, tzinfo=UTC)
"""Thursday 28 January 2027, 11:00 in China (a year the State Council has not published:
the statutory days and their 补假 only)."""
SHIPPED = Path(__file__).parents[2] / "programs" / "zj-cixi"


def test_a_notice_over_national_day_ends_after_it_and_one_over_spring_festival_skips_it(
    db: Session,
) -> None:
    numbers = registry.people(SYSTEM_ACTOR, db)["id_number"].head(6).to_list()
    run_id = score(db)
    calendar = workdays.current()
    autumn = education_cycle(db, numbers[:3], [True] * 3, run_id)
    notice = service.publish(
        SYSTEM_ACTOR, db, allocation_run_id=autumn["run"], starts_on=date(2027, 9, 27), today=TODAY
    )
    # Five working days from Monday 27 September: 27–30 September and, after 国庆 1–3
    # October and its 补假 4–5 October, Wednesday 6 October.
    assert notice.ends_on == date(2027, 10, 6)
    assert all(calendar.day_off_name(date(2027, 10, day)) for day in range(1, 6))
    spring = education_cycle(db, numbers[3:], [True] * 3, run_id)
    notice = service.publish(
        SYSTEM_ACTOR, db, allocation_run_id=spring["run"], starts_on=date(2027, 2, 4), today=TODAY
    )
    # Thursday 4 February, then 除夕 5 February, 初一–初三 6–8 February and their 补假 9–10:
    # 4, 11, 12, 15, 16 February.
    assert notice.ends_on == date(2027, 2, 16)
    assert calendar.working_days_between(date(2027, 2, 4), notice.ends_on) == 5
    assert calendar.day_off_name(date(2027, 2, 5)) is not None


def test_a_cycle_takes_the_programs_notice_days_unless_it_gives_its_own(
    db: Session, small_city: Path
) -> None:
    rental = load_program_spec((SHIPPED / "public-rental.yaml").read_text(), "public-rental")
    upgrade = load_program_spec((SHIPPED / "education-upgrade.yaml").read_text(), "x")
    assert rental.notice_days == 20 and upgrade.notice_days == 5
    assert (upgrade.review_days, upgrade.objection_review_days) == (10, 5)
    today = workdays.today()
    window = (today - timedelta(days=1), today + timedelta(days=1), AS_OF)
    housing = programs.open_cycle(
        SYSTEM_ACTOR,
        db,
        "public-rental",
        "默认公示期",
        *window,
        targets_file=small_city / "housing_units.csv",
    )
    assert housing.notice_days == 20
    given = programs.open_cycle(
        SYSTEM_ACTOR, db, "education-upgrade", "自定公示期", *window, notice_days=7
    )
    assert given.notice_days == 7
    # A document asking for a deadline beyond any sane one is refused with its place.
    text = (SHIPPED / "education-upgrade.yaml").read_text()
    with pytest.raises(Exception, match="review_days"):
        load_program_spec(text.replace("policy: zj-cixi", "policy: zj-cixi\nreview_days: 0"), "x")


def test_an_objection_has_a_review_deadline_and_is_listed_when_past_it(db: Session) -> None:
    numbers = registry.people(SYSTEM_ACTOR, db)["id_number"].head(3).to_list()
    cycle = education_cycle(db, numbers, [True, False, True], score(db))
    notice = service.publish(SYSTEM_ACTOR, db, allocation_run_id=cycle["run"])
    objection = service.file_objection(
        resident_actor(numbers[1]), db, notice.id, str(cycle["ids"][1]), "已毕业"
    )
    # Filed today: due five working days after today, nothing overdue yet.
    assert deadlines.review_due_on(db, objection) == workdays.deadline(workdays.today(), 5)
    assert deadlines.overdue_objections(REVIEWER, db, workdays.today(), cycle["cycle"]).height == 0

    db.execute(update(Objection).where(Objection.id == objection.id).values(filed_at=FILED))
    db.refresh(objection)
    due = deadlines.review_due_on(db, objection)
    # 29 January (Friday), 1–4 February; the submission day is not counted.
    assert due == date(2027, 2, 4)
    assert deadlines.overdue_objections(REVIEWER, db, due, cycle["cycle"]).height == 0
    late = deadlines.overdue_objections(REVIEWER, db, due + timedelta(days=1), cycle["cycle"])
    assert late.to_dicts() == [
        {
            "kind": "objection",
            "id": objection.id,
            "cycle_id": cycle["cycle"],
            "program_id": "flag-subsidy",
            "department": "人社局",
            "since": date(2027, 1, 28),
            "due_on": due,
            # Friday 5 February is 除夕 (a holiday): not a working day late.
            "working_days_late": 0,
        }
    ]
    # With the applications: the whole list for the service centre; another department's
    # reviewer sees none of it; a resident may not ask.
    every = deadlines.overdue(SYSTEM_ACTOR, db, date(2027, 2, 12), cycle["cycle"])
    assert set(every["kind"]) == {"objection"}  # the applications were verified
    assert every["working_days_late"][0] == workdays.current().working_days_between(
        date(2027, 2, 5), date(2027, 2, 12)
    )
    education = Actor(username="jyj", role=Role.REVIEWER, department="教育局")
    assert deadlines.overdue(education, db, date(2027, 2, 12)).height == 0
    with pytest.raises(Forbidden):
        deadlines.overdue(resident_actor(numbers[1]), db)
    # Decided: no longer overdue.
    service.review(REVIEWER, db, objection.id, uphold=False, reason="未见毕业证书")
    assert deadlines.overdue(REVIEWER, db, date(2027, 2, 12), cycle["cycle"]).height == 0
