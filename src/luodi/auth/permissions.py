"""What each role may do, in one place. Services call these before they change anything;
repositories narrow what an actor may read (out of scope reads answer 404: existence is not
leaked). The system actor (the server's command line) may do everything."""

from __future__ import annotations

import re

from luodi.auth.actor import ROLE_LABELS, Actor, Role
from luodi.errors import Forbidden, Unauthorized


def require(actor: Actor, *roles: Role) -> None:
    """Refuse unless the actor has one of ``roles``: 401 for an anonymous caller, 403 for a
    signed-in user whose role may not do this (an auditor never writes)."""
    if actor.role == Role.SYSTEM or actor.role in roles:
        return
    if actor.role == Role.PUBLIC:
        raise Unauthorized("请先登录", "sign in first")
    raise Forbidden(
        f"{ROLE_LABELS[actor.role]}无权执行此操作", f"the role {actor.role} may not do this"
    )


def require_department(actor: Actor, department: str) -> None:
    """Refuse unless the actor speaks for ``department`` (a reviewer or the department's own
    token) or is an administrator."""
    require(actor, Role.ADMIN, Role.REVIEWER, Role.DEPARTMENT)
    if actor.role in (Role.REVIEWER, Role.DEPARTMENT) and actor.department != department:
        raise Forbidden(
            f"只能处理本部门（{actor.department}）的事项，此事项属于 {department}",
            f"only {actor.department}'s own matters; this one belongs to {department}",
        )


def acts_as(actor: Actor, *roles: Role) -> bool:
    """Whether the actor has one of ``roles`` (``require`` that asks instead of refusing):
    for the few decisions that differ by role beyond scope, such as "one record per request
    for a resident". Which *rows* an actor reaches is ``auth/scopes.py``, never this."""
    return actor.role in roles


KIB = 1024
MIB = 1024 * KIB
STAFF_WRITE_BYTES = 64 * MIB
"""Feed files of a million rows fit; anything larger goes through ``luodi feed import``."""
SIGNED_IN_WRITES = ((re.compile(r"^/(api/v1/auth/)?logout$"), 4 * KIB),)
"""Writes anybody signed in may send (signing out)."""
RESIDENT_WRITES = (
    (re.compile(r"^/api/v1/program-cycles/[^/]+/applications$"), 64 * KIB),  # one record
    (re.compile(r"^/api/v1/applications/[^/]+$"), 64 * KIB),  # a correction
    (re.compile(r"^(/api/v1)?/notices/[^/]+/objections$"), 16 * MIB),  # 3 × 5 MB attachments
    # The portal's application pages: a task list step, a correction of a returned one.
    (re.compile(r"^/my/apply/[0-9]+/[a-z]+$"), 64 * KIB),
    (re.compile(r"^/my/applications/[0-9]+/correct$"), 64 * KIB),
    (re.compile(r"^(/api/v1|/my)/ratings$"), 16 * KIB),  # 好差评: a level and a comment
)
DEPARTMENT_WRITES = ((re.compile(r"^/api/v1/feeds/"), STAFF_WRITE_BYTES),)
EMPLOYER_WRITES = (
    # 企业统一申请: its employees' children's applications, one batch (all or none).
    (re.compile(r"^/api/v1/program-cycles/[^/]+/employer-applications$"), 16 * MIB),
)

AUDITOR_WRITES = (
    # Checking the chain appends the check's outcome to it (who checked, what they found).
    (re.compile(r"^/console/audit/verify$"), 4 * KIB),
)


def write_allowance(actor: Actor, path: str) -> int | None:
    """How many bytes a write by ``actor`` to ``path`` may carry, decided before the body is
    read; None when the role writes nothing there (answered 403 without reading it). What
    each route then allows is still ``require``; this only keeps a role from making the
    server read (and parse) a body it would refuse anyway."""
    for pattern, allowance in SIGNED_IN_WRITES:
        if pattern.match(path):
            return allowance
    if actor.role in (Role.SYSTEM, Role.ADMIN, Role.OPERATOR, Role.REVIEWER, Role.TOWN_STAFF):
        return STAFF_WRITE_BYTES
    table = {
        Role.RESIDENT: RESIDENT_WRITES,
        Role.DEPARTMENT: DEPARTMENT_WRITES,
        Role.EMPLOYER: EMPLOYER_WRITES,
        Role.AUDITOR: AUDITOR_WRITES,
    }.get(actor.role)
    for pattern, allowance in table or ():
        if pattern.match(path):
            return allowance
    return None


STAFF_ROLES = (Role.ADMIN, Role.OPERATOR, Role.REVIEWER, Role.TOWN_STAFF, Role.AUDITOR)
"""The roles that work in the staff console (``/console``)."""

CONSOLE_AREAS: dict[str, tuple[Role, ...]] = {
    "home": STAFF_ROLES,
    "residents": (Role.ADMIN, Role.OPERATOR, Role.TOWN_STAFF, Role.AUDITOR),
    "feeds": (Role.ADMIN, Role.OPERATOR, Role.REVIEWER, Role.AUDITOR),
    "scoring": (Role.ADMIN, Role.OPERATOR, Role.AUDITOR),
    "cycles": STAFF_ROLES,
    "objections": (Role.ADMIN, Role.OPERATOR, Role.REVIEWER, Role.AUDITOR),
    "policies": STAFF_ROLES,
    "users": (Role.ADMIN,),
    "audit": (Role.ADMIN, Role.AUDITOR),
    "ratings": (Role.ADMIN, Role.OPERATOR, Role.AUDITOR),
    # Aggregates of the whole city (forecast, 积分制总量分析, policy what-if): the service
    # centre, the auditors and the departments' reviewers (教育局 plans school places, 发改局
    # the 市民化 batches); never a town's desk, whose scope is its own residents.
    "forecast": (Role.ADMIN, Role.OPERATOR, Role.REVIEWER, Role.AUDITOR),
    "analysis": (Role.ADMIN, Role.OPERATOR, Role.REVIEWER, Role.AUDITOR),
}
"""Which roles open which area of the console. Another role gets 404 there (the area does not
exist for it); which rows it then sees is still the domain's ``readable(actor)``."""


def may_open(actor: Actor, area: str) -> bool:
    return actor.role == Role.SYSTEM or acts_as(actor, *CONSOLE_AREAS[area])
