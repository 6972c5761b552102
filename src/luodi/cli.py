"""The ``luodi`` command. Domain commands live in each domain's cli.py and are imported only
when they run (``LazyCommand``): ``luodi --help`` lists every command from the help texts
kept here, and ``luodi id check`` loads the registry commands, not the allocation kernels or
the PDF writer. ``LuodiGroup`` renders every failure once: one line on stderr in Chinese and
English, exit status 1, no traceback unless ``--debug``.

Which commands create a database: only ``luodi db upgrade`` and ``luodi demo``. Every other
command that needs one refuses, in one line, a database that is missing or not migrated, and
never creates a file (run elsewhere than intended, it would otherwise leave an empty
``var/luodi.db`` behind).
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from luodi.console import as_luodi_error, console, print_error, root_options
from luodi.errors import LuodiError

if TYPE_CHECKING:
    from sqlalchemy import Engine

LAZY_COMMANDS = {
    "load": (
        "luodi.registry.cli:load",
        "把一个城市数据目录批量导入登记库（全部成功或全部不写）/ bulk-load a city directory.",
    ),
    "synth": (
        "luodi.synth.cli:synth",
        "生成一个合成城市（每个部门一份CSV）/ generate a synthetic city.",
    ),
    "score": (
        "luodi.scoring.cli:score",
        "用已发布的策略为登记库中的居民计分并保存 / score the registry and store the run.",
    ),
    "allocate": (
        "luodi.allocation.cli:allocate_files",
        "按积分与志愿分配名额（文件进、文件出） / allocate places on plain files.",
    ),
}
"""Commands listed before the ones defined here: name → ("module:function", help)."""

LAZY_GROUPS = {
    "id": ("luodi.registry.id_cli:id_app", "身份证号码 / citizen ID numbers"),
    "resident": ("luodi.registry.cli:resident_app", "居民登记 / residents"),
    "town": ("luodi.registry.cli:town_app", "镇街 / towns"),
    "policy": (
        "luodi.policy.cli:policy_app",
        "积分策略：检查、测试、计分、解释、比较 / points policies on plain files",
    ),
    "feed": ("luodi.feeds.cli:feed_app", "部门数据交换 / department data feeds"),
    "program": (
        "luodi.programs.cli:program_app",
        "项目与分配：积分入学、公租房、名额与分档待遇 / programs and allocation",
    ),
    "notice": ("luodi.notices.cli:notice_app", "结果公示 / public notices"),
    "objection": ("luodi.notices.cli:objection_app", "异议与复核 / objections"),
    "user": ("luodi.auth.cli:user_app", "账号与部门令牌 / accounts and department tokens"),
    "audit": ("luodi.audit.cli:audit_app", "审计日志（哈希链）/ the audit log"),
    "forecast": ("luodi.forecast.cli:forecast_app", "学位需求预测与预警 / school-place forecast"),
    "analysis": (
        "luodi.analysis.cli:analysis_app",
        "积分制总量分析 / whole-population points analysis",
    ),
    "job": ("luodi.jobs.cli:job_app", "后台任务：计分、分配、导入的进度 / background jobs"),
    "export": (
        "luodi.scoring.exchange_cli:export_app",
        "导出数据集给省级集群 / datasets for the province",
    ),
    "import": (
        "luodi.scoring.exchange_cli:import_app",
        "导入省级集群的结果 / results from the province",
    ),
}
"""Command groups listed after the ones defined here: name → ("module:Typer app", help)."""


class LazyCommand(TyperCommand):
    """A command or group of a domain, known by name and help until it runs: the help
    listing reads only ``help``; running it (or completing its arguments) imports the
    domain's cli module and hands the parsing to the real command."""

    def __init__(self, name: str, target: str, help: str) -> None:
        super().__init__(name, help=help)
        self.target = target

    def load(self) -> Any:
        module, attribute = self.target.split(":")
        found = getattr(import_module(module), attribute)
        if isinstance(found, typer.Typer):
            return typer.main.get_group(found)
        single = typer.Typer(add_completion=False)
        single.command(self.name)(found)
        return typer.main.get_command(single)

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: typer.Context | None = None,
        **extra: Any,
    ) -> typer.Context:
        return self.load().make_context(info_name, args, parent=parent, **extra)


class LuodiGroup(TyperGroup):
    """The root group: lazy domain commands around the ones defined here, and one renderer
    for every failure of a command."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        lazy = {**LAZY_COMMANDS, **LAZY_GROUPS}
        stubs = {name: LazyCommand(name, target, help) for name, (target, help) in lazy.items()}
        self.commands = {
            **{name: stubs[name] for name in LAZY_COMMANDS},
            **self.commands,
            **{name: stubs[name] for name in LAZY_GROUPS},
        }

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except Exception as error:
            if ctx.params.get("debug"):
                raise
            print_error(as_luodi_error(error))
            raise typer.Exit(1) from None


app = typer.Typer(
    name="luodi",
    cls=LuodiGroup,
    help="落地 luodi — 新市民服务平台 / open platform for new-citizen service centres",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # The list of commands in plain text: Typer's Rich help (Markdown parser included) would
    # add more start-up to `luodi --help` than Typer itself takes to import. Each command's
    # own --help keeps Rich.
    rich_markup_mode=None,
)
db_app = typer.Typer(help="数据库 / database schema", no_args_is_help=True)
app.callback()(root_options)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """创建或升级数据库结构 / create or upgrade the schema."""
    from luodi import migrate
    from luodi.db import database_label, get_engine

    engine = get_engine()
    migrate.upgrade(engine)
    console.print(
        f"数据库已是最新 / schema at {migrate.current_revision(engine)} "
        f"({database_label(engine.url)})",
        highlight=False,
    )


@db_app.command("current")
def db_current() -> None:
    """显示当前数据库版本 / show the schema revision."""
    from luodi import migrate
    from luodi.db import get_engine

    engine = get_engine()
    current = migrate.current_revision(engine) if migrate.database_exists(engine) else None
    console.print(f"{current or '(空 empty)'} / head {migrate.head_revision(engine)}")


DEMO_GUARDED_TABLES = {
    "residents": ("居民", "residents"),
    "users": ("账号", "accounts"),
    "audit_entries": ("审计记录", "audit entries"),
}
"""What the demo will not throw away unasked: table → the words a refusal names it by."""


def database_contents(engine: Engine) -> dict[str, int]:
    """How many residents, accounts and audit entries the database holds (tables it does not
    have count as empty)."""
    from sqlalchemy import func, inspect, select, table

    from luodi import migrate

    if not migrate.database_exists(engine):
        return {}
    with engine.connect() as connection:
        present = set(inspect(connection).get_table_names())
        return {
            name: connection.scalar(select(func.count()).select_from(table(name))) or 0
            for name in DEMO_GUARDED_TABLES
            if name in present
        }


def fresh_database(force: bool) -> None:
    """Recreate the configured database for the demo. A database holding residents, accounts
    or audit entries is emptied only with ``--force`` (it may be somebody's real data), and
    anything other than SQLite only with ``--force`` whatever it holds; then an SQLite file is
    removed, another database downgraded to nothing, and the schema created anew."""
    from luodi import migrate
    from luodi.db import database_label, dispose_engines, get_engine, sqlite_file

    engine = get_engine()
    file = sqlite_file(engine.url)
    held = {name: count for name, count in database_contents(engine).items() if count}
    if not force and (held or file is None):
        what_zh = "、".join(
            f"{DEMO_GUARDED_TABLES[name][0]} {count:,} 条" for name, count in held.items()
        )
        what_en = ", ".join(
            f"{count:,} {DEMO_GUARDED_TABLES[name][1]}" for name, count in held.items()
        )
        label = database_label(engine.url)
        raise LuodiError(
            f"演示会清空数据库 {label}{f'，而它有{what_zh}' if held else ''}；确认清空请加 --force",
            f"the demo empties the database {label}{f', which holds {what_en}' if held else ''}; "
            "pass --force to allow it",
        )
    if file is not None:
        dispose_engines()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{file}{suffix}").unlink(missing_ok=True)
    else:
        migrate.downgrade(engine, "base")
    migrate.upgrade(get_engine())


DEMO_POLICY = "zj-cixi"
DEMO_YEARS = 5
"""Years of history the demo city has before its reference date."""


@app.command("demo")
def demo(
    residents: Annotated[int, typer.Option("--residents", min=1, help="新市民人数")] = 50_000,
    seed: Annotated[int, typer.Option("--seed", min=0)] = 2026,
    serve_app: Annotated[bool, typer.Option("--serve/--no-serve", help="完成后启动网站")] = True,
    host: Annotated[str | None, typer.Option("--host")] = None,
    port: Annotated[int | None, typer.Option("--port")] = None,
    force: Annotated[
        bool, typer.Option("--force", help="允许清空已有数据的数据库 / empty a database with data")
    ] = False,
) -> None:
    """演示：新建数据库，生成并导入合成城市，打印概况，启动网站 / the whole demo."""
    from luodi.auth.actor import SYSTEM_ACTOR
    from luodi.db import session_scope
    from luodi.programs.cli import demo_cycles
    from luodi.registry import cli as registry_cli
    from luodi.registry import service as registry_service
    from luodi.scoring import cli as scoring_cli
    from luodi.settings import get_settings
    from luodi.synth.generator import SynthOptions
    from luodi.synth.service import write_city

    settings = get_settings()
    with console.status("新建数据库 / creating a fresh database …"):
        fresh_database(force)
    city = settings.data_dir / "demo-city"
    with console.status(f"生成 {residents:,} 名新市民的合成城市 / generating …"):
        # Five years of the past (arrivals, leavers, births, past school intakes): what the
        # school-place forecast and its backtest read (docs/analytics.md).
        write_city(SynthOptions(residents=residents, seed=seed, years=DEMO_YEARS), city)
    console.print(f"合成城市已写入 / city written to {city}", highlight=False)
    registry_cli.load_directory(city)
    with session_scope() as session:
        registry_cli.print_towns(registry_service.list_towns(SYSTEM_ACTOR, session))
    # Score the city on its own reference date with the version of the default policy in
    # force then, and show the distribution.
    as_of = SynthOptions(residents=residents, seed=seed, years=DEMO_YEARS).as_of
    scoring_cli.print_distribution(scoring_cli.score_and_store(DEMO_POLICY, as_of))
    # Open a school admission and a housing cycle, file applications, allocate, print.
    runs = demo_cycles(city, as_of, seed)
    demo_trust(runs)
    if serve_app:
        serve(host, port)


def demo_trust(runs: list[int]) -> None:
    """One account of each role (passwords printed) and the demo allocations published as
    notices open for objection."""
    from rich.table import Table

    from luodi.auth.actor import SYSTEM_ACTOR
    from luodi.auth.demo import demo_users
    from luodi.db import session_scope
    from luodi.notices import service as notices
    from luodi.programs import intake
    from luodi.registry import service as registry_service

    with session_scope() as session:
        # Public housing publishes its qualified list first (资格公示): the demo's housing
        # notice is that one; its 配租 result follows once the list is final.
        published = [
            notices.publish(
                SYSTEM_ACTOR,
                session,
                allocation_run_id=run,
                qualification=notices.needs_qualification(SYSTEM_ACTOR, session, run),
            )
            for run in runs
        ]
        school = published[0]
        first = notices.rows_page(session, school, 0, 1)["ref"][0]
        application = intake.get_application(SYSTEM_ACTOR, session, int(first))
        people = registry_service.people(SYSTEM_ACTOR, session)
        person = people.filter(people["resident_id"] == application.resident_id).row(0, named=True)
        accounts = demo_users(
            session, person["town_code"], school.department or "教育局", person["id_number"]
        )
        lines = [f"公示 {n.id}「{n.title}」{n.starts_on} 至 {n.ends_on}" for n in published]
    for line in lines:
        console.print(f"已发布 / published: {line}", highlight=False)
    table = Table(
        "用户名 username", "角色 role", "演示密码 demo password", title="演示账号 demo accounts"
    )
    for username, role, password in accounts:
        table.add_row(username, role, password)
    console.print(table)
    console.print(
        f"居民账号 resident 可对公示 {school.id} 第 {first} 条提出异议 / may object to that row",
        highlight=False,
    )


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option("--host", help="监听地址")] = None,
    port: Annotated[int | None, typer.Option("--port", help="端口")] = None,
) -> None:
    """启动网站和接口 / serve the web app and the API."""
    import uvicorn

    from luodi.app import create_app
    from luodi.db import ready_engine
    from luodi.settings import get_settings

    # A server on a database that is missing or not migrated would answer 500 to everything.
    engine = ready_engine()
    settings = get_settings()
    host, port = host or settings.host, port or settings.port
    console.print(f"打开 / open http://{host}:{port}  （Ctrl+C 停止 / to stop）", highlight=False)
    # proxy_headers off: uvicorn would otherwise take X-Forwarded-For from any local peer as
    # the client address, and sign-in throttling keys on it; a reverse proxy is trusted only
    # through LUODI_TRUSTED_PROXIES (web/dependencies.client_address).
    # The app's lifespan starts the job worker with the server and stops it on exit.
    uvicorn.run(
        create_app(engine, worker=True),
        host=host,
        port=port,
        log_level="warning",
        proxy_headers=False,
    )
