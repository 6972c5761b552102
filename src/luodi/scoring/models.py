from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Float, ForeignKey, Integer, LargeBinary, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from luodi.db import Base, UtcDateTime


class ScoringRun(Base):
    """One scoring of the population. Never updated: the policy text and its digest are kept,
    so that any score can be recomputed and explained exactly as it was."""

    __tablename__ = "scoring_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    policy_id: Mapped[str] = mapped_column(String(64), index=True)
    policy_version: Mapped[str] = mapped_column(String(32))
    policy_digest: Mapped[str] = mapped_column(String(64))
    policy_text: Mapped[str] = mapped_column(Text)
    as_of: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
    created_by: Mapped[str] = mapped_column(String(64))
    residents_scored: Mapped[int] = mapped_column(Integer)
    residents_skipped: Mapped[int] = mapped_column(Integer)
    mean_total: Mapped[float] = mapped_column(Float)
    defaulted_inputs: Mapped[str] = mapped_column(Text, default="")
    """Inputs the registry could not provide, scored at their declared default (comma list)."""
    frame_digest: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the run's stored frame (its parts' bytes in order, ``scoring.frames``)."""
    source: Mapped[str | None] = mapped_column(String(300), default=None)
    """Where it was scored: None here (``luodi score``); a scored dataset imported (``luodi
    import scores``): its name and engine, e.g. ``scored-2026 (spark)``."""


class ResidentScore(Base):
    """Who was scored in a run, with their total: what scoping and rankings read in SQL. The
    signed lines and the typed inputs used are in the run's frame (``ScoreFramePart``), so
    the explanation is the stored one, not today's data."""

    __tablename__ = "resident_scores"

    run_id: Mapped[int] = mapped_column(ForeignKey("scoring_runs.id"), primary_key=True)
    resident_id: Mapped[int] = mapped_column(
        ForeignKey("residents.id"), primary_key=True, index=True
    )
    total: Mapped[float] = mapped_column(Float)


class ScoreFramePart(Base):
    """One Parquet part of a run's frame: the typed inputs and points of the residents
    ``first_resident_id`` … ``last_resident_id`` scored in it, with the SHA-256 of ``data``.
    Written once with the run, in its transaction, never updated; a backup of the database
    holds it."""

    __tablename__ = "score_frame_parts"

    run_id: Mapped[int] = mapped_column(ForeignKey("scoring_runs.id"), primary_key=True)
    part: Mapped[int] = mapped_column(Integer, primary_key=True)
    first_resident_id: Mapped[int] = mapped_column(Integer)
    last_resident_id: Mapped[int] = mapped_column(Integer)
    rows: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
