"""A small synthetic city with three scoring runs of the shipped policy, on each database,
committed once for the analysis tests (the service reads what ``luodi score`` stored)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine

from luodi.auth.actor import SYSTEM_ACTOR
from luodi.db import session_scope
from luodi.policy.service import find_policy
from luodi.scoring import service as scoring_service
from tests.conftest import city_engine

RUN_DATES = (date(2025, 6, 1), date(2026, 1, 15), date(2026, 3, 1))
"""The first under version 2023.1, the others under 2026.1: one policy id, two versions."""


@dataclass(frozen=True)
class ScoredCity:
    engine: Engine
    runs: tuple[int, ...]
    """Run ids in the order of ``RUN_DATES``."""


@pytest.fixture(
    scope="package", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def scored_city(
    request: pytest.FixtureRequest, small_city: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ScoredCity]:
    with city_engine(request.param, small_city, tmp_path_factory.mktemp("analysis")) as engine:
        runs = []
        for on in RUN_DATES:
            with session_scope(engine) as session:
                result = scoring_service.score_registry(
                    SYSTEM_ACTOR, session, find_policy("zj-cixi", on), on
                )
                runs.append(result.run.id)
        yield ScoredCity(engine, tuple(runs))
