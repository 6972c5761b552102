"""A notice's rows searched in SQL on SQLite and PostgreSQL: by application number, or by the
masked name with the last four of the ID number (never the four alone), through the index;
the search keys stay out of everything published; migration 0027 fills them for rows
published before it."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from luodi import migrate
from luodi.auth.actor import SYSTEM_ACTOR
from luodi.db import create_db_engine
from luodi.errors import Invalid
from luodi.notices import repository, service
from luodi.notices.models import Notice
from luodi.registry.models import Resident
from tests.notices.conftest import education_cycle, resident_actor, score


@pytest.mark.parametrize(
    ("typed", "name", "tail"),
    [
        ("张三丰 1234", "张**", "1234"),
        ("张三丰1234", "张**", "1234"),
        ("张** 1234", "张**", "1234"),
        ("1234，张三丰", "张**", "1234"),
        ("张三丰 33028219900101123x", "张**", "123X"),
    ],
)
def test_a_name_with_an_id_number_searches_the_masked_name_and_last_four(
    typed: str, name: str, tail: str
) -> None:
    query = service.parse_row_query(typed)
    assert query == service.RowQuery(masked_name=name, tail=tail)
    assert "1990" not in query.shown() and query.shown() == f"{name} {tail}"


def test_four_digits_alone_are_an_application_number_and_garbage_is_not_echoed() -> None:
    assert service.parse_row_query("1234") == service.RowQuery(ref="1234")
    assert service.parse_row_query("  ") is None
    typed = "<b>330282199001011234</b>"
    with pytest.raises(Invalid) as refused:
        service.parse_row_query(typed)
    assert "330282199001011234" not in refused.value.message_zh + refused.value.message_en


def test_a_score_ranking_is_searched_by_masked_name_and_last_four_in_sql(db: Session) -> None:
    notice = service.publish(SYSTEM_ACTOR, db, scoring_run_id=score(db))
    row = service.positioned_page(db, notice, 0, 50).row(7, named=True)
    # A score row's ref is the resident's id: who it is, from the registry.
    full_name, number = db.execute(
        select(Resident.name, Resident.id_number).where(Resident.id == int(row["ref"]))
    ).one()
    for typed in (
        f"{full_name} {number[-4:]}",
        f"{row['name']} {number[-4:]}",
        f"{full_name} {number}",
    ):
        query = service.parse_row_query(typed)
        assert query is not None
        total, found = service.search_rows(db, notice, query)
        assert row["ref"] in found["ref"].to_list() and total == found.height
        # Every row found has that masked name; no column beyond the published ones.
        assert set(found["name"]) == {row["name"]}
        assert found.columns == ["position", *repository.notice_columns(notice)]
    # Another fourth-last digit finds no row of this person; the four alone are a ref.
    other = str((int(number[-4]) + 1) % 10) + number[-3:]
    _total, missed = service.search_rows(
        db, notice, service.RowQuery(masked_name=row["name"], tail=other)
    )
    assert row["ref"] not in missed["ref"].to_list()
    alone = service.parse_row_query(number[-4:])
    assert alone is not None and alone.ref == number[-4:]
    _total, by_ref = service.search_rows(db, notice, alone)
    assert set(by_ref["ref"]) <= {number[-4:]}
    # The keys are stored beside the rows, not published: the digest still verifies.
    assert service.verify_digest(db, notice)
    assert "id_tail" not in service.rows_page(db, notice, 0, 5).columns
    # Both halves of the search are index lookups.
    dialect = db.get_bind().dialect
    statement = repository.search_positions(notice.id, "张**", "1234").compile(
        dialect=dialect, compile_kwargs={"literal_binds": True}
    )
    if dialect.name == "sqlite":
        plan = " ".join(str(row[-1]) for row in db.execute(text(f"EXPLAIN QUERY PLAN {statement}")))
    else:
        db.execute(text("ANALYZE notice_rows"))  # the planner's counts of the rows just stored
        db.execute(text("SET LOCAL enable_seqscan = off"))
        plan = " ".join(row[0] for row in db.execute(text(f"EXPLAIN {statement}")))
    assert "ix_notice_rows_search" in plan and "ix_notice_rows_child_search" in plan, plan


def test_a_resident_s_own_rows_come_from_the_account(db: Session, residents: pl.DataFrame) -> None:
    numbers = residents["id_number"].head(6).to_list()
    cycle = education_cycle(db, numbers, [True] * 6, score(db))
    notice = service.publish(SYSTEM_ACTOR, db, allocation_run_id=cycle["run"])
    mine = resident_actor(numbers[2])
    assert service.own_refs(mine, db, notice) == [str(cycle["ids"][2])]
    assert service.own_rows(mine, db, notice)["ref"].to_list() == [str(cycle["ids"][2])]
    assert service.own_refs(SYSTEM_ACTOR, db, notice) == []
    # Found by the applicant's masked name and last four, with the allocation's columns.
    name = residents.filter(pl.col("id_number") == numbers[2])["name"][0]
    query = service.parse_row_query(f"{name} {numbers[2][-4:]}")
    assert query is not None
    _total, found = service.search_rows(db, notice, query)
    assert str(cycle["ids"][2]) in found["ref"].to_list()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Engine:
    if request.param == "sqlite":
        return create_db_engine(f"sqlite:///{tmp_path / 'search.db'}")
    return create_db_engine(request.getfixturevalue("empty_postgres_url"))


def test_migration_0027_fills_the_keys_of_rows_published_before(empty_engine: Engine) -> None:
    scripts = ScriptDirectory.from_config(migrate.alembic_config(empty_engine))
    migrate.upgrade(empty_engine, str(scripts.get_revision("0027").down_revision))
    statements = [
        "INSERT INTO towns (id, code, name, kind) VALUES (1, '330282001', '浒山街道', 'street')",
        "INSERT INTO residents (id, id_number, name, sex, birth_date, origin_region_code, "
        "origin_province, town_id) VALUES (7, '51010219900101041x', '欧阳锋', 'M', "
        "'1990-01-01', '510102', '四川', 1)",
        "INSERT INTO households (id, household_number, town_id) VALUES (1, 'H1', 1)",
        "INSERT INTO children (id, household_id, id_number, name, sex, birth_date, "
        "vaccination_certificate) VALUES (3, 1, '330282201801015678', '欧阳克', 'M', "
        "'2018-01-01', true)",
        "INSERT INTO program_cycles (id, program_id, program_text, program_digest, department, "
        "name, opens, closes, as_of, notice_days, status, created_by) VALUES (1, 'school-entry', "
        "'', '', '教育局', '2026', '2026-01-01', '2026-02-01', '2026-01-01', 5, 'final', 'op')",
        "INSERT INTO applications (id, cycle_id, resident_id, child_id, subject, choices, fields, "
        "status, submitted_by) VALUES (12, 1, 7, 3, 'child:3', '', '{}', 'final', 'op')",
        "INSERT INTO notices (id, kind, title, starts_on, ends_on, status, row_count, "
        "rows_digest, published_by, cycle_id) VALUES (1, 'allocation', '录取', '2026-11-02', "
        "'2026-11-06', 'open', 1, '', 'op', 1), (2, 'scoring', '积分', '2026-11-02', "
        "'2026-11-06', 'open', 1, '', 'op', NULL)",
        "INSERT INTO notice_rows (notice_id, position, ref, name, child_name) VALUES "
        "(1, 1, '12', '欧**', '欧**'), (2, 1, '7', '欧**', NULL)",
    ]
    with empty_engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))
    migrate.upgrade(empty_engine)
    with empty_engine.connect() as connection:
        keys = connection.execute(
            text("SELECT notice_id, id_tail, child_id_tail FROM notice_rows ORDER BY notice_id")
        ).all()
    assert [tuple(row) for row in keys] == [(1, "041X", "5678"), (2, "041X", None)]
    with Session(empty_engine) as session:
        notice = session.get_one(Notice, 1)
        query = service.parse_row_query("欧阳锋 041x")
        assert query is not None
        assert service.search_rows(session, notice, query)[1]["ref"].to_list() == ["12"]
        child = service.parse_row_query("欧阳克 5678")
        assert child is not None
        assert service.search_rows(session, notice, child)[1]["ref"].to_list() == ["12"]
    migrate.downgrade(empty_engine, "base")
