"""``luodi user enable|password|token add|list|revoke`` in-process, on SQLite and PostgreSQL:
what each does to sign-in and tokens, the audit entries it leaves, and bilingual refusals
(exit 1, no traceback)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from luodi import cli, db
from luodi.audit.models import AuditEntry
from luodi.auth import service
from luodi.auth.actor import SYSTEM_ACTOR
from luodi.errors import TooManyRequests, Unauthorized
from luodi.settings import get_settings
from tests.conftest import migrated_engine

runner = CliRunner()
PASSWORD = "correct horse battery"
NEW_PASSWORD = "battery staple horse"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Engine]:
    """A migrated database that the commands of this process use (LUODI_DATABASE_URL)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'accounts.db'}"
    else:
        url = str(request.getfixturevalue("empty_postgres_url"))
    engine = migrated_engine(url)
    monkeypatch.setenv("LUODI_DATABASE_URL", url)
    get_settings.cache_clear()
    db.dispose_engines()
    yield engine
    engine.dispose()
    monkeypatch.delenv("LUODI_DATABASE_URL")
    get_settings.cache_clear()
    db.dispose_engines()


def luodi(*args: str, stdin: str | None = None) -> Result:
    return runner.invoke(cli.app, list(args), input=stdin)


def refused(result: Result, *words: str) -> None:
    """Exit 1, one message with Chinese and English, no traceback."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert "错误 Error" in result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


@pytest.fixture
def sign_in(engine: Engine) -> Callable[..., str]:
    def signed(username: str, password: str, kind: service.TokenKind) -> str:
        with Session(engine) as session:
            return service.sign_in(session, username, password, "192.0.2.1", kind).token

    return signed


def speaks_for(engine: Engine, token: str) -> str | None:
    with Session(engine) as session:
        try:
            return service.actor_for_token(session, token, tuple(service.TokenKind)).username
        except Unauthorized:
            return None


def actions(engine: Engine, object_type: str, object_id: str) -> list[str]:
    with Session(engine) as session:
        return list(
            session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.object_type == object_type, AuditEntry.object_id == object_id)
                .order_by(AuditEntry.seq)
            )
        )


def test_password_reset_ends_sessions_and_enable_undoes_disable(
    engine: Engine, sign_in: Callable[..., str]
) -> None:
    added = luodi("user", "add", "alice", "--role", "operator", "--password-stdin", stdin=PASSWORD)
    assert added.exit_code == 0, added.output
    bearer = sign_in("alice", PASSWORD, service.TokenKind.BEARER)
    web = sign_in("alice", PASSWORD, service.TokenKind.SESSION)
    assert speaks_for(engine, bearer) == speaks_for(engine, web) == "alice"

    reset = luodi("user", "password", "alice", "--password-stdin", stdin=NEW_PASSWORD + "\n")
    assert reset.exit_code == 0, reset.output
    assert "2 tokens revoked" in reset.stdout
    assert speaks_for(engine, bearer) is None and speaks_for(engine, web) is None
    with pytest.raises(Unauthorized):
        sign_in("alice", PASSWORD, service.TokenKind.BEARER)
    assert speaks_for(engine, sign_in("alice", NEW_PASSWORD, service.TokenKind.BEARER))

    refused(luodi("user", "password", "alice", "--password-stdin", stdin="short\n"), "password")
    refused(luodi("user", "password", "nobody", "--password-stdin", stdin=NEW_PASSWORD), "没有用户")

    assert luodi("user", "disable", "alice").exit_code == 0
    with pytest.raises(Unauthorized):
        sign_in("alice", NEW_PASSWORD, service.TokenKind.BEARER)
    enabled = luodi("user", "enable", "alice")
    assert enabled.exit_code == 0, enabled.output
    assert speaks_for(engine, sign_in("alice", NEW_PASSWORD, service.TokenKind.BEARER))
    refused(luodi("user", "enable", "alice"), "已是启用", "already active")
    refused(luodi("user", "enable", "nobody"), "没有用户", "no user")
    hidden = luodi("user", "enable", "ali\u202ece")
    refused(hidden, "U+202E")
    assert "\u202e" not in hidden.stderr  # named, never printed raw

    changes = [action for action in actions(engine, "user", "alice") if action.startswith("user.")]
    assert changes == ["user.add", "user.password", "user.disable", "user.enable"]


def test_a_password_reset_lets_the_owner_past_the_throttle(
    engine: Engine, sign_in: Callable[..., str]
) -> None:
    luodi("user", "add", "bob", "--role", "auditor", "--password-stdin", stdin=PASSWORD)
    for _ in range(service.MAX_FAILURES_PER_USER):
        with pytest.raises(Unauthorized):
            sign_in("bob", "forgotten-it-again", service.TokenKind.BEARER)
    with pytest.raises(TooManyRequests):
        sign_in("bob", PASSWORD, service.TokenKind.BEARER)
    assert luodi("user", "password", "bob", "--password-stdin", stdin=NEW_PASSWORD).exit_code == 0
    assert speaks_for(engine, sign_in("bob", NEW_PASSWORD, service.TokenKind.BEARER)) == "bob"


def test_department_tokens_last_a_year_are_listed_and_revoked(engine: Engine) -> None:
    issued = luodi("user", "token", "add", "--department", "人社局")
    assert issued.exit_code == 0, issued.output
    secret = issued.stdout.strip().splitlines()[-1]
    assert speaks_for(engine, secret) == "dept:人社局"
    assert luodi("user", "token", "add", "--department", "教育局", "--days", "30").exit_code == 0
    refused(luodi("user", "token", "add", "--department", "人社局", "--days", "0"), "有效期")
    refused(luodi("user", "token", "add", "--department", "人社局", "--days", "2000"), "days")
    refused(luodi("user", "token", "add", "--department", " "), "department")

    with Session(engine) as session:
        tokens = service.list_tokens(SYSTEM_ACTOR, session)
    own = next(token for token in tokens if token.holder == "人社局")
    year = datetime.now(UTC) + timedelta(days=365)
    assert abs((own.expires_at - year).total_seconds()) < 600

    listed = luodi("user", "token", "list", "--department", "人社局")
    assert listed.exit_code == 0, listed.output
    assert "人社局" in listed.stdout and "教育局" not in listed.stdout
    assert secret not in listed.stdout and secret[:12] not in listed.stdout
    assert "1 个令牌 / tokens" in listed.stdout

    revoked = luodi("user", "token", "revoke", str(own.id))
    assert revoked.exit_code == 0, revoked.output
    assert speaks_for(engine, secret) is None
    assert "是 yes" in luodi("user", "token", "list").stdout
    refused(luodi("user", "token", "revoke", str(own.id)), "已撤销", "already revoked")
    refused(luodi("user", "token", "revoke", "999999"), "没有令牌", "no token")
    refused(luodi("user", "token", "revoke", str(2**64)), "没有令牌")
    assert actions(engine, "token", str(own.id)) == ["token.add", "token.revoke"]


def test_sign_in_tokens_are_listed_with_their_account(
    engine: Engine, sign_in: Callable[..., str]
) -> None:
    luodi("user", "add", "carol", "--role", "operator", "--password-stdin", stdin=PASSWORD)
    sign_in("carol", PASSWORD, service.TokenKind.SESSION)
    with Session(engine) as session:
        tokens = service.list_tokens(SYSTEM_ACTOR, session)
        expired = service.issue_token(
            session,
            service.get_user(session, "carol"),
            service.TokenKind.BEARER,
            ttl=timedelta(seconds=-1),
        )
        session.commit()
        everything = service.list_tokens(SYSTEM_ACTOR, session, include_expired=True)
    assert [(token.kind, token.holder) for token in tokens] == [("session", "carol")]
    assert expired.token_id in {token.id for token in everything}
    assert "carol" in luodi("user", "token", "list").stdout


@pytest.mark.parametrize("name", ["adm\u202ein", "   ", "ad\u2067min", "a\tb"])
def test_names_that_hide_or_break_are_refused(engine: Engine, name: str) -> None:
    result = luodi("user", "add", name, "--role", "operator", "--password-stdin", stdin=PASSWORD)
    refused(result, "username")
    assert luodi("user", "list").stdout.count("operator") == 0
