"""The ``luodi`` command. Domain commands live in each domain's cli.py; this file wires them,
and renders every typed error once: a message on stderr in Chinese and English, exit status 1,
no traceback unless ``--debug``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.engine import make_url

from luodi import migrate
from luodi.allocation import cli as allocation_cli
from luodi.audit.cli import audit_app
from luodi.auth.cli import user_app
from luodi.console import console, root_options
from luodi.db import dispose_engines, get_engine, is_sqlite
from luodi.errors import LuodiError
from luodi.feeds.cli import feed_app
from luodi.notices.cli import notice_app, objection_app
from luodi.policy.cli import policy_app
from luodi.programs.cli import program_app
from luodi.registry import cli as registry_cli
from luodi.scoring import cli as scoring_cli
from luodi.settings import get_settings
from luodi.synth import cli as synth_cli

app = typer.Typer(
    name="luodi",
    help="落地 luodi — 新市民服务平台 / open platform for new-citizen service centres",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="数据库 / database schema", no_args_is_help=True)
app.callback()(root_options)
app.add_typer(db_app, name="db")
app.add_typer(registry_cli.id_app, name="id")
app.add_typer(registry_cli.resident_app, name="resident")
app.add_typer(registry_cli.town_app, name="town")
app.add_typer(policy_app, name="policy")
app.add_typer(feed_app, name="feed")
app.add_typer(program_app, name="program")
app.add_typer(notice_app, name="notice")
app.add_typer(objection_app, name="objection")
app.add_typer(user_app, name="user")
app.add_typer(audit_app, name="audit")
app.command("load")(registry_cli.load)
app.command("synth")(synth_cli.synth)
app.command("score")(scoring_cli.score)
app.command("allocate")(allocation_cli.allocate_files)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """创建或升级数据库结构 / create or upgrade the schema."""
    engine = get_engine()
    migrate.upgrade(engine)
    console.print(
        f"数据库已是最新 / schema at {migrate.current_revision(engine)} "
        f"({engine.url.render_as_string(hide_password=True)})",
        highlight=False,
    )


@db_app.command("current")
def db_current() -> None:
    """显示当前数据库版本 / show the schema revision."""
    engine = get_engine()
    console.print(
        f"{migrate.current_revision(engine) or '(空 empty)'} / head {migrate.head_revision(engine)}"
    )


def fresh_database(force: bool) -> None:
    """Drop and recreate the configured database: an SQLite file is removed; anything else
    is emptied only when the user says so, because that may be somebody's real data."""
    url = get_settings().database_url
    if is_sqlite(url):
        database = make_url(url).database
        dispose_engines()
        if database and database != ":memory:":
            for suffix in ("", "-wal", "-shm"):
                Path(database + suffix).unlink(missing_ok=True)
    elif force:
        migrate.downgrade(get_engine(), "base")
    else:
        raise LuodiError(
            "演示会清空数据库；非 SQLite 数据库请加 --force 确认",
            "the demo empties the database; pass --force to allow it on a non-SQLite database",
            2,
        )
    migrate.upgrade(get_engine())


DEMO_POLICY = "zj-cixi"


@app.command("demo")
def demo(
    residents: Annotated[int, typer.Option("--residents", min=1, help="新市民人数")] = 50_000,
    seed: Annotated[int, typer.Option("--seed", min=0)] = 2026,
    serve_app: Annotated[bool, typer.Option("--serve/--no-serve", help="完成后启动网站")] = True,
    host: Annotated[str | None, typer.Option("--host")] = None,
    port: Annotated[int | None, typer.Option("--port")] = None,
    force: Annotated[bool, typer.Option("--force", help="允许清空非 SQLite 数据库")] = False,
) -> None:
    """演示：新建数据库，生成并导入合成城市，打印概况，启动网站 / the whole demo."""
    from luodi.auth.actor import SYSTEM_ACTOR
    from luodi.db import session_scope
    from luodi.registry import service as registry_service
    from luodi.synth.generator import SynthOptions
    from luodi.synth.service import write_city

    settings = get_settings()
    with console.status("新建数据库 / creating a fresh database …"):
        fresh_database(force)
    city = settings.data_dir / "demo-city"
    with console.status(f"生成 {residents:,} 名新市民的合成城市 / generating …"):
        write_city(SynthOptions(residents=residents, seed=seed), city)
    console.print(f"合成城市已写入 / city written to {city}", highlight=False)
    registry_cli.load_directory(city)
    with session_scope() as session:
        registry_cli.print_towns(registry_service.list_towns(SYSTEM_ACTOR, session))
    # Score the city on its own reference date with the version of the default policy in
    # force then, and show the distribution.
    as_of = SynthOptions(residents=residents, seed=seed).as_of
    scoring_cli.print_distribution(scoring_cli.score_and_store(DEMO_POLICY, as_of))
    # Open a school admission and a housing cycle, file applications, allocate, print.
    from luodi.programs.cli import demo_cycles

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
    from luodi.programs import service as programs
    from luodi.registry import service as registry_service

    with session_scope() as session:
        published = [notices.publish(SYSTEM_ACTOR, session, allocation_run_id=run) for run in runs]
        school = published[0]
        first = notices.notice_rows(school)["ref"][0]
        application = programs.get_application(SYSTEM_ACTOR, session, int(first))
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

    settings = get_settings()
    host, port = host or settings.host, port or settings.port
    console.print(f"打开 / open http://{host}:{port}  （Ctrl+C 停止 / to stop）", highlight=False)
    uvicorn.run(create_app(), host=host, port=port, log_level="warning")


if __name__ == "__main__":  # python -m luodi.cli
    from luodi.console import main

    main()
