"""Sign-in for API clients: OAuth2 password flow, a bearer token with an expiry; sign-out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request

from luodi.auth import service
from luodi.auth.actor import ROLE_LABELS
from luodi.errors import Unauthorized
from luodi.web.dependencies import (
    SESSION_COOKIE,
    CurrentActor,
    DbSession,
    bearer_token,
    client_address,
)

router = APIRouter(prefix="/api/v1/auth", tags=["auth 认证"])


@router.post("/token", summary="登录取得令牌 / sign in for a bearer token")
async def token(
    request: Request,
    username: Annotated[str, Form(max_length=service.MAX_USERNAME)],
    # The length of a password is checked by the service (422 before any hashing), which
    # never echoes the value; the form's own check would quote it back.
    password: Annotated[str, Form()],
    grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
) -> dict[str, Any]:
    # Async so that waiting for the Argon2 pool holds no thread; the service opens its own
    # short transactions (no request session: none would be used).
    issued = await service.sign_in_async(
        request.app.state.engine, username, password, client_address(request)
    )
    return {
        "access_token": issued.token,
        "token_type": "bearer",
        "expires_in": int((issued.expires_at - datetime.now(UTC)).total_seconds()),
        "expires_at": issued.expires_at.isoformat(),
    }


@router.post("/logout", summary="退出登录，令牌即时失效 / sign out: the token stops working")
def logout(request: Request, actor: CurrentActor, session: DbSession) -> dict[str, bool]:
    # ``actor`` proves the credentials are valid (and, for a cookie, the CSRF header).
    credential = bearer_token(request) or request.cookies.get(SESSION_COOKIE)
    if credential is None:
        raise Unauthorized("请先登录", "sign in first")
    service.revoke_token(session, credential)
    return {"signed_out": True}


@router.get("/me", summary="当前身份 / who am I")
def me(actor: CurrentActor) -> dict[str, Any]:
    return {
        "username": actor.username,
        "role": actor.role,
        "role_label": ROLE_LABELS[actor.role],
        "town_code": actor.town_code,
        "department": actor.department,
    }
