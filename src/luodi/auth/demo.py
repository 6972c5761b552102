"""One account of each role for the demo, with random passwords that the demo prints."""

from __future__ import annotations

import secrets

from sqlalchemy.orm import Session

from luodi.auth import service
from luodi.auth.actor import SYSTEM_ACTOR


def demo_users(
    session: Session, town_code: str, department: str, resident_id_number: str
) -> list[tuple[str, str, str]]:
    """(username, role, password) of the demo accounts, created in ``session``."""
    accounts = [
        ("admin", "admin", {}),
        ("operator", "operator", {}),
        ("reviewer", "reviewer", {"department": department}),
        ("town", "town_staff", {"town_code": town_code}),
        ("resident", "resident", {"id_number": resident_id_number}),
        ("auditor", "auditor", {}),
    ]
    created = []
    for username, role, binding in accounts:
        password = secrets.token_urlsafe(9)
        service.add_user(SYSTEM_ACTOR, session, username, role, password, **binding)
        created.append((username, role, password))
    return created
