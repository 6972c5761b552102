"""Supersession is batch-level: each re-send of a feed marks the one current version of each
key it brings (the index of current facts), whatever the history; a fact superseded by a
later batch is history, and as known before that batch it still counted."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session

from luodi import bulk
from luodi.auth.actor import SYSTEM_ACTOR
from luodi.facts import service as facts_service
from luodi.facts.models import Fact
from luodi.feeds import catalog, service
from luodi.feeds.models import FeedBatch
from luodi.registry.models import Resident


def send(db: Session, tmp_path: Path, frame: pl.DataFrame, name: str) -> int:
    path = tmp_path / name
    frame.write_csv(path)
    result = service.import_file(SYSTEM_ACTOR, db, "education", path, write_reports=False)
    assert result.batch_id is not None
    return result.batch_id


def test_each_resend_supersedes_only_the_version_before(
    db: Session, small_city: Path, tmp_path: Path
) -> None:
    education = pl.read_csv(small_city / "education.csv", infer_schema=False).head(30)
    levels = ["junior_high", "senior_high", "本科"]
    batches = [
        send(db, tmp_path, education.with_columns(education=pl.lit(level)), f"edu-{n}.csv")
        for n, level in enumerate(levels)
    ]
    # Every re-send superseded the 30 records' two facts each (education, skill level) once.
    superseded = db.scalars(
        select(FeedBatch.facts_superseded).where(FeedBatch.id.in_(batches)).order_by(FeedBatch.id)
    ).all()
    assert superseded == [0, 60, 60]
    current = select(func.count()).where(Fact.feed == "education", Fact.superseded_by.is_(None))
    assert db.scalar(current.select_from(Fact)) == 60

    # One transaction stamps the three batches alike: an hour apart, as sent on three days.
    start = datetime(2026, 3, 1, 9, tzinfo=UTC)
    for hours, batch_id in enumerate(batches):
        db.get_one(FeedBatch, batch_id).imported_at = start + timedelta(hours=hours)
    db.flush()
    person = education["id_number"][7]
    resident_id = db.scalars(select(Resident.id).where(Resident.id_number == person)).one()
    history = facts_service.fact_sources(SYSTEM_ACTOR, db, resident_id, ["education"])
    assert [(source.value, source.batch_id, source.superseded_by) for source in history] == [
        ("bachelor", batches[2], None),
        ("senior_high", batches[1], batches[2]),
        ("junior_high", batches[0], batches[1]),
    ]
    variable = catalog.fact_variables()["education"]
    as_of = date(2026, 3, 1)
    # As the platform knew it between the second and the third send: the second counted.
    between = start + timedelta(minutes=90)
    counted = [
        source.value
        for source in history
        if facts_service.counts_as_of(source, variable, as_of, known_at=between)
    ]
    assert counted == ["senior_high"]
    assert [s.value for s in history if facts_service.counts_as_of(s, variable, as_of)] == [
        "bachelor"
    ]


def test_a_resend_of_some_keys_leaves_the_others_current(
    db: Session, small_city: Path, tmp_path: Path
) -> None:
    education = pl.read_csv(small_city / "education.csv", infer_schema=False).head(20)
    first = send(db, tmp_path, education.with_columns(education=pl.lit("junior_high")), "a.csv")
    second = send(db, tmp_path, education.head(5).with_columns(education=pl.lit("本科")), "b.csv")
    rows = db.execute(
        select(Fact.batch_id, Fact.superseded_by, func.count())
        .where(Fact.feed == "education", Fact.batch_id.in_([first, second]))
        .group_by(Fact.batch_id, Fact.superseded_by)
        .order_by(Fact.batch_id, Fact.superseded_by)
    ).all()
    assert sorted(rows, key=lambda row: (row[0], row[1] or 0)) == [
        (first, None, 30),
        (first, second, 10),
        (second, None, 10),
    ]


def test_bulk_writes_keep_the_indexes_even_when_they_fail(db: Session) -> None:
    table = Fact.__table__

    def indexes() -> set[str]:
        return {index["name"] for index in inspect(db.connection()).get_indexes("facts")}

    expected = {index.name for index in table.indexes}
    assert indexes() >= expected
    with pytest.raises(RuntimeError), bulk.sqlite_bulk_writes(db, table, 10**6, rebuild=True):
        raise RuntimeError("a failure while the rows are written")
    assert indexes() >= expected
    with bulk.sqlite_bulk_writes(db, table, 10**6, rebuild=True):
        pass
    assert indexes() >= expected


def test_a_resend_supersedes_its_own_feeds_facts_whole_or_in_part(
    db: Session, small_city: Path, tmp_path: Path
) -> None:
    """Social and medical insurance share their keys (ID number and period). A re-send of the
    whole social file (as large as the feed's current facts: SQLite scans the feed's current
    facts) and a re-send of one row (SQLite looks up the batch's keys) each supersede the
    versions of their own feed and leave the other feed's alone."""
    people = pl.read_csv(small_city / "residents.csv", infer_schema=False)["id_number"].head(10)
    records = pl.DataFrame({"id_number": people}).join(
        pl.DataFrame({"period": ["2021", "2022", "2023"]}), how="cross"
    )

    def import_(feed: str, frame: pl.DataFrame, name: str) -> int:
        path = tmp_path / name
        frame.write_csv(path)
        result = service.import_file(SYSTEM_ACTOR, db, feed, path, write_reports=False)
        assert result.batch_id is not None, result.rejections
        return result.batch_id

    social = records.with_columns(months_paid=pl.lit("12"))
    medical = social.with_columns(scheme=pl.lit("居民"))
    first = import_("social_insurance", social, "social-1.csv")
    import_("medical_insurance", medical, "medical-1.csv")
    whole = import_("social_insurance", social.with_columns(months_paid=pl.lit("11")), "s-2.csv")
    one = import_("social_insurance", social.head(1).with_columns(months_paid=pl.lit("10")), "3")

    def by_batch(feed: str) -> list[tuple[int, int | None, int]]:
        rows = db.execute(
            select(Fact.batch_id, Fact.superseded_by, func.count())
            .where(Fact.feed == feed)
            .group_by(Fact.batch_id, Fact.superseded_by)
        ).all()
        return sorted((batch, superseded or 0, count) for batch, superseded, count in rows)

    assert by_batch("social_insurance") == [
        (first, whole, 30),
        (whole, 0, 29),
        (whole, one, 1),
        (one, 0, 1),
    ]
    # Medical: months and scheme per record, all current.
    assert [(superseded, count) for _, superseded, count in by_batch("medical_insurance")] == [
        (0, 60)
    ]
    superseded = db.scalars(
        select(FeedBatch.facts_superseded).where(FeedBatch.id.in_([first, whole, one]))
    ).all()
    assert sorted(superseded) == [0, 1, 30]
