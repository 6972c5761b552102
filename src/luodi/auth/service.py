"""Accounts, passwords, sign-in with throttling, and tokens.

Passwords are hashed with Argon2id (argon2-cffi). A token is 32 random bytes shown once;
only its SHA-256 is stored, with an expiry, so a leaked database copy signs nobody in and a
disabled account's tokens stop working at once.

A sign-in (``sign_in``) is three steps, and only the middle one is slow:

1. **May this attempt start?** In one short transaction, one conditional upsert per throttle
   key — the client address, then the (username, client address) pair — decides and counts
   the attempt in the same statement (``INSERT … ON CONFLICT DO UPDATE … WHERE … RETURNING``).
   PostgreSQL locks the conflicting row and evaluates the ``WHERE`` on its newest version;
   SQLite runs one writer at a time. Either way two parallel requests cannot both take the
   last allowed attempt. The account's hash is read; the transaction commits and its
   connection goes back to the pool.
2. **Argon2**, in a small fixed pool of worker threads (argon2-cffi releases the GIL), holding
   no database connection: parallel sign-ins neither exhaust the connection pool nor make a
   health check wait behind them, and at most ``HASH_WORKERS`` hashes (64 MiB each) run.
3. **The outcome**, in a new short transaction: a success clears the pair's count, issues the
   token and audits the sign-in; a failure sets the pair's next allowed time and audits it.

Throttling is per (account, client address) (``_throttle_key``: every name of an account is
one bucket), never per account alone, so that nobody can
lock an account for everyone by failing on purpose: after ``MAX_FAILURES_PER_USER`` attempts
the pair waits 1 s, 2 s, 4 s … (at most ``MAX_DELAY``) between attempts, one at a time; the
right password from any other address still signs in. A client address is also limited to
``MAX_FAILURES_PER_CLIENT`` unsuccessful attempts per window, whatever names it tries.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
import re
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Any

from anyio import to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import (
    Connection,
    Engine,
    and_,
    case,
    delete,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from luodi.audit import service as audit
from luodi.auth.actor import PUBLIC_ACTOR, ROLE_LABELS, SYSTEM_ACTOR, USER_ROLES, Actor, Role
from luodi.auth.codes import Outgoing
from luodi.auth.models import AccountCode, ApiToken, SignInThrottle, User
from luodi.auth.permissions import require
from luodi.db import UtcDateTime
from luodi.errors import (
    MAX_ID,
    Conflict,
    FieldProblem,
    Forbidden,
    Invalid,
    NotFound,
    TooManyRequests,
    Unauthorized,
    excerpt,
)
from luodi.kernels.identifiers import check_id_number
from luodi.kernels.masking import mask_id_number, mask_numbers_in, mask_phone
from luodi.kernels.text import check_name
from luodi.registry import service as registry
from luodi.settings import get_settings
from luodi.workdays import CHINA_TIME

HASHER = PasswordHasher()
HASH_WORKERS = 2
"""Argon2 checks that may run at once (each takes 64 MiB and uses the cores it is given)."""
_hash_pool = ThreadPoolExecutor(max_workers=HASH_WORKERS, thread_name_prefix="argon2")

USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{3,64}$")
MAX_USERNAME = 64
MIN_PASSWORD = 10
MAX_PASSWORD = 256
FAILURE_WINDOW = timedelta(minutes=15)
"""A pair idle this long starts over; a client address's count covers this window."""
MAX_FAILURES_PER_USER = 5
"""Attempts a (username, client address) pair may make before each next one waits."""
FIRST_DELAY = timedelta(seconds=1)
MAX_DELAY = timedelta(minutes=5)
CHECK_HOLD = timedelta(seconds=60)
"""While a pair's attempt past the free ones is being checked, no other may start (they are
answered 429, ``Retry-After: 1``): longer than any Argon2 check, short enough that a server
that died during one does not hold the pair for long."""
MAX_FAILURES_PER_CLIENT = 30
ANY_USER = ""
"""The username of a client address's own throttle row (the empty name is no account's)."""
SIGN_IN_TTL = timedelta(hours=8)
DEPARTMENT_TOKEN_DAYS = 365
MAX_DEPARTMENT_TOKEN_DAYS = 3 * 365


class TokenKind(StrEnum):
    BEARER = "bearer"
    SESSION = "session"
    DEPARTMENT = "department"


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime
    token_id: int


@cache
def _dummy_hash() -> str:
    """Verified against for unknown usernames, so that "no such user" takes as long as "wrong
    password" and the answer does not tell which. Made on first use, not at import: every
    command of the CLI imports this module, and a hash costs a sixth of a second."""
    return HASHER.hash("luodi-no-such-user")


def _password_matches(password_hash: str | None, password: str) -> bool:
    """One Argon2 check (``None``: the dummy hash). Runs in the worker pool."""
    try:
        return HASHER.verify(password_hash or _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return False


def actor_of(user: User) -> Actor:
    return Actor(
        username=user.username,
        role=Role(user.role),
        town_code=user.town_code,
        department=user.department,
        id_number=user.id_number,
        credit_code=user.credit_code,
    )


def _public(user: User) -> dict[str, object]:
    """What the audit log digests of an account: no password hash, no ID number in clear."""
    return {
        "username": user.username,
        "role": user.role,
        "town_code": user.town_code,
        "department": user.department,
        "id_number": mask_id_number(user.id_number) if user.id_number else None,
        "credit_code": user.credit_code,
        "active": user.active,
    }


def checked_username(username: str) -> str:
    """A username without surrounding spaces; 422 when it is empty, too long, or holds a
    control or bidirectional character (``admin\u202e`` must not pass for ``admin``)."""
    check = check_name(username, MAX_USERNAME)
    if not check.valid:
        raise Invalid.field(
            "username", excerpt(username), check.reason_zh or "", check.reason_en or ""
        )
    return check.value


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
    credit_code: str | None = None,
) -> User:
    """An account; what binds it (town, department, ID number, an employer's credit code) is
    required by its role and refused otherwise, so that no account has a scope it does not
    need."""
    require(actor, Role.ADMIN)
    username = checked_username(username)
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
    needs = {
        Role.TOWN_STAFF: "town",
        Role.REVIEWER: "department",
        Role.RESIDENT: "id_number",
        Role.EMPLOYER: "credit_code",
    }
    given = {
        "town": town_code,
        "department": department,
        "id_number": id_number,
        "credit_code": credit_code,
    }
    role_zh = ROLE_LABELS[Role(role)]
    for name, value in given.items():
        wanted = needs.get(Role(role)) == name
        binding_zh, binding_en = BINDINGS[name]
        if wanted and not (value and value.strip()):
            raise Invalid.field(
                name,
                value,
                f"{role_zh}账号必须绑定{binding_zh}",
                f"an account of this role must be bound to a {binding_en}",
            )
        if not wanted and value:
            raise Invalid.field(
                name,
                value,
                f"{role_zh}账号不绑定{binding_zh}，请留空",
                f"an account of this role is not bound to a {binding_en}: leave it empty",
            )
    if town_code:
        town_code = registry.town_for(session, actor, town_code, "town").code
    if id_number:
        id_number = registry.checked_id_number(id_number).number
    if credit_code:
        credit_code = registry.registered_employer(session, credit_code).credit_code
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise _taken("username", username, f"用户名 {username} 已存在", "this username is taken")
    if id_number and session.scalar(select(User.id).where(User.id_number == id_number)):
        raise _taken(
            "id_number", id_number, "该身份证号已有账号", "this ID number already has an account"
        )
    user = User(
        username=username,
        password_hash=HASHER.hash(password),
        role=role,
        town_code=town_code,
        department=department.strip() if department else None,
        id_number=id_number,
        credit_code=credit_code,
        activated_at=datetime.now(UTC),
        created_by=actor.username,
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError as error:
        raise _taken(
            "username", username, f"用户名 {username} 已存在", "this username is taken"
        ) from error
    audit.record(session, actor, "user.add", "user", user.username, after=_public(user))
    return user


BINDINGS = {
    "town": ("镇街", "town"),
    "department": ("部门", "department"),
    "id_number": ("身份证号", "ID number"),
    "credit_code": ("统一社会信用代码", "unified social credit code"),
}
"""What an account may be bound to, in words (its messages name the binding, not a flag)."""


def _taken(field: str, value: str, reason_zh: str, reason_en: str) -> Conflict:
    """409 naming the field whose value another account already has (a form marks it)."""
    problem = FieldProblem(field, value, reason_zh, reason_en)
    return Conflict(reason_zh, reason_en, [problem])


USERS_PAGE_LIMIT = 200


def users_page(
    actor: Actor,
    session: Session,
    role: str | None = None,
    name: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[User], int]:
    """One page of accounts by username (of one role, or whose username holds ``name``),
    and how many there are in all: paged in SQL (a city's resident accounts are many)."""
    require(actor, Role.ADMIN, Role.AUDITOR)
    if not 1 <= limit <= USERS_PAGE_LIMIT or offset < 0:
        raise Invalid.field("page", offset, "页码超出范围", "no such page")
    statement = select(User)
    if role:
        statement = statement.where(User.role == role)
    if name and name.strip():
        escaped = name.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        statement = statement.where(User.username.ilike(f"%{escaped}%", escape="\\"))
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    users = session.scalars(statement.order_by(User.username).offset(offset).limit(limit))
    return list(users), int(total)


def get_user_by_id(actor: Actor, session: Session, user_id: int) -> User:
    """An account by its id (the console's pages name accounts so: any username is a valid
    path segment, and "new" or "tokens" would be one)."""
    require(actor, Role.ADMIN, Role.AUDITOR)
    user = session.get(User, user_id) if 1 <= user_id <= MAX_ID else None
    if user is None:
        raise NotFound(f"没有账号 {user_id}", f"no account {user_id}")
    return user


def list_users(actor: Actor, session: Session) -> list[User]:
    require(actor, Role.ADMIN, Role.AUDITOR)
    return list(session.scalars(select(User).order_by(User.username)))


def get_user(session: Session, username: str) -> User:
    # Checked first, so that a name with a control or bidirectional character is refused
    # as such (its repr escapes it) rather than printed raw in "no user …".
    username = checked_username(username)
    user = session.scalars(select(User).where(User.username == username)).one_or_none()
    if user is None:
        raise NotFound(f"没有用户 {username}", f"no user {username}")
    return user


def _revoke_tokens_of(session: Session, user: User) -> int:
    """Revoke every live token of ``user`` (bearer and web sessions); how many there were."""
    result = session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked.is_(False))
        .values(revoked=True)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def disable_user(actor: Actor, session: Session, username: str) -> User:
    """Disable an account and revoke its tokens (sessions end at once)."""
    require(actor, Role.ADMIN)
    user = get_user(session, username)
    if user.username == actor.username:
        # Their own sessions would end with it, and the city might be left with no
        # administrator at all: another administrator does it.
        raise Conflict("不能停用自己的账号", "you cannot disable your own account")
    if not user.active:
        raise Conflict(
            f"账号 {username} 已是停用状态", f"the account {username} is already disabled"
        )
    before = _public(user)
    user.active = False
    revoked = _revoke_tokens_of(session, user)
    session.flush()
    audit.record(
        session,
        actor,
        "user.disable",
        "user",
        user.username,
        before,
        _public(user),
        detail={"tokens_revoked": revoked},
    )
    return user


def enable_user(actor: Actor, session: Session, username: str) -> User:
    """Enable a disabled account again (its old tokens stay revoked: it signs in anew)."""
    require(actor, Role.ADMIN)
    user = get_user(session, username)
    if user.active:
        raise Conflict(f"账号 {username} 已是启用状态", f"the account {username} is already active")
    before = _public(user)
    user.active = True
    session.flush()
    audit.record(session, actor, "user.enable", "user", user.username, before, _public(user))
    return user


def reset_password(actor: Actor, session: Session, username: str, password: str) -> int:
    """Set a new password; every token and web session of the account ends at once, and the
    account's sign-in throttle starts over (its owner may sign in with the new password from
    wherever the throttle held them). How many tokens were revoked."""
    require(actor, Role.ADMIN)
    check_password(password)
    user = get_user(session, username)
    user.password_hash = HASHER.hash(password)
    revoked = _revoke_tokens_of(session, user)
    session.execute(delete(SignInThrottle).where(SignInThrottle.username == user.username))
    session.flush()
    # No digest of the hash: the entry says that the password changed, never what to.
    audit.record(
        session, actor, "user.password", "user", user.username, detail={"tokens_revoked": revoked}
    )
    return revoked


# --- sign-in ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Attempt:
    key: str
    """Whose attempts these are (``_throttle_key``)."""
    number: int
    """This attempt's number for its (key, client address) pair."""
    user_id: int | None
    password_hash: str | None
    active: bool


_THROTTLE = SignInThrottle.__table__.c


def _seconds_until(moment: datetime | None, now: datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds())) if moment else 1


def _take(
    session: Session, username: str, client: str, set_: dict[str, Any], allowed: Any, now: datetime
) -> int | None:
    """Count an attempt on the throttle row (username, client) if ``allowed`` holds for it
    (a new row always starts at one attempt): one statement, so deciding and counting cannot
    be split by a parallel request. The row's count of attempts, or None when refused."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(SignInThrottle)
        .values(
            username=username,
            client=client,
            attempts=1,
            window_started_at=now,
            next_try_at=None,
            checking_until=None,
            updated_at=now,
        )
        .on_conflict_do_update(
            index_elements=[_THROTTLE.username, _THROTTLE.client],
            set_={**set_, "updated_at": now},
            where=allowed,
        )
        .returning(_THROTTLE.attempts)
    )
    return session.scalar(statement)


def _take_client_attempt(session: Session, client: str, now: datetime) -> None:
    """Count an attempt from ``client`` in its window, or 429 when the window is full."""
    at = literal(now, UtcDateTime())
    expired = _THROTTLE.window_started_at < now - FAILURE_WINDOW
    taken = _take(
        session,
        ANY_USER,
        client,
        {
            "attempts": case((expired, 1), else_=_THROTTLE.attempts + 1),
            "window_started_at": case((expired, at), else_=_THROTTLE.window_started_at),
        },
        or_(expired, _THROTTLE.attempts < MAX_FAILURES_PER_CLIENT),
        now,
    )
    if taken is None:
        started = session.scalar(
            select(_THROTTLE.window_started_at).where(
                _THROTTLE.username == ANY_USER, _THROTTLE.client == client
            )
        )
        wait = _seconds_until(started + FAILURE_WINDOW if started else None, now)
        raise TooManyRequests(
            f"此地址登录失败次数过多，请 {wait} 秒后再试",
            f"too many failed sign-ins from this address; try again in {wait} seconds",
            wait,
        )


def _take_pair_attempt(session: Session, username: str, client: str, now: datetime) -> int:
    """Count an attempt of ``username`` from ``client`` and return its number, or 429 while
    the pair must wait. From the ``MAX_FAILURES_PER_USER``-th attempt on, each one holds the
    pair until its outcome sets the next delay: one delayed attempt at a time."""
    idle = _THROTTLE.updated_at < now - FAILURE_WINDOW
    number = case((idle, 1), else_=_THROTTLE.attempts + 1)
    taken = _take(
        session,
        username,
        client,
        {
            "attempts": number,
            "window_started_at": case(
                (idle, literal(now, UtcDateTime())), else_=_THROTTLE.window_started_at
            ),
            "checking_until": case(
                (number >= MAX_FAILURES_PER_USER, literal(now + CHECK_HOLD, UtcDateTime())),
                else_=None,
            ),
        },
        or_(
            idle,
            and_(
                or_(_THROTTLE.next_try_at.is_(None), _THROTTLE.next_try_at <= now),
                or_(_THROTTLE.checking_until.is_(None), _THROTTLE.checking_until <= now),
            ),
        ),
        now,
    )
    if taken is None:
        next_try_at = session.scalar(
            select(_THROTTLE.next_try_at).where(
                _THROTTLE.username == username, _THROTTLE.client == client
            )
        )
        if next_try_at is None or next_try_at <= now:
            # Only a check in progress stands in the way: it ends within a second or so.
            raise TooManyRequests(
                "此账号正在核对密码，请稍后再试",
                "a sign-in of this account is being checked; try again in a second",
                1,
            )
        wait = _seconds_until(next_try_at, now)
        raise TooManyRequests(
            f"登录失败次数过多，请 {wait} 秒后再试",
            f"too many failed sign-ins; try again in {wait} seconds",
            wait,
        )
    return taken


def _throttle_key(username: str, user_username: str | None) -> str:
    """The per-name throttle's key: the account's username when the name given is one of its
    names (the username, the ID number with either x: one bucket per account), else a keyed
    digest of the name (an ID number normalised first), so that no typed ID number is stored
    in clear. The digest's ``#`` is no character of a username: the two never meet."""
    if user_username is not None:
        return user_username
    check = check_id_number(username)
    name = check.number if check.valid else username
    key = get_settings().secret_key.encode()
    digest = hmac.new(key, f"sign-in:{name}".encode(), hashlib.sha256).hexdigest()
    return f"#{digest[:63]}"


def _start_attempt(session: Session, username: str, client: str, now: datetime) -> _Attempt:
    """Step 1 of ``sign_in``: the throttle's decision and the account's hash. The address is
    counted before the pair (the same order everywhere, so two transactions never wait on
    each other's rows); the account is looked up first (a plain read) to key the pair."""
    columns = select(User.id, User.username, User.password_hash, User.active)
    user = session.execute(columns.where(User.username == username)).one_or_none()
    check = check_id_number(username)
    if user is None and check.valid:
        # A resident signs in with their ID number as well as their username.
        user = session.execute(columns.where(User.id_number == check.number)).one_or_none()
    key = _throttle_key(username, user.username if user is not None else None)
    _take_client_attempt(session, client, now)
    number = _take_pair_attempt(session, key, client, now)
    if user is None:
        return _Attempt(key, number, None, None, False)
    return _Attempt(key, number, user.id, user.password_hash, user.active)


def _forgive_client(session: Session, client: str) -> None:
    """A success takes back the attempt it counted on its client address."""
    session.execute(
        update(SignInThrottle)
        .where(_THROTTLE.username == ANY_USER, _THROTTLE.client == client, _THROTTLE.attempts > 0)
        .values(attempts=_THROTTLE.attempts - 1)
    )


def _finish_attempt(
    session: Session, attempt: _Attempt, username: str, client: str, ok: bool, kind: TokenKind
) -> IssuedToken | None:
    """Step 3 of ``sign_in``: record the outcome; the token when it succeeded."""
    now = datetime.now(UTC)
    user = session.get(User, attempt.user_id) if ok and attempt.user_id else None
    pair = and_(_THROTTLE.username == attempt.key, _THROTTLE.client == client)
    if user is not None and user.active:
        # A success is not a failure of the address, and the pair starts over.
        _forgive_client(session, client)
        session.execute(delete(SignInThrottle).where(pair))
        issued = issue_token(session, user, kind)
        audit.record(
            session,
            actor_of(user),
            "auth.sign_in",
            "user",
            user.username,
            detail={"client": client, "kind": str(kind), "token_id": issued.token_id},
        )
        return issued
    if attempt.number >= MAX_FAILURES_PER_USER:
        doublings = min(attempt.number - MAX_FAILURES_PER_USER, 20)
        delay = min(MAX_DELAY, FIRST_DELAY * 2**doublings)
        session.execute(
            update(SignInThrottle).where(pair).values(next_try_at=now + delay, checking_until=None)
        )
    reason = (
        "unknown_user"
        if attempt.user_id is None
        else ("disabled" if not attempt.active else "wrong_password")
    )
    # The attempted password is never recorded, not even as a digest (it is often a
    # neighbour of the real one).
    audit.record(
        session,
        PUBLIC_ACTOR,
        "auth.sign_in_failed",
        "user",
        mask_numbers_in(username),  # a resident may sign in with their ID number
        detail={"client": client, "reason": reason},
    )
    return None


@contextmanager
def _own_transaction(bind: Engine | Connection) -> Iterator[Session]:
    """A short transaction of its own on ``bind``: committed on success, rolled back on any
    error (a refused attempt counts nothing). On a connection that is already in a
    transaction (tests) it is a savepoint of it."""
    with (
        Session(
            bind=bind,
            expire_on_commit=False,
            autoflush=False,
            join_transaction_mode="create_savepoint",
        ) as own,
        own.begin(),
    ):
        yield own


def _checked_input(username: str, password: str) -> str:
    username = checked_username(username)
    if len(password) > MAX_PASSWORD:
        raise Invalid.field(
            "password",
            "***",
            f"密码最长 {MAX_PASSWORD} 个字符",
            f"at most {MAX_PASSWORD} characters",
        )
    return username


def _begin(bind: Engine | Connection, username: str, client: str) -> _Attempt:
    with _own_transaction(bind) as own:
        return _start_attempt(own, username, client, datetime.now(UTC))


def _end(
    bind: Engine | Connection,
    attempt: _Attempt,
    username: str,
    client: str,
    matches: bool,
    kind: TokenKind,
) -> IssuedToken:
    ok = matches and attempt.user_id is not None and attempt.active
    with _own_transaction(bind) as own:
        issued = _finish_attempt(own, attempt, username, client, ok, kind)
    if issued is None:
        raise Unauthorized("用户名或密码错误", "wrong username or password")
    return issued


def sign_in(
    session: Session,
    username: str,
    password: str,
    client: str = "",
    kind: TokenKind = TokenKind.BEARER,
) -> IssuedToken:
    """A token for the active account with this username and password, or 401 (wrong
    password, unknown name and disabled account answer alike), 429 while throttled, 422 for
    a malformed name or a password longer than any account has.

    ``session`` names the database only: the three steps run in transactions of their own
    (see the module's text), because the request's transaction would hold a connection
    through the Argon2 check and roll a failure's record back. The token is committed before
    this returns, so it works on the very next request."""
    username = _checked_input(username, password)
    bind, client = session.get_bind(), client[:64]
    attempt = _begin(bind, username, client)
    matches = _hash_pool.submit(_password_matches, attempt.password_hash, password).result()
    return _end(bind, attempt, username, client, matches, kind)


async def sign_in_async(
    bind: Engine,
    username: str,
    password: str,
    client: str = "",
    kind: TokenKind = TokenKind.BEARER,
) -> IssuedToken:
    """``sign_in`` for an async route: the two short transactions run in worker threads and
    the Argon2 check is awaited, so that a sign-in waiting for its turn in the hash pool holds
    no thread at all (the sync routes, the health check among them, share a limited number)."""
    username = _checked_input(username, password)
    client = client[:64]
    attempt = await to_thread.run_sync(_begin, bind, username, client)
    checked = _hash_pool.submit(_password_matches, attempt.password_hash, password)
    matches = await asyncio.wrap_future(checked)
    return await to_thread.run_sync(_end, bind, attempt, username, client, matches, kind)


# --- tokens -------------------------------------------------------------------------------


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
    row = ApiToken(
        token_hash=_token_hash(token),
        kind=kind,
        user_id=user.id if user else None,
        department=department,
        expires_at=expires_at,
        created_by=created_by or (user.username if user else "system"),
    )
    session.add(row)
    session.flush()
    return IssuedToken(token, expires_at, row.id)


def _department_actor(department: str | None) -> Actor:
    return Actor(username=f"dept:{department}", role=Role.DEPARTMENT, department=department)


def actor_again(session: Session, username: str, role: str) -> Actor:
    """The actor who asked for work that runs later (a job), from the name and role kept with
    it: the system, a department's token, or an account that must still be active and hold
    the same role (else ``Forbidden`` saying so: the work is not done for a disabled account).
    """
    if role == Role.SYSTEM and username == SYSTEM_ACTOR.username:
        return SYSTEM_ACTOR
    if role == Role.DEPARTMENT and username.startswith("dept:"):
        return _department_actor(username.removeprefix("dept:"))
    user = session.scalars(select(User).where(User.username == username)).one_or_none()
    if user is None or not user.active:
        raise Forbidden(
            f"账号 {username} 已停用，任务未执行", f"the account {username} is disabled"
        )
    if user.role != role:
        raise Forbidden(
            f"账号 {username} 的角色已改变，任务未执行",
            f"the account {username} no longer has the role {role}",
        )
    return actor_of(user)


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
        return _department_actor(row.department)
    user = session.get(User, row.user_id) if row.user_id else None
    if user is None or not user.active:
        raise Unauthorized("账号已停用", "the account is disabled")
    return actor_of(user)


def revoke_token(session: Session, token: str) -> None:
    """Sign out: the token (a bearer token or a web session) stops working at once; audited
    as a logout of whoever it spoke for. An unknown or already revoked token is nothing to
    do (signing out twice is not an error)."""
    row = session.scalars(
        select(ApiToken).where(
            ApiToken.token_hash == _token_hash(token), ApiToken.revoked.is_(False)
        )
    ).one_or_none()
    if row is None:
        return
    row.revoked = True
    session.flush()
    user = session.get(User, row.user_id) if row.user_id else None
    actor = actor_of(user) if user else _department_actor(row.department)
    audit.record(session, actor, "auth.logout", "token", row.id, detail={"kind": row.kind})


def add_department_token(
    actor: Actor, session: Session, department: str, days: int = DEPARTMENT_TOKEN_DAYS
) -> IssuedToken:
    """A machine token for a department's system: it may push that department's feeds and
    nothing else. It lasts a year unless told otherwise (never more than three), and can be
    revoked by its id (``revoke_token_by_id``) when it leaks."""
    require(actor, Role.ADMIN)
    check = check_name(department, 32)
    if not check.valid:
        raise Invalid.field(
            "department", excerpt(department), check.reason_zh or "", check.reason_en or ""
        )
    department = check.value
    if not 1 <= days <= MAX_DEPARTMENT_TOKEN_DAYS:
        raise Invalid.field(
            "days",
            days,
            f"有效期应为1–{MAX_DEPARTMENT_TOKEN_DAYS}天",
            f"1–{MAX_DEPARTMENT_TOKEN_DAYS} days",
        )
    issued = issue_token(
        session, None, TokenKind.DEPARTMENT, timedelta(days=days), department, actor.username
    )
    audit.record(
        session,
        actor,
        "token.add",
        "token",
        issued.token_id,
        after={
            "kind": str(TokenKind.DEPARTMENT),
            "department": department,
            "expires_at": issued.expires_at.isoformat(),
        },
    )
    return issued


@dataclass(frozen=True)
class TokenInfo:
    """What may be shown of a token: never the secret (only its hash is stored anyway)."""

    id: int
    kind: str
    holder: str
    """The account's username, or the department of a department token."""
    created_at: datetime
    expires_at: datetime
    revoked: bool
    created_by: str


def list_tokens(
    actor: Actor, session: Session, department: str | None = None, include_expired: bool = False
) -> list[TokenInfo]:
    """Tokens, oldest first: by default those not yet expired (revoked ones included, so
    that a revocation can be seen). ``department``: the department's own tokens and those of
    the accounts bound to it."""
    require(actor, Role.ADMIN, Role.AUDITOR)
    statement = (
        select(ApiToken, User.username)
        .outerjoin(User, User.id == ApiToken.user_id)
        .order_by(ApiToken.id)
    )
    if department is not None:
        statement = statement.where(
            or_(ApiToken.department == department.strip(), User.department == department.strip())
        )
    if not include_expired:
        statement = statement.where(ApiToken.expires_at > datetime.now(UTC))
    return [_token_info(row, username) for row, username in session.execute(statement)]


def _token_info(row: ApiToken, username: str | None) -> TokenInfo:
    return TokenInfo(
        id=row.id,
        kind=row.kind,
        holder=username or row.department or "",
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked=row.revoked,
        created_by=row.created_by,
    )


def get_token(actor: Actor, session: Session, token_id: int) -> TokenInfo:
    """One token as ``list_tokens`` shows it (a revocation's confirmation page)."""
    require(actor, Role.ADMIN, Role.AUDITOR)
    row = session.get(ApiToken, token_id) if 1 <= token_id <= MAX_ID else None
    if row is None:
        raise NotFound(f"没有令牌 {token_id}", f"no token {token_id}")
    user = session.get(User, row.user_id) if row.user_id else None
    return _token_info(row, user.username if user else None)


def revoke_token_by_id(actor: Actor, session: Session, token_id: int) -> ApiToken:
    """Revoke a token by the id ``list_tokens`` shows (a leaked department token, a lost
    laptop's session): it stops working at once."""
    require(actor, Role.ADMIN)
    # An id past the column's range names no token (and must not reach the database).
    row = session.get(ApiToken, token_id) if 1 <= token_id <= MAX_ID else None
    if row is None:
        raise NotFound(f"没有令牌 {token_id}", f"no token {token_id}")
    if row.revoked:
        raise Conflict(f"令牌 {token_id} 已撤销", f"token {token_id} is already revoked")
    row.revoked = True
    session.flush()
    audit.record(
        session,
        actor,
        "token.revoke",
        "token",
        row.id,
        detail={"kind": row.kind, "department": row.department, "user_id": row.user_id},
    )
    return row


# --- one-time codes: a resident's account activated, a password reset --------------------
#
# A resident's account is never made with a password by somebody else, nor by the resident
# alone: a registrar issues an activation code at the counter (``issue_counter_code``), or
# the resident asks for one to be sent to the phone the registry holds for them
# (``request_code``), and with the code sets their own password (``redeem_code``). A
# forgotten password goes the same way (purpose ``reset``). The public steps answer the same
# whether or not the person, the phone or the account exists.


class CodePurpose(StrEnum):
    ACTIVATE = "activate"
    RESET = "reset"


class CodeChannel(StrEnum):
    COUNTER = "counter"
    """Given by hand at the service counter: longer and lasting a week."""
    PHONE = "phone"
    """Sent to the registered phone: six digits, a quarter of an hour."""


CODE_DIGITS = {CodeChannel.COUNTER: 8, CodeChannel.PHONE: 6}
CODE_TTL = {CodeChannel.COUNTER: timedelta(days=7), CodeChannel.PHONE: timedelta(minutes=15)}
MAX_CODE_ATTEMPTS = 5
"""Wrong tries a code takes; at the last one it is void (a new one must be asked for)."""
RESEND_AFTER = timedelta(seconds=60)
"""No second text to the same account and purpose sooner than this."""
MAX_PHONE_CODES_PER_DAY = 5
"""Texts to one account and purpose a day at most (nobody's phone is flooded through us)."""
PENDING_PASSWORD = "!pending"
"""The password hash of an account awaiting activation: not an Argon2 hash, so no password
verifies against it (a non-empty value: an empty one would be taken for "no such user")."""
CODE_ISSUERS = (Role.ADMIN, Role.OPERATOR, Role.TOWN_STAFF)
"""Who issues activation codes at the counter (each within the residents they register)."""
PHONE_SUFFIX = re.compile(r"^[0-9]{4}$")


@dataclass(frozen=True)
class IssuedCode:
    """A code issued at the counter: ``code`` to show once (None when it went to the phone)."""

    code: str | None
    expires_at: datetime
    username: str
    resident_id: int
    phone_masked: str | None
    outgoing: Outgoing | None
    """The text for the registered phone, to send after the commit (``codes.send_all``)."""


def _code_digest(code: str, salt: str) -> str:
    key = get_settings().secret_key.encode()
    return hmac.new(key, f"{salt}:{code}".encode(), hashlib.sha256).hexdigest()


def _code_matches(stored: str, code: str) -> bool:
    salt, _, digest = stored.partition("$")
    return hmac.compare_digest(digest, _code_digest(code, salt))


def _new_code(channel: CodeChannel) -> str:
    digits = CODE_DIGITS[channel]
    return f"{secrets.randbelow(10**digits):0{digits}d}"


def _code_text(purpose: CodePurpose, code: str, expires_at: datetime) -> str:
    settings = get_settings()
    what = "账户激活" if purpose == CodePurpose.ACTIVATE else "重置密码"
    until = expires_at.astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M")
    return (
        f"【{settings.city_name}{settings.centre_name}】您的{what}验证码为 {code}，"
        f"{until} 前有效。工作人员不会向您索要验证码，请勿告诉他人。"
    )


def _free_username(session: Session, resident_id: int) -> str:
    """A resident account's username: ``r`` and the registry's id (never the ID number, which
    would then be in clear in every audit entry of the account); a random tail in the
    unlikely case an administrator took that name."""
    username = f"r{resident_id}"
    while session.scalar(select(User.id).where(User.username == username)) is not None:
        username = f"r{resident_id}-{secrets.token_hex(3)}"
    return username


def _resident_account(
    session: Session, actor: Actor, id_number: str, resident_id: int, create: bool
) -> User | None:
    """The account bound to this ID number; made, awaiting activation, when there is none
    and ``create`` (two parallel requests make one account: the loser reads the winner's)."""
    found = select(User).where(User.id_number == id_number)
    user = session.scalars(found).one_or_none()
    if user is not None or not create:
        return user
    user = User(
        username=_free_username(session, resident_id),
        password_hash=PENDING_PASSWORD,
        role=Role.RESIDENT,
        id_number=id_number,
        active=False,
        activated_at=None,
        created_by=actor.username,
    )
    try:
        with session.begin_nested():
            session.add(user)
    except IntegrityError:
        return session.scalars(found).one()
    audit.record(
        session,
        actor,
        "user.add",
        "user",
        user.username,
        after=_public(user),
        detail={"awaiting_activation": True},
    )
    return user


def _disabled(user: User) -> bool:
    """Disabled by an administrator (not merely awaiting activation)."""
    return not user.active and user.activated_at is not None


def _store_code(
    session: Session, user: User, purpose: CodePurpose, channel: CodeChannel, created_by: str
) -> tuple[str, AccountCode]:
    """A new code for the account, purpose and channel; the live ones of that channel before
    it end now (one live code per channel: the text a resident just got is the one that
    works). A code of the other channel stays: a phone request, which anybody with the ID
    number and the phone's last four digits can make, never voids the week's code handed
    over at the counter."""
    now = datetime.now(UTC)
    session.execute(
        update(AccountCode)
        .where(
            AccountCode.user_id == user.id,
            AccountCode.purpose == purpose,
            AccountCode.channel == channel,
            AccountCode.used_at.is_(None),
            AccountCode.expires_at > now,
        )
        .values(expires_at=now)
    )
    code = _new_code(channel)
    salt = secrets.token_hex(8)
    row = AccountCode(
        user_id=user.id,
        purpose=purpose,
        channel=channel,
        code_hash=f"{salt}${_code_digest(code, salt)}",
        expires_at=now + CODE_TTL[channel],
        attempts=0,
        created_by=created_by,
    )
    session.add(row)
    session.flush()
    return code, row


def issue_counter_code(
    actor: Actor,
    session: Session,
    resident_id: int | None = None,
    id_number: str | None = None,
    send: bool = False,
) -> IssuedCode:
    """An activation code for a resident of the registry, issued by a registrar whose scope
    holds them (town staff: their own town; anybody else 404): shown once at the counter
    (eight digits, a week), or with ``send`` texted to the registered phone (six digits, a
    quarter of an hour). The resident's account is made, awaiting activation, when they have
    none; nobody sets a password for them. For an account already active the code works as
    a password reset (a resident who forgot it comes to the counter)."""
    require(actor, *CODE_ISSUERS)
    resident = registry.served_resident(actor, session, resident_id, id_number)
    if send and not resident.phone:
        raise Invalid.field(
            "phone",
            None,
            "此人没有登记手机号码，请当面出示验证码",
            "no phone is registered for this resident: give the code at the counter",
        )
    user = _resident_account(session, actor, resident.id_number, resident.id, create=True)
    assert user is not None  # made when missing
    if _disabled(user):
        raise Conflict(
            f"账号 {user.username} 已停用，请管理员先启用",
            f"the account {user.username} is disabled: an administrator enables it first",
        )
    channel = CodeChannel.PHONE if send else CodeChannel.COUNTER
    code, row = _store_code(session, user, CodePurpose.ACTIVATE, channel, actor.username)
    outgoing = (
        Outgoing(resident.phone, _code_text(CodePurpose.ACTIVATE, code, row.expires_at))
        if send and resident.phone
        else None
    )
    audit.record(
        session,
        actor,
        "account.code_issue",
        "user",
        user.username,
        detail={
            "purpose": str(CodePurpose.ACTIVATE),
            "channel": str(channel),
            "resident_id": resident.id,
            "id_number": mask_id_number(resident.id_number),
            "expires_at": row.expires_at.isoformat(),
        },
    )
    return IssuedCode(
        code=None if send else code,
        expires_at=row.expires_at,
        username=user.username,
        resident_id=resident.id,
        phone_masked=mask_phone(resident.phone) if resident.phone else None,
        outgoing=outgoing,
    )


def _checked_id_number(id_number: str) -> str:
    check = check_id_number(id_number)
    if not check.valid:
        raise Invalid.field(
            "id_number", excerpt(id_number), check.reason_zh or "", check.reason_en or ""
        )
    return check.number


def request_code(
    session: Session, purpose: CodePurpose, id_number: str, phone_suffix: str, client: str = ""
) -> Outgoing | None:
    """A code texted to the phone the registry holds for the person with this ID number, when
    ``phone_suffix`` is that phone's last four digits and the account is in the state the
    purpose needs (activation: not yet activated, made now if missing; reset: active). The
    text to send after the commit, or None; the caller answers the same either way (nobody
    learns who is registered or has an account), and every request is audited with the
    reason (the ID number masked). Counted on the client address like a sign-in (429 past
    the limit); malformed input is 422."""
    number = _checked_id_number(id_number)
    suffix = phone_suffix.strip()
    if not PHONE_SUFFIX.match(suffix):
        raise Invalid.field(
            "phone_suffix",
            excerpt(phone_suffix),
            "请填写登记手机号码的后4位数字",
            "the last 4 digits of the registered phone",
        )
    now, client = datetime.now(UTC), client[:64]
    _take_client_attempt(session, client, now)
    resident = registry.holder_of_id_number(session, number)
    user: User | None = None
    reason: str | None = None
    if resident is None:
        reason = "unknown"
    elif not resident.phone or not hmac.compare_digest(resident.phone[-4:], suffix):
        reason = "phone_mismatch"
    else:
        user = _resident_account(
            session, PUBLIC_ACTOR, number, resident.id, create=purpose == CodePurpose.ACTIVATE
        )
        reason = _why_not_send(session, user, purpose, now)
    outgoing = None
    if reason is None and user is not None and resident is not None and resident.phone:
        code, row = _store_code(session, user, purpose, CodeChannel.PHONE, PUBLIC_ACTOR.username)
        outgoing = Outgoing(resident.phone, _code_text(purpose, code, row.expires_at))
    audit.record(
        session,
        PUBLIC_ACTOR,
        "account.code_request",
        "user" if user else "id_number",
        user.username if user else mask_id_number(number),
        detail={
            "purpose": str(purpose),
            "client": client,
            "sent": outgoing is not None,
            "reason": reason,
        },
    )
    return outgoing


def _why_not_send(
    session: Session, user: User | None, purpose: CodePurpose, now: datetime
) -> str | None:
    """Why no code goes to this account for ``purpose`` now (None: it goes)."""
    if user is None:
        return "no_account"
    if purpose == CodePurpose.ACTIVATE and user.activated_at is not None:
        return "already_activated"
    if purpose == CodePurpose.RESET and (user.activated_at is None or not user.active):
        return "not_active"
    recent = session.execute(
        select(func.count(), func.max(AccountCode.created_at)).where(
            AccountCode.user_id == user.id,
            AccountCode.purpose == purpose,
            AccountCode.channel == CodeChannel.PHONE,
            AccountCode.created_at > now - timedelta(days=1),
        )
    ).one()
    if recent[0] >= MAX_PHONE_CODES_PER_DAY:
        return "daily_limit"
    if recent[1] is not None and recent[1] > now - RESEND_AFTER:
        return "too_soon"
    return None


def _wrong_code() -> Unauthorized:
    """One answer for every failed try (nothing tells which part was wrong)."""
    return Unauthorized(
        "身份证号或验证码不正确，或验证码已失效（过期、已使用或错误次数过多），请重新获取",
        "wrong ID number or code, or the code is no longer valid (expired, used or tried too "
        "often): ask for a new one",
    )


def redeem_code(
    session: Session,
    purpose: CodePurpose,
    id_number: str,
    code: str,
    password: str,
    client: str = "",
) -> IssuedToken:
    """Set the account's password with a live code of ``purpose``: the account is active
    (activated now, if it waited), every other token and web session of it ends, its sign-in
    throttle starts over, and a web session is issued (the resident is signed in). A wrong,
    expired, used or void code, an unknown ID number and a disabled account answer alike
    (401); each try counts on the code (void after ``MAX_CODE_ATTEMPTS``) and on the client
    address like a sign-in (429 past the limit); malformed input is 422.

    Like ``sign_in``, ``session`` names the database only: the try and its outcome run in a
    transaction of their own, committed before this returns or raises, so that a wrong try
    is counted even though the request fails, and the token works on the very next request.
    """
    number = _checked_id_number(id_number)
    given = code.strip().replace(" ", "")
    if not (given.isascii() and given.isdigit() and 6 <= len(given) <= 8):
        raise Invalid.field("code", "***", "验证码为6–8位数字", "a code has 6–8 digits")
    check_password(password)
    bind, client = session.get_bind(), client[:64]
    # The address and the code count the try, and the code is checked, before any Argon2
    # work: a throttled or wrong try costs the server no hashing. The new password is hashed
    # between the two transactions (no connection waits on Argon2).
    with _own_transaction(bind) as own:
        found = _try_code(own, purpose, number, given, client)
    if found is None:
        raise _wrong_code()
    new_hash = _hash_pool.submit(HASHER.hash, password).result()
    with _own_transaction(bind) as own:
        issued = _use_code(own, purpose, number, found, new_hash, client)
    if issued is None:
        raise _wrong_code()
    return issued


def _take_code_attempt(
    session: Session, user: User, purpose: CodePurpose, code: str, now: datetime
) -> AccountCode | None:
    """Count a try on the account's live code of ``purpose`` of the channel whose codes are
    as long as ``code`` (one statement: parallel tries cannot both take the last one); the
    code, or None when there is no live one."""
    channels = [channel for channel, digits in CODE_DIGITS.items() if digits == len(code)]
    live = and_(
        AccountCode.user_id == user.id,
        AccountCode.purpose == purpose,
        AccountCode.channel.in_(channels),
        AccountCode.used_at.is_(None),
        AccountCode.expires_at > now,
        AccountCode.attempts < MAX_CODE_ATTEMPTS,
    )
    newest = session.scalar(select(func.max(AccountCode.id)).where(live))
    if newest is None:
        return None
    taken = session.execute(
        update(AccountCode)
        .where(AccountCode.id == newest, live)
        .values(attempts=AccountCode.attempts + 1)
        .returning(AccountCode.id)
    ).scalar_one_or_none()
    return session.get(AccountCode, taken, populate_existing=True) if taken else None


def _try_code(
    session: Session, purpose: CodePurpose, number: str, code: str, client: str
) -> tuple[int, int] | None:
    """Step 1 of ``redeem_code``: the try counted on the address (429 past the limit) and on
    the code, and the code checked; the account's and the code's ids when it matches, else
    None (the failure audited)."""
    now = datetime.now(UTC)
    _take_client_attempt(session, client, now)
    user = session.scalars(select(User).where(User.id_number == number)).one_or_none()
    row = _take_code_attempt(session, user, purpose, code, now) if user is not None else None
    # Compared in constant time, and a digest is computed whether or not there is a code.
    matches = False
    if row is not None:
        matches = _code_matches(row.code_hash, code)
    else:
        _code_matches("$", code)
    reason = _refusal(user, row, matches, purpose)
    if reason is None and user is not None and row is not None:
        return user.id, row.id
    _record_code_failure(session, purpose, number, user, row, reason, client)
    return None


def _use_code(
    session: Session,
    purpose: CodePurpose,
    number: str,
    found: tuple[int, int],
    new_hash: str,
    client: str,
) -> IssuedToken | None:
    """Step 2 of ``redeem_code``: the matching code used (once: a parallel try with it, or
    a code issued since, leaves it void) and the password set; None when it no longer can."""
    now = datetime.now(UTC)
    user = session.get(User, found[0], populate_existing=True)
    row = session.get(AccountCode, found[1], populate_existing=True)
    reason = _refusal(user, row, True, purpose)
    if reason is None and user is not None and row is not None:
        used = session.execute(
            update(AccountCode)
            .where(
                AccountCode.id == row.id,
                AccountCode.used_at.is_(None),
                AccountCode.expires_at > now,
            )
            .values(used_at=now)
        )
        if getattr(used, "rowcount", 0) == 1:
            return _set_password_by_code(session, user, purpose, new_hash, client, now)
        reason = "used"
    _record_code_failure(session, purpose, number, user, row, reason, client)
    return None


def _record_code_failure(
    session: Session,
    purpose: CodePurpose,
    number: str,
    user: User | None,
    row: AccountCode | None,
    reason: str | None,
    client: str,
) -> None:
    attempts_left = MAX_CODE_ATTEMPTS - row.attempts if row is not None else None
    audit.record(
        session,
        PUBLIC_ACTOR,
        "account.code_failed",
        "user" if user else "id_number",
        user.username if user else mask_id_number(number),
        detail={
            "purpose": str(purpose),
            "client": client,
            "reason": reason,
            "attempts_left": attempts_left,
        },
    )


def _refusal(
    user: User | None, row: AccountCode | None, matches: bool, purpose: CodePurpose
) -> str | None:
    """Why a try fails (for the audit log only: the answer is the same), or None."""
    if user is None:
        return "unknown"
    if row is None:
        return "no_live_code"
    if not matches:
        return "wrong_code"
    if _disabled(user) or (purpose == CodePurpose.RESET and not user.active):
        return "disabled"
    return None


def _set_password_by_code(
    session: Session, user: User, purpose: CodePurpose, new_hash: str, client: str, now: datetime
) -> IssuedToken:
    activating = user.activated_at is None
    user.password_hash = new_hash
    user.active = True
    user.activated_at = user.activated_at or now
    revoked = _revoke_tokens_of(session, user)
    # The account's other live codes (the other channel's, the other purpose's) end with it:
    # none lingers as a way to set the password again.
    session.execute(
        update(AccountCode)
        .where(
            AccountCode.user_id == user.id,
            AccountCode.used_at.is_(None),
            AccountCode.expires_at > now,
        )
        .values(expires_at=now)
    )
    session.execute(delete(SignInThrottle).where(SignInThrottle.username == user.username))
    _forgive_client(session, client)
    session.flush()
    issued = issue_token(session, user, TokenKind.SESSION)
    audit.record(
        session,
        actor_of(user),
        "account.activate" if activating else "account.password_by_code",
        "user",
        user.username,
        detail={
            "purpose": str(purpose),
            "client": client,
            "tokens_revoked": revoked,
            "token_id": issued.token_id,
        },
    )
    return issued
