"""Accounts, tokens, the sign-in throttle, and the one-time codes a resident's account is
activated (or its password reset) with."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from luodi.db import Base, UtcDateTime


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    town_code: Mapped[str | None] = mapped_column(String(12))
    department: Mapped[str | None] = mapped_column(String(32))
    id_number: Mapped[str | None] = mapped_column(String(18), unique=True)
    credit_code: Mapped[str | None] = mapped_column(String(18))
    """An employer account's unified social credit code (统一社会信用代码): whose employees it
    files for."""
    active: Mapped[bool] = mapped_column(default=True)
    activated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    """When the account got its first password: set at once for an account made with one
    (``add_user``); null while a resident's account made at the counter or from the phone
    waits for its activation code (``active`` is false then, and means "not yet", not
    "disabled")."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
    created_by: Mapped[str] = mapped_column(String(64))


class ApiToken(Base):
    """A bearer token (sign-in, web session or a department's machine token). Only the
    SHA-256 of the token is stored: a copy of the database does not let anyone sign in."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # bearer | session | department
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    department: Mapped[str | None] = mapped_column(String(32))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
    created_by: Mapped[str] = mapped_column(String(64))


class SignInThrottle(Base):
    """Sign-in attempts that have not (yet) succeeded, per (account, client address), and per
    client address alone (``username`` is ``ANY_USER`` then). ``username`` is the account's
    username whichever of its names was typed, or ``#`` and a keyed digest of a name that is
    no account's (never a typed ID number in clear). One row per key, changed only by
    a single conditional upsert: "may this attempt start?" and "count it" are one statement,
    so parallel requests cannot both take the last allowed attempt (``auth/service.py``)."""

    __tablename__ = "sign_in_throttles"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    client: Mapped[str] = mapped_column(String(64), primary_key=True)
    attempts: Mapped[int]
    window_started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # No attempt may start before this time: the growing delay after a failure past the free
    # attempts. Null while attempts are free.
    next_try_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Set while an attempt past the free ones is being checked, so that those run one at a
    # time; it lapses by itself if the server died during the check.
    checking_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AccountCode(Base):
    """A one-time code that activates a resident's account or resets its password. Only a
    keyed digest of the code is stored (``salt$HMAC-SHA256``, keyed with ``LUODI_SECRET_KEY``):
    a copy of the table alone does not give the codes back, short as they are. A code is
    live until it is used, expires, has been tried ``MAX_CODE_ATTEMPTS`` times, or a newer
    code of the same account and purpose replaces it (its ``expires_at`` is then set to that
    moment)."""

    __tablename__ = "account_codes"
    __table_args__ = (Index("ix_account_codes_user_purpose", "user_id", "purpose"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    purpose: Mapped[str] = mapped_column(String(16))  # activate | reset
    channel: Mapped[str] = mapped_column(String(16))  # counter | phone
    code_hash: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(default=0)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
    created_by: Mapped[str] = mapped_column(String(64))
