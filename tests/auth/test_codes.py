"""One-time codes on SQLite and PostgreSQL: a resident's account activated with a code given
at the counter or texted to the registered phone, a password reset the same way; codes that
expire, are used once, and are void after five wrong tries; public answers that do not tell
who is registered; every step audited with the ID number masked; the code senders."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from luodi import cli, db
from luodi.audit.models import AuditEntry
from luodi.auth import codes, service
from luodi.auth.actor import SYSTEM_ACTOR, Actor, Role
from luodi.auth.models import AccountCode, SignInThrottle, User
from luodi.auth.service import CodePurpose
from luodi.errors import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    TooManyRequests,
    Unauthorized,
)
from luodi.registry.models import Resident
from luodi.settings import Settings, get_settings
from tests import factories
from tests.auth.outbox import read_last_code
from tests.conftest import migrated_engine

PASSWORD = "correct horse battery"
NEW_PASSWORD = "battery staple horse"
PHONE = "13812345678"


@pytest.fixture
def resident(session: Session) -> Resident:
    factories.town(session)
    return factories.resident(session)


def account(session: Session, resident: Resident) -> User:
    session.expire_all()
    return session.scalars(select(User).where(User.id_number == resident.id_number)).one()


def audit_entries(session: Session) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))


def nothing_in_clear(session: Session, resident: Resident) -> None:
    for entry in audit_entries(session):
        for text in (entry.object_id, entry.detail or ""):
            assert resident.id_number not in text, (entry.action, text)
            assert PHONE not in text, (entry.action, text)


def test_a_counter_code_activates_the_account_once(session: Session, resident: Resident) -> None:
    issued = service.issue_counter_code(SYSTEM_ACTOR, session, resident_id=resident.id)
    assert issued.code is not None and len(issued.code) == 8 and issued.code.isdigit()
    assert issued.outgoing is None
    assert timedelta(days=6) < issued.expires_at - datetime.now(UTC) <= timedelta(days=7)
    user = account(session, resident)
    assert (user.active, user.activated_at, user.role) == (False, None, Role.RESIDENT)
    assert user.username == issued.username and resident.id_number not in user.username
    # Waiting for activation, the account signs in with no password at all.
    for password in (PASSWORD, "", service.PENDING_PASSWORD, "luodi-no-such-user"):
        with pytest.raises((Unauthorized, Invalid)):
            service.sign_in(session, user.username, password)
    stored = session.scalars(select(AccountCode.code_hash)).one()
    assert issued.code not in stored

    wrong = "00000000" if issued.code != "00000000" else "11111111"
    with pytest.raises(Unauthorized):
        service.redeem_code(session, CodePurpose.ACTIVATE, resident.id_number, wrong, PASSWORD)
    token = service.redeem_code(
        session, CodePurpose.ACTIVATE, resident.id_number, issued.code, PASSWORD
    )
    session.expire_all()  # the redemption ran in a transaction of its own
    actor = service.actor_for_token(session, token.token, (service.TokenKind.SESSION,))
    assert actor.id_number == resident.id_number and actor.role == Role.RESIDENT
    user = account(session, resident)
    assert user.active and user.activated_at is not None
    # Used once: the same code again is refused, and the password it set stays.
    with pytest.raises(Unauthorized):
        service.redeem_code(
            session, CodePurpose.ACTIVATE, resident.id_number, issued.code, NEW_PASSWORD
        )
    # The resident signs in with the ID number (lower-case x too) or the username.
    assert service.sign_in(session, resident.id_number.lower(), PASSWORD).token
    assert service.sign_in(session, user.username, PASSWORD).token
    with pytest.raises(Unauthorized):  # its failure is audited with the number masked
        service.sign_in(session, resident.id_number, NEW_PASSWORD)
    actions = [entry.action for entry in audit_entries(session)]
    for action in (
        "user.add",
        "account.code_issue",
        "account.code_failed",
        "account.activate",
        "auth.sign_in_failed",
    ):
        assert action in actions
    nothing_in_clear(session, resident)


def test_a_code_is_void_after_five_wrong_tries(session: Session, resident: Resident) -> None:
    issued = service.issue_counter_code(SYSTEM_ACTOR, session, id_number=resident.id_number)
    assert issued.code is not None
    wrong = "12345678" if issued.code != "12345678" else "87654321"
    for _ in range(service.MAX_CODE_ATTEMPTS):
        with pytest.raises(Unauthorized):
            service.redeem_code(session, CodePurpose.ACTIVATE, resident.id_number, wrong, PASSWORD)
    with pytest.raises(Unauthorized):
        service.redeem_code(
            session, CodePurpose.ACTIVATE, resident.id_number, issued.code, PASSWORD
        )
    assert not account(session, resident).active
    failed = [e for e in audit_entries(session) if e.action == "account.code_failed"]
    assert '"reason": "no_live_code"' in (failed[-1].detail or "")
    assert '"attempts_left": 0' in (failed[-2].detail or "")


def test_an_expired_or_replaced_code_is_refused(session: Session, resident: Resident) -> None:
    first = service.issue_counter_code(SYSTEM_ACTOR, session, resident_id=resident.id)
    second = service.issue_counter_code(SYSTEM_ACTOR, session, resident_id=resident.id)
    assert first.code and second.code and first.username == second.username
    if first.code != second.code:
        with pytest.raises(Unauthorized):
            service.redeem_code(
                session, CodePurpose.ACTIVATE, resident.id_number, first.code, PASSWORD
            )
    session.execute(update(AccountCode).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    with pytest.raises(Unauthorized):
        service.redeem_code(
            session, CodePurpose.ACTIVATE, resident.id_number, second.code, PASSWORD
        )
    # An activation code does not reset, nor a reset code activate.
    third = service.issue_counter_code(SYSTEM_ACTOR, session, resident_id=resident.id)
    assert third.code
    with pytest.raises(Unauthorized):
        service.redeem_code(session, CodePurpose.RESET, resident.id_number, third.code, PASSWORD)
    assert service.redeem_code(
        session, CodePurpose.ACTIVATE, resident.id_number, third.code, PASSWORD
    )


def test_a_phone_request_leaves_the_counter_code_live(session: Session, resident: Resident) -> None:
    def live(channel: service.CodeChannel) -> int:
        return len(
            session.scalars(
                select(AccountCode.id).where(
                    AccountCode.channel == channel,
                    AccountCode.used_at.is_(None),
                    AccountCode.expires_at > datetime.now(UTC),
                )
            ).all()
        )

    counter = service.issue_counter_code(SYSTEM_ACTOR, session, resident_id=resident.id)
    # Anybody with the ID number and the phone's last four digits asks for a text.
    outgoing = service.request_code(session, CodePurpose.ACTIVATE, resident.id_number, "5678")
    assert counter.code and outgoing is not None
    session.expire_all()
    assert (live(service.CodeChannel.COUNTER), live(service.CodeChannel.PHONE)) == (1, 1)
    # A new code of a channel voids only that channel's code.
    sent = service.issue_counter_code(SYSTEM_ACTOR, session, resident_id=resident.id, send=True)
    assert sent.outgoing is not None
    session.expire_all()
    assert (live(service.CodeChannel.COUNTER), live(service.CodeChannel.PHONE)) == (1, 1)
    with pytest.raises(Unauthorized):  # the replaced text
        service.redeem_code(
            session, CodePurpose.ACTIVATE, resident.id_number, codes_in(outgoing.text), PASSWORD
        )
    # Wrong six-digit tries count on the phone code, not on the counter code.
    wrong = "000000" if codes_in(sent.outgoing.text) != "000000" else "111111"
    for _ in range(service.MAX_CODE_ATTEMPTS):
        with pytest.raises(Unauthorized):
            service.redeem_code(session, CodePurpose.ACTIVATE, resident.id_number, wrong, PASSWORD)
    assert service.redeem_code(
        session, CodePurpose.ACTIVATE, resident.id_number, counter.code, PASSWORD
    )
    assert account(session, resident).active
    # Used, it ends the account's other live code: none lingers to set the password again.
    assert (live(service.CodeChannel.COUNTER), live(service.CodeChannel.PHONE)) == (0, 0)


class CountingHasher:
    """The real hasher, counting the passwords it hashes."""

    def __init__(self) -> None:
        self.hashed = 0
        self.real = service.HASHER

    def hash(self, password: str) -> str:
        self.hashed += 1
        return self.real.hash(password)

    def __getattr__(self, name: str) -> object:
        return getattr(self.real, name)


def test_no_password_is_hashed_for_a_wrong_or_throttled_try(
    session: Session, resident: Resident, monkeypatch: pytest.MonkeyPatch
) -> None:
    issued = service.issue_counter_code(SYSTEM_ACTOR, session, resident_id=resident.id)
    assert issued.code
    hasher = CountingHasher()
    monkeypatch.setattr(service, "HASHER", hasher)
    monkeypatch.setattr(service, "MAX_FAILURES_PER_CLIENT", 3)
    client, number = "198.51.100.7", resident.id_number
    wrong = "00000000" if issued.code != "00000000" else "11111111"
    unknown = factories.id_number(sequence=987)
    for who, code in ((number, wrong), (number, "123456"), (unknown, issued.code)):
        with pytest.raises(Unauthorized):
            service.redeem_code(session, CodePurpose.ACTIVATE, who, code, PASSWORD, client)
    # The address is throttled now: even the right code is refused before any hashing.
    with pytest.raises(TooManyRequests):
        service.redeem_code(session, CodePurpose.ACTIVATE, number, issued.code, PASSWORD, client)
    assert hasher.hashed == 0
    assert not account(session, resident).active
    # From another address the code (one wrong try on it) works, and the password is hashed.
    assert service.redeem_code(
        session, CodePurpose.ACTIVATE, number, issued.code, PASSWORD, "198.51.100.8"
    )
    assert hasher.hashed == 1
    assert service.sign_in(session, number, PASSWORD).token


def test_the_phone_answer_tells_nobody_who_is_registered(
    session: Session, resident: Resident
) -> None:
    unknown = factories.id_number(sequence=987)
    ask = service.request_code
    assert ask(session, CodePurpose.ACTIVATE, unknown, "5678") is None
    assert ask(session, CodePurpose.ACTIVATE, resident.id_number, "0000") is None
    assert ask(session, CodePurpose.RESET, resident.id_number, "5678") is None  # no account
    outgoing = ask(session, CodePurpose.ACTIVATE, resident.id_number, "5678")
    assert outgoing is not None and outgoing.phone == PHONE
    # No second text within a minute; the first one still works.
    assert ask(session, CodePurpose.ACTIVATE, resident.id_number, "5678") is None
    reasons = [e.detail for e in audit_entries(session) if e.action == "account.code_request"]
    for reason in ("unknown", "phone_mismatch", "no_account", "too_soon"):
        assert any(f'"reason": "{reason}"' in (detail or "") for detail in reasons), reason
    code = codes_in(outgoing.text)
    assert len(code) == 6
    service.redeem_code(session, CodePurpose.ACTIVATE, resident.id_number, code, PASSWORD)
    # Activated: no activation code any more, a reset code instead.
    assert ask(session, CodePurpose.ACTIVATE, resident.id_number, "5678") is None
    nothing_in_clear(session, resident)
    with pytest.raises(Invalid):
        ask(session, CodePurpose.ACTIVATE, resident.id_number, "56a8")
    with pytest.raises(Invalid):
        ask(session, CodePurpose.ACTIVATE, "33028219900101123", "5678")


def codes_in(text: str) -> str:
    from tests.auth.outbox import CODE

    found = CODE.search(text)
    assert found, text
    return found.group(1)


def test_a_reset_ends_every_other_session(session: Session, resident: Resident) -> None:
    issued = service.issue_counter_code(SYSTEM_ACTOR, session, resident_id=resident.id)
    assert issued.code
    first = service.redeem_code(
        session, CodePurpose.ACTIVATE, resident.id_number, issued.code, PASSWORD
    )
    other = service.sign_in(session, resident.id_number, PASSWORD, kind=service.TokenKind.SESSION)
    outgoing = service.request_code(session, CodePurpose.RESET, resident.id_number, "5678")
    assert outgoing is not None
    new = service.redeem_code(
        session, CodePurpose.RESET, resident.id_number, codes_in(outgoing.text), NEW_PASSWORD
    )
    session.expire_all()
    for old in (first, other):
        with pytest.raises(Unauthorized):
            service.actor_for_token(session, old.token, (service.TokenKind.SESSION,))
    assert service.actor_for_token(session, new.token, (service.TokenKind.SESSION,))
    with pytest.raises(Unauthorized):
        service.sign_in(session, resident.id_number, PASSWORD)
    assert service.sign_in(session, resident.id_number, NEW_PASSWORD)


def test_who_issues_codes_and_for_whom(session: Session, resident: Resident) -> None:
    factories.town(session, "330282001", "浒山街道")
    own = Actor("town-a", Role.TOWN_STAFF, town_code="330282114")
    other = Actor("town-b", Role.TOWN_STAFF, town_code="330282001")
    with pytest.raises(NotFound):
        service.issue_counter_code(other, session, resident_id=resident.id)
    for role in (Role.REVIEWER, Role.AUDITOR, Role.RESIDENT):
        with pytest.raises(Forbidden):
            service.issue_counter_code(Actor("x", role), session, resident_id=resident.id)
    sent = service.issue_counter_code(own, session, resident_id=resident.id, send=True)
    assert sent.code is None and sent.outgoing is not None and sent.outgoing.phone == PHONE
    assert sent.phone_masked == "138****5678"
    # A disabled account gets no code until an administrator enables it.
    issued = service.issue_counter_code(own, session, resident_id=resident.id)
    assert issued.code
    service.redeem_code(session, CodePurpose.ACTIVATE, resident.id_number, issued.code, PASSWORD)
    service.disable_user(SYSTEM_ACTOR, session, issued.username)
    with pytest.raises(Conflict):
        service.issue_counter_code(own, session, resident_id=resident.id)
    assert service.request_code(session, CodePurpose.RESET, resident.id_number, "5678") is None


def test_malformed_input_is_refused_before_anything_counts(
    session: Session, resident: Resident
) -> None:
    for code, password, field in (
        ("12ab56", PASSWORD, "code"),
        ("123", PASSWORD, "code"),
        ("123456", "short", "password"),
    ):
        with pytest.raises(Invalid) as refused:
            service.redeem_code(session, CodePurpose.ACTIVATE, resident.id_number, code, password)
        assert refused.value.details[0].field == field
    assert all(e.action != "account.code_failed" for e in audit_entries(session))


def test_the_senders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outbox = tmp_path / "var" / "outbox.txt"
    sender = codes.configured_sender(Settings(code_sender="file", code_outbox=outbox))
    sender.send(PHONE, "您的账户激活验证码为 123456，…")
    sender.send("13900000000", "您的账户激活验证码为 654321，…")
    sender.send(PHONE, "您的重置密码验证码为 222333，…")
    assert read_last_code(outbox, PHONE) == "222333"
    assert read_last_code(outbox, "13900000000") == "654321"
    with pytest.raises(AssertionError):
        read_last_code(outbox, "13700000000")
    console = codes.configured_sender(Settings(code_sender="console"))
    console.send(PHONE, "您的账户激活验证码为 445566")
    printed = capsys.readouterr().err
    assert "445566" in printed and "138****5678" in printed and PHONE not in printed


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def cli_engine(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Engine]:
    """A migrated database the CLI of this process uses, its outbox in ``tmp_path``."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'codes.db'}"
    else:
        url = str(request.getfixturevalue("empty_postgres_url"))
    engine = migrated_engine(url)
    monkeypatch.setenv("LUODI_DATABASE_URL", url)
    monkeypatch.setenv("LUODI_CODE_OUTBOX", str(tmp_path / "outbox.txt"))
    get_settings.cache_clear()
    db.dispose_engines()
    yield engine
    engine.dispose()
    monkeypatch.delenv("LUODI_DATABASE_URL")
    monkeypatch.delenv("LUODI_CODE_OUTBOX")
    get_settings.cache_clear()
    db.dispose_engines()


def test_the_command_prints_a_code_once_or_texts_it(cli_engine: Engine, tmp_path: Path) -> None:
    with db.session_scope(cli_engine) as session:
        factories.town(session)
        number = factories.resident(session).id_number
    runner = CliRunner()
    shown = runner.invoke(cli.app, ["user", "activation-code", "--id-number", number])
    assert shown.exit_code == 0, shown.output
    code = shown.stdout.strip().splitlines()[-1]
    assert len(code) == 8 and code.isdigit()
    sent = runner.invoke(cli.app, ["user", "activation-code", "--id-number", number, "--send"])
    assert sent.exit_code == 0, sent.output
    assert "138****5678" in sent.stdout and PHONE not in sent.stdout
    texted = read_last_code(tmp_path / "outbox.txt", PHONE)
    assert len(texted) == 6 and texted not in sent.stdout
    with db.session_scope(cli_engine) as session:
        service.redeem_code(session, CodePurpose.ACTIVATE, number, texted, PASSWORD)
    neither = runner.invoke(cli.app, ["user", "activation-code"])
    assert neither.exit_code == 1 and "--id-number" in neither.stderr


def test_the_sign_in_throttle_keys_on_the_account_not_the_name_typed(session: Session) -> None:
    factories.town(session)
    number = next(
        n for n in (factories.id_number(sequence=s) for s in range(100, 200)) if n.endswith("X")
    )
    resident = factories.resident(session, number=number)
    issued = service.issue_counter_code(SYSTEM_ACTOR, session, resident_id=resident.id)
    assert issued.code
    service.redeem_code(session, CodePurpose.ACTIVATE, number, issued.code, PASSWORD)
    client = "203.0.113.61"
    # The username and the ID number with either x share one bucket: five wrong tries in all.
    names = [issued.username, number, number.lower()]
    for attempt in range(service.MAX_FAILURES_PER_USER):
        with pytest.raises(Unauthorized):
            service.sign_in(session, names[attempt % 3], NEW_PASSWORD, client)
    for name in names:
        with pytest.raises(TooManyRequests):
            service.sign_in(session, name, PASSWORD, client)
    # An ID number nobody holds: either x is one bucket too, and it is stored as a digest.
    unknown = next(
        n for n in (factories.id_number(sequence=s) for s in range(200, 300)) if n.endswith("X")
    )
    for attempt in range(service.MAX_FAILURES_PER_USER):
        typed = unknown if attempt % 2 else unknown.lower()
        with pytest.raises(Unauthorized):
            service.sign_in(session, typed, NEW_PASSWORD, "203.0.113.62")
    with pytest.raises(TooManyRequests):
        service.sign_in(session, unknown, NEW_PASSWORD, "203.0.113.62")
    keys = session.scalars(select(SignInThrottle.username)).all()
    assert issued.username in keys
    for key in keys:
        for clear in (number, unknown):
            assert clear[:17] not in key, key
