"""A committed small city per database for the notices tests; each test works in a
rolled-back session on it (``rolled_back_session``), so tests do not see each other's
notices."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from luodi.allocation import service as allocation
from luodi.auth.actor import SYSTEM_ACTOR, Actor, Role
from luodi.policy.service import find_policy
from luodi.programs import intake
from luodi.programs import service as programs
from luodi.scoring import service as scoring
from tests.conftest import city_engine, rolled_back_session

AS_OF = date(2026, 3, 1)
RESCORED_AS_OF = date(2027, 3, 1)
"""A year later: months of social insurance and years of residence have grown, so most
people's points differ between the two runs."""

REVIEWER = Actor(username="rsj", role=Role.REVIEWER, department="人社局")

FLAG_SUBSIDY = """
id: flag-subsidy
name: {zh: 测试补贴（按申请字段）, en: A test subsidy on an application field}
kind: tiered_benefit
department: 人社局
policy: zj-cixi
fields:
  graduated: {type: bool, default: false, label: {zh: 已毕业, en: Graduated}}
eligibility:
  - {id: graduated, label: {zh: 已毕业, en: Graduated}, rule: graduated, public_reason: 学历}
tiers:
  - {label: {zh: 补贴 3000 元, en: "3,000"}, when: graduated, amount: 3000}
"""
"""A tiered benefit whose every row depends on a field the service centre can correct (an
objection upheld flips it): what the notices tests need of a benefit. The shipped
education-upgrade reads the 教育局's graduation records instead (tests/programs)."""


@pytest.fixture(autouse=True)
def flag_subsidy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The shipped programs and ``flag-subsidy`` as ``LUODI_PROGRAM_DIR`` for each test of
    this folder (in the environment: the CLI tests' subprocesses read it too), never beyond."""
    from luodi.settings import SHIPPED_PROGRAM_DIR, get_settings

    folder = tmp_path / "programs"
    shutil.copytree(SHIPPED_PROGRAM_DIR, folder)
    (folder / "flag-subsidy.yaml").write_text(FLAG_SUBSIDY, encoding="utf-8")
    monkeypatch.setenv("LUODI_PROGRAM_DIR", str(folder))
    get_settings.cache_clear()
    yield folder
    get_settings.cache_clear()


@pytest.fixture(
    scope="session", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def notices_engine(
    request: pytest.FixtureRequest, small_city: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    with city_engine(request.param, small_city, tmp_path_factory.mktemp("notices")) as engine:
        yield engine


@pytest.fixture
def db(notices_engine: Engine) -> Iterator[Session]:
    with rolled_back_session(notices_engine) as session:
        yield session


@pytest.fixture(scope="session")
def residents(small_city: Path) -> pl.DataFrame:
    return pl.read_csv(small_city / "residents.csv", infer_schema=False)


def score(session: Session, as_of: date = AS_OF) -> int:
    return scoring.score_registry(
        SYSTEM_ACTOR, session, find_policy("zj-cixi", as_of), as_of
    ).run.id


def resident_actor(id_number: str) -> Actor:
    return Actor(username=f"r{id_number[-6:]}", role=Role.RESIDENT, id_number=id_number)


def education_cycle(
    session: Session, numbers: list[str], graduated: list[bool], scoring_run_id: int
) -> dict[str, Any]:
    """A subsidy (``flag-subsidy``, 人社局, tiers: each row depends on that applicant only)
    with one application per number, verified and allocated on ``scoring_run_id``."""
    today = date.today()
    cycle = programs.open_cycle(
        SYSTEM_ACTOR,
        session,
        "flag-subsidy",
        "notices",
        today - timedelta(days=1),
        today + timedelta(days=1),
        AS_OF,
    )
    records = [
        {"id_number": number, "graduated": flag}
        for number, flag in zip(numbers, graduated, strict=True)
    ]
    ids = intake.submit_applications(SYSTEM_ACTOR, session, cycle.id, records)
    intake.verify_all(REVIEWER, session, cycle.id)
    run = allocation.allocate_cycle(SYSTEM_ACTOR, session, cycle.id, "notice-seed", scoring_run_id)
    return {"cycle": cycle.id, "run": run.id, "ids": ids}
