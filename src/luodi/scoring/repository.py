"""Queries of scoring runs and stored scores; their scope, once, built from ``auth.scopes``.

A stored score is about a person: it is readable by whoever reads that resident in the
registry (``registry.repository.readable``: everybody reading everything, reviewers, the
resident's town staff, the resident). A run carries no town, person nor department: it is
readable by the roles that read rows without those (``scopes.readable(actor)``: the service
centre, auditors and reviewers, who verify applications ranked by these points), and by
anybody who reaches a resident scored in it (a town's staff, a resident in it). The public
reaches none.

A run's frame (``ScoreFramePart``: the typed inputs and points of everyone in it) has no
scope of its own: the services read parts only for residents the queries above let through.
"""

from __future__ import annotations

from datetime import date

import polars as pl
from sqlalchemy import ColumnElement, Select, func, insert, select
from sqlalchemy.orm import Session, aliased

from luodi import bulk
from luodi.auth import scopes
from luodi.auth.actor import Actor
from luodi.registry import repository as registry_repository
from luodi.scoring import frames
from luodi.scoring.models import ResidentScore, ScoreFramePart, ScoringRun


def readable_scores(actor: Actor) -> ColumnElement[bool]:
    """Stored scores of the residents ``actor`` reads."""
    return scopes.readable(actor) | ResidentScore.resident_id.in_(
        registry_repository.readable_ids(actor)
    )


def readable_runs(actor: Actor) -> Select[tuple[ScoringRun]]:
    # An alias, correlated to the run only: callers join ResidentScore themselves.
    scored = aliased(ResidentScore)
    holds_a_reachable_score = (
        select(scored.run_id)
        .where(
            scored.run_id == ScoringRun.id,
            scored.resident_id.in_(registry_repository.readable_ids(actor)),
        )
        .correlate(ScoringRun)
        .exists()
    )
    return select(ScoringRun).where(scopes.readable(actor) | holds_a_reachable_score)


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


def newest_run_after(session: Session, run_id: int) -> tuple[int, date] | None:
    """(id, as_of) of the newest run (of any policy: every policy scores the same permit
    holders) after ``run_id``: only its number and date, for telling a resident whose newest
    score is not the newest run that they were not scored in it. Unscoped on purpose: it
    says nothing about the run beyond that it exists, which whoever reads the resident may
    know, and a scoped query would hide the very run that left them out
    (docs/security.md)."""
    statement = select(ScoringRun.id, ScoringRun.as_of).where(ScoringRun.id > run_id)
    row = session.execute(statement.order_by(ScoringRun.id.desc()).limit(1)).one_or_none()
    return None if row is None else (int(row[0]), row[1])


def score_of(session: Session, actor: Actor, run_id: int, resident_id: int) -> ResidentScore | None:
    return session.scalars(
        select(ResidentScore).where(
            ResidentScore.run_id == run_id,
            ResidentScore.resident_id == resident_id,
            readable_scores(actor),
        )
    ).one_or_none()


def scores_of(session: Session, actor: Actor, resident_id: int) -> list[tuple[ScoringRun, float]]:
    """Every run that scored the resident, with their total in it, newest first (a score
    the actor reads makes its run readable: ``readable_runs``)."""
    statement = (
        select(ScoringRun, ResidentScore.total)
        .join(ResidentScore, ResidentScore.run_id == ScoringRun.id)
        .where(ResidentScore.resident_id == resident_id, readable_scores(actor))
        .order_by(ScoringRun.id.desc())
    )
    return [(run, float(total)) for run, total in session.execute(statement)]


def list_runs(session: Session, actor: Actor) -> list[ScoringRun]:
    return list(session.scalars(readable_runs(actor).order_by(ScoringRun.id.desc())))


def latest_run_of_policy(session: Session, actor: Actor, policy_id: str) -> ScoringRun | None:
    return session.scalars(
        readable_runs(actor)
        .where(ScoringRun.policy_id == policy_id)
        .order_by(ScoringRun.id.desc())
        .limit(1)
    ).one_or_none()


def newest_run_of_policy_on(
    session: Session, actor: Actor, policy_id: str, as_of: date
) -> ScoringRun | None:
    """The newest run of ``policy_id`` scored as of ``as_of`` that ``actor`` reads (the
    what-if takes its inputs from it instead of the registry)."""
    return session.scalars(
        readable_runs(actor)
        .where(ScoringRun.policy_id == policy_id, ScoringRun.as_of == as_of)
        .order_by(ScoringRun.id.desc())
        .limit(1)
    ).one_or_none()


def scored_ids(session: Session, actor: Actor, run_id: int, resident_ids: list[int]) -> list[int]:
    """Those of ``resident_ids`` scored in the run whose scores ``actor`` reads."""
    return list(
        session.scalars(
            select(ResidentScore.resident_id).where(
                ResidentScore.run_id == run_id,
                bulk.among(session, ResidentScore.resident_id, resident_ids),
                readable_scores(actor),
            )
        )
    )


def totals_frame(session: Session, run_id: int) -> pl.DataFrame:
    """resident_id and total of everyone scored in a run (one query, as a frame)."""
    return bulk.read_frame(
        session,
        select(ResidentScore.resident_id, ResidentScore.total).where(
            ResidentScore.run_id == run_id
        ),
        {"resident_id": pl.Int64(), "total": pl.Float64()},
    )


def total_counts(session: Session, actor: Actor, run_id: int) -> pl.DataFrame:
    """``town_code``, ``total``, ``residents``: how many of the residents ``actor`` reads,
    by town (as the registry has it now), have each total in a run. Grouped in SQL: a run of
    a hundred thousand has a few thousand such rows."""
    towns = registry_repository.resident_town_codes(actor).subquery()
    statement = (
        select(towns.c.town_code, ResidentScore.total, func.count())
        .select_from(ResidentScore)
        .join(towns, towns.c.resident_id == ResidentScore.resident_id)
        .where(ResidentScore.run_id == run_id)
        .group_by(towns.c.town_code, ResidentScore.total)
    )
    return pl.DataFrame(
        [tuple(row) for row in session.execute(statement)],
        schema={"town_code": pl.String, "total": pl.Float64, "residents": pl.Int64},
        orient="row",
    )


def store_frame(session: Session, run_id: int, parts: list[frames.Part]) -> None:
    """The run's frame, part by part (caller commits, with the run)."""
    for part in parts:
        session.execute(
            insert(ScoreFramePart).values(
                run_id=run_id,
                part=part.number,
                first_resident_id=part.first_resident_id,
                last_resident_id=part.last_resident_id,
                rows=part.rows,
                digest=part.digest,
                data=part.data,
            )
        )


def frame_part_ranges(session: Session, run_id: int) -> pl.DataFrame:
    """``part``, ``first_resident_id``, ``last_resident_id`` of a run's frame, in order (no
    part's data is read)."""
    rows = session.execute(
        select(
            ScoreFramePart.part, ScoreFramePart.first_resident_id, ScoreFramePart.last_resident_id
        )
        .where(ScoreFramePart.run_id == run_id)
        .order_by(ScoreFramePart.part)
    ).all()
    return pl.DataFrame(
        [tuple(row) for row in rows],
        schema={"part": pl.Int64, "first_resident_id": pl.Int64, "last_resident_id": pl.Int64},
        orient="row",
    )


def frame_parts(
    session: Session,
    run_id: int,
    first_id: int | None = None,
    last_id: int | None = None,
    limit: int | None = None,
    numbers: list[int] | None = None,
) -> list[tuple[int, str, bytes]]:
    """(part, digest, data) of a run's frame in order, only those that may hold residents
    ``first_id`` … ``last_id`` when given, only the parts ``numbers`` when given, the first
    ``limit`` of them when given."""
    statement = select(ScoreFramePart.part, ScoreFramePart.digest, ScoreFramePart.data).where(
        ScoreFramePart.run_id == run_id
    )
    if numbers is not None:
        statement = statement.where(ScoreFramePart.part.in_(numbers))
    if first_id is not None:
        statement = statement.where(ScoreFramePart.last_resident_id >= first_id)
    if last_id is not None:
        statement = statement.where(ScoreFramePart.first_resident_id <= last_id)
    rows = session.execute(statement.order_by(ScoreFramePart.part).limit(limit)).all()
    return [(row[0], row[1], bytes(row[2])) for row in rows]
