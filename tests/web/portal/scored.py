"""A resident of the small city with two stored scores (March and June 2026, 60 volunteer
hours recorded between them) and an account to sign in with: the portal's points pages need
someone scored (the ``resident`` account of tests/web/conftest.py holds no permit)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import Engine

from luodi.auth import service as auth_service
from luodi.auth.actor import SYSTEM_ACTOR, Actor
from luodi.db import session_scope
from luodi.feeds import service as feeds
from luodi.policy.service import find_policy
from luodi.registry import repository as registry_repository
from luodi.scoring import service as scoring
from luodi.web.portal import own_resident_id
from tests.web.conftest import PASSWORD

MARCH = date(2026, 3, 1)
JUNE = date(2026, 6, 1)
HOURS = 60
USERNAME = "scored"


@pytest.fixture(scope="module", name="scored")
def scored_fixture(
    loaded_engine: Engine, accounts: dict[str, Actor], small_city: Path
) -> dict[str, Any]:
    """Ids of the two runs and of the resident (registered 2020–2024 with a valid permit, so
    that residence time is still below its cap), and the account ``scored``."""
    permits = pl.read_csv(small_city / "permits.csv", infer_schema=False)
    candidates = permits.filter(
        (pl.col("status") == "valid")
        & pl.col("issue_date").is_between(pl.lit("2020-01-01"), pl.lit("2024-12-31"))
    ).sort("issue_date")["id_number"]
    with session_scope(loaded_engine) as session:
        first = scoring.score_registry(
            SYSTEM_ACTOR, session, find_policy("zj-cixi", MARCH), MARCH
        ).run
        both = set(scoring.run_totals(SYSTEM_ACTOR, session, first.id)["resident_id"].to_list())
        number = next(
            number
            for number in candidates
            if registry_repository.id_number_resident(session, number) in both
        )
        actor = auth_service.actor_of(
            auth_service.add_user(
                SYSTEM_ACTOR, session, USERNAME, "resident", PASSWORD, id_number=number
            )
        )
        resident_id = own_resident_id(actor, session)
        feeds.import_records(
            SYSTEM_ACTOR,
            session,
            "volunteering_honours",
            [
                {
                    "record_number": f"PORTAL-POINTS-{day}",
                    "id_number": number,
                    "kind": "volunteer",
                    "record_date": f"2026-04-{day:02d}",
                    "hours": str(HOURS // 3),  # at most 24 hours a record
                }
                for day in (1, 2, 3)
            ],
        )
        second = scoring.score_registry(
            SYSTEM_ACTOR, session, find_policy("zj-cixi", JUNE), JUNE
        ).run
        return {
            "first": first.id,
            "second": second.id,
            "resident_id": resident_id,
            "actor": actor,
        }
