"""facts.service.current_facts on both databases: the same facts as a plain query, with the
variable's name, for everyone or for some residents."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from luodi.auth.actor import SYSTEM_ACTOR
from luodi.facts import service
from luodi.facts.models import Fact
from luodi.registry.loading import load_city

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
