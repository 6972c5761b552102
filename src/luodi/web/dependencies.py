"""Request-scoped dependencies: one unit of work per request, committed on success, and the
actor the request speaks for (a bearer token, else the web session cookie, else public), and
the client's address."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from luodi.auth import service as auth
from luodi.auth.actor import PUBLIC_ACTOR, Actor
from luodi.db import session_scope
from luodi.errors import Forbidden, Unauthorized
from luodi.settings import get_settings

SESSION_COOKIE = "luodi_session"
CSRF_COOKIE = "luodi_csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_session(request: Request) -> Iterator[Session]:
    with session_scope(request.app.state.engine) as session:
        yield session


DbSession = Annotated[Session, Depends(get_session, scope="function")]
"""The request's unit of work. ``scope="function"`` ends it (commit or rollback) when the
route function returns, *before* the response is sent: with the default scope FastAPI
commits after the client already has its answer, so the client's next request could miss
what this one wrote (a new token refused, a revoked one still taken)."""


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        return None
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("认证头应为 Bearer 令牌", "the Authorization header must be Bearer")
    return token.strip()


def get_actor(request: Request, session: DbSession) -> Actor:
    """A bearer token that is wrong is an error (401), never a silent fall back to public;
    a stale session cookie just means "not signed in" on the web pages. A write was already
    resolved by the request guard before its body was read (``request.state.actor``): taken
    as is, not looked up twice."""
    resolved = getattr(request.state, "actor", None)
    if isinstance(resolved, Actor):
        return resolved
    token = bearer_token(request)
    if token is not None:
        return auth.actor_for_token(
            session, token, (auth.TokenKind.BEARER, auth.TokenKind.DEPARTMENT)
        )
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        try:
            actor = auth.actor_for_token(session, cookie, (auth.TokenKind.SESSION,))
        except Unauthorized:
            return PUBLIC_ACTOR
        # A cookie is sent by the browser on its own, so a change made with it must prove it
        # comes from our page: the API wants the CSRF header, the pages check their form field.
        if request.method not in SAFE_METHODS and request.url.path.startswith("/api/"):
            check_csrf(request, request.headers.get("x-csrf-token"))
        request.state.actor = actor  # for the error page, should the route fail
        return actor
    return PUBLIC_ACTOR


def check_csrf(request: Request, submitted: str | None) -> None:
    """Double-submit check: the token in the form (or header) equals the CSRF cookie."""
    expected = request.cookies.get(CSRF_COOKIE)
    if not expected or not submitted or not hmac.compare_digest(expected, submitted):
        raise Forbidden(
            "表单已失效或来源不明（CSRF 校验失败），请刷新页面后重试",
            "the form is stale or not from this site (CSRF check failed); reload and retry",
        )


def csrf_token(request: Request) -> str:
    """The CSRF token for a page's forms (the cookie's, or a new one set by the page)."""
    return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)


CurrentActor = Annotated[Actor, Depends(get_actor)]


def client_address(request: Request) -> str:
    """The address the request came from: the socket's peer, unless that peer is a trusted
    proxy (``LUODI_TRUSTED_PROXIES``); then the right-most address in ``X-Forwarded-For``
    that is not itself a trusted proxy (what our own proxies saw; anything left of it was
    written by the client and proves nothing). ``X-Forwarded-For`` from anyone else is
    ignored: otherwise every request could claim a fresh address and slip the throttle."""
    peer = request.client.host if request.client else ""
    trusted = get_settings().trusted_proxies
    if not _is_trusted(_address(peer), trusted):
        return peer
    hops = [
        hop.strip()
        for header in request.headers.getlist("x-forwarded-for")
        for hop in header.split(",")
    ]
    address = peer
    for hop in reversed(hops):
        ip = _address(hop)
        if ip is None:
            # Not an address our proxy would write: stop at the last hop we trust.
            return address
        address = str(ip)
        if not _is_trusted(ip, trusted):
            return address
    return address


def _address(text: str) -> IPv4Address | IPv6Address | None:
    try:
        return ip_address(text)
    except ValueError:
        return None


def _is_trusted(
    ip: IPv4Address | IPv6Address | None, trusted: tuple[IPv4Network | IPv6Network, ...]
) -> bool:
    return ip is not None and any(ip in network for network in trusted)


def get_actor_quietly(request: Request) -> Actor:
    """The actor of a request whose route already failed (for its error page's header): the
    one the request resolved, else the session cookie's, else public; never an error."""
    resolved = getattr(request.state, "actor", None)
    if isinstance(resolved, Actor):
        return resolved
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return PUBLIC_ACTOR
    try:
        with session_scope(request.app.state.engine) as session:
            return auth.actor_for_token(session, cookie, (auth.TokenKind.SESSION,))
    except Exception:
        return PUBLIC_ACTOR
