"""``luodi feed`` as a user runs it: exit codes, summaries, reports, and kill -9 mid-import."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import create_engine, func, select

from luodi.facts.models import Fact
from luodi.feeds.models import FeedBatch
from tests.conftest import city_engine
from tests.test_cli import run_luodi


@pytest.fixture
def database(tmp_path: Path, registry_only: Path) -> dict[str, str]:
    with city_engine("sqlite", registry_only, tmp_path) as engine:
        url = engine.url.render_as_string(hide_password=False)
    return {"LUODI_DATABASE_URL": url}


def counts(env: dict[str, str]) -> tuple[int, int]:
    engine = create_engine(env["LUODI_DATABASE_URL"])
    with engine.connect() as connection:
        facts = connection.scalar(select(func.count()).select_from(Fact)) or 0
        batches = connection.scalar(select(func.count()).select_from(FeedBatch)) or 0
    engine.dispose()
    return int(facts), int(batches)


def test_import_reject_then_partial_then_again(
    database: dict[str, str], small_city: Path, tmp_path: Path
) -> None:
    frame = pl.read_csv(small_city / "social_insurance.csv", infer_schema=False).head(300)
    bad = frame.with_columns(
        period=pl.when(pl.int_range(pl.len()) == 10).then(pl.lit("20x5")).otherwise("period")
    )
    path = tmp_path / "社保.csv"
    path.write_bytes(bad.write_csv().encode("gbk"))

    rejected = run_luodi("feed", "import", "social_insurance", str(path), env=database)
    assert rejected.returncode == 1
    assert "未导入任何数据" in rejected.stdout and "20x5" in rejected.stdout
    assert (tmp_path / "社保.rejected.xlsx").exists() and (tmp_path / "社保.rejected.csv").exists()
    assert counts(database) == (0, 0)

    partial = run_luodi(
        "feed", "import", "social_insurance", str(path), "--accept-partial", env=database
    )
    assert partial.returncode == 0, partial.stderr
    assert "299" in partial.stdout and "rows left out" in partial.stdout
    assert counts(database) == (299, 1)

    again = run_luodi("feed", "import", "social_insurance", str(path), env=database)
    assert again.returncode == 0 and "already imported" in again.stdout
    assert counts(database) == (299, 1)

    person = frame["id_number"][0]
    history = run_luodi("feed", "history", person, env=database)
    assert history.returncode == 0, history.stderr
    assert "社保.csv:2" in history.stdout and person not in history.stdout  # masked


def test_kill_9_mid_import_leaves_the_database_as_before(
    database: dict[str, str], small_city: Path, tmp_path: Path
) -> None:
    people = pl.read_csv(small_city / "residents.csv", infer_schema=False)["id_number"]
    big = (
        pl.DataFrame({"id_number": people})
        .join(pl.DataFrame({"period": [str(year) for year in range(1926, 2026)]}), how="cross")
        .with_columns(months_paid=pl.lit("12"))
    )
    path = tmp_path / "big.csv"
    big.write_csv(path)
    database_file = Path(database["LUODI_DATABASE_URL"].removeprefix("sqlite:///"))
    wal = database_file.with_name(database_file.name + "-wal")
    before = wal.stat().st_size if wal.exists() else 0
    process = subprocess.Popen(
        [sys.executable, "-m", "luodi", "feed", "import", "social_insurance", str(path)],
        env={**os.environ, **database},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # Wait until the import is writing (the write-ahead log grows), then kill it hard.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if wal.exists() and wal.stat().st_size > before + 4_000_000:
            break
        time.sleep(0.02)
    assert process.poll() is None, "the import finished before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert counts(database) == (0, 0)
    # And the database still works: the same file imports completely afterwards.
    finished = run_luodi("feed", "import", "social_insurance", str(path), env=database)
    assert finished.returncode == 0, finished.stderr
    assert counts(database) == (big.height, 1)


def test_list_and_show(database: dict[str, str]) -> None:
    listed = run_luodi("feed", "list", env=database)
    assert listed.returncode == 0
    for feed in ("social_insurance", "housing", "violations", "vaccination", "residents"):
        assert feed in listed.stdout
    shown = run_luodi("feed", "show", "social_insurance", env=database)
    assert "公民身份号码" in shown.stdout and "缴费月数" in shown.stdout
    unknown = run_luodi("feed", "show", "nope", env=database)
    assert unknown.returncode == 1 and "没有数据源" in unknown.stderr


def test_a_row_wider_than_its_header_exits_1_naming_file_and_row(
    database: dict[str, str], small_city: Path, tmp_path: Path
) -> None:
    frame = pl.read_csv(small_city / "social_insurance.csv", infer_schema=False).head(5)
    path = tmp_path / "wide.csv"
    path.write_text(
        frame.select("id_number", "period", "months_paid").write_csv() + "1,2024,12,extra\n",
        encoding="utf-8",
    )
    result = run_luodi("feed", "import", "social_insurance", str(path), env=database)
    assert result.returncode == 1
    assert "wide.csv" in result.stderr and "row 7" in result.stderr
    assert "4 fields, more than the header's 3" in result.stderr
    assert "Traceback" not in result.stderr
    assert counts(database) == (0, 0)
