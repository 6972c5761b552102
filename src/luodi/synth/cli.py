"""``luodi synth``: write a synthetic city as one CSV per department feed."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from luodi.console import console
from luodi.synth.generator import DEFAULT_AS_OF, SynthOptions
from luodi.synth.service import write_city


def synth(
    residents: Annotated[int, typer.Option("--residents", min=1, help="新市民人数")] = 50_000,
    seed: Annotated[
        int, typer.Option("--seed", min=0, help="随机种子：同一种子生成完全相同的文件")
    ] = 2026,
    out: Annotated[Path, typer.Option("--out", help="输出目录")] = Path("var/city"),
    as_of: Annotated[
        str, typer.Option("--as-of", help="参考日期 YYYY-MM-DD（不取当天，保证可复现）")
    ] = DEFAULT_AS_OF.isoformat(),
    years: Annotated[
        int,
        typer.Option(
            "--years",
            min=0,
            max=30,
            help="参考日期之前的历史年数（迁入、迁出、出生、往年招生）；0 只生成当前 / years of past",
        ),
    ] = 0,
    load: Annotated[bool, typer.Option("--load", help="生成后导入数据库")] = False,
) -> None:
    """生成一个合成城市（每个部门一份CSV）/ generate a synthetic city."""
    try:
        reference = date.fromisoformat(as_of)
    except ValueError:
        raise typer.BadParameter(
            f"参考日期应为 YYYY-MM-DD / date must be YYYY-MM-DD: {as_of!r}"
        ) from None
    started = time.perf_counter()
    with console.status(f"生成 {residents:,} 名新市民 / generating …"):
        written = write_city(
            SynthOptions(residents=residents, seed=seed, as_of=reference, years=years), out
        )
    for name, rows in written.items():
        console.print(f"  {out / name}: {rows:,} 行 rows", highlight=False)
    console.print(f"用时 {time.perf_counter() - started:.1f} s", highlight=False)
    if load:
        # The registry and the database only when asked to load: generating needs neither.
        from luodi.registry.cli import load_directory

        summary = load_directory(out, today=None)
        console.print(f"已导入 loaded: {summary.model_dump()}", highlight=False)
