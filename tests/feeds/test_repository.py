"""Who reads which batches and facts, decided in SQL (``feeds/repository.py``,
``facts/repository.py``), on SQLite and PostgreSQL; and the department backfilled on the
batches that existed before it was stored."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.orm import Session

from luodi import migrate
from luodi.auth.actor import SYSTEM_ACTOR, Actor, Role
from luodi.db import create_db_engine
from luodi.errors import Forbidden, NotFound, Unauthorized
from luodi.facts import service as facts_service
from luodi.feeds import catalog, service
from luodi.feeds.models import FeedBatch
from luodi.registry.models import Resident, Town

HR = Actor("hr", Role.REVIEWER, department="人社局")
CIVILITY_TOKEN = Actor("civility", Role.DEPARTMENT, department="文明办")
READ_ALL = [
    Actor("admin", Role.ADMIN),
    Actor("operator", Role.OPERATOR),
    Actor("auditor", Role.AUDITOR),
]


def first_residents(db: Session) -> tuple[Resident, Resident]:
    """Two residents of different towns."""
    one = db.scalars(select(Resident).order_by(Resident.id)).first()
    assert one is not None
    other = db.scalars(
        select(Resident).where(Resident.town_id != one.town_id).order_by(Resident.id)
    ).first()
    assert other is not None
    return one, other


def two_batches(db: Session, people: tuple[Resident, Resident]) -> tuple[int, int]:
    """One batch of 人社局 (social insurance) and one of 文明办 (volunteering) about both."""
    insurance = service.import_records(
        SYSTEM_ACTOR,
        db,
        "social_insurance",
        [
            {"id_number": person.id_number, "period": "2024", "months_paid": "12"}
            for person in people
        ],
    )
    volunteering = service.import_records(
        CIVILITY_TOKEN,
        db,
        "volunteering_honours",
        [
            {
                "record_number": f"SCOPE-{index}",
                "id_number": person.id_number,
                "kind": "volunteer",
                "record_date": "2025-06-01",
                "hours": "3",
            }
            for index, person in enumerate(people)
        ],
    )
    assert insurance.batch_id is not None and volunteering.batch_id is not None
    return insurance.batch_id, volunteering.batch_id


def test_batches_store_their_department_and_are_read_by_it(db: Session) -> None:
    insurance, volunteering = two_batches(db, first_residents(db))
    assert db.get_one(FeedBatch, insurance).department == "人社局"
    assert db.get_one(FeedBatch, volunteering).department == "文明办"

    assert [batch.id for batch in service.list_batches(HR, db)] == [insurance]
    assert [batch.id for batch in service.list_batches(CIVILITY_TOKEN, db)] == [volunteering]
    assert service.get_batch(HR, db, insurance).feed == "social_insurance"
    with pytest.raises(NotFound):
        service.get_batch(HR, db, volunteering)
    with pytest.raises(NotFound):
        service.get_batch(CIVILITY_TOKEN, db, insurance)
    # Asking for another department's feed by name finds nothing either.
    assert service.list_batches(HR, db, "volunteering_honours") == []
    for actor in READ_ALL:
        assert {batch.id for batch in service.list_batches(actor, db)} == {
            insurance,
            volunteering,
        }
        assert service.get_batch(actor, db, volunteering).id == volunteering


def test_town_staff_residents_and_the_public_read_no_batches(db: Session) -> None:
    one, _ = first_residents(db)
    insurance, _ = two_batches(db, first_residents(db))
    town_code = db.scalars(select(Town.code).where(Town.id == one.town_id)).one()
    for actor in (
        Actor("town", Role.TOWN_STAFF, town_code=town_code),
        Actor("me", Role.RESIDENT, id_number=one.id_number),
    ):
        with pytest.raises(Forbidden):
            service.list_batches(actor, db)
        with pytest.raises(Forbidden):
            service.get_batch(actor, db, insurance)
    with pytest.raises(Unauthorized):
        service.list_batches(Actor("public", Role.PUBLIC), db)


def test_a_department_pushes_only_its_own_feeds(db: Session) -> None:
    one, _ = first_residents(db)
    with pytest.raises(Forbidden):
        service.import_records(
            CIVILITY_TOKEN,
            db,
            "social_insurance",
            [{"id_number": one.id_number, "period": "2024", "months_paid": "12"}],
        )


def test_facts_are_read_by_the_person_their_town_and_the_staff_who_read_all(
    db: Session,
) -> None:
    people = first_residents(db)
    two_batches(db, people)
    one, other = people
    towns = dict(db.execute(select(Town.id, Town.code)).all())

    def seen(actor: Actor, person: Resident) -> int:
        return len(facts_service.fact_sources(actor, db, person.id))

    myself = Actor("me", Role.RESIDENT, id_number=one.id_number)
    my_town = Actor("town", Role.TOWN_STAFF, town_code=towns[one.town_id])
    assert seen(myself, one) == 2 and seen(myself, other) == 0
    assert seen(my_town, one) == 2 and seen(my_town, other) == 0
    assert seen(HR, other) == 2 and seen(READ_ALL[2], other) == 2
    assert seen(CIVILITY_TOKEN, one) == 0
    variables = catalog.fact_variables()
    as_of = facts_service.facts_as_of(
        my_town, db, [variables["social_insurance_months"]], date(2026, 3, 1)
    )
    assert as_of["resident_id"].to_list() == [one.id]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Engine:
    if request.param == "sqlite":
        return create_db_engine(f"sqlite:///{tmp_path / 'migrate.db'}")
    return create_db_engine(request.getfixturevalue("empty_postgres_url"))


def test_existing_batches_take_their_department_from_the_declarations(
    empty_engine: Engine,
) -> None:
    migrate.upgrade(empty_engine, "0006")
    with empty_engine.begin() as connection:
        for index, feed in enumerate(["tax", "education", "withdrawn_feed"], start=1):
            connection.execute(
                text(
                    "INSERT INTO feed_batches (id, feed, file_name, digest, imported_by, "
                    "rows_read, rows_imported, rows_rejected, facts_written, facts_superseded, "
                    "residents_created) VALUES (:id, :feed, 'f.csv', :digest, 'system', "
                    "1, 1, 0, 1, 0, 0)"
                ),
                {"id": index, "feed": feed, "digest": f"{index:064d}"},
            )
    migrate.upgrade(empty_engine)
    with empty_engine.connect() as connection:
        departments = dict(connection.execute(select(FeedBatch.feed, FeedBatch.department)).all())
    assert departments == {"tax": "税务局", "education": "教育局", "withdrawn_feed": "（未声明）"}
    migrate.downgrade(empty_engine, "0006")
    columns = {column["name"] for column in inspect(empty_engine).get_columns("feed_batches")}
    assert "department" not in columns and "feed" in columns
    empty_engine.dispose()
