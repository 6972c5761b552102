"""Migration 0013 on both databases: a run stored as JSON per resident (as the code before it
wrote them) becomes a frame that reads the same, with the same digest, and goes back."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine, select, text

from luodi import migrate
from luodi.auth.actor import SYSTEM_ACTOR
from luodi.db import session_scope
from luodi.kernels.policy import KEY, TOTAL, prepare_inputs
from luodi.policy.service import find_policy
from luodi.registry import repository as registry_repository
from luodi.scoring import repository, service
from luodi.scoring.inputs import build_inputs
from luodi.scoring.models import ScoringRun
from tests.conftest import city_engine

AS_OF = date(2026, 3, 1)


def read_back(engine: Engine, run_id: int, picked: list[int]) -> dict[str, object]:
    with session_scope(engine) as session:
        run = session.get(ScoringRun, run_id)
        assert run is not None
        scores = [service.resident_score(SYSTEM_ACTOR, session, rid, run_id) for rid in picked]
        stored = service.stored_scores(SYSTEM_ACTOR, session, picked, run_id=run_id)
        return {
            "digest": run.frame_digest,
            "totals": repository.totals_frame(session, run_id).sort(KEY),
            "scores": [(score.total, score.points, score.explanation) for score in scores],
            "stored": stored.frame.sort(KEY),
        }


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_json_run_becomes_a_frame_and_goes_back(
    kind: str, small_city: Path, tmp_path: Path
) -> None:
    with city_engine(kind, small_city, tmp_path) as engine:
        compiled = find_policy("zj-cixi", AS_OF)
        with session_scope(engine) as session:
            run_id = service.score_registry(SYSTEM_ACTOR, session, compiled, AS_OF).run.id
            # The JSON the code before 0013 stored for this run, from the same inputs.
            total = registry_repository.resident_count(session, SYSTEM_ACTOR)
            population = build_inputs(SYSTEM_ACTOR, session, compiled.policy, AS_OF, total)
            typed = prepare_inputs(population.frame, compiled.policy)
            points = compiled.score(typed, AS_OF)
            old_json = points.select(
                KEY,
                TOTAL,
                points=pl.struct(compiled.policy.indicator_ids).struct.json_encode(),
            ).with_columns(
                inputs=typed.select(
                    pl.struct(pl.all().exclude(KEY)).struct.json_encode()
                ).to_series()
            )
        picked = old_json.get_column(KEY).sort().gather([0, 1, old_json.height - 1]).to_list()
        before = read_back(engine, run_id, picked)

        migrate.downgrade(engine, "0012")
        with engine.connect() as connection:
            stored = pl.DataFrame(
                [
                    tuple(row)
                    for row in connection.execute(
                        text(
                            "SELECT resident_id, total, points, inputs FROM resident_scores "
                            "WHERE run_id = :run"
                        ),
                        {"run": run_id},
                    )
                ],
                schema={KEY: pl.Int64, TOTAL: pl.Float64, "points": pl.String, "inputs": pl.String},
                orient="row",
            )
        assert stored.height == old_json.height
        assert stored.sort(KEY).equals(old_json.sort(KEY))
        first = json.loads(stored.sort(KEY).row(0, named=True)["points"])
        assert list(first) == compiled.policy.indicator_ids

        migrate.upgrade(engine)
        after = read_back(engine, run_id, picked)
        assert after["digest"] == before["digest"]
        assert after["totals"].equals(before["totals"])  # type: ignore[attr-defined]
        assert after["stored"].equals(before["stored"])  # type: ignore[attr-defined]
        assert after["scores"] == before["scores"]
        with engine.connect() as connection:
            columns = {
                row[1] if kind == "sqlite" else row[0]
                for row in connection.execute(
                    text("PRAGMA table_info(resident_scores)")
                    if kind == "sqlite"
                    else text(
                        "SELECT column_name FROM information_schema.columns "
                        "WHERE table_name = 'resident_scores' AND table_schema = current_schema()"
                    )
                )
            }
        assert columns == {"run_id", "resident_id", "total"}
        # Another run scored after the upgrade reads the same way.
        with session_scope(engine) as session:
            again = service.score_registry(SYSTEM_ACTOR, session, compiled, AS_OF).run.id
            digest = session.scalar(select(ScoringRun.frame_digest).where(ScoringRun.id == again))
        assert digest == before["digest"]
