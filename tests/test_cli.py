"""The ``luodi`` command as a user runs it: a real process, real files, real databases; and
in-process through Typer's runner where the command's own state (settings, engines) is set."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pytest
import typer
from sqlalchemy import create_engine, func, select, text, update
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner

from luodi import cli, db, migrate
from luodi.console import as_luodi_error, console, error_console
from luodi.db import DatabaseBusy, create_db_engine, database_failure, session_scope
from luodi.registry.models import Resident, Town
from luodi.scoring.models import ResidentScore
from luodi.settings import get_settings
from tests import factories
from tests.factories import id_number

runner = CliRunner()


def run_luodi_process(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m luodi …`` in a new process: for what only a process shows (start-up, the
    working directory, signals, exit status from the entry point)."""
    return subprocess.run(
        [sys.executable, "-m", "luodi", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def run_luodi(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """A command as a user runs it, in this process: the same command tree, failure renderer
    and exit status as ``luodi`` (``cli.app`` under Typer's runner), with ``env`` set and the
    settings and engines read anew; a new process would add a second or two of imports to each
    of the suite's many commands. With ``cwd`` it runs in a new process (the point then is the
    working directory). A failure that escapes the renderer is shown as a process would show
    it, with its traceback, so that "no traceback" assertions still mean something."""
    if cwd is not None:
        return run_luodi_process(*args, env=env, cwd=cwd)
    widths = (console.width, error_console.width)
    console.width = error_console.width = 200
    get_settings.cache_clear()
    db.dispose_engines()
    try:
        result = runner.invoke(cli.app, list(args), env=env)
    finally:
        get_settings.cache_clear()
        db.dispose_engines()
        console.width, error_console.width = widths
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "Traceback (most recent call last):\n" + "".join(
            traceback.format_exception(result.exception)
        )
    return subprocess.CompletedProcess(["luodi", *args], result.exit_code, result.stdout, stderr)


def residents_in_total(output: str) -> str:
    """The residents cell of the towns table's 合计 total line."""
    total = next(line for line in output.splitlines() if "合计 total" in line)
    return total.split("│")[3].strip()


def test_id_check_all_valid_exits_0() -> None:
    result = run_luodi_process("id", "check", "11010519491231002x", id_number())
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
    result = run_luodi_process("demo", "--residents", "400", "--no-serve", env=env)
    assert result.returncode == 0, result.stderr
    assert "周巷镇" in result.stdout
    assert "合计 total" in result.stdout
    # 400 residents today, and the families who lived here in the five years of the past
    # and left (their permits ended): the registry keeps both.
    city_residents = pl.read_csv(tmp_path / "var" / "demo-city" / "residents.csv").height
    assert city_residents > 400
    assert residents_in_total(result.stdout) == str(city_residents)
    assert (tmp_path / "var" / "demo-city" / "school_intakes.csv").exists()
    # The demo scores the city with the default policy and shows the distribution.
    assert "积分分布" in result.stdout and "zj-cixi 2026.1" in result.stdout
    engine = create_engine(f"sqlite:///{database}")
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(Resident)) == city_residents
        scored = connection.scalar(select(func.count()).select_from(ResidentScore))
        assert scored is not None and 0 < scored <= 400
    engine.dispose()
    # Running it again refuses to throw the city away unasked; with --force it starts from a
    # fresh database, not on top of the old one.
    refused = run_luodi_process("demo", "--residents", "100", "--no-serve", env=env)
    assert refused.returncode == 1
    assert f"居民 {city_residents} 条" in refused.stderr and "--force" in refused.stderr
    again = run_luodi_process("demo", "--residents", "100", "--no-serve", "--force", env=env)
    assert again.returncode == 0, again.stderr
    # Every program of the demo ran on the smaller city too (a program nobody could apply
    # for is said and skipped: programs/cli.demo_cycles).
    assert (
        again.stdout.count("周期 cycle") == 4
        or "no applicants in a city this small" in again.stdout
    )
    engine = create_engine(f"sqlite:///{database}")
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(Resident)) == (
            pl.read_csv(tmp_path / "var" / "demo-city" / "residents.csv").height
        )
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
        "300",
        "--seed",
        "4",
        "--out",
        str(tmp_path / "c"),
        "--load",
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "'residents': 300" in result.stdout
    listing = run_luodi("town", "list", env=env)
    assert residents_in_total(listing.stdout) == "300"


def test_score_command_on_the_registry(tmp_path: Path) -> None:
    env = {"LUODI_DATABASE_URL": f"sqlite:///{tmp_path / 's.db'}"}
    assert run_luodi("db", "upgrade", env=env).returncode == 0
    city = tmp_path / "city"
    assert (
        run_luodi(
            "synth", "--residents", "300", "--seed", "3", "--out", str(city), "--load", env=env
        ).returncode
        == 0
    )
    result = run_luodi("score", "--policy", "zj-cixi", "--as-of", "2025-06-30", env=env)
    assert result.returncode == 0, result.stderr
    assert "zj-cixi 2023.1" in result.stdout and "积分分布" in result.stdout
    assert "frame digest" in result.stdout
    unknown = run_luodi("score", "--policy", "nowhere", env=env)
    assert unknown.returncode == 1 and "no policy nowhere" in unknown.stderr
    too_early = run_luodi("score", "--policy", "zj-cixi", "--as-of", "2020-01-01", env=env)
    assert too_early.returncode == 1 and "no version in force" in too_early.stderr


# Loading commands only when they run


def test_help_lists_every_command_without_importing_any(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "luodi", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stderr
    for name, (_target, help_text) in {**cli.LAZY_COMMANDS, **cli.LAZY_GROUPS}.items():
        assert f" {name} " in result.stdout and help_text in result.stdout
    for name in ("demo", "serve", "db"):
        assert f" {name} " in result.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    assert "typer" in imported
    heavy = {"sqlalchemy", "polars", "numpy", "luodi.db", "luodi.registry.cli", "rich.markdown"}
    assert not heavy & imported


def test_id_check_loads_neither_the_database_nor_the_frame_libraries(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "luodi", "id", "check", "11010519491231002X"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stderr
    assert "有效 valid" in result.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    assert "luodi.kernels.identifiers" in imported
    heavy = {"sqlalchemy", "polars", "numpy", "luodi.db", "luodi.settings", "luodi.registry.cli"}
    assert not heavy & imported


def test_listed_help_is_the_commands_own() -> None:
    """The help kept in cli.py for ``luodi --help`` says what the loaded command says."""
    for name, (target, help_text) in {**cli.LAZY_COMMANDS, **cli.LAZY_GROUPS}.items():
        loaded = cli.LazyCommand(name, target, help_text).load()
        first_paragraph = inspect.cleandoc(loaded.help or "").split("\n\n")[0]
        assert first_paragraph == help_text, name


def test_a_lazy_group_parses_its_own_commands() -> None:
    result = runner.invoke(cli.app, ["id", "check", id_number(), "123"])
    assert result.exit_code == 1
    assert "有效 valid" in result.stdout and "[length]" in result.stdout
    assert "check" in runner.invoke(cli.app, ["id", "--help"]).stdout


# A database that is missing or not migrated


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """Point this process's settings and engines at a database URL, as LUODI_DATABASE_URL
    does for a command."""

    def point_at(url: str) -> None:
        monkeypatch.setenv("LUODI_DATABASE_URL", url)
        get_settings.cache_clear()
        db.dispose_engines()

    yield point_at
    monkeypatch.delenv("LUODI_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    db.dispose_engines()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database that does not exist yet (an SQLite file not there) or is empty (a new
    PostgreSQL schema)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'var' / 'luodi.db'}"
    return str(request.getfixturevalue("empty_postgres_url"))


def one_line(output: str) -> str:
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    return lines[0]


def test_a_command_refuses_a_database_not_there_or_not_migrated(
    fresh_url: str, configure: Callable[[str], None]
) -> None:
    configure(fresh_url)
    for command in (["town", "list"], ["serve"]):
        result = runner.invoke(cli.app, command)
        assert result.exit_code == 1
        line = one_line(result.stderr)
        assert "luodi db upgrade" in line and ("不存在" in line or "未升级" in line)
        assert "Traceback" not in result.output
    file = db.sqlite_file(fresh_url)
    assert file is None or not file.parent.exists()  # nothing created, not even var/
    assert runner.invoke(cli.app, ["db", "current"]).stdout.startswith("(空 empty) / head")
    upgraded = runner.invoke(cli.app, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    db.dispose_engines()
    listed = runner.invoke(cli.app, ["town", "list"])
    assert listed.exit_code == 0, listed.output


def test_an_empty_sqlite_file_is_not_migrated(
    tmp_path: Path, configure: Callable[[str], None]
) -> None:
    (tmp_path / "empty.db").touch()
    configure(f"sqlite:///{tmp_path / 'empty.db'}")
    result = runner.invoke(cli.app, ["town", "list"])
    assert result.exit_code == 1
    assert "未升级（版本 空，应为" in one_line(result.stderr)


def test_a_database_newer_than_the_code_is_named_so(
    fresh_url: str, configure: Callable[[str], None]
) -> None:
    engine = create_db_engine(fresh_url)
    migrate.upgrade(engine)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'f00d'"))
    engine.dispose()
    configure(fresh_url)
    result = runner.invoke(cli.app, ["town", "list"])
    assert result.exit_code == 1
    line = one_line(result.stderr)
    assert "f00d" in line and "upgrade luodi" in line


def test_with_debug_the_error_is_raised_whole(
    fresh_url: str, configure: Callable[[str], None]
) -> None:
    configure(fresh_url)
    result = runner.invoke(cli.app, ["--debug", "town", "list"])
    assert isinstance(result.exception, migrate.SchemaNotReady)


def test_outside_the_checkout_one_line_and_no_file(tmp_path: Path) -> None:
    """Run from an empty folder with the default settings: no var/luodi.db appears, a read
    command and the server refuse in one line, and db upgrade is what makes it work."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("LUODI_")}
    for command in (["town", "list"], ["serve", "--port", "8765"]):
        result = subprocess.run(
            [sys.executable, "-m", "luodi", *command],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            env=env,
        )
        assert result.returncode == 1
        line = one_line(result.stderr)
        assert "var/luodi.db" in line and "luodi db upgrade" in line
        assert str(tmp_path) not in line  # the default location, named as configured
    assert list(tmp_path.iterdir()) == []
    upgraded = subprocess.run(
        [sys.executable, "-m", "luodi", "db", "upgrade"], cwd=tmp_path, env=env, timeout=120
    )
    assert upgraded.returncode == 0
    assert (tmp_path / "var" / "luodi.db").is_file()


# A second writer


def with_a_town(url: str) -> str:
    """``url`` migrated and holding one town, committed."""
    engine = create_db_engine(url)
    migrate.upgrade(engine)
    with session_scope(engine) as session:
        factories.town(session)
    engine.dispose()
    return url


@pytest.fixture
def town_database(fresh_url: str) -> str:
    return with_a_town(fresh_url)


def rename_town(engine: db.Engine, name: str) -> None:
    with engine.begin() as connection:
        connection.execute(update(Town).values(name=name))


def test_a_second_writer_waits_for_the_first(town_database: str) -> None:
    engine = create_db_engine(town_database)
    holder = engine.connect()
    holding = holder.begin()
    holder.execute(update(Town).values(name="甲"))
    finishing = threading.Timer(0.5, holding.commit)
    finishing.start()
    started = time.perf_counter()
    rename_town(engine, "乙")  # blocks on the first writer's lock, then goes through
    waited = time.perf_counter() - started
    finishing.join()
    holder.close()
    with engine.connect() as connection:
        assert connection.scalar(select(Town.name)) == "乙"
    engine.dispose()
    assert waited >= 0.4


def test_past_the_busy_timeout_a_command_says_try_again(
    tmp_path: Path, configure: Callable[[str], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite only: PostgreSQL has no database-wide write lock; its writers wait for the rows
    (the test above runs on both)."""
    url = with_a_town(f"sqlite:///{tmp_path / 'busy.db'}")
    holder_engine = create_db_engine(url)
    holder = holder_engine.connect()
    holding = holder.begin()
    holder.execute(update(Town).values(name="甲"))
    try:
        impatient = create_db_engine(url, busy_timeout=0.2)
        started = time.perf_counter()
        with pytest.raises(OperationalError, match="database is locked") as raised:
            rename_town(impatient, "乙")
        waited = time.perf_counter() - started
        impatient.dispose()
        assert isinstance(database_failure(raised.value), DatabaseBusy)
        monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_SECONDS", 0.3)
        configure(url)
        started = time.perf_counter()
        result = runner.invoke(
            cli.app,
            [
                "resident",
                "add",
                "--id-number",
                id_number(),
                "--name",
                "张三",
                "--town",
                "330282114",
            ],
        )
        command_seconds = time.perf_counter() - started
    finally:
        holding.rollback()
        holder.close()
        holder_engine.dispose()
    assert 0.15 <= waited < 2  # waited its own timeout, not the default's 5 s
    assert result.exit_code == 1
    line = one_line(result.stderr)
    assert "数据库正忙，请稍后重试" in line and "the database is busy" in line
    assert command_seconds < 3


# Failures without tracebacks or server paths


def test_an_unexpected_failure_is_one_line_without_its_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hidden = tmp_path / "srv" / "secret.csv"
    broken = typer.Typer(cls=cli.LuodiGroup)
    broken.callback()(cli.root_options)

    @broken.command("read")
    def read() -> None:
        hidden.read_text()

    result = runner.invoke(broken, ["read"])
    assert result.exit_code == 1
    line = one_line(result.stderr)
    assert "FileNotFoundError" in line and "--debug" in line and str(hidden) not in line
    assert isinstance(runner.invoke(broken, ["--debug", "read"]).exception, FileNotFoundError)
    assert "secret" not in str(as_luodi_error(ValueError(str(hidden))))


# The demo keeps data it did not make unless told


def resident_count(url: str) -> int:
    engine = create_db_engine(url)
    with engine.connect() as connection:
        count = connection.scalar(select(func.count()).select_from(Resident)) or 0
    engine.dispose()
    return count


def test_demo_refuses_a_database_with_residents(
    town_database: str, configure: Callable[[str], None]
) -> None:
    engine = create_db_engine(town_database)
    with session_scope(engine) as session:
        factories.resident(session)
    engine.dispose()
    configure(town_database)
    result = runner.invoke(cli.app, ["demo", "--no-serve", "--residents", "10"])
    assert result.exit_code == 1
    line = one_line(result.stderr)
    assert "居民 1 条" in line and "1 residents" in line and "--force" in line
    assert resident_count(town_database) == 1
    # With --force it is emptied and migrated anew (the whole demo runs in the slow test).
    cli.fresh_database(force=True)
    db.dispose_engines()
    assert resident_count(town_database) == 0
    engine = create_db_engine(town_database)
    assert migrate.current_revision(engine) == migrate.head_revision(engine)
    engine.dispose()


def test_demo_starts_on_an_empty_sqlite_database_unasked(
    tmp_path: Path, configure: Callable[[str], None]
) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    migrate.upgrade(create_db_engine(url))
    configure(url)
    cli.fresh_database(force=False)
    db.dispose_engines()
    assert resident_count(url) == 0


def test_a_flag_is_shown_as_a_flag_and_works_as_one() -> None:
    """``--load`` takes no value: Click must parse it as a flag, and the help must not show a
    value (typer 0.29 printed ``--load <bool>``, and ``--load true`` is an error)."""
    from typer.main import get_command

    from luodi.synth.cli import synth

    app = typer.Typer()
    app.command()(synth)
    load = next(p for p in get_command(app).params if p.name == "load")
    assert getattr(load, "is_flag", False)
    shown = run_luodi("synth", "--help")
    assert shown.returncode == 0
    line = next(text for text in shown.stdout.splitlines() if "--load" in text)
    assert "<bool>" not in line and "BOOLEAN" not in line


def test_demo_prints_the_outcome_of_every_program(
    fresh_url: str,
    configure: Callable[[str], None],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`luodi demo` runs the school, housing, health-check and loan programs on the synthetic
    city and prints, per program, its applications by outcome: the counts the database holds
    for each program's run."""
    from luodi.allocation.models import OUTCOME_LABELS, AllocationResult, AllocationRun
    from luodi.programs.models import ProgramCycle

    monkeypatch.setenv("LUODI_DATA_DIR", str(tmp_path / "data"))
    configure(fresh_url)
    result = runner.invoke(cli.app, ["demo", "--no-serve", "--residents", "500", "--force"])
    assert result.exit_code == 0, result.output
    table = result.output[result.output.index("演示结果") :]
    printed: dict[str, dict[str, int]] = {}
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip("│┃ ").split("│")]
        if (
            len(cells) == len(OUTCOME_LABELS) + 2
            and cells[0]
            and cells[1].replace(",", "").isdigit()
        ):
            counts = [int(cell.replace(",", "")) for cell in cells[1:]]
            printed[cells[0]] = dict(zip([*OUTCOME_LABELS, "total"], counts, strict=True))
    assert list(printed) == ["school-entry", "public-rental", "health-check", "loan"]
    engine = create_db_engine(fresh_url)
    with engine.connect() as connection:
        stored = connection.execute(
            select(ProgramCycle.program_id, AllocationResult.outcome, func.count())
            .join(AllocationRun, AllocationRun.cycle_id == ProgramCycle.id)
            .join(AllocationResult, AllocationResult.run_id == AllocationRun.id)
            .group_by(ProgramCycle.program_id, AllocationResult.outcome)
        ).all()
    engine.dispose()
    expected: dict[str, dict[str, int]] = {}
    for program, outcome, count in stored:
        expected.setdefault(program, dict.fromkeys([*OUTCOME_LABELS, "total"], 0))
        expected[program][outcome] = count
        expected[program]["total"] += count
    assert printed == expected
    # Each program decided something both ways: places given and applications refused.
    for program, counts in printed.items():
        assert counts["placed"] > 0, program
        assert counts["total"] > counts["placed"], program
    # The health check's payers and the loan's terms are shown with their runs.
    assert "宁波市总工会" in result.output and "4.8%" in result.output
