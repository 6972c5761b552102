"""Registry commands: ``luodi resident …``, ``luodi town …``, ``luodi load`` (``luodi id check``
is in ``id_cli.py``, without the database)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy.orm import Session

from luodi.auth.actor import SYSTEM_ACTOR
from luodi.console import console
from luodi.db import session_scope
from luodi.errors import MAX_ID, Invalid
from luodi.kernels.masking import mask_id_number
from luodi.registry import load_report, service
from luodi.registry.loading import load_city
from luodi.registry.models import TownKind
from luodi.registry.schemas import (
    LoadSummary,
    ResidentCreate,
    ResidentUpdate,
    TownCreate,
    TownSummary,
)

resident_app = typer.Typer(help="居民登记 / residents", no_args_is_help=True)
town_app = typer.Typer(help="镇街 / towns", no_args_is_help=True)


def resident_id_of(session: Session, resident: str) -> int:
    """The registry's number of ``resident``: the number itself (up to ten digits), or the
    resident whose 18-character ID number it is (checked, and masked in any error)."""
    text = resident.strip()
    if text.isascii() and text.isdigit() and len(text) <= len(str(MAX_ID)):
        number = int(text)
        if not 1 <= number <= MAX_ID:
            raise Invalid.field(
                "resident", text, f"居民编号应为 1–{MAX_ID}", f"a resident id is 1–{MAX_ID}"
            )
        return number
    return service.resident_for(session, SYSTEM_ACTOR, text).id


@resident_app.command("add")
def resident_add(
    id_number: Annotated[str, typer.Option("--id-number", help="身份证号")],
    name: Annotated[str, typer.Option("--name", help="姓名")],
    town: Annotated[str, typer.Option("--town", help="现居镇街代码 / town code")],
    phone: Annotated[str | None, typer.Option("--phone", help="手机号")] = None,
) -> None:
    """登记一位新市民 / register a resident."""
    with session_scope() as session:
        resident = service.register_resident(
            SYSTEM_ACTOR,
            session,
            ResidentCreate(id_number=id_number, name=name, town_code=town, phone=phone),
        )
        console.print(
            f"已登记 registered: #{resident.id} {mask_id_number(resident.id_number)}",
            highlight=False,
        )


@resident_app.command("correct")
def resident_correct(
    resident: Annotated[
        str,
        typer.Argument(help="居民编号或身份证号 / resident id or ID number", metavar="RESIDENT"),
    ],
    name: Annotated[str | None, typer.Option("--name", help="更正后的姓名")] = None,
    phone: Annotated[str | None, typer.Option("--phone", help="更正后的手机号")] = None,
    town: Annotated[
        str | None, typer.Option("--town", help="迁入的镇街代码 / move to town")
    ] = None,
) -> None:
    """更正居民姓名、手机号，或迁到另一个镇街 / correct a resident or move them to a town."""
    with session_scope() as session:
        corrected = service.correct_resident(
            SYSTEM_ACTOR,
            session,
            resident_id_of(session, resident),
            ResidentUpdate(name=name, phone=phone, town_code=town),
        )
        console.print(
            f"已更正 corrected: #{corrected.id} {mask_id_number(corrected.id_number)}",
            highlight=False,
        )


@resident_app.command("show")
def resident_show(
    resident: Annotated[
        str,
        typer.Argument(help="居民编号或身份证号 / resident id or ID number", metavar="RESIDENT"),
    ],
) -> None:
    """查看一位居民（身份证号、手机号脱敏）/ show a resident (ID number and phone masked)."""
    with session_scope() as session:
        console.print_json(
            service.get_resident(
                SYSTEM_ACTOR, session, resident_id_of(session, resident)
            ).model_dump_json()
        )


def print_towns(towns: list[TownSummary]) -> None:
    table = Table(title="各镇街新市民 / residents by town")
    table.add_column("代码 code")
    table.add_column("镇街 town")
    for numeric in ("新市民 residents", "有效居住证 permits", "随迁子女 children"):
        table.add_column(numeric, justify="right")
    for town in towns:
        table.add_row(
            town.code,
            town.name,
            f"{town.residents:,}",
            f"{town.valid_permits:,}",
            f"{town.children:,}",
        )
    table.add_section()
    table.add_row(
        "",
        "合计 total",
        f"{sum(t.residents for t in towns):,}",
        f"{sum(t.valid_permits for t in towns):,}",
        f"{sum(t.children for t in towns):,}",
    )
    console.print(table)


@town_app.command("add")
def town_add(
    code: Annotated[str, typer.Argument(help="9位乡镇街道代码（本市之下）/ 9-digit township code")],
    name: Annotated[str, typer.Argument(help="镇街名称 / name")],
    kind: Annotated[
        TownKind, typer.Option("--kind", help="town 镇 / subdistrict 街道")
    ] = TownKind.TOWN,
) -> None:
    """登记一个镇街，城市可从零开始 / register a town (a city can start from nothing)."""
    with session_scope() as session:
        town = service.create_town(
            SYSTEM_ACTOR, session, TownCreate(code=code, name=name, kind=kind)
        )
        console.print(f"已登记镇街 added: {town.code} {escape(town.name)}", highlight=False)


@town_app.command("recount")
def town_recount() -> None:
    """按现有记录重算各镇街人数（库外修改之后）/ recount the kept per-town counts."""
    with session_scope() as session:
        service.recount_towns(SYSTEM_ACTOR, session)
        print_towns(service.list_towns(SYSTEM_ACTOR, session))


@town_app.command("list")
def town_list() -> None:
    """列出镇街及人数 / list towns with counts."""
    with session_scope() as session:
        print_towns(service.list_towns(SYSTEM_ACTOR, session))


def load_directory(directory: Path, today: date | None = None) -> LoadSummary:
    """Load a city directory in one transaction, with a spinner while it works."""
    with console.status("导入中 / loading …") as status, session_scope() as session:
        summary = load_city(
            SYSTEM_ACTOR, session, directory, today, progress=lambda text: status.update(text)
        )
    return summary


def load(
    directory: Annotated[Path, typer.Argument(help="城市数据目录（luodi synth 的输出）")],
) -> None:
    """把一个城市数据目录批量导入登记库（全部成功或全部不写）/ bulk-load a city directory."""
    try:
        summary = load_directory(directory)
    except Invalid as error:
        raise load_report.with_report(error, directory) from None
    console.print(f"已导入 loaded: {summary.model_dump()}", highlight=False)
