"""``luodi analysis points`` on both databases: the workbook's sheets, columns and charts
with a number checked against the service, the PDF, the audit of a batch list, and errors
that leave nothing written."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import polars as pl
from sqlalchemy import func, select

from luodi.analysis import service
from luodi.analysis.exports import SHEETS
from luodi.audit.models import AuditEntry
from luodi.auth.actor import SYSTEM_ACTOR
from luodi.db import session_scope
from tests.analysis.conftest import ScoredCity
from tests.test_cli import run_luodi


def environment(city: ScoredCity) -> dict[str, str]:
    return {"LUODI_DATABASE_URL": city.engine.url.render_as_string(hide_password=False)}


def batch_exports(city: ScoredCity, run: int) -> int:
    with session_scope(city.engine) as session:
        return int(
            session.scalar(
                select(func.count()).where(
                    AuditEntry.action == "analysis.batch_list",
                    AuditEntry.object_id == str(run),
                )
            )
            or 0
        )


def test_the_workbook_holds_every_table_its_charts_and_the_services_numbers(
    scored_city: ScoredCity, tmp_path: Path
) -> None:
    run = scored_city.runs[-1]
    output = tmp_path / "analysis.xlsx"
    exported = batch_exports(scored_city, run)
    result = run_luodi(
        "analysis", "points", "--run", str(run), "--thresholds", "60,90,120",
        "--quota", "20", "--output", str(output), env=environment(scored_city),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "≥60" in result.stdout and "written to" in result.stdout
    data = output.read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        charts = [name for name in archive.namelist() if name.startswith("xl/charts/chart")]
    assert len(charts) == 3  # histogram, thresholds over runs, by town
    with session_scope(scored_city.engine) as session:
        analysis = service.points_analysis(
            SYSTEM_ACTOR, session, run, (60.0, 90.0, 120.0), quota=20
        )
    sheets = pl.read_excel(io.BytesIO(data), sheet_id=0)
    assert list(sheets) == [SHEETS[name] for name in analysis.tables()]
    towns = sheets[SHEETS["by_town"]]
    assert towns.columns[:6] == ["group", "label", "residents", "mean", "median", "p90"]
    assert towns.columns[6:9] == ["at_least_60", "at_least_90", "at_least_120"]
    expected = analysis.by_dimension["town"]
    assert towns["at_least_90"].head(expected.height).cast(pl.Int64).to_list() == (
        expected["at_least_90"].to_list()
    )
    batch = sheets[SHEETS["batch_one"]]
    assert batch.height == 20 and batch["id_number"].str.contains(r"\*{13}").all()
    assert batch_exports(scored_city, run) == exported + 1


def test_the_pdf_and_the_errors(scored_city: ScoredCity, tmp_path: Path) -> None:
    run = scored_city.runs[-1]
    env = environment(scored_city)
    pdf = tmp_path / "analysis.pdf"
    result = run_luodi("analysis", "points", "--run", str(run), "--output", str(pdf), env=env)
    assert result.returncode == 0, result.stderr
    assert pdf.read_bytes().startswith(b"%PDF-")

    exported = batch_exports(scored_city, run)
    for arguments, words in [
        (["--thresholds", "90,60"], ("从低到高", "ascending")),
        (["--run", str(run + 1000)], ("没有计分批次", "no scoring run")),
        (["--class-threshold", "school"], ("类别:分数", "class:points")),
        (["--quota", "5", "--class-threshold", "palace=9"], ("没有类别", "no class")),
    ]:
        target = tmp_path / "failed" / "out.xlsx"
        target.parent.mkdir(exist_ok=True)
        given = ["--run", str(run), *arguments] if "--run" not in arguments else arguments
        result = run_luodi("analysis", "points", *given, "--output", str(target), env=env)
        assert result.returncode == 1, arguments
        assert all(word in result.stderr for word in words), result.stderr
        assert "Traceback" not in result.stderr
        assert list(target.parent.iterdir()) == []  # nothing written, no temporary left
    assert batch_exports(scored_city, run) == exported
