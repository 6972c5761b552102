"""好差评 on SQLite and PostgreSQL: a resident rates their own closed cases once each (a final
application, a decided objection), never another's or an open one; audited without the
comment; summarised per level, program and month for the service centre, scoped."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from luodi import workdays
from luodi.allocation import service as allocation
from luodi.audit.models import AuditEntry
from luodi.auth.actor import SYSTEM_ACTOR, Actor, Role
from luodi.db import session_scope
from luodi.errors import Conflict, Forbidden, Invalid, NotFound
from luodi.policy.service import find_policy
from luodi.programs import intake
from luodi.programs import service as programs
from luodi.programs.models import Application
from luodi.ratings import service as ratings
from luodi.ratings.models import CaseKind
from luodi.scoring import service as scoring
from tests.conftest import city_engine, rolled_back_session
from tests.ratings.cases import close_cases

AS_OF = date(2026, 3, 1)
HEALTH = Actor(username="zgh", role=Role.REVIEWER, department="总工会")
EDUCATION = Actor(username="jyj", role=Role.REVIEWER, department="教育局")
OPERATOR = Actor(username="op", role=Role.OPERATOR)


def resident(number: str) -> Actor:
    return Actor(username=f"r{number[-6:]}", role=Role.RESIDENT, id_number=number)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def closed(
    request: pytest.FixtureRequest, small_city: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Engine, dict[str, Any]]]:
    """Four applicants of a health check, every application final; the first objected and
    was answered."""
    numbers = pl.read_csv(small_city / "residents.csv", infer_schema=False)["id_number"]
    numbers = numbers.head(4).to_list()
    with city_engine(request.param, small_city, tmp_path_factory.mktemp("ratings")) as engine:
        today = date.today()
        with session_scope(engine) as session:
            scoring.score_registry(SYSTEM_ACTOR, session, find_policy("zj-cixi", AS_OF), AS_OF)
            cycle = programs.open_cycle(
                SYSTEM_ACTOR,
                session,
                "health-check",
                "ratings",
                today - timedelta(days=1),
                today + timedelta(days=1),
                AS_OF,
                places=2,
            )
            ids = intake.submit_applications(
                SYSTEM_ACTOR, session, cycle.id, [{"id_number": n} for n in numbers]
            )
            intake.verify_all(HEALTH, session, cycle.id)
            run = allocation.allocate_cycle(SYSTEM_ACTOR, session, cycle.id, "ratings")
        cases = close_cases(engine, run.id, ids[0], resident(numbers[0]), HEALTH)
        yield engine, {**cases, "ids": ids, "numbers": numbers}


@pytest.fixture
def db(closed: tuple[Engine, dict[str, Any]]) -> Iterator[Session]:
    with rolled_back_session(closed[0]) as session:
        yield session


def test_a_resident_rates_each_own_closed_case_once(
    db: Session, closed: tuple[Engine, dict[str, Any]]
) -> None:
    made = closed[1]
    first, second = resident(made["numbers"][0]), resident(made["numbers"][1])
    waiting = {(case.kind, case.id) for case in ratings.pending(first, db)}
    assert waiting == {
        (CaseKind.APPLICATION, made["ids"][0]),
        (CaseKind.OBJECTION, made["objection"]),
    }
    assert {(c.kind, c.id) for c in ratings.pending(second, db)} == {
        (CaseKind.APPLICATION, made["ids"][1])
    }
    rated = ratings.rate(first, db, "application", made["ids"][0], 5, "  办得很快  ")
    assert (rated.level, rated.comment, rated.program_id) == (5, "办得很快", "health-check")
    assert rated.department == "总工会" and rated.month == workdays.today().strftime("%Y-%m")
    assert {(c.kind, c.id) for c in ratings.pending(first, db)} == {
        (CaseKind.OBJECTION, made["objection"])
    }
    with pytest.raises(Conflict):
        ratings.rate(first, db, "application", made["ids"][0], 1)
    # Another's case is not found (a child's parent would find it: scoped by intake).
    with pytest.raises(NotFound):
        ratings.rate(second, db, "application", made["ids"][0], 1)
    with pytest.raises(NotFound):
        ratings.rate(second, db, "objection", made["objection"], 1)
    # Audited with the level, never the comment's words.
    entry = db.scalars(
        select(AuditEntry)
        .where(AuditEntry.action == "rating.create")
        .order_by(AuditEntry.seq.desc())
    ).first()
    assert entry is not None and "办得很快" not in str(vars(entry))


@pytest.mark.parametrize(
    ("level", "comment"),
    [(0, None), (6, None), (3, "长" * 301), (3, "看\u202e不见")],
)
def test_a_rating_s_level_and_comment_are_checked(
    db: Session, closed: tuple[Engine, dict[str, Any]], level: int, comment: str | None
) -> None:
    made = closed[1]
    with pytest.raises(Invalid):
        ratings.rate(
            resident(made["numbers"][0]), db, "application", made["ids"][0], level, comment
        )


def test_only_a_resident_rates_and_only_a_closed_case(
    db: Session, closed: tuple[Engine, dict[str, Any]]
) -> None:
    made = closed[1]
    with pytest.raises(Forbidden):
        ratings.rate(OPERATOR, db, "application", made["ids"][0], 5)
    db.execute(
        update(Application).where(Application.id == made["ids"][2]).values(status="verified")
    )
    with pytest.raises(Conflict):
        ratings.rate(resident(made["numbers"][2]), db, "application", made["ids"][2], 5)
    assert ratings.pending(resident(made["numbers"][2]), db) == []


def test_the_summary_counts_levels_per_program_and_month_for_the_centre(
    db: Session, closed: tuple[Engine, dict[str, Any]]
) -> None:
    made = closed[1]
    first = resident(made["numbers"][0])
    ratings.rate(first, db, "application", made["ids"][0], 5)
    ratings.rate(first, db, "objection", made["objection"], 2, "复核太慢")
    ratings.rate(resident(made["numbers"][1]), db, "application", made["ids"][1], 4)
    found = ratings.summary(OPERATOR, db)
    assert found.total == 3 and found.by_level == {5: 1, 4: 1, 3: 0, 2: 1, 1: 0}
    assert found.satisfied_share == pytest.approx(2 / 3)
    month = workdays.today().strftime("%Y-%m")  # the city's month, as a rating is stamped
    assert found.by_program == [("health-check", {5: 1, 4: 1, 3: 0, 2: 1, 1: 0}, 3)]
    assert found.table == [(month, "health-check", {5: 1, 4: 1, 3: 0, 2: 1, 1: 0}, 3)]
    assert [r.comment for r in found.comments] == ["复核太慢"]
    # A department's reviewers read their own cases' ratings; another department none.
    assert ratings.summary(HEALTH, db).total == 3
    assert ratings.summary(EDUCATION, db).total == 0
    assert ratings.summary(EDUCATION, db).comments == []
    with pytest.raises(Forbidden):
        ratings.summary(first, db)
    # Months before the window are left out.
    later = date.today() + timedelta(days=400)
    assert ratings.summary(OPERATOR, db, months=1, today=later).total == 0
