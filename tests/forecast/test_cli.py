"""``luodi forecast schools`` and ``luodi forecast backtest`` in process (CliRunner), on a
synthetic city with a past (``past_city``) loaded through the real loader into each database
(``past_engine``: once per test worker); the commands only read, so the tests share the
committed city."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from luodi import cli, db
from luodi.auth.actor import SYSTEM_ACTOR
from luodi.forecast import service
from luodi.kernels.forecast import BACKTEST_COLUMNS, FORECAST_COLUMNS
from luodi.settings import get_settings
from tests.conftest import rolled_back_session

runner = CliRunner()
STRINGS = {"town_code": pl.String, "school_id": pl.String}
AS_OF = date(2025, 11, 15)
KEY = ["town_code", "school_id", "school_year", "grade"]


@pytest.fixture
def pointed(past_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """The commands' settings and engines pointed at the loaded city's database."""
    monkeypatch.setenv("LUODI_DATABASE_URL", past_engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    db.dispose_engines()
    yield past_engine
    monkeypatch.delenv("LUODI_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    db.dispose_engines()


def keyed(frame: pl.DataFrame) -> dict[tuple[object, ...], float]:
    rows = frame.with_columns(pl.col("school_id").fill_null(""))
    return {tuple(row[:-1]): row[-1] for row in rows.select(*KEY, "expected").iter_rows()}


def test_schools_writes_the_contract_columns_and_summarises(
    pointed: Engine, tmp_path: Path
) -> None:
    output = tmp_path / "forecast.csv"
    result = runner.invoke(
        cli.app,
        ["forecast", "schools", "--as-of", "2025-11-15", "--horizon", "3", "--output", str(output)],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    frame = pl.read_csv(output, schema_overrides=STRINGS)
    assert tuple(frame.columns) == FORECAST_COLUMNS
    assert frame["school_year"].unique().sort().to_list() == [2026, 2027, 2028]
    assert set(frame["warning"]) <= {"green", "yellow", "red"}
    reds = frame.filter(pl.col("warning") == "red").height
    assert f"红色预警 red {reds:,}" in result.output
    assert "written to" in result.output
    with rolled_back_session(pointed) as session:
        direct = service.forecast_schools(SYSTEM_ACTOR, session, AS_OF, 3)
        mape = service.backtest(SYSTEM_ACTOR, session, AS_OF)
    assert frame.height == direct.rows.height > 0
    wanted = keyed(direct.rows)
    for key, expected in keyed(frame).items():
        assert expected == pytest.approx(wanted[key], abs=0.01), key

    scenario = tmp_path / "scenario.xlsx"
    result = runner.invoke(
        cli.app,
        [
            "forecast",
            "schools",
            "--as-of",
            "2025-11-15",
            "--horizon",
            "2",
            "--method",
            "cohort",
            "--inflow-growth",
            "0.2",
            "--output",
            str(scenario),
        ],
    )
    assert result.exit_code == 0, result.output
    sheet = pl.read_excel(scenario, sheet_name="forecast", schema_overrides=STRINGS)
    assert tuple(sheet.columns) == FORECAST_COLUMNS
    tested = pl.read_excel(scenario, sheet_name="backtest")
    assert tuple(tested.columns) == BACKTEST_COLUMNS
    assert tested.height == mape.height > 0
    # +20 % a year: the cohort method's town rows 1.2 (first year) and 1.44 (second) × plain.
    plain = runner.invoke(
        cli.app,
        [
            "forecast",
            "schools",
            "--as-of",
            "2025-11-15",
            "--horizon",
            "2",
            "--method",
            "cohort",
            "--output",
            str(tmp_path / "plain.csv"),
        ],
    )
    assert plain.exit_code == 0, plain.output
    base = pl.read_csv(tmp_path / "plain.csv", schema_overrides=STRINGS)
    joined = sheet.filter(pl.col("school_id").fill_null("") == "").join(
        base.filter(pl.col("school_id").fill_null("") == ""),
        on=["town_code", "school_year", "grade"],
        suffix="_plain",
    )
    towns = direct.rows.filter(pl.col("school_id").fill_null("") == "")["town_code"]
    assert joined.height == towns.n_unique() * 2 * 2
    # The files round expected to 0.01 child: the tolerance is that rounding, scaled.
    rows = joined.select("school_year", "expected", "expected_plain").iter_rows()
    for year, grown, plain_expected in rows:
        factor = 1.2 ** (year - 2025)
        assert grown == pytest.approx(plain_expected * factor, abs=0.006 * (factor + 1))


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--as-of", "2025-13-01", "--horizon", "3"], "YYYY-MM-DD"),
        (["--as-of", "2025-11-15", "--horizon", "6"], "horizon"),
        (["--as-of", "2025-11-15", "--horizon", "0"], "horizon"),
        (["--as-of", "2025-11-15", "--horizon", "two"], "整数"),
        (["--as-of", "2025-11-15", "--horizon", "1", "--inflow-growth", "x"], "a number"),
        (["--as-of", "2025-11-15", "--horizon", "2", "--method", "magic"], "method"),
        (["--as-of", "2025-11-15", "--horizon", "2", "--capture-rate", "1.5"], "capture_rate"),
        (["--as-of", "2010-01-01", "--horizon", "2"], "no school intake"),
        # A day after today: refused at once (it once ran a backtest over every year between).
        (["--as-of", "9999-12-31", "--horizon", "5"], "after today"),
        (["--as-of", "2099-01-01", "--horizon", "1"], "after today"),
    ],
)
def test_schools_refuses_bad_options_and_writes_nothing(
    pointed: Engine, tmp_path: Path, args: list[str], words: str
) -> None:
    output = tmp_path / "forecast.csv"
    result = runner.invoke(cli.app, ["forecast", "schools", *args, "--output", str(output)])
    assert result.exit_code != 0
    assert words in result.output and "错误" in result.output, result.output
    assert not output.exists()


def test_a_bad_extension_is_refused_before_any_work(pointed: Engine, tmp_path: Path) -> None:
    for name in ("forecast.parquet", "forecast.txt"):
        output = tmp_path / name
        result = runner.invoke(
            cli.app,
            [
                "forecast",
                "schools",
                "--as-of",
                "2025-11-15",
                "--horizon",
                "1",
                "--output",
                str(output),
            ],
        )
        assert result.exit_code != 0 and ".xlsx" in result.output and not output.exists()
    result = runner.invoke(cli.app, ["forecast", "backtest", "--output", str(tmp_path / "b.xlsx")])
    assert result.exit_code != 0 and ".csv" in result.output
    future = tmp_path / "b.csv"
    result = runner.invoke(
        cli.app, ["forecast", "backtest", "--as-of", "9999-12-31", "--output", str(future)]
    )
    assert result.exit_code != 0 and "after today" in result.output and not future.exists()


def test_backtest_writes_mape_per_town_method_and_horizon(pointed: Engine, tmp_path: Path) -> None:
    output = tmp_path / "backtest.csv"
    result = runner.invoke(
        cli.app, ["forecast", "backtest", "--as-of", "2025-11-15", "--output", str(output)]
    )
    assert result.exit_code == 0, result.output
    frame = pl.read_csv(output, schema_overrides=STRINGS)
    assert tuple(frame.columns) == BACKTEST_COLUMNS
    assert set(frame["method"]) == {"cohort", "trend"}
    # Three years of past cycles: only one-year-ahead forecasts can be checked yet.
    assert frame["horizon"].unique().sort().to_list() == [1]
    assert (frame["mape"] >= 0).all()
    with rolled_back_session(pointed) as session:
        direct = service.backtest(SYSTEM_ACTOR, session, AS_OF)
    assert frame.height == direct.height
    joined = frame.join(direct, on=["town_code", "method", "horizon"], suffix="_direct")
    assert joined.height == frame.height
    for got, wanted in joined.select("mape", "mape_direct").iter_rows():
        assert got == pytest.approx(wanted, abs=0.006)
