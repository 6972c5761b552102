"""Queries of scoring runs and stored scores."""

from __future__ import annotations

import polars as pl
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from luodi.auth.actor import Actor
from luodi.scoring.models import ResidentScore, ScoringRun


def readable_runs(actor: Actor) -> Select[tuple[ScoringRun]]:
    """The one place scoring runs are scoped (by district once roles exist)."""
    return select(ScoringRun)


def run_by_id(session: Session, actor: Actor, run_id: int) -> ScoringRun | None:
    return session.scalars(readable_runs(actor).where(ScoringRun.id == run_id)).one_or_none()


def latest_run_with(session: Session, actor: Actor, resident_id: int) -> ScoringRun | None:
    return session.scalars(
        readable_runs(actor)
        .join(ResidentScore, ResidentScore.run_id == ScoringRun.id)
        .where(ResidentScore.resident_id == resident_id)
        .order_by(ScoringRun.id.desc())
        .limit(1)
    ).one_or_none()


def score_of(session: Session, run_id: int, resident_id: int) -> ResidentScore | None:
    return session.get(ResidentScore, (run_id, resident_id))


def list_runs(session: Session, actor: Actor) -> list[ScoringRun]:
    return list(session.scalars(readable_runs(actor).order_by(ScoringRun.id.desc())))


def latest_run_of_policy(session: Session, actor: Actor, policy_id: str) -> ScoringRun | None:
    return session.scalars(
        readable_runs(actor)
        .where(ScoringRun.policy_id == policy_id)
        .order_by(ScoringRun.id.desc())
        .limit(1)
    ).one_or_none()


def scores_of(
    session: Session, run_id: int, resident_ids: list[int]
) -> list[tuple[int, float, str]]:
    rows = session.execute(
        select(ResidentScore.resident_id, ResidentScore.total, ResidentScore.inputs).where(
            ResidentScore.run_id == run_id, ResidentScore.resident_id.in_(resident_ids)
        )
    ).all()
    return [(row[0], row[1], row[2]) for row in rows]


def totals_frame(session: Session, run_id: int) -> pl.DataFrame:
    """resident_id and total of everyone scored in a run (one query, as a frame)."""
    rows = session.execute(
        select(ResidentScore.resident_id, ResidentScore.total).where(ResidentScore.run_id == run_id)
    ).all()
    return pl.DataFrame(
        [tuple(row) for row in rows],
        schema={"resident_id": pl.Int64, "total": pl.Float64},
        orient="row",
    )
