from __future__ import annotations

from datetime import date

from sqlalchemy import Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from luodi.db import Base


class Fact(Base):
    """One fact in long form: ``name`` is the policy input it feeds (``education``,
    ``social_insurance_months`` …), ``value`` its text; ``source`` is the file and row it
    came from. The department-feeds issue adds feed and batch provenance."""

    __tablename__ = "facts"
    __table_args__ = (Index("ix_facts_resident_name", "resident_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"))
    name: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(String(64))
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(200))
