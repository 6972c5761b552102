"""The server stays up: what every request passes before a route reads it (web/guard.py and the
app's error handlers), on both databases: the body limit counted as it streams, callers of
protected writes resolved before the body is read, NUL and NaN refused, ids that cannot name
an object answered 404, a 422 that echoes only an excerpt, the security headers on every
response, and a busy SQLite database answered 503 with Retry-After."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from luodi.app import create_app
from luodi.auth.actor import Actor
from luodi.web.guard import MAX_BODY_BYTES
from tests.web.conftest import sign_in

JSON = {"Content-Type": "application/json"}
SECURITY = ("x-content-type-options", "x-frame-options", "content-security-policy")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def server(loaded_engine: Engine, accounts: dict[str, Actor]) -> Iterator[tuple[int, str, str]]:
    """A real uvicorn server on a loopback port (bodies stream over a socket), an operator's
    and a resident's bearer token."""
    app = create_app(loaded_engine)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not instance.started and time.monotonic() < deadline:
        time.sleep(0.05)
    with TestClient(app) as client:
        token = sign_in(client, "operator")["Authorization"]
        resident = sign_in(client, "resident")["Authorization"]
    yield port, token, resident
    instance.should_exit = True
    thread.join(timeout=10)


def raw_chunked(
    port: int, path: str, headers: dict[str, str], chunks: int, size: int
) -> tuple[int, int]:
    """POST a chunked body of ``chunks`` × ``size`` bytes over a socket, and stop sending as
    soon as the server answers. Returns (status, chunks sent)."""
    payload = b"%x\r\n" % size + (b"1" * size) + b"\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Transfer-Encoding: chunked"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        connection.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        sent = 0
        while sent < chunks:
            readable, _, _ = select.select([connection], [], [], 0)
            if readable:
                break
            try:
                connection.sendall(payload)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += 1
        else:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                connection.sendall(b"0\r\n\r\n")
        answer = connection.recv(65536)
    return int(answer.split()[1]), sent


def test_anonymous_chunked_body_is_refused_before_it_is_read(
    server: tuple[int, str, str],
) -> None:
    port, _, _ = server
    # 300 MB offered, anonymously, to a protected route: answered 401 long before the end.
    status, sent = raw_chunked(
        port,
        "/api/v1/program-cycles/1/applications",
        {"Content-Type": "application/json"},
        chunks=300,
        size=1024 * 1024,
    )
    assert status == 401
    assert sent < 300


def test_a_role_that_may_not_write_there_is_refused_before_the_body(
    server: tuple[int, str, str],
) -> None:
    """A resident offering 60 MB to a department's feed route: 403 after a few chunks, the
    body never parsed (it used to be read and parsed whole: +1.7 GB of memory)."""
    port, _, resident = server
    status, sent = raw_chunked(
        port,
        "/api/v1/feeds/housing/records",
        {"Content-Type": "application/json", "Authorization": resident},
        chunks=60,
        size=1024 * 1024,
    )
    assert status == 403
    assert sent < 60


def test_a_resident_application_is_small(server: tuple[int, str, str]) -> None:
    """A resident files one record: 64 KB is plenty, and more is refused as it streams."""
    port, _, resident = server
    status, _ = raw_chunked(
        port,
        "/api/v1/program-cycles/1/applications",
        {"Content-Type": "application/json", "Authorization": resident},
        chunks=4,
        size=64 * 1024,
    )
    assert status == 413


def test_chunked_body_past_the_limit_is_413(server: tuple[int, str, str]) -> None:
    port, token, _ = server
    chunks = MAX_BODY_BYTES // (1024 * 1024) + 8
    status, _ = raw_chunked(
        port,
        "/api/v1/program-cycles/1/applications",
        {"Content-Type": "application/json", "Authorization": token},
        chunks=chunks,
        size=1024 * 1024,
    )
    assert status == 413


def test_declared_length_past_the_limit_is_413(client: TestClient) -> None:
    response = client.post(
        "/api/v1/auth/token",
        content=b"x",
        headers={"Content-Length": str(MAX_BODY_BYTES + 1)},
    )
    assert response.status_code == 413


def test_a_sign_in_form_is_a_few_kilobytes(client: TestClient) -> None:
    """Signing in is open to anybody, so its body is capped low (it was read whole: 63 MB)."""
    response = client.post(
        "/api/v1/auth/token", data={"username": "x", "password": "y" * (64 * 1024)}
    )
    assert response.status_code == 413
    assert "KB" in response.json()["message_en"]


def test_auditors_writes_are_refused_before_the_body(admin_client: TestClient) -> None:
    with TestClient(admin_client.app) as auditor:
        auditor.headers.update(sign_in(auditor, "auditor"))
        response = auditor.post(
            "/api/v1/applications/1/verification", content=b"{not json", headers=JSON
        )
        assert response.status_code == 403  # not 422: the body is never read
        assert auditor.post("/api/v1/auth/logout").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/residents/{2**31}",
        f"/api/v1/residents/{2**63}",
        f"/api/v1/residents/{2**70}",
        "/api/v1/residents/-1",
        "/api/v1/residents/abc",
        f"/api/v1/applications/{2**63}",
        f"/api/v1/allocation-runs/{2**31}",
        f"/api/v1/notices/{2**63}",
    ],
)
def test_ids_out_of_range_are_404(admin_client: TestClient, path: str) -> None:
    response = admin_client.get(path)
    assert response.status_code == 404, (path, response.text)
    assert all(header in response.headers for header in SECURITY)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('{"records": [{"id_number": "1\\u0000"}]}', "NUL"),
        ('{"records": [{"id_number": NaN}]}', "NaN"),
        ('{"records": [{"id_number": Infinity}]}', "Infinity"),
        ('{"records": [{"id_number": -Infinity}]}', "Infinity"),
        ('{"records": [{"id_number": 1e999}]}', "1e999"),
        ('{"records": [{"choices": [-1e999]}]}', "-1e999"),
        ('{"records": [{"id_number": ' + "9" * 5000 + "}]}", "digits"),
    ],
)
def test_nul_and_nan_are_422(admin_client: TestClient, body: str, reason: str) -> None:
    response = admin_client.post(
        "/api/v1/program-cycles/1/applications",
        content=body.encode(),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert reason in response.json()["message_en"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/applications/1/verification", b'{"approve": 1e999}'),
        ("/api/v1/notices", b'{"scoring_run_id": ' + b"9" * 5000 + b"}"),
    ],
)
def test_values_that_json_cannot_carry_still_get_an_answer(
    admin_client: TestClient, path: str, body: bytes
) -> None:
    """A refused value that is not finite (or too long to print) is shown as text."""
    from luodi.errors import FieldProblem

    problem = FieldProblem("approve", float("inf"), "x", "x").as_dict()
    assert problem["value"] == "inf"
    assert "位" in FieldProblem("n", 10**5000, "x", "x").as_dict()["value"]
    response = admin_client.post(path, content=body, headers=JSON)
    assert response.status_code == 422, response.text


def test_nul_in_the_url_is_422(client: TestClient) -> None:
    assert client.get("/api/v1/notices", params={"q": "a\x00b"}).status_code == 422


def test_a_422_echoes_only_an_excerpt(admin_client: TestClient) -> None:
    huge = "张" * 200_000
    response = admin_client.post("/api/v1/program-cycles/1/applications", json={"records": huge})
    assert response.status_code == 422
    assert len(response.content) < 4_000
    broken = admin_client.post(
        "/api/v1/program-cycles/1/applications",
        content=b'{"records": [' + b'"x",' * 100_000,
        headers={"Content-Type": "application/json"},
    )
    assert broken.status_code == 422
    assert len(broken.content) < 4_000


def test_security_headers_on_errors(client: TestClient) -> None:
    for response in (
        client.get("/api/v1/no-such-route"),
        client.post("/api/v1/program-cycles/1/applications", json={}),
        client.get("/api/v1/audit"),
    ):
        assert response.status_code in (401, 404), response.text
        assert all(header in response.headers for header in SECURITY), response.headers
        assert "/work/" not in response.text and "Traceback" not in response.text


def test_hsts_behind_https(loaded_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from luodi.settings import get_settings

    monkeypatch.setenv("LUODI_SECURE_COOKIES", "true")
    get_settings.cache_clear()
    try:
        with TestClient(create_app(loaded_engine)) as secure:
            assert "max-age" in secure.get("/api/v1/health").headers["strict-transport-security"]
    finally:
        monkeypatch.delenv("LUODI_SECURE_COOKIES")
        get_settings.cache_clear()
    with TestClient(create_app(loaded_engine)) as plain:
        assert "strict-transport-security" not in plain.get("/api/v1/health").headers


def test_a_password_or_token_is_never_echoed_in_a_refusal() -> None:
    """A 300-character password refused for its length: the refusal names the field and the
    reason, never the password, not even an excerpt (found trying the console's forms)."""
    from luodi.errors import FieldProblem

    for field in ("password", "new_password", "access_token"):
        problem = FieldProblem(field, "secret-" * 50, "过长", "too long")
        assert problem.shown_value() == "***"
        assert "secret" not in problem.describe("zh") and "secret" not in str(problem.as_dict())
