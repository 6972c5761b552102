"""Accounts, passwords, sign-in with throttling, and tokens.

Passwords are hashed with Argon2id (argon2-cffi). A token is 32 random bytes shown once;
only its SHA-256 is stored, with an expiry, so a leaked database copy signs nobody in and a
disabled account's tokens stop working at once.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from luodi.audit import service as audit
from luodi.auth.actor import USER_ROLES, Actor, Role
from luodi.auth.models import ApiToken, LoginFailure, User
from luodi.auth.permissions import require
from luodi.db import session_factory
from luodi.errors import Conflict, Invalid, NotFound, TooManyRequests, Unauthorized
from luodi.kernels.masking import mask_id_number
from luodi.registry import service as registry

HASHER = PasswordHasher()
# Verified against for unknown usernames, so that "no such user" takes as long as "wrong
# password" and the answer does not tell which.
_DUMMY_HASH = HASHER.hash("luodi-no-such-user")

USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{3,64}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 256
FAILURE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_USER = 5
MAX_FAILURES_PER_CLIENT = 30
SIGN_IN_TTL = timedelta(hours=8)
DEPARTMENT_TOKEN_DAYS = 365


class TokenKind(StrEnum):
    BEARER = "bearer"
    SESSION = "session"
    DEPARTMENT = "department"


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime


def actor_of(user: User) -> Actor:
    return Actor(
        username=user.username,
        role=Role(user.role),
        town_code=user.town_code,
        department=user.department,
        id_number=user.id_number,
    )


def _public(user: User) -> dict[str, object]:
    """What the audit log digests of an account: no password hash, no ID number in clear."""
    return {
        "username": user.username,
        "role": user.role,
        "town_code": user.town_code,
        "department": user.department,
        "id_number": mask_id_number(user.id_number) if user.id_number else None,
        "active": user.active,
    }


def check_password(password: str) -> None:
    if not (MIN_PASSWORD <= len(password) <= MAX_PASSWORD):
        raise Invalid.field(
            "password",
            "***",
            f"密码长度应为 {MIN_PASSWORD}–{MAX_PASSWORD} 个字符",
            f"a password has {MIN_PASSWORD}–{MAX_PASSWORD} characters",
        )


def add_user(
    actor: Actor,
    session: Session,
    username: str,
    role: str,
    password: str,
    town_code: str | None = None,
    department: str | None = None,
    id_number: str | None = None,
) -> User:
    """An account; what binds it (town, department, ID number) is required by its role and
    refused otherwise, so that no account has a scope it does not need."""
    require(actor, Role.ADMIN)
    username = username.strip()
    if not USERNAME.match(username):
        raise Invalid.field(
            "username",
            username,
            "用户名为3–64个字母、数字或 _ . @ -",
            "3–64 letters, digits or _ . @ -",
        )
    if role not in {str(r) for r in USER_ROLES}:
        raise Invalid.field(
            "role", role, f"角色应为 {', '.join(USER_ROLES)}", f"one of {', '.join(USER_ROLES)}"
        )
    check_password(password)
    needs = {Role.TOWN_STAFF: "town", Role.REVIEWER: "department", Role.RESIDENT: "id_number"}
    given = {"town": town_code, "department": department, "id_number": id_number}
    for name, value in given.items():
        wanted = needs.get(Role(role)) == name
        if wanted and not (value and value.strip()):
            raise Invalid.field(name, value, f"角色 {role} 必须指定 --{name}", f"{role} needs it")
        if not wanted and value:
            raise Invalid.field(
                name, value, f"角色 {role} 不绑定此项", f"{role} is not bound to it"
            )
    if town_code:
        town_code = registry.town_for(session, actor, town_code, "town").code
    if id_number:
        id_number = registry.checked_id_number(id_number).number
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"用户名 {username} 已存在", f"username {username} already exists")
    if id_number and session.scalar(select(User.id).where(User.id_number == id_number)):
        raise Conflict("该身份证号已有账号", "this ID number already has an account")
    user = User(
        username=username,
        password_hash=HASHER.hash(password),
        role=role,
        town_code=town_code,
        department=department.strip() if department else None,
        id_number=id_number,
        created_by=actor.username,
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError as error:
        raise Conflict(
            f"用户名 {username} 已存在", f"username {username} already exists"
        ) from error
    audit.record(session, actor, "user.add", "user", user.username, after=_public(user))
    return user


def list_users(actor: Actor, session: Session) -> list[User]:
    require(actor, Role.ADMIN, Role.AUDITOR)
    return list(session.scalars(select(User).order_by(User.username)))


def get_user(session: Session, username: str) -> User:
    user = session.scalars(select(User).where(User.username == username)).one_or_none()
    if user is None:
        raise NotFound(f"没有用户 {username}", f"no user {username}")
    return user


def disable_user(actor: Actor, session: Session, username: str) -> User:
    """Disable an account and revoke its tokens (sessions end at once)."""
    require(actor, Role.ADMIN)
    user = get_user(session, username)
    before = _public(user)
    user.active = False
    session.execute(update(ApiToken).where(ApiToken.user_id == user.id).values(revoked=True))
    session.flush()
    audit.record(session, actor, "user.disable", "user", user.username, before, _public(user))
    return user


def _record_failure(session: Session, username: str, client: str, now: datetime) -> None:
    """A failed sign-in is kept even though the request fails: it is written in its own short
    transaction, not in the request's (which rolls back)."""
    engine = session.get_bind().engine
    with session_factory(engine)() as own:
        own.add(LoginFailure(username=username[:64], client=client[:64], at=now))
        own.commit()


def _throttled(session: Session, username: str, client: str, now: datetime) -> None:
    since = now - FAILURE_WINDOW
    by_user, by_client = session.execute(
        select(
            func.count().filter(LoginFailure.username == username),
            func.count().filter(LoginFailure.client == client),
        ).where(
            LoginFailure.at >= since,
            or_(LoginFailure.username == username, LoginFailure.client == client),
        )
    ).one()
    if by_user >= MAX_FAILURES_PER_USER or by_client >= MAX_FAILURES_PER_CLIENT:
        minutes = int(FAILURE_WINDOW.total_seconds() // 60)
        raise TooManyRequests(
            f"登录失败次数过多，请 {minutes} 分钟后再试",
            f"too many failed sign-ins; try again in {minutes} minutes",
            int(FAILURE_WINDOW.total_seconds()),
        )


def authenticate(session: Session, username: str, password: str, client: str = "") -> User:
    """The active account with this username and password. Wrong password, unknown name
    and disabled account give the same answer; repeated failures lock the name (and a
    client that tries many names) for a while, checked before the password is."""
    now = datetime.now(UTC)
    username = username.strip()[:64]
    _throttled(session, username, client, now)
    user = session.scalars(select(User).where(User.username == username)).one_or_none()
    try:
        HASHER.verify(user.password_hash if user else _DUMMY_HASH, password[:MAX_PASSWORD])
        ok = user is not None and user.active
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or user is None:
        _record_failure(session, username, client, now)
        raise Unauthorized("用户名或密码错误", "wrong username or password")
    return user


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(
    session: Session,
    user: User | None,
    kind: TokenKind,
    ttl: timedelta = SIGN_IN_TTL,
    department: str | None = None,
    created_by: str | None = None,
) -> IssuedToken:
    token = secrets.token_urlsafe(32)
    expires_at = datetime.now(UTC) + ttl
    session.add(
        ApiToken(
            token_hash=_token_hash(token),
            kind=kind,
            user_id=user.id if user else None,
            department=department,
            expires_at=expires_at,
            created_by=created_by or (user.username if user else "system"),
        )
    )
    session.flush()
    return IssuedToken(token, expires_at)


def sign_in(
    session: Session,
    username: str,
    password: str,
    client: str = "",
    kind: TokenKind = TokenKind.BEARER,
) -> IssuedToken:
    user = authenticate(session, username, password, client)
    issued = issue_token(session, user, kind)
    audit.record(session, actor_of(user), "auth.sign_in", "user", user.username)
    return issued


def actor_for_token(session: Session, token: str, kinds: tuple[TokenKind, ...]) -> Actor:
    """The actor a token speaks for, or ``Unauthorized`` (unknown, forged, expired, revoked,
    or the account disabled)."""
    row = session.scalars(
        select(ApiToken).where(ApiToken.token_hash == _token_hash(token))
    ).one_or_none()
    if row is None or row.kind not in kinds:
        raise Unauthorized("令牌无效", "invalid token")
    if row.revoked or row.expires_at <= datetime.now(UTC):
        raise Unauthorized("令牌已过期或已撤销", "the token has expired or was revoked")
    if row.kind == TokenKind.DEPARTMENT:
        return Actor(
            username=f"dept:{row.department}", role=Role.DEPARTMENT, department=row.department
        )
    user = session.get(User, row.user_id) if row.user_id else None
    if user is None or not user.active:
        raise Unauthorized("账号已停用", "the account is disabled")
    return actor_of(user)


def revoke_token(session: Session, token: str) -> None:
    session.execute(
        update(ApiToken).where(ApiToken.token_hash == _token_hash(token)).values(revoked=True)
    )


def add_department_token(
    actor: Actor, session: Session, department: str, days: int = DEPARTMENT_TOKEN_DAYS
) -> IssuedToken:
    """A machine token for a department's system: it may push that department's feeds and
    nothing else."""
    require(actor, Role.ADMIN)
    department = department.strip()
    if not department:
        raise Invalid.field("department", department, "部门不能为空", "department is empty")
    if not 1 <= days <= 3 * 365:
        raise Invalid.field("days", days, "有效期应为1–1095天", "1–1095 days")
    issued = issue_token(
        session, None, TokenKind.DEPARTMENT, timedelta(days=days), department, actor.username
    )
    audit.record(
        session,
        actor,
        "token.add",
        "department",
        department,
        after={"department": department, "expires_at": issued.expires_at.isoformat()},
    )
    return issued
