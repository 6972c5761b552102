"""Sign-in under attack, on SQLite and PostgreSQL: an atomic throttle per (username, client
address) with growing delays, Argon2 off the database connections, the client address behind
trusted proxies only, input limits, audited events, and tokens committed before the answer."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session
from starlette.requests import Request

from luodi.app import create_app
from luodi.audit import service as audit
from luodi.audit.models import AuditEntry
from luodi.auth import service
from luodi.auth.actor import SYSTEM_ACTOR, Actor, Role
from luodi.db import session_scope
from luodi.errors import Invalid, TooManyRequests, Unauthorized
from luodi.settings import get_settings
from luodi.web.dependencies import client_address, get_actor
from tests.conftest import migrated_engine, temporary_schema

PASSWORD = "correct horse battery"
WRONG = "wrong horse battery"
TOKEN_URL = "/api/v1/auth/token"


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Engine, str]]:
    """A migrated database whose writes are committed (the app and threads open their own
    sessions), and its URL (for a server in another process)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('signin') / 'signin.db'}"
        engine = migrated_engine(url)
        yield engine, url
        engine.dispose()
        return
    with temporary_schema() as url:
        engine = migrated_engine(url)
        yield engine, url
        engine.dispose()


@pytest.fixture
def engine(database: tuple[Engine, str]) -> Engine:
    return database[0]


@pytest.fixture
def add_user(engine: Engine) -> Callable[..., str]:
    def add(username: str, role: str = "operator") -> str:
        with session_scope(engine) as session:
            service.add_user(SYSTEM_ACTOR, session, username, role, PASSWORD)
        return username

    return add


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """Every Argon2 check the sign-in makes (the hash it checked against; None: the dummy)."""
    made: list[str | None] = []
    lock = threading.Lock()
    real = service._password_matches

    def counted(password_hash: str | None, password: str) -> bool:
        with lock:
            made.append(password_hash)
        return real(password_hash, password)

    monkeypatch.setattr(service, "_password_matches", counted)
    return made


def client_at(engine: Engine, address: str) -> TestClient:
    """A test client whose socket peer is ``address``."""
    return TestClient(create_app(engine), client=(address, 50000))


def post_token(client: TestClient, username: str, password: str) -> httpx.Response:
    return client.post(TOKEN_URL, data={"username": username, "password": password})


def audit_entries(engine: Engine, action: str, username: str) -> list[dict[str, Any]]:
    with session_scope(engine) as session:
        entries = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == action, AuditEntry.object_id == username)
            .order_by(AuditEntry.seq)
        ).all()
        return [{"actor": e.actor, "detail": json.loads(e.detail or "{}")} for e in entries]


# --- the throttle ------------------------------------------------------------------------


def test_parallel_wrong_passwords_make_at_most_five_checks(
    engine: Engine, add_user: Callable[..., str], checks: list[str | None]
) -> None:
    """20 wrong passwords at once for one account: at most 5 Argon2 checks, no 500, and a
    health check made meanwhile answers at once (hashing holds no connection)."""
    username = add_user("parallel")
    statuses: list[int] = []
    health: list[tuple[int, float]] = []
    start = threading.Barrier(21)

    with client_at(engine, "192.0.2.10") as client:

        def attack() -> None:
            start.wait()
            statuses.append(post_token(client, username, WRONG).status_code)

        def check_health() -> None:
            start.wait()
            time.sleep(0.05)  # while the sign-ins are being hashed
            began = time.perf_counter()
            answer = client.get("/api/v1/health")
            health.append((answer.status_code, time.perf_counter() - began))

        threads = [threading.Thread(target=attack) for _ in range(20)]
        threads.append(threading.Thread(target=check_health))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)

    assert len(statuses) == 20
    assert set(statuses) <= {401, 429}, statuses
    assert 1 <= len(checks) <= service.MAX_FAILURES_PER_USER
    assert statuses.count(401) == len(checks)  # every check was a refused password
    (status, seconds) = health[0]
    # Before: 30 s waiting for a pooled connection, then a 500.
    assert status == 200 and seconds < 5
    with Session(engine) as session:  # the failures were appended without forking the chain
        assert audit.verify(SYSTEM_ACTOR, session).intact


def test_parallel_right_passwords_are_told_to_retry_in_a_second(
    engine: Engine, add_user: Callable[..., str], checks: list[str | None]
) -> None:
    """The throttle decides before it knows whether a password is right: past five checks in
    flight for one account and address the others wait, and are told a second, not minutes."""
    username = add_user("busy")
    answers: list[httpx.Response] = []
    start = threading.Barrier(12)
    with client_at(engine, "192.0.2.11") as client:

        def sign_in() -> None:
            start.wait()
            answers.append(post_token(client, username, PASSWORD))

        threads = [threading.Thread(target=sign_in) for _ in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    statuses = [answer.status_code for answer in answers]
    assert set(statuses) <= {200, 429} and statuses.count(200) >= service.MAX_FAILURES_PER_USER
    assert statuses.count(200) == len(checks)
    assert {a.headers["retry-after"] for a in answers if a.status_code == 429} <= {"1"}


def test_argon2_holds_no_database_connection(
    engine: Engine, add_user: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    username = add_user("pooled")
    held: list[tuple[int, str]] = []
    real = service._password_matches

    def watched(password_hash: str | None, password: str) -> bool:
        pool = engine.pool.checkedout()  # type: ignore[attr-defined]
        held.append((pool, threading.current_thread().name))
        return real(password_hash, password)

    monkeypatch.setattr(service, "_password_matches", watched)
    with Session(engine) as request_session:
        with pytest.raises(Unauthorized):
            service.sign_in(request_session, username, WRONG, "192.0.2.20")
        issued = service.sign_in(request_session, username, PASSWORD, "192.0.2.20")
    # No connection checked out while hashing, and the hashing ran in the bounded pool.
    assert [connections for connections, _ in held] == [0, 0]
    assert all(thread.startswith("argon2") for _, thread in held)
    with session_scope(engine) as session:  # committed by sign_in itself
        actor = service.actor_for_token(session, issued.token, (service.TokenKind.BEARER,))
    assert actor.username == username


def test_delays_grow_per_address_and_never_lock_the_account_for_everyone(
    engine: Engine, add_user: Callable[..., str]
) -> None:
    username = add_user("pat")
    with client_at(engine, "203.0.113.5") as attacker, client_at(engine, "198.51.100.7") as owner:
        for _ in range(service.MAX_FAILURES_PER_USER):
            assert post_token(attacker, username, WRONG).status_code == 401
        # The attacker's address now waits, even with the right password (not checked).
        held = post_token(attacker, username, PASSWORD)
        assert held.status_code == 429
        assert held.headers["retry-after"] == "1"
        # The owner, from another address, signs in at once.
        assert post_token(owner, username, PASSWORD).status_code == 200
        # After the delay one more try; the next delay is twice as long.
        time.sleep(1.1)
        assert post_token(attacker, username, WRONG).status_code == 401
        doubled = post_token(attacker, username, PASSWORD)
        assert doubled.status_code == 429 and doubled.headers["retry-after"] == "2"
        time.sleep(2.1)
        # A success starts the pair over: a wrong password is a plain 401 again.
        assert post_token(attacker, username, PASSWORD).status_code == 200
        assert post_token(attacker, username, WRONG).status_code == 401


def test_an_unknown_name_answers_like_a_wrong_password(
    engine: Engine, add_user: Callable[..., str], checks: list[str | None]
) -> None:
    username = add_user("known")
    with client_at(engine, "203.0.113.9") as client:
        known = post_token(client, username, WRONG)
        unknown = post_token(client, "nobody-here", WRONG)
        assert known.status_code == unknown.status_code == 401
        assert known.json() == unknown.json()
        # Both cost one Argon2 check; the unknown name against the dummy hash.
        assert len(checks) == 2 and checks[0] is not None and checks[1] is None
        for _ in range(service.MAX_FAILURES_PER_USER - 1):
            post_token(client, "nobody-here", WRONG)
        assert post_token(client, "nobody-here", WRONG).status_code == 429


def test_an_address_that_fails_30_times_waits_for_its_window(engine: Engine) -> None:
    with client_at(engine, "203.0.113.77") as client:
        for number in range(service.MAX_FAILURES_PER_CLIENT):
            assert post_token(client, f"guess{number}", WRONG).status_code == 401
        refused = post_token(client, "guess-more", WRONG)
        assert refused.status_code == 429
        assert 0 < int(refused.headers["retry-after"]) <= 15 * 60
    with client_at(engine, "203.0.113.78") as neighbour:
        assert post_token(neighbour, "guess0", WRONG).status_code == 401


def test_a_refused_attempt_counts_nothing(engine: Engine, add_user: Callable[..., str]) -> None:
    """The address's count and the pair's are taken in one transaction: when the pair
    refuses, the address's count is rolled back too."""
    username = add_user("patient")
    with client_at(engine, "203.0.113.90") as client:
        for _ in range(service.MAX_FAILURES_PER_USER):
            post_token(client, username, WRONG)
        for _ in range(10):
            assert post_token(client, username, WRONG).status_code == 429
    with engine.connect() as connection:
        counted = connection.execute(
            text("SELECT attempts FROM sign_in_throttles WHERE username = '' AND client = :c"),
            {"c": "203.0.113.90"},
        ).scalar()
    assert counted == service.MAX_FAILURES_PER_USER


# --- the client address ------------------------------------------------------------------


def request_from(peer: str, *forwarded: str) -> Request:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
    return Request({"type": "http", "headers": headers, "client": (peer, 1234)})


@pytest.fixture
def trusted_proxies(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    def trust(value: str) -> None:
        monkeypatch.setenv("LUODI_TRUSTED_PROXIES", value)
        get_settings.cache_clear()

    yield trust
    monkeypatch.delenv("LUODI_TRUSTED_PROXIES", raising=False)
    get_settings.cache_clear()


def test_forwarded_for_counts_only_from_a_trusted_proxy(
    trusted_proxies: Callable[[str], None],
) -> None:
    trusted_proxies("")
    assert client_address(request_from("10.0.0.9", "1.2.3.4")) == "10.0.0.9"
    trusted_proxies("10.0.0.0/8, 192.0.2.1")
    # From a proxy: the right-most entry that is not one of our proxies.
    assert client_address(request_from("10.0.0.9", "6.6.6.6, 1.2.3.4, 10.0.0.3")) == "1.2.3.4"
    assert client_address(request_from("192.0.2.1", "6.6.6.6", "1.2.3.4")) == "1.2.3.4"
    # From anyone else the header is ignored.
    assert client_address(request_from("198.51.100.1", "1.2.3.4")) == "198.51.100.1"
    # A proxy without the header, or only proxies in it: the nearest proxy.
    assert client_address(request_from("10.0.0.9")) == "10.0.0.9"
    assert client_address(request_from("10.0.0.9", "10.1.1.1")) == "10.1.1.1"
    # Garbage where an address should be: stop at the last hop we trust.
    assert client_address(request_from("10.0.0.9", "1.2.3.4, not-an-ip")) == "10.0.0.9"


def test_the_throttle_keys_on_the_address_the_proxy_saw(
    engine: Engine, add_user: Callable[..., str], trusted_proxies: Callable[[str], None]
) -> None:
    username = add_user("proxied")
    trusted_proxies("10.0.0.0/8")
    with client_at(engine, "10.0.0.2") as proxy, client_at(engine, "198.51.100.50") as direct:
        attacker = {"X-Forwarded-For": "203.0.113.200"}
        for _ in range(service.MAX_FAILURES_PER_USER):
            response = proxy.post(
                TOKEN_URL, data={"username": username, "password": WRONG}, headers=attacker
            )
            assert response.status_code == 401
        held = proxy.post(
            TOKEN_URL, data={"username": username, "password": PASSWORD}, headers=attacker
        )
        assert held.status_code == 429
        # Another client behind the same proxy is another address.
        other = proxy.post(
            TOKEN_URL,
            data={"username": username, "password": PASSWORD},
            headers={"X-Forwarded-For": "203.0.113.201"},
        )
        assert other.status_code == 200
        # A direct client cannot pick its address by sending the header.
        spoofed = direct.post(
            TOKEN_URL, data={"username": username, "password": WRONG}, headers=attacker
        )
        assert spoofed.status_code == 401
    clients = [
        e["detail"]["client"] for e in audit_entries(engine, "auth.sign_in_failed", username)
    ]
    assert clients == ["203.0.113.200"] * service.MAX_FAILURES_PER_USER + ["198.51.100.50"]


# --- input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "username", ["", "   ", "a" * 65, "adm\u202ein", "adm\u2066in", "ad\u200emin", "ad\x07min"]
)
def test_malformed_usernames_are_refused(
    engine: Engine, username: str, checks: list[str | None]
) -> None:
    with client_at(engine, "203.0.113.120") as client:
        response = post_token(client, username, WRONG)
    assert response.status_code == 422, response.text
    assert checks == []
    with session_scope(engine) as session, pytest.raises(Invalid):
        service.add_user(SYSTEM_ACTOR, session, username, "operator", PASSWORD)


@pytest.mark.parametrize("length", [257, 1_000_000])
def test_an_overlong_password_is_refused_before_hashing(
    engine: Engine, add_user: Callable[..., str], checks: list[str | None], length: int
) -> None:
    username = add_user(f"long{length}")
    with client_at(engine, "203.0.113.121") as client:
        response = post_token(client, username, "x" * length)
    # Up to the sign-in form's 16 KB the form is read and the field refused (422); past it
    # the request guard refuses the body as it streams (413), before any parsing.
    assert response.status_code == (422 if length < 16 * 1024 else 413)
    assert "x" * 20 not in response.text  # the password is never echoed
    assert checks == []


# --- audit -------------------------------------------------------------------------------


def test_sign_in_sign_out_and_failures_are_audited(
    engine: Engine, add_user: Callable[..., str]
) -> None:
    username = add_user("audited")
    with client_at(engine, "203.0.113.130") as client:
        assert post_token(client, username, WRONG).status_code == 401
        token = post_token(client, username, PASSWORD).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        assert client.post("/api/v1/auth/logout", headers=auth).status_code == 200
        assert client.get("/api/v1/auth/me", headers=auth).status_code == 401
        assert client.post("/api/v1/auth/logout", headers=auth).status_code == 401
    failed = audit_entries(engine, "auth.sign_in_failed", username)
    assert failed == [
        {"actor": "public", "detail": {"client": "203.0.113.130", "reason": "wrong_password"}}
    ]
    signed_in = audit_entries(engine, "auth.sign_in", username)
    assert signed_in[0]["actor"] == username
    assert signed_in[0]["detail"]["client"] == "203.0.113.130"
    token_id = signed_in[0]["detail"]["token_id"]
    logout = audit_entries(engine, "auth.logout", str(token_id))
    assert [entry["actor"] for entry in logout] == [username]
    with session_scope(engine) as session:
        details = session.scalars(select(AuditEntry.detail)).all()
    assert not any(WRONG in (detail or "") or PASSWORD in (detail or "") for detail in details)


def test_the_throttle_refuses_in_the_service_too(
    engine: Engine, add_user: Callable[..., str]
) -> None:
    username = add_user("servicelevel")
    with Session(engine) as session:
        for _ in range(service.MAX_FAILURES_PER_USER):
            with pytest.raises(Unauthorized):
                service.sign_in(session, username, WRONG, "203.0.113.140")
        with pytest.raises(TooManyRequests) as refused:
            service.sign_in(session, username, PASSWORD, "203.0.113.140")
    assert refused.value.retry_after == 1


# --- commit before the response ------------------------------------------------------------


def test_the_request_commits_before_the_response_starts(
    engine: Engine, add_user: Callable[..., str]
) -> None:
    """What a request wrote is committed when the first byte of its answer is sent: seen from
    another connection at that moment (a logout's revocation, through the request's own unit
    of work)."""
    username = add_user("ordered")
    app = create_app(engine)
    seen: list[bool] = []

    async def watching(scope: Any, receive: Any, send: Any) -> None:
        async def send_watched(message: Any) -> None:
            if message["type"] == "http.response.start" and scope["path"].endswith("/logout"):
                with engine.connect() as connection:
                    seen.append(
                        connection.execute(
                            text("SELECT revoked FROM api_tokens ORDER BY id DESC LIMIT 1")
                        ).scalar()
                    )
            await send(message)

        await app(scope, receive, send_watched)

    with TestClient(watching, client=("203.0.113.150", 1)) as client:  # type: ignore[arg-type]
        token = post_token(client, username, PASSWORD).json()["access_token"]
        signed_out = client.post(
            "/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"}
        )
    assert signed_out.status_code == 200
    assert seen == [True]


def test_a_new_token_works_on_the_very_next_request(
    engine: Engine, add_user: Callable[..., str]
) -> None:
    username = add_user("next")
    with client_at(engine, "203.0.113.160") as client:
        for _ in range(40):
            token = post_token(client, username, PASSWORD).json()["access_token"]
            me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
            assert me.status_code == 200


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def served(url: str, folder: Path) -> Iterator[httpx.Client]:
    """``luodi serve`` on the database ``url`` (run from an empty folder, trusting no proxy),
    and a client of it; the server's own error output must hold no traceback."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "luodi", "serve", "--port", str(port)],
        env={**os.environ, "LUODI_DATABASE_URL": url, "LUODI_TRUSTED_PROXIES": ""},
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            for _ in range(200):
                try:
                    if http.get("/api/v1/health").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            yield http
    finally:
        server.terminate()
        _, errors = server.communicate(timeout=30)
    assert b"Traceback" not in errors


def test_a_real_server_answers_tokens_that_work_at_once(
    database: tuple[Engine, str], add_user: Callable[..., str], tmp_path: Path
) -> None:
    """Through ``luodi serve`` (uvicorn sends the answer as soon as it has it, unlike the test
    client): 40 sign-ins each followed at once by a request with the new token, and 40
    sign-outs each followed at once by a request with the revoked one."""
    _, url = database
    username = add_user("served")
    with served(url, tmp_path) as http:
        failures = 0
        for _ in range(40):
            signed = http.post(TOKEN_URL, data={"username": username, "password": PASSWORD})
            assert signed.status_code == 200, signed.text
            auth = {"Authorization": f"Bearer {signed.json()['access_token']}"}
            failures += http.get("/api/v1/auth/me", headers=auth).status_code != 200
            assert http.post("/api/v1/auth/logout", headers=auth).status_code == 200
            failures += http.get("/api/v1/auth/me", headers=auth).status_code != 401
        assert failures == 0


def test_a_real_server_ignores_forwarded_for_from_an_untrusted_peer(
    database: tuple[Engine, str], add_user: Callable[..., str], tmp_path: Path
) -> None:
    """``luodi serve`` does not let uvicorn believe X-Forwarded-For from 127.0.0.1 (its
    default): a client naming a new address on every wrong password is still one address."""
    _, url = database
    username = add_user("forwarded")
    with served(url, tmp_path) as http:
        statuses = [
            http.post(
                TOKEN_URL,
                data={"username": username, "password": WRONG},
                headers={"X-Forwarded-For": f"10.1.{attempt}.7"},
            ).status_code
            for attempt in range(8)
        ]
    assert statuses[:5] == [401] * 5
    assert statuses[5:] == [429] * 3, statuses


def test_an_actor_resolved_by_the_guard_is_taken_as_is(
    engine: Engine, add_user: Callable[..., str]
) -> None:
    """The request guard resolves a write's actor before its body is read and keeps it in
    ``request.state.actor``; the route's dependency does not look the token up again."""
    username = add_user("guarded")
    with Session(engine) as session:
        issued = service.sign_in(session, username, PASSWORD, "203.0.113.170")
        bearer = [(b"authorization", f"Bearer {issued.token}".encode())]
        resolved = Actor(username="someone-else", role=Role.OPERATOR)
        request = Request({"type": "http", "headers": bearer, "state": {"actor": resolved}})
        assert get_actor(request, session) is resolved
        plain = Request({"type": "http", "headers": bearer, "method": "GET", "path": "/"})
        assert get_actor(plain, session).username == username


def test_the_dummy_hash_is_made_on_first_use_not_at_import() -> None:
    """Every CLI command imports the auth service; none should pay for an Argon2 hash."""
    probe = (
        "import luodi.auth.service as s; "
        "assert s._dummy_hash.cache_info().currsize == 0; "
        "assert not s._hash_pool._threads; "
        "assert s._password_matches(None, 'guess') is False; "
        "assert s._dummy_hash.cache_info().currsize == 1"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
