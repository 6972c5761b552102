"""Forecast tables: the entry-grade intakes of past school years (``school_intakes.csv``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from luodi.db import Base, UtcDateTime


class SchoolIntake(Base):
    """One school's intake of one entry grade in one school year, as the education bureau
    (教育局) reports it: planned seats, applicants (first choice there), places given. The
    past the forecast learns from where the platform did not run that year's school cycle (a
    cycle in the database wins for the same school and year: ``forecast.repository``)."""

    __tablename__ = "school_intakes"
    __table_args__ = (UniqueConstraint("school_year", "school_id", "grade"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_year: Mapped[int] = mapped_column(Integer)
    """The year its September starts."""
    school_id: Mapped[str] = mapped_column(String(64), index=True)
    school_name: Mapped[str | None] = mapped_column(String(200))
    """From the directory's schools.csv when loaded."""
    town_code: Mapped[str] = mapped_column(String(12), index=True)
    grade: Mapped[int] = mapped_column(Integer)
    seats: Mapped[int] = mapped_column(Integer)
    applicants: Mapped[int] = mapped_column(Integer)
    placed: Mapped[int] = mapped_column(Integer)
    loaded_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
