"""Queries of the points analysis: the registry's attributes of everyone, in bulk, and the
counts at thresholds of a policy's runs, grouped in SQL.

The residents are those of ``registry.repository.readable(actor)``; a resident scored in a
run whom the actor does not read is kept in the analysis with unknown attributes (the
kernel's ``UNKNOWN``), never dropped: every table then adds up to the run."""

from __future__ import annotations

from datetime import date

import polars as pl
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from luodi import bulk
from luodi.auth.actor import Actor
from luodi.kernels.analysis.points import PEOPLE_COLUMNS
from luodi.kernels.masking import mask_id_number, mask_name
from luodi.registry import repository as registry_repository
from luodi.registry.models import (
    Employment,
    EmploymentBasis,
    ResidencePermit,
    Resident,
    Town,
)
from luodi.scoring import repository as scoring_repository
from luodi.scoring.models import ResidentScore, ScoringRun


def people(
    session: Session, actor: Actor, as_of: date, ids: bulk.IdRange | None = None
) -> pl.DataFrame:
    """``PEOPLE_COLUMNS`` of every resident ``actor`` reads (of ``ids`` only, when given: a
    batch of ``luodi export inputs``): town, origin and birth from the
    registry, the first permit ever issued (permit length), and the basis of the employment
    in force on ``as_of`` (the earliest begun, where several are). Three plain queries of
    plain columns, grouped and joined in Polars: on SQLite a ``GROUP BY`` of a million
    permits, a join to the towns or a text per employment's basis cost more than the rows."""
    towns = pl.DataFrame(
        [tuple(row) for row in session.execute(select(Town.id, Town.code))],
        schema={"town_id": pl.Int64, "town_code": pl.String},
        orient="row",
    )
    residents = bulk.read_frame(
        session,
        select(Resident.id, Resident.town_id, Resident.origin_province, Resident.birth_date).where(
            registry_repository.readable(actor), bulk.within(Resident.id, ids)
        ),
        {
            "resident_id": pl.Int64(),
            "town_id": pl.Int64(),
            "origin_province": pl.String(),
            "birth_date": pl.Date(),
        },
    )
    permits = (
        bulk.read_frame(
            session,
            select(ResidencePermit.resident_id, ResidencePermit.issue_date).where(
                ResidencePermit.issue_date <= as_of,
                bulk.within(ResidencePermit.resident_id, ids),
            ),
            {"resident_id": pl.Int64(), "first_permit_date": pl.Date()},
        )
        .group_by("resident_id")
        .agg(pl.col("first_permit_date").min())
    )
    bases = list(EmploymentBasis)
    employed = bulk.read_frame(
        session,
        select(
            Employment.resident_id,
            Employment.start_date,
            case(
                *[(Employment.basis == basis.value, index) for index, basis in enumerate(bases)],
                else_=-1,
            ),
        ).where(
            Employment.start_date <= as_of,
            (Employment.end_date.is_(None)) | (Employment.end_date >= as_of),
            bulk.within(Employment.resident_id, ids),
        ),
        {"resident_id": pl.Int64(), "start_date": pl.Date(), "basis": pl.Int64()},
    )
    first_job = (
        employed.sort("resident_id", "start_date", "basis")
        .unique("resident_id", keep="first", maintain_order=True)
        .select(
            "resident_id",
            pl.col("basis")
            .replace_strict(
                {index: basis.value for index, basis in enumerate(bases)},
                default=None,
                return_dtype=pl.String,
            )
            .alias("employment_basis"),
        )
    )
    # Every frame sorted by resident: Polars then merges instead of hashing (a tenth of the
    # time of a million-row join), here and in the kernel's joins with the run's frames.
    town_codes = dict(towns.iter_rows())
    return (
        residents.sort("resident_id")
        .with_columns(
            pl.col("town_id")
            .replace_strict(town_codes, default=None, return_dtype=pl.String)
            .alias("town_code")
        )
        .join(permits.sort("resident_id"), on="resident_id", how="left")
        .join(first_job.sort("resident_id"), on="resident_id", how="left")
        .select(list(PEOPLE_COLUMNS))
    )


def town_names(session: Session, actor: Actor) -> dict[str, str]:
    towns = registry_repository.readable_towns(actor).subquery()
    return {row[0]: row[1] for row in session.execute(select(towns.c.code, towns.c.name))}


def runs_of_policy(session: Session, actor: Actor, policy_id: str, up_to: int) -> list[ScoringRun]:
    """The runs of ``policy_id`` ``actor`` reads, up to and including run ``up_to``, oldest
    first."""
    return list(
        session.scalars(
            scoring_repository.readable_runs(actor)
            .where(ScoringRun.policy_id == policy_id, ScoringRun.id <= up_to)
            .order_by(ScoringRun.id)
        )
    )


def counts_at_thresholds(
    session: Session, run_ids: list[int], thresholds: tuple[float, ...]
) -> pl.DataFrame:
    """``run_id, threshold, residents``: the stored totals at or above each threshold, per
    run, counted in the database (a million rows per run never leave it)."""
    schema = {"run_id": pl.Int64, "threshold": pl.Float64, "residents": pl.Int64}
    if not run_ids or not thresholds:
        return pl.DataFrame(schema=schema)
    counts = [
        func.sum(case((ResidentScore.total >= threshold, 1), else_=0)) for threshold in thresholds
    ]
    rows = session.execute(
        select(ResidentScore.run_id, *counts)
        .where(ResidentScore.run_id.in_(run_ids))
        .group_by(ResidentScore.run_id)
    ).all()
    return pl.DataFrame(
        [
            (int(row[0]), float(threshold), int(row[1 + index] or 0))
            for row in rows
            for index, threshold in enumerate(thresholds)
        ],
        schema=schema,
        orient="row",
    ).sort("run_id", "threshold")


def masked_people(session: Session, actor: Actor, resident_ids: list[int]) -> pl.DataFrame:
    """``resident_id, name, id_number`` masked (``kernels.masking``) of those of
    ``resident_ids`` ``actor`` reads: a batch list names people, never in full."""
    schema = {"resident_id": pl.Int64, "name": pl.String, "id_number": pl.String}
    if not resident_ids:
        return pl.DataFrame(schema=schema)
    rows = session.execute(
        select(Resident.id, Resident.name, Resident.id_number).where(
            bulk.among(session, Resident.id, resident_ids),
            registry_repository.readable(actor),
        )
    ).all()
    # A batch is a yearly quota (thousands at most): one masking call per person is cheap.
    return pl.DataFrame(
        [(int(row[0]), mask_name(row[1]), mask_id_number(row[2])) for row in rows],
        schema=schema,
        orient="row",
    )
