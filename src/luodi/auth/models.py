"""Accounts, tokens and the sign-in throttle."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, func
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
    """Sign-in attempts that have not (yet) succeeded, per (username, client address), and per
    client address alone (``username`` is ``ANY_USER`` then). One row per key, changed only by
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
