"""What the forecast reads from the registry and the school cycles, as Polars frames.

STUB (foundation): ``history`` is the contract between the data layer and the forecast
service; the implementation fills it (bulk SQL reads, never a row at a time).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
from sqlalchemy.orm import Session

from luodi.auth.actor import Actor


@dataclass(frozen=True)
class ForecastHistory:
    children: pl.DataFrame
    """One row per child the registry has ever known: ``child_id`` (Int64), ``birth_date``
    (Date), ``town_code`` (String: the town of the family's permit), ``present_from`` (Date:
    the earliest day a parent's permit was valid — the family known to the city), and
    ``present_until`` (Date, null while a parent's permit still holds: the day the last
    parent's permit was cancelled or expired). A forecast from a date D counts the children
    with ``present_from <= D`` and (``present_until`` null or ``> D``) and born by D."""
    intakes: pl.DataFrame
    """Past entry-grade intakes: ``school_year`` (Int32, the September it starts), ``cycle_as_of``
    (Date: the day its conditions were counted, known after it), ``school_id``, ``school_name``,
    ``town_code``, ``grade`` (Int8: 1 or 7), ``seats``, ``applicants``, ``placed`` (Int64),
    ``source`` (``file``: school_intakes loaded; ``cycle``: a school cycle in the database,
    which wins for the same school and year)."""
    new_permits: pl.DataFrame
    """Net inflow by town and month: ``town_code``, ``month`` (Date, the first), ``issued``,
    ``ended`` (Int64: permits first issued to a resident / whose holder left in that month)."""
    seats: pl.DataFrame
    """Planned seats of the next intakes: ``school_id, school_name, town_code, grade, seats``
    (the newest year known per school: a cycle's targets or the intakes file)."""
    towns: dict[str, str]
    """code → name."""


def history(session: Session, actor: Actor) -> ForecastHistory:
    """Everything the forecast reads, for an actor who may open the forecast area."""
    raise NotImplementedError
