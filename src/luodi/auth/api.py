"""Sign-in for API clients: OAuth2 password flow, a bearer token with an expiry."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from luodi.auth import service
from luodi.auth.actor import ROLE_LABELS
from luodi.web.dependencies import CurrentActor, DbSession, client_address

router = APIRouter(prefix="/api/v1/auth", tags=["auth 认证"])


@router.post("/token", summary="登录取得令牌 / sign in for a bearer token")
def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    request: Request,
    session: DbSession,
) -> dict[str, Any]:
    issued = service.sign_in(session, form.username, form.password, client_address(request))
    return {
        "access_token": issued.token,
        "token_type": "bearer",
        "expires_in": int((issued.expires_at - datetime.now(UTC)).total_seconds()),
        "expires_at": issued.expires_at.isoformat(),
    }


@router.get("/me", summary="当前身份 / who am I")
def me(actor: CurrentActor) -> dict[str, Any]:
    return {
        "username": actor.username,
        "role": actor.role,
        "role_label": ROLE_LABELS[actor.role],
        "town_code": actor.town_code,
        "department": actor.department,
    }
