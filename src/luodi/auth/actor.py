"""Who is acting. Every service function takes the actor first, so that roles and scoping
(town, department) can be enforced in one place when authentication arrives."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    SYSTEM = "system"
    ADMIN = "admin"
    OPERATOR = "operator"
    REVIEWER = "reviewer"
    TOWN_STAFF = "town_staff"
    RESIDENT = "resident"
    AUDITOR = "auditor"
    PUBLIC = "public"


@dataclass(frozen=True)
class Actor:
    username: str
    role: Role
    town_code: str | None = None
    department: str | None = None
    id_number: str | None = None


SYSTEM_ACTOR = Actor(username="system", role=Role.SYSTEM)
"""The CLI and the demo act as this actor until accounts exist."""

PUBLIC_ACTOR = Actor(username="public", role=Role.PUBLIC)
"""An anonymous caller of the web app: sees only what is public, and masked."""
