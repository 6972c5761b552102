"""Queries of the policy what-if: the registry's grouping attributes of everyone, in bulk."""

from __future__ import annotations

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from luodi import bulk
from luodi.auth.actor import Actor
from luodi.registry import repository as registry_repository
from luodi.registry.models import Resident, Town


def resident_groups(session: Session, actor: Actor) -> pl.DataFrame:
    """``resident_id``, ``town_code``, ``origin_province`` of every resident ``actor`` reads,
    sorted by resident. Two plain queries, the town codes mapped in Polars
    (``analysis.repository.people``: on SQLite the join to the towns costs more than the
    rows)."""
    codes = {row[0]: row[1] for row in session.execute(select(Town.id, Town.code))}
    residents = bulk.read_frame(
        session,
        select(Resident.id, Resident.town_id, Resident.origin_province).where(
            registry_repository.readable(actor)
        ),
        {"resident_id": pl.Int64(), "town_id": pl.Int64(), "origin_province": pl.String()},
    )
    return (
        residents.sort("resident_id")
        .with_columns(
            pl.col("town_id")
            .replace_strict(codes, default=None, return_dtype=pl.String)
            .alias("town_code")
        )
        .select("resident_id", "town_code", "origin_province")
    )
