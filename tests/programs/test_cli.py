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
