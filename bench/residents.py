"""Shared by the portal benches (``bench/portal.py``, ``bench/load.py --portal``): residents
picked at random among those the newest scoring run scored, and an account for each."""

from __future__ import annotations

import random

from sqlalchemy import Engine, select, text

from luodi.auth import service as auth_service
from luodi.auth.actor import SYSTEM_ACTOR
from luodi.auth.models import User
from luodi.db import session_scope

PASSWORD = "portal-bench-password-1"


def scored_residents(engine: Engine, count: int, seed: int) -> tuple[int, list[tuple[int, str]]]:
    """The newest run's id and ``count`` residents it scored, at random: (id, ID number)."""
    with engine.connect() as connection:
        run_id = connection.execute(text("SELECT max(id) FROM scoring_runs")).scalar()
        if run_id is None:
            raise SystemExit("no scoring run in this database: run luodi score first")
        scored = connection.execute(
            text(
                "SELECT r.id, r.id_number FROM resident_scores s JOIN residents r "
                "ON r.id = s.resident_id WHERE s.run_id = :run ORDER BY r.id"
            ),
            {"run": run_id},
        ).all()
    picked = random.Random(seed).sample(scored, min(count, len(scored)))
    return int(run_id), [(int(row[0]), str(row[1])) for row in picked]


def resident_accounts(engine: Engine, residents: list[tuple[int, str]]) -> list[str]:
    """A resident account per resident (``bench-resident-<id>``, password ``PASSWORD``),
    bound to their ID number: made once, a later run on the same database reuses it."""
    names = []
    with session_scope(engine) as session:
        existing = set(session.scalars(select(User.username)))
        for resident_id, id_number in residents:
            name = f"bench-resident-{resident_id}"
            if name not in existing:
                auth_service.add_user(
                    SYSTEM_ACTOR, session, name, "resident", PASSWORD, id_number=id_number
                )
            names.append(name)
    return names
