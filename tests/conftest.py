"""Real databases for tests: an SQLite file and the PostgreSQL server, both migrated.

PostgreSQL tests run in a schema of their own inside the ``test`` database and skip with a
reason when the server is absent, unless LUODI_REQUIRE_POSTGRES=1 (set by .ci/run), which
turns the skip into a failure. Each database test runs in a transaction that is rolled back.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from hypothesis import settings
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from luodi import migrate
from luodi.auth import service as auth_service
from luodi.db import create_db_engine

# Argon2 at its production cost (64 MiB, three passes) takes most of a second a password, and
# the web tests make eight accounts per module and database. In this test process only, the
# same algorithm at its lowest cost: what is tested is who may sign in, not the hash's cost
# (the CLI's subprocesses, and `luodi serve` everywhere else, keep the default).
auth_service.HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)

# Property tests are derandomised by default (`make test`, CI): the same examples every run,
# so a red build is reproducible. `make test-random` (HYPOTHESIS_PROFILE=random) explores anew.
# No deadline: speed is measured in bench/, and on a shared 2-core machine an example may take
# longer than Hypothesis' 200 ms without anything being wrong (a flaky red build otherwise).
settings.register_profile("ci", derandomize=True, print_blob=True, deadline=None)
settings.register_profile("random", derandomize=False, print_blob=True, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

POSTGRES_URL = os.environ.get(
    "LUODI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def require_or_skip(variable: str, reason: str) -> None:
    if os.environ.get(variable) == "1":
        pytest.fail(f"{reason} ({variable}=1 makes this mandatory)")
    pytest.skip(reason)


def postgres_available() -> str | None:
    """None when the server answers, else why not."""
    try:
        probe = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with probe.connect() as connection:
            connection.execute(text("SELECT 1"))
        probe.dispose()
    except Exception as error:  # any failure to connect means: not available here
        return f"PostgreSQL not reachable at {POSTGRES_URL}: {type(error).__name__}"
    return None


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'luodi-test.db'}"


@contextmanager
def temporary_schema() -> Iterator[str]:
    """A URL whose connections use a new schema of their own, dropped afterwards."""
    problem = postgres_available()
    if problem:
        require_or_skip("LUODI_REQUIRE_POSTGRES", problem)
    schema = f"luodi_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_schema_url() -> Iterator[str]:
    """The schema shared by the rolled-back tests of the whole run."""
    with temporary_schema() as url:
        yield url


@pytest.fixture
def empty_postgres_url() -> Iterator[str]:
    """An empty schema for one test that migrates or commits for real."""
    with temporary_schema() as url:
        yield url


def migrated_engine(url: str) -> Engine:
    engine = create_db_engine(url)
    migrate.upgrade(engine)
    return engine


@pytest.fixture(scope="session")
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    engine = migrated_engine(sqlite_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def postgres_engine(postgres_schema_url: str) -> Iterator[Engine]:
    engine = migrated_engine(postgres_schema_url)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> Engine:
    """Each database test runs once on SQLite and once on PostgreSQL."""
    return request.getfixturevalue(f"{request.param}_engine")


@contextmanager
def rolled_back_session(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back afterwards (commits inside it are
    savepoints)."""
    connection = engine.connect()
    transaction = connection.begin()
    db_session = Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    try:
        yield db_session
    finally:
        db_session.close()
        transaction.rollback()
        connection.close()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back: every test starts clean."""
    with rolled_back_session(engine) as db_session:
        yield db_session


def load_into(database_url: str, city: Path) -> Engine:
    """A migrated engine on ``database_url`` with the city directory ``city`` loaded through the
    real loader, committed."""
    from luodi.auth.actor import SYSTEM_ACTOR
    from luodi.db import session_scope
    from luodi.registry.loading import load_city

    engine = migrated_engine(database_url)
    with session_scope(engine) as loading:
        load_city(SYSTEM_ACTOR, loading, city)
    return engine


# SQLite files of cities loaded once in this process, by the city's files (name, size, time):
# a module that loads the same city again gets a copy of the file (the same rows as the loader
# writes, without loading them again: dozens of modules load the small city).
_SQLITE_LOADED: dict[tuple[tuple[str, int, int], ...], Path] = {}
_SQLITE_LOADED_FOLDER: list[tempfile.TemporaryDirectory[str]] = []


def loaded_sqlite_file(city: Path) -> Path:
    """An SQLite file holding ``city`` as the loader leaves it (loaded on the first call)."""
    files = sorted(path for path in city.rglob("*") if path.is_file())
    key = tuple(
        (str(path.relative_to(city)), path.stat().st_size, path.stat().st_mtime_ns)
        for path in files
    )
    if key not in _SQLITE_LOADED:
        if not _SQLITE_LOADED_FOLDER:
            _SQLITE_LOADED_FOLDER.append(tempfile.TemporaryDirectory(prefix="luodi-loaded-"))
        target = Path(_SQLITE_LOADED_FOLDER[0].name) / f"city-{len(_SQLITE_LOADED)}.db"
        load_into(f"sqlite:///{target}", city).dispose()
        _SQLITE_LOADED[key] = target
    return _SQLITE_LOADED[key]


@contextmanager
def city_engine(kind: str, city: Path, folder: Path) -> Iterator[Engine]:
    """A migrated database holding the city directory ``city``, committed: an SQLite file in
    ``folder`` (a copy of the file the loader wrote for the same city earlier in this process,
    through SQLite's backup), or a PostgreSQL schema of its own, loaded (``kind`` 'sqlite' or
    'postgres')."""
    if kind == "sqlite":
        target = folder / "city.db"
        with (
            closing(sqlite3.connect(loaded_sqlite_file(city))) as source,
            closing(sqlite3.connect(target)) as copy,
        ):
            source.backup(copy)
        engine = migrated_engine(f"sqlite:///{target}")
        try:
            yield engine
        finally:
            engine.dispose()
        return
    with temporary_schema() as database_url:
        engine = load_into(database_url, city)
        try:
            yield engine
        finally:
            engine.dispose()


SMALL_CITY_RESIDENTS = 1_000


@pytest.fixture(scope="session")
def small_city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic city (SMALL_CITY_RESIDENTS) written once for the whole run (each module that loads
    it pays for its rows, on both databases: small keeps the suite fast)."""
    from luodi.synth.generator import SynthOptions
    from luodi.synth.service import write_city

    directory = tmp_path_factory.mktemp("city")
    write_city(SynthOptions(residents=SMALL_CITY_RESIDENTS, seed=7), directory)
    return directory


PAST_CITY_RESIDENTS = 1_500
PAST_CITY_YEARS = 3


@pytest.fixture(scope="session")
def past_city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic city with PAST_CITY_YEARS years of past (arrivals, births, permits,
    school cycles), written once for the run: the forecast's data layer, CLI and API tests
    each load it into their own database."""
    from luodi.synth.generator import SynthOptions
    from luodi.synth.service import write_city

    directory = tmp_path_factory.mktemp("past-city")
    write_city(
        SynthOptions(residents=PAST_CITY_RESIDENTS, seed=9, years=PAST_CITY_YEARS), directory
    )
    return directory


# The loaded city with a past, once per test worker and database (loading it costs seconds on
# each): the forecast's data layer, CLI, API and page tests only read it (a test that writes
# does so in a rolled-back session), so their modules share it rather than each loading its own.
@pytest.fixture(scope="session")
def past_sqlite_engine(
    past_city: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    with city_engine("sqlite", past_city, tmp_path_factory.mktemp("past-db")) as engine:
        yield engine


@pytest.fixture(scope="session")
def past_postgres_engine(
    past_city: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    with city_engine("postgres", past_city, tmp_path_factory.mktemp("past-db")) as engine:
        yield engine


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def past_engine(request: pytest.FixtureRequest) -> Engine:
    """The worker's loaded ``past_city`` on each database in turn (read only: see above)."""
    return request.getfixturevalue(f"past_{request.param}_engine")


def pytest_make_parametrize_id(config: pytest.Config, val: object, argname: str) -> str | None:
    """Bytes parameters named by their repr: test ids are not escaped (pyproject keeps the
    Chinese names of YAML cases readable), and pytest cannot join raw bytes into an id."""
    if isinstance(val, bytes):
        return repr(val)[:60]
    return None


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One Spark session per test worker (local[2]; starting one costs ~9 s). Without Java the
    Spark tests skip, unless LUODI_REQUIRE_SPARK=1 (set by .ci/run: the project's set-up
    installs Java, so a skip there is a failure)."""
    from luodi.scale import spark as spark_module

    if not spark_module.java_available():
        require_or_skip("LUODI_REQUIRE_SPARK", "Java is not installed; Spark needs it")
    session = spark_module.session(
        "local[2]", "luodi-tests", **{"spark.sql.shuffle.partitions": "2"}
    )
    yield session
    session.stop()
