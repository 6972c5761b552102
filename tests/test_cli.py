"""The ``luodi`` command as a user runs it: a real process, real files, real databases."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from luodi.registry.models import Resident
from luodi.scoring.models import ResidentScore
from tests.factories import id_number


def run_luodi(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "luodi", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def test_id_check_all_valid_exits_0() -> None:
    result = run_luodi("id", "check", "11010519491231002x", id_number())
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("有效 valid") == 2
    assert "11010519491231002X" in result.stdout


def test_id_check_names_each_reason_and_exits_1() -> None:
    result = run_luodi(
        "id",
        "check",
        id_number(),
        "1101051949",
        "99010519491231002X",
        "110105194902300021",
        "110105194912310021",
    )
    assert result.returncode == 1
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 5
    assert "有效 valid" in lines[0]
    assert "[length]" in lines[1]
    assert "[region]" in lines[2]
    assert "[birth_date]" in lines[3]
    assert "[check_character]" in lines[4]


def test_bad_input_is_a_clear_error_without_traceback(tmp_path: Path) -> None:
    env = {"LUODI_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    assert run_luodi("db", "upgrade", env=env).returncode == 0
    result = run_luodi(
        "resident",
        "add",
        "--id-number",
        id_number(),
        "--name",
        "张三",
        "--town",
        "330282999",
        env=env,
    )
    assert result.returncode == 1
    assert "错误" in result.stderr
    assert "330282999" in result.stderr
    assert "Traceback" not in result.stderr
    result = run_luodi("load", str(tmp_path / "nowhere"), env=env)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_demo_end_to_end_without_serving(tmp_path: Path) -> None:
    database = tmp_path / "demo.db"
    env = {"LUODI_DATABASE_URL": f"sqlite:///{database}", "LUODI_DATA_DIR": str(tmp_path / "var")}
    result = run_luodi("demo", "--residents", "3000", "--no-serve", env=env)
    assert result.returncode == 0, result.stderr
    assert "周巷镇" in result.stdout
    assert "合计 total" in result.stdout
    assert "3,000" in result.stdout
    assert (tmp_path / "var" / "demo-city" / "residents.csv").exists()
    # The demo scores the city with the default policy and shows the distribution.
    assert "积分分布" in result.stdout and "zj-cixi 2026.1" in result.stdout
    engine = create_engine(f"sqlite:///{database}")
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(Resident)) == 3000
        scored = connection.scalar(select(func.count()).select_from(ResidentScore))
        assert scored is not None and 0 < scored < 3000
    engine.dispose()
    # Running it again starts from a fresh database, not on top of the old one.
    again = run_luodi("demo", "--residents", "1000", "--no-serve", env=env)
    assert again.returncode == 0, again.stderr
    engine = create_engine(f"sqlite:///{database}")
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(Resident)) == 1000
    engine.dispose()


def test_demo_refuses_to_empty_postgres_without_force(empty_postgres_url: str) -> None:
    result = run_luodi(
        "demo", "--no-serve", "--residents", "10", env={"LUODI_DATABASE_URL": empty_postgres_url}
    )
    assert result.returncode == 1
    assert "--force" in result.stderr


def test_synth_load_on_postgres(tmp_path: Path, empty_postgres_url: str) -> None:
    env = {"LUODI_DATABASE_URL": empty_postgres_url}
    assert run_luodi("db", "upgrade", env=env).returncode == 0
    result = run_luodi(
        "synth",
        "--residents",
        "2000",
        "--seed",
        "4",
        "--out",
        str(tmp_path / "c"),
        "--load",
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "'residents': 2000" in result.stdout
    listing = run_luodi("town", "list", env=env)
    assert "2,000" in listing.stdout


def test_score_command_on_the_registry(tmp_path: Path) -> None:
    env = {"LUODI_DATABASE_URL": f"sqlite:///{tmp_path / 's.db'}"}
    assert run_luodi("db", "upgrade", env=env).returncode == 0
    city = tmp_path / "city"
    assert (
        run_luodi(
            "synth", "--residents", "1500", "--seed", "3", "--out", str(city), "--load", env=env
        ).returncode
        == 0
    )
    result = run_luodi("score", "--policy", "zj-cixi", "--as-of", "2025-06-30", env=env)
    assert result.returncode == 0, result.stderr
    assert "zj-cixi 2023.1" in result.stdout and "积分分布" in result.stdout
    unknown = run_luodi("score", "--policy", "nowhere", env=env)
    assert unknown.returncode == 1 and "no policy nowhere" in unknown.stderr
    too_early = run_luodi("score", "--policy", "zj-cixi", "--as-of", "2020-01-01", env=env)
    assert too_early.returncode == 1 and "no version in force" in too_early.stderr
