"""The web application: REST API under /api/v1, server-rendered pages, local static assets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine, text

from luodi import __version__
from luodi.audit.api import router as audit_router
from luodi.auth.api import router as auth_router
from luodi.db import get_engine
from luodi.errors import LuodiError, TooManyRequests
from luodi.feeds.api import router as feeds_router
from luodi.notices.api import router as notices_router
from luodi.programs.api import router as programs_router
from luodi.registry.api import router as registry_router
from luodi.scoring.api import router as scoring_router
from luodi.web.pages import router as pages_router

MAX_BODY_BYTES = 64 * 1024 * 1024
"""Feed files of a million rows fit; anything larger goes through ``luodi feed import``."""


def create_app(engine: Engine | None = None) -> FastAPI:
    app = FastAPI(
        title="落地 luodi",
        version=__version__,
        description="新市民服务平台 API / new-citizen service platform",
        # Swagger UI and ReDoc load their assets from a CDN; government networks are closed.
        docs_url=None,
        redoc_url=None,
    )
    engine = engine or get_engine()
    app.state.engine = engine

    @app.exception_handler(LuodiError)
    def luodi_error(_request: Request, error: LuodiError) -> JSONResponse:
        headers = {}
        if error.status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        if isinstance(error, TooManyRequests):
            headers["Retry-After"] = str(error.retry_after)
        return JSONResponse(status_code=error.status, content=error.as_dict(), headers=headers)

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Response:
        # Refuse an oversized body before anything reads it (uploads are spooled otherwise).
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_BODY_BYTES:
            return JSONResponse(
                status_code=413,
                content={
                    "error": "PayloadTooLarge",
                    "message_zh": f"请求超过 {MAX_BODY_BYTES // 1024 // 1024} MB",
                    "message_en": f"the request is larger than {MAX_BODY_BYTES // 1024 // 1024} MB",
                    "details": [],
                },
            )
        response: Response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'",
        )
        return response

    @app.get("/api/v1/health", tags=["health"], summary="健康检查 / health")
    def health() -> dict[str, str]:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return {"status": "ok", "database": engine.dialect.name, "version": __version__}

    app.include_router(auth_router)
    app.include_router(registry_router)
    app.include_router(scoring_router)
    app.include_router(feeds_router)
    app.include_router(programs_router)
    app.include_router(notices_router)
    app.include_router(audit_router)
    app.include_router(pages_router)
    app.mount(
        "/static", StaticFiles(directory=Path(__file__).parent / "web" / "static"), name="static"
    )
    return app
