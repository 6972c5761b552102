"""The request guard: what every request passes before any route reads it.

A pure ASGI middleware (not ``BaseHTTPMiddleware``, which buffers bodies), so that it sees the
body as it streams:

- **Security headers** on every response, errors included (CSP, frame, sniffing, referrer;
  HSTS when cookies are marked secure, i.e. behind HTTPS).
- **Size**: the body limit counts bytes as they arrive, chunked bodies included; a declared
  ``Content-Length`` over the limit is refused before one byte is read.
- **Who first**: a write (any unsafe method) to a protected route resolves the caller before
  the body is read; an anonymous caller is answered 401 (or sent to the sign-in page) without
  the server reading what was sent. The actor is kept in ``request.state.actor``.
- **Text the databases cannot keep**: NUL characters in the URL, a JSON body or a form are
  refused (422), and so are the JSON constants NaN and Infinity (Python's parser accepts them).
- **Nothing unexpected escapes as a bare 500**: an error no handler took becomes a bilingual
  500 with the headers and without details (the traceback goes to the log).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request

from luodi.auth.actor import Role
from luodi.auth.permissions import STAFF_WRITE_BYTES, acts_as, write_allowance
from luodi.db import session_scope
from luodi.errors import Forbidden, LuodiError, Unauthorized

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY_BYTES = STAFF_WRITE_BYTES
"""The most any request may carry (staff's feed files); each role's writes may carry less
(``permissions.write_allowance``), and signing in a few kilobytes."""
SIGN_IN_BYTES = 16 * 1024
"""A sign-in form is a username and a password: nothing near this."""

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PUBLIC_WRITES = frozenset(
    {
        "/api/v1/auth/token",
        "/login",
        "/logout",
        "/activate",
        "/activate/code",
        "/reset-password",
        "/reset-password/code",
    }
)
"""The only writes an anonymous caller may send (signing in and out; a resident's account
activated, or its password reset, with a one-time code, and asking for that code)."""

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "content-security-policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'"
    ),
}
HSTS = "max-age=31536000; includeSubDomains"

logger = logging.getLogger("luodi.web")


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when the body passes the limit. An ``HTTPException`` so that
    FastAPI's body parsing lets it through (it turns other errors into a 400)."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413)
        self.limit = limit


def error_body(status: int, kind: str, zh: str, en: str) -> bytes:
    return json.dumps(
        {"error": kind, "message_zh": zh, "message_en": en, "details": []}, ensure_ascii=False
    ).encode()


def too_large(limit: int) -> tuple[int, str, str, str]:
    size = f"{limit // 1024 // 1024} MB" if limit >= 1024 * 1024 else f"{limit // 1024} KB"
    return (413, "PayloadTooLarge", f"请求超过 {size}", f"the request is larger than {size}")


class _NotFinite(ValueError):
    """A number JSON cannot carry: NaN, Infinity, or one too large for a float (1e999)."""


def _reject_constant(name: str) -> Any:
    raise _NotFinite(name)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotFinite(text)
    return value


def json_problem(body: bytes) -> tuple[str, str] | None:
    """Why a JSON body cannot be taken (NUL characters, NaN/Infinity, a number too large for a
    float or with more digits than Python converts), or None. Syntax errors are left to the
    route's own validation, which names the position."""
    if b"\\u0000" in body or b"\x00" in body:
        return ("内容含有空字符（\\u0000）", "the content holds a NUL character (\\u0000)")
    try:
        json.loads(body, parse_constant=_reject_constant, parse_float=_finite_float)
    except _NotFinite as error:
        shown = str(error)[:20]
        return (
            f"数值 {shown} 无效（JSON 不允许 NaN、无穷大或超出范围的数）",
            f"the number {shown} is not valid here (no NaN, Infinity or out-of-range numbers)",
        )
    except json.JSONDecodeError:
        return None
    except ValueError:  # an integer of thousands of digits (Python's conversion limit)
        return ("数值位数过多", "a number has too many digits")
    except RecursionError:
        return ("JSON 嵌套过深", "the JSON is nested too deeply")
    return None


class RequestGuard:
    def __init__(self, app: ASGIApp, engine: Engine, hsts: bool = False) -> None:
        self.app = app
        self.engine = engine
        self.headers = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
        if hsts:
            self.headers.append((b"strict-transport-security", HSTS.encode()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    header for header in self.headers if header[0] not in present
                ]
            await send(message)

        async def answer(status: int, kind: str, zh: str, en: str, extra: Any = ()) -> None:
            body = error_body(status, kind, zh, en)
            await send_with_headers(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", b"application/json; charset=utf-8"),
                        (b"content-length", str(len(body)).encode()),
                        *extra,
                    ],
                }
            )
            await send_with_headers({"type": "http.response.body", "body": body})

        try:
            refusal = await self._refusal(scope, receive)
            if refusal is not None:
                status, kind, zh, en, extra = refusal
                if status == 303:
                    await send_with_headers(
                        {
                            "type": "http.response.start",
                            "status": 303,
                            "headers": [(b"location", b"/login"), (b"content-length", b"0")],
                        }
                    )
                    await send_with_headers({"type": "http.response.body", "body": b""})
                    return
                await answer(status, kind, zh, en, extra)
                return
            await self.app(scope, self._receive(scope, receive), send_with_headers)
        except BodyTooLarge as error:
            if not started:
                await answer(*too_large(error.limit))
        except Exception:
            logger.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if not started:
                await answer(500, "InternalError", "服务器内部错误，请稍后重试", "internal error")

    async def _refusal(
        self, scope: Scope, receive: Receive
    ) -> tuple[int, str, str, str, Any] | None:
        """What to answer instead of routing the request, or None to route it."""
        path: str = scope["path"]
        if "\x00" in path or b"%00" in scope.get("query_string", b""):
            return (422, "Invalid", "网址含有空字符", "the URL holds a NUL character", ())
        length = Headers(scope=scope).get("content-length")
        if length is not None and not length.isdigit():
            return (400, "Invalid", "Content-Length 无效", "invalid Content-Length", ())
        method = scope["method"]
        state = scope.setdefault("state", {})
        if method in SAFE_METHODS or path in PUBLIC_WRITES:
            state["body_limit"] = SIGN_IN_BYTES if path in PUBLIC_WRITES else MAX_BODY_BYTES
            return self._over(length, state["body_limit"])
        try:
            actor = await run_in_threadpool(self._actor_of, scope)
        except LuodiError as error:
            extra = [(b"www-authenticate", b"Bearer")] if error.status == 401 else []
            return (error.status, type(error).__name__, error.message_zh, error.message_en, extra)
        if acts_as(actor, Role.PUBLIC):
            if not path.startswith("/api/"):
                return (303, "", "", "", ())
            error = Unauthorized("请先登录", "sign in first")
            challenge = [(b"www-authenticate", b"Bearer")]
            return (401, "Unauthorized", error.message_zh, error.message_en, challenge)
        allowance = write_allowance(actor, path)
        if allowance is None:
            # Refused before the body is read: a role may not make the server parse what it
            # could never send (a resident's 60 MB to a feed route).
            refused = Forbidden(
                f"角色 {actor.role} 无权执行此操作", f"the role {actor.role} may not do this"
            )
            return (403, "Forbidden", refused.message_zh, refused.message_en, ())
        state["actor"] = actor
        state["body_limit"] = allowance
        return self._over(length, allowance)

    @staticmethod
    def _over(length: str | None, limit: int) -> tuple[int, str, str, str, Any] | None:
        """A declared length past the limit: refused before one byte is read."""
        if length is not None and int(length) > limit:
            return (*too_large(limit), ())
        return None

    def _actor_of(self, scope: Scope) -> Any:
        from luodi.web.dependencies import get_actor

        with session_scope(self.engine) as session:
            return get_actor(Request(scope), session)

    def _receive(self, scope: Scope, receive: Receive) -> Receive:
        """``receive`` that counts the body as it streams; text bodies (JSON, forms) are
        checked whole for NUL and NaN first (they are small; files stream)."""
        content_type = Headers(scope=scope).get("content-type", "").lower()
        limit: int = scope.get("state", {}).get("body_limit", MAX_BODY_BYTES)
        checked = content_type.startswith(("application/json", "application/x-www-form-urlencoded"))
        received = 0
        buffered: list[Message] | None = None

        async def counting() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def checking() -> Message:
            nonlocal buffered
            if buffered is None:
                buffered = []
                chunks = []
                while True:
                    message = await counting()
                    buffered.append(message)
                    if message["type"] != "http.request":
                        break
                    chunks.append(message.get("body", b""))
                    if not message.get("more_body", False):
                        break
                body = b"".join(chunks)
                problem = (
                    json_problem(body)
                    if content_type.startswith("application/json")
                    else (
                        ("表单含有空字符", "the form holds a NUL character")
                        if b"%00" in body or b"\x00" in body
                        else None
                    )
                )
                if problem is not None:
                    raise Refused(*problem)
                buffered = [{"type": "http.request", "body": body, "more_body": False}]
            if buffered:
                return buffered.pop(0)
            return await receive()

        return checking if checked else counting


class Refused(HTTPException):
    """A text body the app will not take (NUL, NaN): answered 422 by the app's handler."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(status_code=422, detail={"zh": zh, "en": en})
