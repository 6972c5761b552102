"""Which facts an actor may read, in SQL (``auth/scopes.py``).

A fact is about a resident: the resident reads their own, town staff the facts of their
town's residents, reviewers (who verify across towns), operators, administrators and auditors
all of them; department tokens and the public none.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, select

from luodi.auth import scopes
from luodi.auth.actor import Actor
from luodi.facts.models import Fact
from luodi.registry.models import Resident


def _town_of_fact() -> ColumnElement[Any]:
    # The town is the resident's, not stored on the fact: a resident who moves takes their
    # facts along.
    return select(Resident.town_id).where(Resident.id == Fact.resident_id).scalar_subquery()


def readable(actor: Actor) -> ColumnElement[bool]:
    return scopes.readable(actor, town=_town_of_fact(), person=Fact.resident_id)
