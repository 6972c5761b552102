"""``luodi program …``: in a process of its own, what a command loads before it starts work
(each command is a new process, and imports are most of a short command's time); in this
process, what a command writes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import migrated_engine


def imported_by(database: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run ``luodi`` on ``database`` under ``-X importtime``: the result and every module the
    process imported."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "luodi", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=database.parent,
        env={**os.environ, "COLUMNS": "200", "LUODI_DATABASE_URL": f"sqlite:///{database}"},
    )
    imported = {
        line.rsplit("|", 1)[-1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }
    return result, imported


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "luodi.db"
    migrated_engine(f"sqlite:///{path}").dispose()
    return path


def test_apply_loads_the_intake_not_allocation_scoring_or_alembic(database: Path) -> None:
    applications = database.parent / "applications.csv"
    applications.write_text(
        "id_number,child_id_number,choices\n110105194912310021,110105201912310028,S1\n",
        encoding="utf-8",
    )
    result, imported = imported_by(database, "program", "apply", "999", str(applications))
    # It ran as far as the cycle, which this database does not have.
    assert result.returncode == 1 and "999" in result.stderr, result.stderr
    assert "luodi.programs.intake" in imported
    unneeded = {
        "alembic",  # a migrated database is told by its stamp (migrate.files_head)
        "luodi.allocation.service",
        "luodi.scoring.service",
        "luodi.registry.service",
        "luodi.feeds.catalog",
        "luodi.programs.cases",
    }
    assert not unneeded & imported


def test_allocate_loads_the_allocation_not_the_intake_or_test_cases(database: Path) -> None:
    result, imported = imported_by(database, "program", "allocate", "999", "--seed", "1")
    assert result.returncode == 1 and "999" in result.stderr, result.stderr
    assert "luodi.allocation.service" in imported
    assert not {"alembic", "luodi.programs.intake", "luodi.programs.cases"} & imported


def test_open_and_targets_show_the_hot_schools(database: Path) -> None:
    from tests.test_cli import run_luodi

    schools = database.parent / "schools.csv"
    schools.write_text(
        "school_id,name,town_code,entry_grade,seats,hot\n"
        "P1,慈溪市浒山街道第一小学,330282003,1,40,是\n"
        "P2,慈溪市浒山街道第二小学,330282003,1,60,\n"
        "P3,慈溪市周巷镇小学,330282114,1,50,否\n",
        encoding="utf-8",
    )
    env = {"LUODI_DATABASE_URL": f"sqlite:///{database}"}
    opened = run_luodi(
        "program",
        "open",
        "school-entry",
        "--name",
        "2026 秋",
        "--opens",
        "2026-04-01",
        "--closes",
        "2026-04-30",
        "--targets",
        str(schools),
        "--grade",
        "1",
        env=env,
    )
    assert opened.returncode == 0, opened.stderr
    assert "学位紧张学校 hot schools（1）：慈溪市浒山街道第一小学（P1）" in opened.stdout
    shown = run_luodi("program", "targets", "1", env=env)
    assert shown.returncode == 0, shown.stderr
    rows = {line.split("│")[1].strip(): line for line in shown.stdout.splitlines() if "│ P" in line}
    assert set(rows) == {"P1", "P2", "P3"}
    assert "是" in rows["P1"] and "教育局公布" in rows["P1"]
    assert "否" in rows["P2"] and "教育局公布" not in rows["P2"]  # not listed, no past cycle
    assert "否" in rows["P3"] and "教育局公布" in rows["P3"]
    schools.write_text(schools.read_text(encoding="utf-8").replace(",是\n", ",也许\n"))
    refused = run_luodi(
        "program",
        "open",
        "school-entry",
        "--name",
        "错",
        "--opens",
        "2026-04-01",
        "--closes",
        "2026-04-30",
        "--targets",
        str(schools),
        "--grade",
        "1",
        env=env,
    )
    assert refused.returncode == 1
    assert (
        "schools.csv" in refused.stderr
        and "hot" in refused.stderr
        and "Traceback" not in refused.stderr
    )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def loan_database(
    request: pytest.FixtureRequest,
    small_city: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[int, int, list[str]]]:
    """A database with the small city and an allocated loan cycle, this process's settings
    pointed at it: (cycle, run, the approved ID numbers in application order)."""
    from datetime import date, timedelta

    import polars as pl

    from luodi import db
    from luodi.allocation import service as allocation
    from luodi.auth import service as auth_service
    from luodi.auth.actor import SYSTEM_ACTOR
    from luodi.db import session_scope
    from luodi.policy.service import find_policy
    from luodi.programs import demo, intake
    from luodi.programs import service as programs
    from luodi.scoring import service as scoring_service
    from luodi.settings import get_settings
    from tests.conftest import city_engine

    as_of, today = date(2026, 3, 1), date.today()
    with city_engine(request.param, small_city, tmp_path) as engine:
        with session_scope(engine) as session:
            scoring_service.score_registry(
                SYSTEM_ACTOR, session, find_policy("zj-cixi", as_of), as_of
            )
            cycle = programs.open_cycle(
                SYSTEM_ACTOR, session, "loan", "cli", today, today + timedelta(days=1), as_of
            )
            applications = demo.loan_applications(small_city, share=0.1)
            intake.submit_applications(SYSTEM_ACTOR, session, cycle.id, applications.to_dicts())
            intake.verify_all(SYSTEM_ACTOR, session, cycle.id)
            run = allocation.allocate_cycle(SYSTEM_ACTOR, session, cycle.id, "cli")
            auth_service.add_user(
                SYSTEM_ACTOR, session, "loans", "reviewer", "Banker-2026-pass", department="人社局"
            )
            results = allocation.run_results(SYSTEM_ACTOR, session, run.id, masked=False)
            approved = results.filter(pl.col("outcome") == "placed").sort("application_id")
            found = (cycle.id, run.id, approved["id_number"].to_list())
        monkeypatch.setenv("LUODI_DATABASE_URL", engine.url.render_as_string(hide_password=False))
        get_settings.cache_clear()
        db.dispose_engines()
        yield found
        get_settings.cache_clear()
        db.dispose_engines()


AS_BANKER = ["--as", "loans"]


def test_bank_export_writes_the_final_approved_list(
    loan_database: tuple[int, int, list[str]], tmp_path: Path
) -> None:
    import io

    import polars as pl
    from sqlalchemy import select
    from typer.testing import CliRunner

    from luodi.allocation import service as allocation
    from luodi.audit.models import AuditEntry
    from luodi.auth.actor import SYSTEM_ACTOR
    from luodi.cli import app
    from luodi.db import session_scope
    from luodi.programs import service as programs

    cycle, run, numbers = loan_database
    runner = CliRunner()
    output = tmp_path / "loans.xlsx"
    # Before the run is final: refused, nothing written.
    early = runner.invoke(
        app, ["program", "bank-export", str(run), "--output", str(output), *AS_BANKER]
    )
    assert early.exit_code == 1 and "尚未确定" in early.stderr and not output.exists()
    with session_scope() as session:
        programs.finalize(SYSTEM_ACTOR, session, cycle)
        assert allocation.get_run(SYSTEM_ACTOR, session, run).final
    done = runner.invoke(
        app, ["program", "bank-export", str(run), "--output", str(output), *AS_BANKER]
    )
    assert done.exit_code == 0, done.stderr
    assert f"已导出 {len(numbers):,} 条核准记录" in done.stdout
    sheet = pl.read_excel(io.BytesIO(output.read_bytes()), has_header=False, infer_schema_length=0)
    ids = sheet.get_column(sheet.columns[2]).to_list()
    assert numbers and ids[ids.index("身份证号码") + 1 :] == numbers
    csv = tmp_path / "loans.csv"
    assert (
        runner.invoke(
            app, ["program", "bank-export", str(run), "--output", str(csv), *AS_BANKER]
        ).exit_code
        == 0
    )
    written = pl.read_csv(csv, infer_schema=False)
    assert written["身份证号码"].to_list() == numbers
    # Whole yuan as written on the notice's page: 50000, not 50000.0.
    assert not any(amount.endswith(".0") for amount in written["核准额度（元）"])
    wrong = runner.invoke(
        app, ["program", "bank-export", str(run), "--output", str(tmp_path / "x.pdf"), *AS_BANKER]
    )
    assert wrong.exit_code == 1 and ".csv 或 .xlsx" in wrong.stderr
    # Without a named account nothing is exported; the audit names who took the list.
    nobody = runner.invoke(app, ["program", "bank-export", str(run), "--output", str(csv)])
    assert nobody.exit_code == 2 and "--as" in nobody.stderr
    with session_scope() as session:
        exports = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "allocation.bank_export")
        ).all()
        assert exports and {entry.actor for entry in exports} == {"loans"}
