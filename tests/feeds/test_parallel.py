"""Parallel imports, each in its own session and transaction, against a committed database.

PostgreSQL: 20 imports at once (files of one feed and of others) all succeed, fact ids drawn
from the database's sequence never collide, and the same content sent five times at once
makes one batch. SQLite (one writer at a time): each import either succeeds in turn or fails
with "database is locked" (answered 503); never a half batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import OperationalError

from luodi.auth.actor import SYSTEM_ACTOR
from luodi.db import session_scope
from luodi.errors import Conflict
from luodi.facts.models import Fact
from luodi.feeds import service
from luodi.feeds.models import FeedBatch
from luodi.feeds.schemas import ImportStatus
from tests.conftest import city_engine

IMPORTS = 20
Outcome = ImportStatus | Exception


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def committed(
    request: pytest.FixtureRequest, registry_only: Path, tmp_path: Path
) -> Iterator[Engine]:
    with city_engine(request.param, registry_only, tmp_path) as engine:
        yield engine


def files(small_city: Path, folder: Path) -> list[tuple[str, Path]]:
    """Ten social-insurance files (one year each, overlapping people) and ten volunteering
    files: 20 different contents, half of them into one feed."""
    people = pl.read_csv(small_city / "residents.csv", infer_schema=False)["id_number"]
    made: list[tuple[str, Path]] = []
    for index in range(IMPORTS // 2):
        insurance = folder / f"insurance-{index}.csv"
        pl.DataFrame(
            {"id_number": people[:50], "period": str(2010 + index), "months_paid": "12"}
        ).write_csv(insurance)
        made.append(("social_insurance", insurance))
        volunteering = folder / f"volunteering-{index}.csv"
        pl.DataFrame(
            {
                "record_number": [f"P{index}-{n}" for n in range(50)],
                "id_number": people[50 * index : 50 * index + 50],
                "kind": "volunteer",
                "record_date": "2025-06-01",
                "hours": "2",
            }
        ).write_csv(volunteering)
        made.append(("volunteering_honours", volunteering))
    return made


def run(engine: Engine, jobs: list[tuple[str, Path]]) -> list[Outcome]:
    def one(job: tuple[str, Path]) -> Outcome:
        feed, path = job
        try:
            with session_scope(engine) as session:
                return service.import_file(
                    SYSTEM_ACTOR, session, feed, path, write_reports=False
                ).status
        except (OperationalError, Conflict) as error:
            return error

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return list(pool.map(one, jobs))


def assert_whole_batches(engine: Engine) -> int:
    """Every committed batch has exactly the facts it reports; no fact lacks its batch."""
    with session_scope(engine) as session:
        written = dict(session.execute(select(FeedBatch.id, FeedBatch.facts_written)).all())
        found = dict(
            session.execute(select(Fact.batch_id, func.count()).group_by(Fact.batch_id)).all()
        )
        ids = session.scalar(select(func.count(func.distinct(Fact.id))))
        total = session.scalar(select(func.count()).select_from(Fact))
    assert found == written
    assert ids == total
    return len(written)


def test_twenty_parallel_imports(committed: Engine, small_city: Path, tmp_path: Path) -> None:
    outcomes = run(committed, files(small_city, tmp_path))
    imported = outcomes.count(ImportStatus.IMPORTED)
    if committed.dialect.name == "postgresql":
        assert outcomes == [ImportStatus.IMPORTED] * IMPORTS
    else:
        failures = [outcome for outcome in outcomes if outcome != ImportStatus.IMPORTED]
        assert all(
            isinstance(failure, OperationalError) and "database is locked" in str(failure)
            for failure in failures
        ), failures
    assert assert_whole_batches(committed) == imported


def test_the_same_content_sent_at_once_makes_one_batch(
    committed: Engine, small_city: Path, tmp_path: Path
) -> None:
    feed, path = files(small_city, tmp_path)[0]
    outcomes = run(committed, [(feed, path)] * 5)
    assert outcomes.count(ImportStatus.IMPORTED) == 1
    if committed.dialect.name == "postgresql":
        assert outcomes.count(ImportStatus.ALREADY_IMPORTED) == 4
    else:
        # SQLite: the later writers find the batch, meet it on the unique digest (409) or
        # give up waiting (503).
        assert all(
            outcome == ImportStatus.ALREADY_IMPORTED
            or isinstance(outcome, Conflict | OperationalError)
            for outcome in outcomes
            if outcome != ImportStatus.IMPORTED
        ), outcomes
    assert assert_whole_batches(committed) == 1


def test_transactions_importing_several_feeds_in_opposite_orders_never_deadlock(
    committed: Engine, small_city: Path, tmp_path: Path
) -> None:
    """Like ``luodi load`` (audited work, then feeds) beside single imports: every writer
    takes one lock, in one order."""
    made = files(small_city, tmp_path)
    pairs = [(made[index], made[index + 1]) for index in range(0, 12, 2)]
    jobs = [pair if index % 2 else pair[::-1] for index, pair in enumerate(pairs)]

    def both(pair: tuple[tuple[str, Path], tuple[str, Path]]) -> Outcome:
        try:
            with session_scope(committed) as session:
                for feed, path in pair:
                    service.import_file(SYSTEM_ACTOR, session, feed, path, write_reports=False)
        except (OperationalError, Conflict) as error:
            return error
        return ImportStatus.IMPORTED

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        outcomes = list(pool.map(both, jobs))
    if committed.dialect.name == "postgresql":
        assert outcomes == [ImportStatus.IMPORTED] * len(jobs)
    assert assert_whole_batches(committed) == 2 * outcomes.count(ImportStatus.IMPORTED)
