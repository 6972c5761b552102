"""`luodi feed history` piped or redirected (no terminal, 80 columns) prints whole values as
tab-separated lines; Rich fitted its table into 80 columns and cut them ('social_…')."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from rich.console import Console
from sqlalchemy import Engine
from typer.testing import CliRunner

from luodi import cli, db
from luodi.feeds import cli as feeds_cli
from luodi.settings import get_settings

runner = CliRunner()


@pytest.fixture
def pointed(registry_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """The commands' settings and engines pointed at the test database."""
    url = registry_engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("LUODI_DATABASE_URL", url)
    get_settings.cache_clear()
    db.dispose_engines()
    yield registry_engine
    monkeypatch.delenv("LUODI_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    db.dispose_engines()


def test_feed_history_piped_prints_whole_values(
    pointed: Engine, small_city: Path, tmp_path: Path
) -> None:
    person = pl.read_csv(small_city / "residents.csv", infer_schema=False)["id_number"][0]
    path = tmp_path / "社保_2026年1月.csv"
    path.write_text(f"身份证号,费款所属期,缴费月数\n{person},2026-01,1\n", encoding="utf-8")
    imported = runner.invoke(
        cli.app, ["feed", "import", "social_insurance", str(path)], env={"COLUMNS": "80"}
    )
    assert imported.exit_code == 0, imported.output
    history = runner.invoke(cli.app, ["feed", "history", person], env={"COLUMNS": "80"})
    assert history.exit_code == 0, history.output
    lines = history.stdout.splitlines()
    assert "变量 variable\t值 value\t有效期 valid\t来源 source" in history.stdout
    row = next(line for line in lines if line.startswith("social_insurance_months\t"))
    fields = row.split("\t")
    assert fields[1:4] == [
        "1",
        "2026-01-01 – 2026-01-31",
        "social_insurance 社保_2026年1月.csv:2",
    ]
    assert fields[6] == "当前 current"
    assert "…" not in row and "居住证时间线" in history.stdout


ROW = ["social_insurance_months", "1", "2026-01-01 – 2026-01-31", "social_insurance a\tb.csv:2"]


def test_print_rows_without_a_terminal_is_tab_separated(capsys: pytest.CaptureFixture[str]) -> None:
    feeds_cli.print_rows(["a", "b", "c", "d"], [ROW], title="标题 [x]")
    assert capsys.readouterr().out.splitlines() == [
        "标题 [x]",
        "a\tb\tc\td",
        "social_insurance_months\t1\t2026-01-01 – 2026-01-31\tsocial_insurance a b.csv:2",
    ]


def test_print_rows_on_a_terminal_is_a_table(monkeypatch: pytest.MonkeyPatch) -> None:
    screen = Console(file=io.StringIO(), force_terminal=True, width=200, color_system=None)
    monkeypatch.setattr(feeds_cli, "console", screen)
    feeds_cli.print_rows(["a", "b", "c", "d"], [[*ROW[:3], "[red]x[/]"]])
    shown = screen.file.getvalue()  # type: ignore[attr-defined]
    assert "│ social_insurance_months │" in shown and "[red]x[/]" in shown
