"""Schema migrations with Alembic, run from code so that an installed package can upgrade itself,
and the one check that a database is ready for a command or the server.

Alembic is imported where it is used: the check that runs before every command first compares
the database's stamp with the version files' own ``revision`` lines, and needs Alembic (a
tenth of a second to import) only when they differ."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from luodi.db import database_label, sqlite_file
from luodi.errors import LuodiError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
UPGRADE_HINT_ZH = "请先运行 luodi db upgrade"
UPGRADE_HINT_EN = "run `luodi db upgrade` first"


class SchemaNotReady(LuodiError):
    """The database does not exist, cannot be reached, or is not at the schema of this code."""

    def __init__(self, message_zh: str, message_en: str) -> None:
        super().__init__(message_zh, message_en, 503)


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s")
    config.set_main_option(
        "sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%")
    )
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Create or upgrade the schema in one transaction (an SQLite file and its folder are
    created here, and only here)."""
    file = sqlite_file(engine.url)
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
    from alembic import command

    _migrate(engine, lambda config: command.upgrade(config, revision))


def downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    _migrate(engine, lambda config: command.downgrade(config, revision))


def _migrate(engine: Engine, step: Callable[[Config], None]) -> None:
    """Run ``step`` in one transaction. On SQLite, Alembic alters a table by copying it into a
    new one and dropping the old; with foreign keys enforced that drop fails as soon as other
    rows point at the table (a city with cycles and facts), and Python's driver would run the
    DDL outside any transaction. So SQLite migrates with foreign keys off, inside an explicit
    BEGIN … COMMIT, and every reference is checked before the commit."""
    try:
        _run_migration(engine, step)
    except DBAPIError as error:
        # A schema that does not exist, a role without rights, a server that went away: one
        # line naming the database and the driver's first line, no traceback.
        reason = str(error.orig).strip().splitlines()[0][:200] if error.orig else ""
        label = database_label(engine.url)
        raise LuodiError(
            f"无法升级数据库 {label}：{reason}",
            f"cannot migrate the database {label}: {reason}",
            500,
        ) from None


def _run_migration(engine: Engine, step: Callable[[Config], None]) -> None:
    config = alembic_config(engine)
    if engine.dialect.name != "sqlite":
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            step(config)
        return
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")  # outside a transaction only
        connection.commit()
        try:
            connection.exec_driver_sql("BEGIN")
            config.attributes["connection"] = connection
            step(config)
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
            if broken:
                connection.rollback()
                table, row, parent, _ = broken[0]
                raise LuodiError(
                    f"迁移后 {table} 第 {row} 行引用的 {parent} 不存在，已回滚",
                    f"after migrating, row {row} of {table} refers to a missing {parent}; "
                    "rolled back",
                    500,
                )
            connection.commit()
        except BaseException:
            connection.rollback()
            raise
        finally:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()


def database_exists(engine: Engine) -> bool:
    """False for an SQLite file that is not there, told without connecting (a connection
    would create it); True for anything else."""
    file = sqlite_file(engine.url)
    return file is None or file.exists()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision(engine: Engine) -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


_REVISION_LINE = re.compile(r"^revision(?:: str)? = (['\"])(\w+)\1$", re.MULTILINE)
_DOWN_REVISION_LINE = re.compile(
    r"^down_revision(?:: str \| None)? = (?:(['\"])(\w+)\1|None)$", re.MULTILINE
)


def files_head() -> str | None:
    """The head revision as the version files write it (``revision`` and ``down_revision``
    lines, read as text), or None when any file writes them otherwise or the revisions are not
    one line of descent: then only Alembic can tell."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        revision = _REVISION_LINE.search(text)
        parent = _DOWN_REVISION_LINE.search(text)
        if revision is None or parent is None:
            return None
        revisions.add(revision[2])
        if parent[2] is not None:
            parents.add(parent[2])
    heads = revisions - parents
    if len(heads) != 1 or len(parents) != len(revisions) - 1:
        return None
    return heads.pop()


def _stamped_at_head(engine: Engine) -> bool:
    """True when the database's one stamp is the files' head (one query, no Alembic); False
    for anything else, which ``require_current_schema`` then examines with Alembic."""
    head = files_head()
    if head is None:
        return False
    try:
        with engine.connect() as connection:
            stamps = connection.exec_driver_sql("SELECT version_num FROM alembic_version")
            return list(stamps.scalars()) == [head]
    except DBAPIError:  # no stamp table yet, no server, not a database
        return False


def require_current_schema(engine: Engine) -> None:
    """Refuse, in one line naming the database, one that does not exist, cannot be reached or
    is not at the head revision. A missing SQLite file is never created by this check."""
    label = database_label(engine.url)
    if not database_exists(engine):
        raise SchemaNotReady(
            f"数据库 {label} 不存在；{UPGRADE_HINT_ZH}",
            f"the database {label} does not exist; {UPGRADE_HINT_EN}",
        )
    if _stamped_at_head(engine):
        return
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    try:
        current = current_revision(engine)
    except DBAPIError:  # no server there, or a file that is not a database
        raise SchemaNotReady(
            f"无法连接或打开数据库 {label}", f"cannot connect to or open the database {label}"
        ) from None
    scripts = ScriptDirectory.from_config(alembic_config(engine))
    head = scripts.get_current_head()
    if current == head:
        return
    if current is not None:
        try:
            scripts.get_revision(current)
        except CommandError:
            raise SchemaNotReady(
                f"数据库 {label} 的版本 {current} 比本程序新（最新 {head}）；请升级 luodi",
                f"the database {label} is at {current}, newer than this luodi knows "
                f"(head {head}); upgrade luodi",
            ) from None
    raise SchemaNotReady(
        f"数据库 {label} 未升级（版本 {current or '空'}，应为 {head}）；{UPGRADE_HINT_ZH}",
        f"the database {label} is not migrated (at {current or 'none'}, expected {head}); "
        f"{UPGRADE_HINT_EN}",
    )
