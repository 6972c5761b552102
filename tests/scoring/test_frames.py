"""A scoring run's stored frame on both databases: its types round-trip, a resident's score
and explanation and an allocation's points are read from it, its digest certifies it and is
the same for the same inputs; and the pure frame functions on their own."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from luodi.auth.actor import SYSTEM_ACTOR
from luodi.kernels.policy import KEY, TOTAL, prepare_inputs
from luodi.policy.service import find_policy
from luodi.registry import repository as registry_repository
from luodi.registry.loading import load_city
from luodi.scoring import frames, repository, service
from luodi.scoring.inputs import build_inputs
from luodi.scoring.models import ResidentScore, ScoreFramePart, ScoringRun

AS_OF = date(2026, 3, 1)


@pytest.fixture
def loaded(session: Session, small_city: Path) -> Session:
    load_city(SYSTEM_ACTOR, session, small_city, today=AS_OF)
    return session


def stored_frame(session: Session, run_id: int) -> pl.DataFrame:
    return frames.from_parts(repository.frame_parts(session, run_id), f"run {run_id}")


def test_the_frame_holds_the_typed_inputs_and_points_of_the_run(
    loaded: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(frames, "PART_ROWS", 500)  # several parts from a small city
    compiled = find_policy("zj-cixi", AS_OF)
    result = service.score_registry(SYSTEM_ACTOR, loaded, compiled, AS_OF)
    run = loaded.get(ScoringRun, result.run.id)
    assert run is not None
    frame = stored_frame(loaded, run.id)
    assert frame.height == run.residents_scored
    assert frame.get_column(KEY).is_sorted()
    parts = loaded.scalars(
        select(ScoreFramePart).where(ScoreFramePart.run_id == run.id).order_by(ScoreFramePart.part)
    ).all()
    assert len(parts) == -(-run.residents_scored // 500) > 1
    assert sum(part.rows for part in parts) == run.residents_scored
    for part in parts:
        assert hashlib.sha256(part.data).hexdigest() == part.digest
        assert part.first_resident_id <= part.last_resident_id
    assert run.frame_digest == hashlib.sha256(b"".join(part.data for part in parts)).hexdigest()
    assert result.run.frame_digest == run.frame_digest  # what the API and `luodi score` show

    # The inputs as the policy read them: same columns, same types, same values.
    total = registry_repository.resident_count(loaded, SYSTEM_ACTOR)
    population = build_inputs(SYSTEM_ACTOR, loaded, compiled.policy, AS_OF, total)
    typed = prepare_inputs(population.frame, compiled.policy).sort(KEY)
    # An int input at its default is an Int32 literal there, Int64 like the others here.
    typed = typed.with_columns(pl.col(pl.Int32).cast(pl.Int64))
    stored_inputs = frames.typed_inputs(frame)
    assert stored_inputs.schema == typed.schema
    kinds = {type(dtype) for dtype in stored_inputs.schema.values()}
    assert {pl.Date, pl.Int64, pl.Enum} <= kinds  # enums keep their categories
    assert stored_inputs.equals(typed)

    # The points: one column per indicator, in the policy's order, and the totals of the run.
    points = frames.points_of(frame)
    assert points.columns == [KEY, "total", *compiled.policy.indicator_ids]
    expected = compiled.score(typed, AS_OF)
    assert points.get_column("total").to_list() == expected.get_column(TOTAL).to_list()
    totals = repository.totals_frame(loaded, run.id).sort(KEY)
    assert totals.equals(points.select(KEY, "total"))


def test_a_residents_score_and_an_allocation_read_the_same_stored_points(
    loaded: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(frames, "PART_ROWS", 700)
    compiled = find_policy("zj-cixi", AS_OF)
    run_id = service.score_registry(SYSTEM_ACTOR, loaded, compiled, AS_OF).run.id
    frame = stored_frame(loaded, run_id)
    ids = frame.get_column(KEY)
    # First, last, and either side of a part boundary.
    picked = [int(ids[0]), int(ids[699]), int(ids[700]), int(ids[-1])]

    stored = service.stored_scores(SYSTEM_ACTOR, loaded, [*picked, 10**9], run_id=run_id)
    assert stored.run.id == run_id
    assert stored.frame.columns == [KEY, "points", *compiled.policy.inputs]
    assert sorted(stored.frame.get_column(KEY).to_list()) == sorted(picked)
    by_id = {row[KEY]: row for row in stored.frame.iter_rows(named=True)}
    expected_inputs = frames.typed_inputs(frame).filter(pl.col(KEY).is_in(picked))
    assert stored.frame.drop("points").sort(KEY).equals(expected_inputs.sort(KEY))

    for resident_id in picked:
        read = service.resident_score(SYSTEM_ACTOR, loaded, resident_id, run_id)
        row = frame.filter(pl.col(KEY) == resident_id).row(0, named=True)
        assert read.total == row["total"] == by_id[resident_id]["points"]
        assert read.points == row[frames.POINTS]
        assert list(read.points) == compiled.policy.indicator_ids
        assert read.explanation["total"] == read.total
        lines = {line["indicator"]: line for line in read.explanation["lines"]}
        assert {name: line["points"] for name, line in lines.items()} == pytest.approx(read.points)
        education = row[frames.INPUTS]["education"]
        assert lines["education"]["inputs"]["education"] == education

    # Nobody asked about: the columns all the same.
    empty = service.stored_scores(SYSTEM_ACTOR, loaded, [], run_id=run_id)
    assert empty.frame.height == 0 and empty.frame.schema == stored.frame.schema


def test_the_digest_is_the_same_for_the_same_inputs_and_a_damaged_part_is_refused(
    loaded: Session,
) -> None:
    compiled = find_policy("zj-cixi", AS_OF)
    first = service.score_registry(SYSTEM_ACTOR, loaded, compiled, AS_OF).run
    second = service.score_registry(SYSTEM_ACTOR, loaded, compiled, AS_OF).run
    assert first.id != second.id
    digests = dict(loaded.execute(select(ScoringRun.id, ScoringRun.frame_digest)).all())
    assert digests[first.id] == digests[second.id]
    assert first.policy_digest == second.policy_digest == compiled.policy.digest
    # The notice of a score ranking certifies the same rows for both.
    assert (
        repository.totals_frame(loaded, first.id)
        .sort(KEY)
        .equals(repository.totals_frame(loaded, second.id).sort(KEY))
    )

    resident_id = loaded.scalar(
        select(func.min(ResidentScore.resident_id)).where(ResidentScore.run_id == first.id)
    )
    assert resident_id is not None
    part = loaded.scalars(
        select(ScoreFramePart).where(ScoreFramePart.run_id == first.id).limit(1)
    ).one()
    damaged = bytearray(part.data)
    damaged[len(damaged) // 2] ^= 0xFF
    loaded.execute(
        update(ScoreFramePart)
        .where(ScoreFramePart.run_id == first.id, ScoreFramePart.part == part.part)
        .values(data=bytes(damaged))
    )
    loaded.expire_all()
    with pytest.raises(frames.FrameDamaged, match=f"scoring run {first.id}"):
        service.resident_score(SYSTEM_ACTOR, loaded, resident_id, first.id)
    assert service.resident_score(SYSTEM_ACTOR, loaded, resident_id, second.id).run.id == second.id


def test_frame_functions_round_trip_types_and_nulls() -> None:
    typed = pl.DataFrame(
        {
            KEY: [3, 1, 2],
            "birth_date": [date(1990, 1, 2), None, date(2001, 12, 31)],
            "married": [True, None, False],
            "months": [12, None, 0],
            "defaulted": pl.Series([0, 0, 0], dtype=pl.Int32),
            "hours": [1.5, None, 0.1 + 0.2],
            "education": ["bachelor", None, ""],
        }
    )
    points = typed.select(KEY, a=pl.lit(1.25), b=pl.lit(-0.5), **{TOTAL: pl.lit(0.75)})
    frame = frames.score_frame(points, typed, ["a", "b"])
    assert frame.get_column(KEY).to_list() == [1, 2, 3]
    parts, digest = frames.to_parts(frame)
    assert digest == frames.frame_digest(part.data for part in parts)
    again = frames.from_parts([(p.number, p.digest, p.data) for p in parts], "test")
    assert again.equals(frame)
    assert frames.typed_inputs(again).equals(typed.sort(KEY))
    assert frames.typed_inputs(again).schema["defaulted"] == pl.Int64
    assert frames.points_of(again).columns == [KEY, "total", "a", "b"]
    # The same frame gives the same bytes, hence the same digest.
    assert frames.to_parts(frames.score_frame(points, typed, ["a", "b"]))[1] == digest


def test_only_the_parts_holding_the_residents_asked_about_are_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Ids 10, 20, … 300 (30 residents) in parts of 7: ranges 10–70, 80–140, 150–210, …
    typed = pl.DataFrame({KEY: list(range(10, 301, 10)), "months": list(range(30))})
    points = typed.select(KEY, a=pl.col("months") * 0.5, **{TOTAL: pl.col("months") * 0.5})
    monkeypatch.setattr(frames, "PART_ROWS", 7)
    parts, _ = frames.to_parts(frames.score_frame(points, typed, ["a"]))
    ranges = pl.DataFrame(
        {
            "part": [p.number for p in parts],
            "first_resident_id": [p.first_resident_id for p in parts],
            "last_resident_id": [p.last_resident_id for p in parts],
        }
    )
    assert ranges["first_resident_id"].to_list() == [10, 80, 150, 220, 290]

    def holding(*ids: int) -> list[int]:
        return frames.parts_holding(ranges, pl.Series(ids, dtype=pl.Int64))

    assert holding() == []
    assert holding(5, 75, 301) == []  # before the first, between two parts, after the last
    assert holding(70, 80) == [0, 1]  # either side of a boundary
    assert holding(300, 10, 10) == [0, 4]
    assert holding(155, 149, 151) == [2]
    # Only those parts, only the columns asked, only the rows asked, each part checked.
    stored = [(p.number, p.digest, p.data) for p in parts]
    kept = pl.Series([80, 300, 310], dtype=pl.Int64)
    read = frames.from_parts(
        [stored[n] for n in holding(*kept)], "test", [KEY, "total", frames.INPUTS], kept
    )
    assert read.columns == [KEY, "total", frames.INPUTS]
    assert read[KEY].to_list() == [80, 300]
    assert frames.typed_inputs(read)["months"].to_list() == [7, 29]
    damaged = bytearray(stored[4][2])
    damaged[len(damaged) // 2] ^= 0xFF
    with pytest.raises(frames.FrameDamaged, match="stored part 4"):
        frames.from_parts([(4, stored[4][1], bytes(damaged))], "test", [KEY], kept)


def test_one_resident_decodes_only_the_row_group_that_holds_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import io

    import pyarrow.parquet as pq

    typed = pl.DataFrame({KEY: list(range(1, 301)), "months": list(range(300))})
    points = typed.select(KEY, a=pl.col("months") * 0.5, **{TOTAL: pl.col("months") * 0.5})
    monkeypatch.setattr(frames, "ROW_GROUP_ROWS", 100)
    [part], _ = frames.to_parts(frames.score_frame(points, typed, ["a"]))
    metadata = pq.ParquetFile(io.BytesIO(part.data)).metadata
    assert metadata.num_row_groups == 3
    # Damage the first row group's last column (and sign the damage, as if stored so): a
    # resident of the last group is still read, so that group was never decoded; one of the
    # first group, or the whole part, is not.
    chunk = metadata.row_group(0).column(metadata.num_columns - 1)
    end = (chunk.dictionary_page_offset or chunk.data_page_offset) + chunk.total_compressed_size
    damaged = bytearray(part.data)
    damaged[end - 20 : end - 10] = bytes(10)
    stored = [(0, hashlib.sha256(damaged).hexdigest(), bytes(damaged))]
    read = frames.from_parts(stored, "test", keep=pl.Series([250], dtype=pl.Int64))
    assert read[KEY].to_list() == [250]
    assert frames.typed_inputs(read)["months"].to_list() == [249]
    for keep in (pl.Series([5], dtype=pl.Int64), None):
        with pytest.raises(pl.exceptions.ComputeError, match="corrupt"):
            frames.from_parts(stored, "test", keep=keep)
    # Several residents: the groups between the first and the last of them.
    read = frames.from_parts(stored, "test", keep=pl.Series([299, 150, 250], dtype=pl.Int64))
    assert sorted(read[KEY].to_list()) == [150, 250, 299]


BIG_TABLES = ("residents", "facts", "resident_scores", "residence_permits", "score_frame_parts")
"""Tables that grow with the city: a resident's page reads them by index only."""


def test_a_residents_page_reads_by_index_only(loaded: Session) -> None:
    from sqlalchemy import event, text

    from luodi.auth.actor import Actor, Role
    from luodi.registry import service as registry_service
    from luodi.web.portal import own_resident_id

    compiled = find_policy("zj-cixi", AS_OF)
    run_id = service.score_registry(SYSTEM_ACTOR, loaded, compiled, AS_OF).run.id
    resident_id = loaded.scalar(
        select(func.max(ResidentScore.resident_id)).where(ResidentScore.run_id == run_id)
    )
    id_number = loaded.scalar(
        text("SELECT id_number FROM residents WHERE id = :id"), {"id": resident_id}
    )
    actor = Actor(username="me", role=Role.RESIDENT, id_number=id_number)
    connection = loaded.connection()
    statements: list[tuple[str, object]] = []

    def keep(_c: object, _k: object, statement: str, parameters: object, *_: object) -> None:
        statements.append((statement, parameters))

    event.listen(connection, "before_cursor_execute", keep)
    try:
        assert own_resident_id(actor, loaded) == resident_id
        service.score_history(actor, loaded, resident_id)
        service.stored_scores(actor, loaded, [resident_id], run_id=run_id)
        read = service.resident_score(actor, loaded, resident_id)
        registry_service.residence_span(actor, loaded, resident_id, AS_OF)
    finally:
        event.remove(connection, "before_cursor_execute", keep)
    assert read.explanation["total"] == read.total
    sqlite = loaded.get_bind().dialect.name == "sqlite"
    if not sqlite:
        # The small city's tables fit a page: the planner would scan them anyway. Told not
        # to, it still does where no index serves the query.
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
    scans = []
    for statement, parameters in dict(statements).items():
        prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
        plan = " / ".join(
            str(row[-1]) for row in connection.exec_driver_sql(prefix + statement, parameters)
        )
        for table in BIG_TABLES:
            if f"SCAN {table} " in plan + " " or f"Seq Scan on {table} " in plan + " ":
                scans.append(f"{table}: {' '.join(statement.split())[:200]} → {plan}")
    assert len(statements) > 10  # the calls above, each query of them
    assert scans == []
