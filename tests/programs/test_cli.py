"""``luodi program …`` in a process of its own: what a command loads before it starts work
(each command is a new process, and imports are most of a short command's time)."""

from __future__ import annotations

import os
import subprocess
import sys
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
