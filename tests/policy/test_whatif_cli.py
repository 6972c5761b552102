"""``luodi policy whatif`` on a committed small city (SQLite): the workbook's sheets, its
numbers as the summary says them, its two charts; a bad draft and a bad option refused in
both languages with nothing written."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from luodi.policy.whatif_book import SHEETS
from tests.conftest import city_engine
from tests.policy.test_whatif import AS_OF, draft_text
from tests.test_cli import run_luodi


@pytest.fixture(scope="module")
def database(small_city: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with city_engine("sqlite", small_city, tmp_path_factory.mktemp("whatif-cli")) as engine:
        yield engine.url.render_as_string(hide_password=False)


def test_the_workbook_has_every_sheet_and_chart(database: str, tmp_path: Path) -> None:
    draft = tmp_path / "draft.yaml"
    draft.write_text(draft_text(), encoding="utf-8")
    output = tmp_path / "whatif.xlsx"
    result = run_luodi(
        "policy", "whatif", "--draft", str(draft), "--as-of", AS_OF.isoformat(),
        "--thresholds", "60,90", "--output", str(output),
        env={"LUODI_DATABASE_URL": database},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "人跨过 90 分" in result.stdout and "未估算入学影响" in result.stdout
    content = output.read_bytes()
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        charts = [name for name in archive.namelist() if name.startswith("xl/charts/chart")]
    assert len(charts) == 2  # bands by town, the distribution
    sheets = pl.read_excel(io.BytesIO(content), sheet_id=0, has_header=False, infer_schema_length=0)
    assert list(sheets) == list(SHEETS)
    bands = sheets[SHEETS[1]]
    overall = bands.row(2)  # the title, the headers, then the whole population
    gained = int(overall[5]) + int(overall[6])
    assert f"上升 {gained:,} 人" in result.stdout
    assert int(overall[1]) == sum(int(value) for value in overall[2:7])
    thresholds = sheets[SHEETS[2]]
    assert [float(value) for value in thresholds[:, 0].to_list()[2:]] == [60.0, 90.0]


def test_a_bad_draft_writes_nothing(database: str, tmp_path: Path) -> None:
    draft = tmp_path / "draft.yaml"
    draft.write_text(draft_text().replace("kind: basic", "kind: basik", 1), encoding="utf-8")
    output = tmp_path / "whatif.xlsx"
    env = {"LUODI_DATABASE_URL": database}
    result = run_luodi("policy", "whatif", "--draft", str(draft), "--output", str(output), env=env)
    assert result.returncode == 1 and not output.exists()
    line = next(n for n, text in enumerate(draft.read_text().splitlines(), 1) if "basik" in text)
    assert f"draft.yaml:{line}:" in result.stderr and "Traceback" not in result.stderr
    wrong = run_luodi(
        "policy", "whatif", "--draft", str(draft), "--thresholds", "60,九十",
        "--output", str(output), env=env,
    )  # fmt: skip
    assert wrong.returncode == 1 and not output.exists()
    assert "“九十”不是数字" in wrong.stderr and "is not a number" in wrong.stderr


def test_a_run_that_is_not_there_is_refused(database: str, tmp_path: Path) -> None:
    draft = tmp_path / "draft.yaml"
    draft.write_text(draft_text(), encoding="utf-8")
    output = tmp_path / "whatif.xlsx"
    result = run_luodi(
        "policy", "whatif", "--draft", str(draft), "--run", "9999", "--output", str(output),
        env={"LUODI_DATABASE_URL": database},
    )  # fmt: skip
    assert result.returncode == 1 and not output.exists()
    assert "没有计分批次 9999" in result.stderr and "no scoring run 9999" in result.stderr
