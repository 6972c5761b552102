"""Database plumbing: the declarative base, engines, and the unit of work.

SQLite is the embedded default (WAL journal, foreign keys enforced on every connection, a
second writer waits for the first); PostgreSQL is the production database. Services flush but
never commit: the unit of work (``session_scope``) or the request dependency commits on success
and rolls back on any error, which is what makes every command all-or-nothing. A command's unit
of work opens only a database that exists and is migrated (``ready_engine``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from luodi.errors import LuodiError
from luodi.settings import get_settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp that reads back aware on SQLite too (stored as UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a timezone-aware column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def utcnow() -> datetime:
    return datetime.now(UTC)


def _enable_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


SQLITE_BUSY_TIMEOUT_SECONDS = 5.0
"""How long a writer waits for another's transaction on SQLite before "database is locked"."""


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_file(url: str | URL) -> Path | None:
    """The file of an SQLite URL, as written in it; None for memory or another database."""
    url = make_url(url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def database_label(url: str | URL) -> str:
    """The database as its configuration names it (an SQLite path stays as written, relative
    by default), without a password: what a message may show."""
    file = sqlite_file(url)
    return str(file) if file else make_url(url).render_as_string(hide_password=True)


def create_db_engine(
    url: str | None = None,
    *,
    busy_timeout: float | None = None,
    **kwargs: Any,
) -> Engine:
    """An engine for ``url`` (default: the configured one), with SQLite made safe to share: a
    writer waits ``busy_timeout`` seconds (default ``SQLITE_BUSY_TIMEOUT_SECONDS``) for another
    to finish. Nothing is created until something connects (``migrate.upgrade`` creates an
    SQLite file and its folder)."""
    url = url or get_settings().database_url
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        backend = ""
    if backend not in ("sqlite", "postgresql"):
        raise LuodiError(
            "LUODI_DATABASE_URL 无效：只支持 sqlite:///文件 或 postgresql+psycopg://…",
            "LUODI_DATABASE_URL is not usable: sqlite:///FILE or postgresql+psycopg://… only",
            500,
        )
    if is_sqlite(url):
        timeout = SQLITE_BUSY_TIMEOUT_SECONDS if busy_timeout is None else busy_timeout
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": timeout}, **kwargs
        )
        event.listen(engine, "connect", _enable_sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


_engines: dict[str, Engine] = {}
_ready: set[str] = set()


def get_engine(url: str | None = None) -> Engine:
    """One engine per URL for the life of the process."""
    url = url or get_settings().database_url
    if url not in _engines:
        _engines[url] = create_db_engine(url)
    return _engines[url]


def ready_engine() -> Engine:
    """The configured database, checked once per process to exist and be migrated: a command
    refuses anything else in one line that says to run ``luodi db upgrade``."""
    from luodi.migrate import require_current_schema

    engine = get_engine()
    url = engine.url.render_as_string(hide_password=False)
    if url not in _ready:
        require_current_schema(engine)
        _ready.add(url)
    return engine


def dispose_engines() -> None:
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()
    _ready.clear()


class DatabaseBusy(LuodiError):
    """Another writer held the SQLite database past the busy timeout."""

    retry_after = 5

    def __init__(self) -> None:
        super().__init__(
            "数据库正忙，请稍后重试", "the database is busy, try again in a moment", 503
        )


def database_failure(error: BaseException) -> LuodiError | None:
    """A database failure a user can act on, in their words (None for anything else): SQLite
    still locked by another writer when the busy timeout ran out."""
    if isinstance(error, OperationalError) and "database is locked" in str(error.orig):
        return DatabaseBusy()
    return None


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """The unit of work of one CLI command: commit on success, roll back on any error. Without
    an engine, the configured database, which must exist and be migrated."""
    session = session_factory(engine or ready_engine())()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
