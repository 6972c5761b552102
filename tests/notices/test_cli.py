"""``luodi notice …`` as an operator runs it (``tests.test_cli.run_luodi``), on SQLite and PostgreSQL: a
re-run on another scoring run needs ``--confirm-scoring-run`` and then shows every change;
the stored rows verify against their digest; exports come from storage."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from luodi.auth.actor import SYSTEM_ACTOR
from luodi.db import session_scope
from luodi.notices import service
from luodi.programs import intake
from luodi.registry import service as registry
from tests.conftest import city_engine
from tests.notices.conftest import RESCORED_AS_OF, REVIEWER, education_cycle, resident_actor, score
from tests.test_cli import run_luodi


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def committed(request: pytest.FixtureRequest, small_city: Path, tmp_path: Path) -> Iterator[Engine]:
    with city_engine(request.param, small_city, tmp_path) as engine:
        yield engine


def luodi(engine: Engine, *args: str) -> subprocess.CompletedProcess[str]:
    url = engine.url.render_as_string(hide_password=False)
    return run_luodi(*args, env={"LUODI_DATABASE_URL": url})


def test_rerun_on_another_scoring_run_needs_confirmation(committed: Engine, tmp_path: Path) -> None:
    with session_scope(committed) as session:
        first = score(session)
        numbers = registry.people(SYSTEM_ACTOR, session)["id_number"].head(12).to_list()
        cycle = education_cycle(session, numbers, [True] * 12, first)
        notice = service.publish(SYSTEM_ACTOR, session, allocation_run_id=cycle["run"])
        objection = service.file_objection(
            resident_actor(numbers[0]), session, notice.id, str(cycle["ids"][0]), "积分有误"
        )
        service.review(REVIEWER, session, objection.id, uphold=True, reason="按更正后的数据")
        intake.correct(SYSTEM_ACTOR, session, cycle["ids"][0], fields={"graduated": True})
        intake.verify(REVIEWER, session, [cycle["ids"][0]], approve=True)
        second = score(session, RESCORED_AS_OF)
        notice_id = notice.id

    refused = luodi(committed, "notice", "rerun", str(notice_id), "--scoring-run", str(second))
    assert refused.returncode == 1
    assert "--confirm-scoring-run" in refused.stderr and str(first) in refused.stderr
    assert "Traceback" not in refused.stderr

    done = luodi(
        committed,
        "notice",
        "rerun",
        str(notice_id),
        "--scoring-run",
        str(second),
        "--confirm-scoring-run",
    )
    assert done.returncode == 0, done.stderr
    with session_scope(committed) as session:
        notice = service.get_notice(SYSTEM_ACTOR, session, notice_id)
        amendment = service.amendments(session, notice_id)[0]
        changes = service.amendment_changes(session, notice, amendment.id)
    assert amendment.other_scoring_run and amendment.changed == len(changes) > 1
    assert f"{amendment.changed} 条变化" in done.stdout

    shown = luodi(committed, "notice", "show", str(notice_id), "--changes", "1000")
    assert shown.returncode == 0, shown.stderr
    for change in changes:
        assert change["after"] in shown.stdout
    # The rows' numbers as the page writes them: no float's text (3000.0, 88.0).
    rows_table = shown.stdout.split("└")[0]
    assert not re.search(r"\d\.0\b", rows_table), rows_table
    assert luodi(committed, "notice", "verify", str(notice_id)).returncode == 0
    exported = luodi(committed, "notice", "export", str(notice_id), str(tmp_path / "n.pdf"))
    assert exported.returncode == 0, exported.stderr
    assert (tmp_path / "n.pdf").read_bytes().startswith(b"%PDF-")


def test_show_writes_numbers_as_the_page_does() -> None:
    from luodi.notices.cli import _cell

    assert [_cell("amount", 200000.0), _cell("amount", 1234.5)] == ["200,000", "1,234.50"]
    assert [_cell("points", 88.0), _cell("points", 88.25), _cell("points", 36.5)] == [
        "88",
        "88.25",
        "36.5",
    ]
    assert [_cell("points", None), _cell("rank", 3)] == ["", "3"]
