"""Who is acting. Every service function takes the actor first; what a role may read and
write is decided from the actor in the services and repositories (``auth/permissions.py``),
never in the routers."""

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
    DEPARTMENT = "department"  # a department's machine token: pushes its own feeds, nothing else
    EMPLOYER = "employer"  # 用人单位: files 企业统一申请 batches for its employees' children
    PUBLIC = "public"


ROLE_LABELS = {
    Role.SYSTEM: "系统",
    Role.ADMIN: "管理员",
    Role.OPERATOR: "服务中心经办",
    Role.REVIEWER: "部门审核",
    Role.TOWN_STAFF: "镇街工作人员",
    Role.RESIDENT: "新市民",
    Role.AUDITOR: "审计",
    Role.DEPARTMENT: "部门接口",
    Role.EMPLOYER: "用人单位",
    Role.PUBLIC: "公众",
}

USER_ROLES = (
    Role.ADMIN,
    Role.OPERATOR,
    Role.REVIEWER,
    Role.TOWN_STAFF,
    Role.RESIDENT,
    Role.AUDITOR,
    Role.EMPLOYER,
)
"""Roles a person's account may have (system, department and public are not accounts)."""


@dataclass(frozen=True)
class Actor:
    username: str
    role: Role
    town_code: str | None = None
    department: str | None = None
    id_number: str | None = None
    credit_code: str | None = None
    """An employer's unified social credit code (the role ``employer`` only)."""


SYSTEM_ACTOR = Actor(username="system", role=Role.SYSTEM)
"""The command line on the server: whoever runs ``luodi`` there has the database anyway."""

PUBLIC_ACTOR = Actor(username="public", role=Role.PUBLIC)
"""An anonymous caller of the web app: sees only what is public, and masked."""
