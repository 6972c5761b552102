"""``luodi export inputs`` and ``luodi import scores`` on a loaded city, on both databases:
the exported dataset is the registry's inputs, batch after batch; a scored dataset comes back
as the run ``luodi score`` stores, and anything else is refused whole."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from luodi.audit.models import AuditEntry
from luodi.auth.actor import SYSTEM_ACTOR, Actor, Role
from luodi.errors import Forbidden, Invalid
from luodi.facts.models import Fact
from luodi.kernels.policy import KEY, TOTAL, CompiledPolicy, prepare_inputs
from luodi.policy.service import find_policy
from luodi.registry import repository as registry_repository
from luodi.scale import layout
from luodi.scale.score import KIND_DTYPES, score_dataset
from luodi.scoring import exchange, service
from luodi.scoring.inputs import available_inputs, build_inputs, read_inputs
from luodi.scoring.models import ResidentScore, ScoringRun
from tests.conftest import city_engine, rolled_back_session

AS_OF = date(2026, 3, 1)
BATCH = 50


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def city(
    request: pytest.FixtureRequest,
    small_city: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Engine]:
    """The small city loaded once per database for the module (committed); each test works
    in a transaction rolled back (``loaded``)."""
    folder = tmp_path_factory.mktemp(f"exchange-{request.param}")
    with city_engine(request.param, small_city, folder) as engine:
        yield engine


@pytest.fixture
def loaded(city: Engine) -> Iterator[Session]:
    with rolled_back_session(city) as session:
        yield session


def whole_registry(session: Session, compiled: CompiledPolicy | None = None) -> pl.DataFrame:
    """What the export must hold: the inputs of the whole registry read at once (as ``luodi
    score`` reads them) and the carried columns."""
    total = registry_repository.resident_count(session, SYSTEM_ACTOR)
    if compiled is None:
        population = read_inputs(SYSTEM_ACTOR, session, list(available_inputs()), AS_OF, total)
    else:
        population = build_inputs(SYSTEM_ACTOR, session, compiled.policy, AS_OF, total)
    from luodi.analysis.repository import people

    carried = [
        name
        for name in ("first_permit_date", "employment_basis", "town_code")
        if name not in population.frame.columns
    ]
    return population.frame.join(
        people(session, SYSTEM_ACTOR, AS_OF).select(KEY, *carried), on=KEY, how="left"
    ).sort(KEY)


def read_back(root: Path) -> pl.DataFrame:
    return layout.scan_dataset(root).collect().drop(layout.PROVENANCE).sort(KEY)


def test_the_export_is_the_registrys_inputs_batch_by_batch(loaded: Session, tmp_path: Path) -> None:
    output = tmp_path / "inputs"
    seen: list[tuple[int, int]] = []
    result = exchange.export_inputs(
        SYSTEM_ACTOR,
        loaded,
        AS_OF,
        output,
        batch_residents=BATCH,
        progress=lambda done, batches: seen.append((done, batches)),
    )
    expected = whole_registry(loaded)
    exported = read_back(output)
    # Same rows, same values, same types; the columns in the whole frame's order.
    assert_frame_equal(exported.select(expected.columns), expected)
    assert set(exported.columns) == set(expected.columns)
    assert expected.height == result.rows > 0
    # Batches were used: 1,000 residents by 50 is 20 ranges, and a file of every batch
    # that had anyone with a valid permit, in each town's folder.
    assert result.batches == len(seen) == 20 and seen[-1] == (20, 20)
    files = layout.dataset_files(output)
    batches = {path.name.rsplit("-", 1)[0] for path in files}
    assert len(batches) > 10 and len(files) == result.files
    assert all(path.parent.name.startswith("town_code=") for path in files)
    # One schema in every file (a batch whose volunteer hours are whole numbers too).
    schemas = {tuple(pl.read_parquet_schema(path).items()) for path in files}
    assert len(schemas) == 1
    manifest = layout.Manifest.read(output)
    total = registry_repository.resident_count(loaded, SYSTEM_ACTOR)
    assert manifest.format == layout.INPUTS_FORMAT and manifest.engine == "export"
    assert (manifest.rows, manifest.as_of, manifest.partition_by) == (
        expected.height,
        AS_OF,
        ["town_code"],
    )
    assert sum(manifest.extra["skipped_by_state"].values()) == total - expected.height
    assert manifest.extra["files_digest"] == result.digest
    entry = loaded.scalars(
        select(AuditEntry).where(AuditEntry.action == "scoring.export_inputs")
    ).one()
    detail = json.loads(entry.detail or "{}")
    assert (detail["rows"], detail["digest"], detail["as_of"]) == (
        expected.height,
        result.digest,
        AS_OF.isoformat(),
    )
    # Nothing left beside the output (the staging directory was renamed into place).
    assert [path.name for path in tmp_path.iterdir()] == ["inputs"]


def test_a_batch_of_whole_numbers_is_written_as_the_others(loaded: Session, tmp_path: Path) -> None:
    """Volunteer hours are a sum: whole numbers in a batch read as Int64, a half hour in
    another as Float64. The dataset has one type, the whole registry's."""
    hours = (Fact.name == "volunteer_hours", Fact.superseded_by.is_(None))
    loaded.execute(update(Fact).where(*hours).values(value="4"))
    assert whole_registry(loaded).schema["volunteer_hours"] == pl.Int64
    first = loaded.scalars(select(func.min(Fact.id)).where(*hours)).one()
    loaded.execute(update(Fact).where(Fact.id == first).values(value="4.5"))
    expected = whole_registry(loaded)
    assert expected.schema["volunteer_hours"] == pl.Float64
    output = tmp_path / "inputs"
    exchange.export_inputs(SYSTEM_ACTOR, loaded, AS_OF, output, batch_residents=100)
    files = layout.dataset_files(output)
    assert {pl.read_parquet_schema(path)["volunteer_hours"] for path in files} == {pl.Float64}
    assert_frame_equal(read_back(output).select(expected.columns), expected)


def test_a_policys_inputs_only(loaded: Session, tmp_path: Path) -> None:
    compiled = find_policy("zj-cixi", AS_OF)
    output = tmp_path / "cixi"
    result = exchange.export_inputs(
        SYSTEM_ACTOR, loaded, AS_OF, output, compiled=compiled, batch_residents=300
    )
    expected = whole_registry(loaded, compiled)
    assert_frame_equal(read_back(output).select(expected.columns), expected)
    assert "professional_title" in result.defaulted
    manifest = layout.Manifest.read(output)
    assert (manifest.policy_id, manifest.policy_digest) == ("zj-cixi", compiled.policy.digest)


def test_the_export_writes_over_nothing_and_leaves_nothing_on_failure(
    loaded: Session, tmp_path: Path
) -> None:
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "x.txt").write_text("mine")
    with pytest.raises(Invalid, match="already exists"):
        exchange.export_inputs(SYSTEM_ACTOR, loaded, AS_OF, taken)
    with pytest.raises(Invalid) as refused:
        exchange.export_inputs(
            SYSTEM_ACTOR, loaded, AS_OF, tmp_path / "bad", partition_by=["nonsense"]
        )
    assert refused.value.details[0].field == "partition_by"
    with pytest.raises(Invalid, match="nobody holds a valid permit"):
        exchange.export_inputs(SYSTEM_ACTOR, loaded, date(1990, 1, 1), tmp_path / "early")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["taken"]


# ------------------------------------------------------------------------------- import


def write_scored(
    inputs: Path,
    output: Path,
    compiled: CompiledPolicy,
    as_of: date,
    *,
    partition_by: Sequence[str] = ("town_code",),
    change: pl.Expr | None = None,
    rows: pl.DataFrame | None = None,
) -> None:
    """A scored dataset as ``luodi policy score --engine polars --output`` writes it
    (scale/layout.py; checked against it below): points, the typed inputs as a struct (enums
    as text), the carried columns. ``change``: a column replaced after scoring (a tampered total); ``rows``:
    rows added (someone not in the registry)."""
    frame = layout.scan_dataset(inputs).collect().drop(layout.PROVENANCE)
    typed = prepare_inputs(frame, compiled.policy)
    points = compiled.score(typed, as_of)
    names = list(compiled.policy.inputs)
    as_text = [
        pl.col(name).cast(KIND_DTYPES[spec.type.kind])
        for name, spec in compiled.policy.inputs.items()
    ]
    carried = [name for name in frame.columns if name != KEY and name not in names]
    carried += [name for name in partition_by if name not in carried]
    scored = (
        points.join(typed.select(KEY, pl.struct(as_text).alias(layout.INPUTS)), on=KEY)
        .join(frame.select(KEY, *carried), on=KEY)
        .sort(KEY)
    )
    if change is not None:
        scored = scored.with_columns(change)
    if rows is not None:
        scored = pl.concat([scored, rows.select(scored.columns).cast(scored.schema)])
    layout.write_partitioned(scored, output, list(partition_by))
    layout.Manifest(
        format=layout.SCORES_FORMAT,
        as_of=as_of,
        engine="polars",
        rows=scored.height,
        partition_by=list(partition_by),
        policy_id=compiled.policy.id,
        policy_version=compiled.policy.version,
        policy_digest=compiled.policy.digest,
        policy_text=compiled.policy.text,
        source=inputs.name,
    ).write(output)


@pytest.fixture
def exported(loaded: Session, tmp_path: Path) -> Path:
    output = tmp_path / "inputs"
    exchange.export_inputs(SYSTEM_ACTOR, loaded, AS_OF, output, batch_residents=400)
    return output


def test_the_helper_writes_what_luodi_policy_score_writes(exported: Path, tmp_path: Path) -> None:
    """``write_scored`` (which the refusals below tamper with) writes the dataset that
    ``luodi policy score --engine polars`` writes, column for column."""
    compiled = find_policy("zj-cixi", AS_OF)
    write_scored(exported, tmp_path / "helper", compiled, AS_OF)
    score_dataset(compiled, exported, tmp_path / "scored", AS_OF, engine="polars")
    helper, scored = read_back(tmp_path / "helper"), read_back(tmp_path / "scored")
    assert_frame_equal(helper.select(scored.columns), scored)


def test_an_imported_run_is_the_run_luodi_score_stores(
    loaded: Session, exported: Path, tmp_path: Path
) -> None:
    compiled = find_policy("zj-cixi", AS_OF)
    scored = tmp_path / "scored"
    assert score_dataset(compiled, exported, scored, AS_OF, engine="polars").written
    imported = exchange.import_scores(SYSTEM_ACTOR, loaded, scored)
    here = service.score_registry(SYSTEM_ACTOR, loaded, compiled, AS_OF).run
    assert imported.run.id != here.id
    assert imported.run.frame_digest == here.frame_digest
    for field in ("residents_scored", "residents_skipped", "mean_total", "defaulted_inputs"):
        assert getattr(imported.run, field) == getattr(here, field), field
    assert (imported.run.source, here.source) == ("scored (polars)", None)
    totals = [
        service.run_totals(SYSTEM_ACTOR, loaded, run_id).sort(KEY)
        for run_id in (imported.run.id, here.id)
    ]
    assert_frame_equal(totals[0], totals[1])
    entry = loaded.scalars(select(AuditEntry).where(AuditEntry.action == "scoring.import")).one()
    detail = json.loads(entry.detail or "{}")
    assert (entry.object_id, detail["source"], detail["engine"]) == (
        str(imported.run.id),
        "scored",
        "polars",
    )
    assert detail["rows"] == imported.rows == here.residents_scored
    # The stored explanation of an imported resident is recomputed and checked as any.
    resident = int(totals[0][KEY][0])
    score = service.resident_score(SYSTEM_ACTOR, loaded, resident, imported.run.id)
    assert score.total == totals[0][TOTAL][0]


def test_a_run_scored_on_spark_comes_back_as_the_same_run(
    loaded: Session, tmp_path: Path, spark: object, request: pytest.FixtureRequest
) -> None:
    if "postgres" in request.node.name:
        pytest.skip("Spark reads files: one database is enough (the import is the same code)")
    compiled = find_policy("zj-cixi", AS_OF)
    # One file in, one out: Spark's cost is per file and per task, not per resident.
    exported = tmp_path / "inputs"
    exchange.export_inputs(SYSTEM_ACTOR, loaded, AS_OF, exported, partition_by=())
    scored = tmp_path / "on-spark"
    assert score_dataset(compiled, exported, scored, AS_OF, engine="spark", partition_by=()).written
    imported = exchange.import_scores(SYSTEM_ACTOR, loaded, scored)
    here = service.score_registry(SYSTEM_ACTOR, loaded, compiled, AS_OF).run
    assert imported.engine == "spark" and imported.run.source == "on-spark (spark)"
    assert imported.run.frame_digest == here.frame_digest


def stored_runs(session: Session) -> tuple[int, int]:
    return (
        session.scalar(select(func.count()).select_from(ScoringRun)) or 0,
        session.scalar(select(func.count()).select_from(ResidentScore)) or 0,
    )


def test_a_tampered_total_is_refused(loaded: Session, exported: Path, tmp_path: Path) -> None:
    compiled = find_policy("zj-cixi", AS_OF)
    scored = tmp_path / "scored"
    frame = read_back(exported)
    victim = int(frame[KEY][7])
    write_scored(
        exported,
        scored,
        compiled,
        AS_OF,
        change=pl.when(pl.col(KEY) == victim)
        .then(pl.col(TOTAL) + 5)
        .otherwise(pl.col(TOTAL))
        .alias(TOTAL),
    )
    before = stored_runs(loaded)
    with pytest.raises(Invalid) as refused:
        exchange.import_scores(SYSTEM_ACTOR, loaded, scored)
    problem = refused.value.details[0]
    town = frame.filter(pl.col(KEY) == victim)["town_code"][0]
    assert problem.field == TOTAL and str(victim) in problem.reason_en
    assert problem.file is not None and problem.file.startswith(f"town_code={town}/")
    assert problem.row is not None and problem.row >= 1
    assert "1 scores the policy does not give" in refused.value.message_en
    assert stored_runs(loaded) == before


def test_a_line_that_differs_is_refused(loaded: Session, exported: Path, tmp_path: Path) -> None:
    compiled = find_policy("zj-cixi", AS_OF)
    scored = tmp_path / "scored"
    line = compiled.policy.indicator_ids[0]
    write_scored(exported, scored, compiled, AS_OF, change=(pl.col(line) - 1).alias(line))
    with pytest.raises(Invalid) as refused:
        exchange.import_scores(SYSTEM_ACTOR, loaded, scored)
    assert refused.value.details[0].field == line


def test_a_resident_not_in_the_registry_is_refused(
    loaded: Session, exported: Path, tmp_path: Path
) -> None:
    compiled = find_policy("zj-cixi", AS_OF)
    scored = tmp_path / "scored"
    stranger = read_back(exported).head(1).with_columns(pl.lit(10**9).alias(KEY))
    typed = prepare_inputs(stranger, compiled.policy)
    points = compiled.score(typed, AS_OF)
    names = list(compiled.policy.inputs)
    row = points.join(
        typed.select(
            KEY,
            pl.struct(
                [
                    pl.col(name).cast(KIND_DTYPES[spec.type.kind])
                    for name, spec in compiled.policy.inputs.items()
                ]
            ).alias(layout.INPUTS),
        ),
        on=KEY,
    ).join(stranger.drop(names, strict=False), on=KEY)
    write_scored(exported, scored, compiled, AS_OF, rows=row)
    before = stored_runs(loaded)
    with pytest.raises(Invalid) as refused:
        exchange.import_scores(SYSTEM_ACTOR, loaded, scored)
    problem = refused.value.details[0]
    assert (problem.field, problem.value) == (KEY, 10**9)
    assert problem.file is not None and problem.row is not None
    assert stored_runs(loaded) == before


def test_a_policy_digest_that_does_not_match_is_refused(
    loaded: Session, exported: Path, tmp_path: Path
) -> None:
    compiled = find_policy("zj-cixi", AS_OF)
    scored = tmp_path / "scored"
    write_scored(exported, scored, compiled, AS_OF)
    manifest = json.loads((scored / layout.MANIFEST).read_text(encoding="utf-8"))
    manifest["policy_digest"] = "0" * 64
    (scored / layout.MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    before = stored_runs(loaded)
    with pytest.raises(Invalid) as refused:
        exchange.import_scores(SYSTEM_ACTOR, loaded, scored)
    assert refused.value.details[0].field == "policy_digest"
    assert stored_runs(loaded) == before


def test_an_old_version_or_a_changed_text_is_refused(
    loaded: Session, exported: Path, tmp_path: Path
) -> None:
    compiled = find_policy("zj-cixi", AS_OF)
    older = find_policy("zj-cixi", date(2024, 3, 1))
    assert older.policy.version != compiled.policy.version
    write_scored(exported, tmp_path / "older", older, AS_OF)
    with pytest.raises(Invalid) as refused:
        exchange.import_scores(SYSTEM_ACTOR, loaded, tmp_path / "older")
    assert refused.value.details[0].field == "as_of"
    changed = CompiledPolicy.from_text(compiled.policy.text + "\n# edited\n")
    write_scored(exported, tmp_path / "changed", changed, AS_OF)
    with pytest.raises(Invalid) as refused:
        exchange.import_scores(SYSTEM_ACTOR, loaded, tmp_path / "changed")
    assert refused.value.details[0].field == "policy_text"


def test_only_who_may_score_may_export_or_import(
    loaded: Session, exported: Path, tmp_path: Path
) -> None:
    auditor = Actor("u", Role.AUDITOR)
    with pytest.raises(Forbidden):
        exchange.export_inputs(auditor, loaded, AS_OF, tmp_path / "mine")
    with pytest.raises(Forbidden):
        exchange.import_scores(auditor, loaded, exported)
    assert not (tmp_path / "mine").exists()


# ---------------------------------------------------------------------------------- CLI


@pytest.fixture
def city_database(
    small_city: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Engine]:
    """The small city in an SQLite file of its own, this process's settings pointed at it."""
    from luodi import db
    from luodi.settings import get_settings

    with city_engine("sqlite", small_city, tmp_path) as engine:
        monkeypatch.setenv("LUODI_DATABASE_URL", engine.url.render_as_string(hide_password=False))
        get_settings.cache_clear()
        db.dispose_engines()
        yield engine
        get_settings.cache_clear()
        db.dispose_engines()


def test_the_commands(city_database: Engine, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from luodi import cli

    runner = CliRunner()
    inputs = tmp_path / "out" / "inputs"
    inputs.parent.mkdir()
    exported = runner.invoke(
        cli.app,
        [
            "export",
            "inputs",
            "--as-of",
            AS_OF.isoformat(),
            "--output",
            str(inputs),
            "--policy",
            "zj-cixi",
            "--batch-residents",
            "250",
        ],
    )
    assert exported.exit_code == 0, exported.output
    assert "4 批 batches" in exported.output and "files digest" in exported.output
    compiled = find_policy("zj-cixi", AS_OF)
    scored = tmp_path / "out" / "scored"
    write_scored(inputs, scored, compiled, AS_OF)
    imported = runner.invoke(cli.app, ["import", "scores", str(scored)])
    assert imported.exit_code == 0, imported.output
    with rolled_back_session(city_database) as session:
        run = session.scalars(select(ScoringRun)).one()
        assert run.source == "scored (polars)"
        assert f"run {run.id}" in imported.output and run.frame_digest in imported.output
    again = runner.invoke(
        cli.app,
        ["export", "inputs", "--as-of", AS_OF.isoformat(), "--output", str(inputs)],
    )
    assert again.exit_code == 1 and "already exists" in again.output
    assert "Traceback" not in again.output
    bad_day = runner.invoke(
        cli.app, ["export", "inputs", "--as-of", "2026-02-30", "--output", str(tmp_path / "x")]
    )
    assert bad_day.exit_code == 1 and "as-of" in bad_day.output


def test_inputs_made_up_after_the_export_are_refused(
    loaded: Session, exported: Path, tmp_path: Path
) -> None:
    """Points that follow from the file's own inputs are not enough: those inputs must be the
    registry's (a forger raising one resident's volunteer hours re-scores consistently)."""
    compiled = find_policy("zj-cixi", AS_OF)
    frame = layout.scan_dataset(exported).collect().drop(layout.PROVENANCE)
    victim = int(frame[KEY][3])
    forged = tmp_path / "forged"
    layout.write_partitioned(
        frame.with_columns(
            pl.when(pl.col(KEY) == victim)
            .then(pl.lit(10_000.0))
            .otherwise(pl.col("volunteer_hours").cast(pl.Float64))
            .alias("volunteer_hours")
        ),
        forged,
        ["town_code"],
    )
    scored = tmp_path / "scored"
    write_scored(forged, scored, compiled, AS_OF)
    before = stored_runs(loaded)
    with pytest.raises(Invalid) as refused:
        exchange.import_scores(SYSTEM_ACTOR, loaded, scored)
    assert "volunteer_hours" in refused.value.message_en and str(victim) in refused.value.message_en
    assert stored_runs(loaded) == before


def test_residents_left_out_are_refused(loaded: Session, exported: Path, tmp_path: Path) -> None:
    compiled = find_policy("zj-cixi", AS_OF)
    frame = layout.scan_dataset(exported).collect().drop(layout.PROVENANCE)
    fewer = tmp_path / "fewer"
    layout.write_partitioned(frame.slice(1), fewer, ["town_code"])
    scored = tmp_path / "scored"
    write_scored(fewer, scored, compiled, AS_OF)
    with pytest.raises(Invalid) as refused:
        exchange.import_scores(SYSTEM_ACTOR, loaded, scored)
    assert "leaves out 1 residents" in refused.value.message_en
    assert str(frame[KEY][0]) in refused.value.message_en
