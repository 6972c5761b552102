"""facts.service.current_facts on both databases: the same facts as a plain query, with the
variable's name, for everyone or for some residents."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from luodi.auth.actor import SYSTEM_ACTOR
from luodi.facts import repository, service
from luodi.facts.models import Fact
from luodi.registry.loading import load_city
from tests import factories

AS_OF = date(2026, 3, 1)
NAMES = ["social_insurance_months", "education", "housing", "volunteer_hours"]


def test_current_facts_are_those_a_plain_query_reads(session: Session, small_city: Path) -> None:
    load_city(SYSTEM_ACTOR, session, small_city, today=AS_OF)
    rows = session.execute(
        select(Fact.resident_id, Fact.name, Fact.value, Fact.valid_from, Fact.valid_to).where(
            Fact.name.in_(NAMES),
            Fact.superseded_by.is_(None),
            Fact.valid_from.is_(None) | (Fact.valid_from <= AS_OF),
        )
    ).all()
    expected = pl.DataFrame(
        [tuple(row) for row in rows], schema=service.FACT_ROWS_SCHEMA, orient="row"
    ).sort(pl.all())
    assert set(expected.get_column("name")) == set(NAMES)
    read = service.current_facts(SYSTEM_ACTOR, session, NAMES, AS_OF)
    assert read.schema == expected.schema
    assert read.sort(pl.all()).equals(expected)

    some = expected.get_column("resident_id").unique().sort().head(25).to_list()
    mine = service.current_facts(SYSTEM_ACTOR, session, NAMES, AS_OF, some)
    assert mine.sort(pl.all()).equals(expected.filter(pl.col("resident_id").is_in(some)))
    assert service.current_facts(SYSTEM_ACTOR, session, [], AS_OF).height == 0


def test_any_text_and_missing_dates_read_back_as_written(session: Session) -> None:
    """Values as a department may send them (quotes, commas, line breaks, nothing), dates
    missing at either end: read back exactly, on both databases (PostgreSQL sends them as
    CSV text it builds)."""
    factories.town(session)
    people = [
        factories.resident(session, number=factories.id_number(sequence=n)) for n in (1, 2, 3)
    ]
    written = [
        (people[0].id, 'say "hi", then\nleave', date(2025, 1, 1), None),
        (people[0].id, "", None, date(2025, 12, 31)),
        (people[1].id, ",", None, None),
        (people[2].id, '"', date(2026, 3, 1), date(2026, 3, 31)),
        (people[2].id, "本科", date(2024, 6, 1), None),
    ]
    session.add_all(
        Fact(
            resident_id=person,
            name="education",
            value=value,
            valid_from=start,
            valid_to=end,
            source="test.csv:1",
        )
        for person, value, start, end in written
    )
    session.flush()
    read = service.current_facts(SYSTEM_ACTOR, session, ["education"], AS_OF)
    assert sorted(read.drop("name").rows(), key=repr) == sorted(written, key=repr)


def test_a_residents_facts_come_in_the_order_they_were_written(session: Session) -> None:
    """Facts that tie (one variable, one start) are read in id order on both databases, for
    residents in two PostgreSQL blocks: the latest value is the last one written, every run.
    (Without ORDER BY, PostgreSQL's sorting plan returned a block's rows in any order.)"""
    factories.town(session)
    people = [
        factories.resident(session, number=factories.id_number(sequence=n)) for n in range(1, 4)
    ]
    people[-1].id = people[0].id + repository.POSTGRES_CHUNK_RESIDENTS + 7  # another block
    session.flush()
    session.add_all(
        Fact(
            resident_id=person.id,
            name="education",
            value=str(order),
            valid_from=date(2020, 1, 1),
            valid_to=None,
            source="t:1",
        )
        for order in range(300)
        for person in people
    )
    session.flush()
    read = service.current_facts(SYSTEM_ACTOR, session, ["education"], AS_OF)
    for person in people:
        values = read.filter(pl.col("resident_id") == person.id)["value"].to_list()
        assert values == [str(order) for order in range(300)], person.id
