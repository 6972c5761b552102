"""Migration 0008 on SQLite and PostgreSQL: a notice frozen as JSON before it becomes rows
whose digest still verifies, its amendment's changes become rows, and the downgrade puts
the same JSON back."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from luodi import migrate
from luodi.db import create_db_engine
from luodi.notices import service
from luodi.notices.models import Notice

ROWS = [
    {
        "ref": "12",
        "name": "张**",
        "id_number": "33*************12X",
        "town_code": "330282001",
        "points": 87.5,
        "rank": 1,
    },
    {
        "ref": "7",
        "name": "欧阳*",
        "id_number": "51*************041",
        "town_code": "330282002",
        "points": 80.0,
        "rank": 2,
    },
    {"ref": "9", "name": "李*", "id_number": None, "town_code": None, "points": None, "rank": 3},
]
CHANGES = [{"ref": "12", "name": "张**", "before": "86.5 | 2", "after": "87.5 | 1"}]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Engine:
    if request.param == "sqlite":
        return create_db_engine(f"sqlite:///{tmp_path / 'notices.db'}")
    return create_db_engine(request.getfixturevalue("empty_postgres_url"))


def test_frozen_json_becomes_rows_and_comes_back(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine, "0007")
    published = json.dumps(ROWS, ensure_ascii=False, sort_keys=True)
    digest = hashlib.sha256(published.encode()).hexdigest()
    with empty_engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO notices (id, kind, title, starts_on, ends_on, status, row_count, "
                "rows_json, rows_digest, published_by) VALUES (1, 'scoring', '积分排名', "
                "'2026-11-02', '2026-11-06', 'open', 3, :rows, :digest, 'operator')"
            ),
            {"rows": json.dumps(ROWS, ensure_ascii=False), "digest": digest},
        )
        connection.execute(
            text(
                "INSERT INTO notice_amendments (id, notice_id, previous_run_id, new_run_id, "
                "changed, changes_json, created_by) VALUES (1, 1, 3, 4, 1, :changes, 'op')"
            ),
            {"changes": json.dumps(CHANGES, ensure_ascii=False)},
        )

    migrate.upgrade(empty_engine)
    with Session(empty_engine) as session:
        notice = session.get_one(Notice, 1)
        assert notice.rows_digest == digest
        assert service.verify_digest(session, notice)
        assert service.rows_page(session, notice, 0, 10).to_dicts() == ROWS
        assert service.rows_page(session, notice, 1, 1).to_dicts() == ROWS[1:2]
        assert service.rows_page(session, notice, 0, 10, ref="9").to_dicts() == ROWS[2:]
        assert service.amendment_changes(session, notice, 1) == CHANGES
        amendment = service.amendments(session, 1)[0]
        assert amendment.other_scoring_run is False and amendment.scoring_run_id is None

    migrate.downgrade(empty_engine, "0007")
    with empty_engine.connect() as connection:
        rows_json, changes_json = connection.execute(
            text(
                "SELECT n.rows_json, a.changes_json FROM notices n "
                "JOIN notice_amendments a ON a.notice_id = n.id"
            )
        ).one()
    assert json.loads(rows_json) == ROWS
    assert json.loads(changes_json) == CHANGES
    migrate.downgrade(empty_engine, "base")
    empty_engine.dispose()
