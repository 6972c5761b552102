"""The web application: REST API under /api/v1, server-rendered pages, local static assets."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, text
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from luodi import __version__
from luodi.analysis.api import router as analysis_router
from luodi.audit.api import router as audit_router
from luodi.auth.api import router as auth_router
from luodi.db import DatabaseBusy, ready_engine
from luodi.errors import (
    Conflict,
    FieldProblem,
    Invalid,
    LuodiError,
    NotFound,
    TooManyRequests,
    validation_reason,
)
from luodi.feeds.api import router as feeds_router
from luodi.forecast.api import router as forecast_router
from luodi.jobs.api import router as jobs_router
from luodi.notices.api import router as notices_router
from luodi.programs.api import router as programs_router
from luodi.ratings.api import router as ratings_router
from luodi.registry.api import router as registry_router
from luodi.scoring.api import router as scoring_router
from luodi.settings import get_settings
from luodi.web.assets import HashedStaticFiles
from luodi.web.console import router as console_router
from luodi.web.guard import BodyTooLarge, Refused, RequestGuard, too_large
from luodi.web.i18n import LanguageMiddleware
from luodi.web.pages import router as pages_router
from luodi.web.portal import router as portal_router
from luodi.web.problems import is_page, page_for_error

logger = logging.getLogger("luodi.web")


def _json(status: int, content: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(status_code=status, content=content, headers=headers)


def create_app(engine: Engine | None = None, *, worker: bool = False) -> FastAPI:
    """The app on ``engine`` (default: the configured database). ``worker``: run queued jobs
    in this process while the app runs (``luodi serve``; tests that need jobs to run)."""
    engine = engine or ready_engine()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        from luodi.jobs.worker import Worker

        jobs_worker = Worker(engine) if worker else None
        if jobs_worker is not None:
            jobs_worker.start()
        try:
            yield
        finally:
            if jobs_worker is not None:
                jobs_worker.stop()

    app = FastAPI(
        title="落地 luodi",
        version=__version__,
        description="新市民服务平台 API / new-citizen service platform",
        # Swagger UI and ReDoc load their assets from a CDN; government networks are closed.
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.engine = engine

    @app.exception_handler(LuodiError)
    def luodi_error(request: Request, error: LuodiError) -> Response:
        if is_page(request):
            return page_for_error(request, error)
        headers = {}
        if error.status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        if isinstance(error, TooManyRequests):
            headers["Retry-After"] = str(error.retry_after)
        return _json(error.status, error.as_dict(), headers)

    @app.exception_handler(RequestValidationError)
    def invalid_request(request: Request, error: RequestValidationError) -> Response:
        problems = error.errors()
        if any(problem["loc"] and problem["loc"][0] == "path" for problem in problems):
            # An id that cannot name an object (text, negative, beyond 32 bits) names none.
            missing = NotFound("没有这个对象", "no such object")
            if is_page(request):
                return page_for_error(request, missing)
            return _json(404, missing.as_dict())
        details = [
            FieldProblem(
                ".".join(str(part) for part in problem["loc"][1:]) or str(problem["loc"][0]),
                problem.get("input"),  # cut to an excerpt when the answer is written
                *validation_reason(problem),
            )
            for problem in problems[:20]
        ]
        zh, en = (details[0].describe("zh"), details[0].describe("en")) if details else ("", "")
        refused = Invalid(f"请求内容无效：{zh}", f"the request is invalid: {en}", details)
        if is_page(request):
            return page_for_error(request, refused)
        return _json(422, refused.as_dict())

    @app.exception_handler(StarletteHTTPException)
    def http_error(request: Request, error: StarletteHTTPException) -> Response:
        if error.status_code == 404 and is_page(request):
            return page_for_error(request, NotFound("没有这个页面", "no such page"))
        if isinstance(error, BodyTooLarge):
            _, kind, zh, en = too_large(error.limit)
            return _json(413, {"error": kind, "message_zh": zh, "message_en": en, "details": []})
        if isinstance(error, Refused):
            reason = error.detail
            return _json(
                422,
                Invalid(
                    f"请求内容无效：{reason['zh']}", f"invalid request: {reason['en']}"
                ).as_dict(),
            )
        words = {404: ("没有这个页面", "not found"), 405: ("不支持该方法", "method not allowed")}
        zh, en = words.get(error.status_code, ("请求无法处理", str(error.detail)))
        content = {"error": "HTTPError", "message_zh": zh, "message_en": en, "details": []}
        return _json(error.status_code, content, dict(error.headers or {}))

    @app.exception_handler(OperationalError)
    def database_busy(_request: Request, error: OperationalError) -> Response:
        # SQLite past its busy timeout ("database is locked"), or PostgreSQL unreachable:
        # the request may succeed later; nothing was written (the unit of work rolled back).
        # The same words and delay as the command line's (db.DatabaseBusy).
        logger.warning("database unavailable: %s", type(error.orig).__name__)
        busy = DatabaseBusy()
        return _json(503, busy.as_dict(), {"Retry-After": str(busy.retry_after)})

    @app.exception_handler(DataError)
    def out_of_range(_request: Request, error: DataError) -> Response:
        # A value the database cannot store (a number past its column, a malformed date):
        # every surface validates first; this is the net under them, never a 500.
        logger.warning("value refused by the database: %s", type(error.orig).__name__)
        refused = Invalid("数据超出范围或格式无效", "a value is out of range or malformed")
        return _json(422, refused.as_dict())

    @app.exception_handler(IntegrityError)
    def conflict(_request: Request, error: IntegrityError) -> Response:
        logger.warning("constraint refused a write: %s", type(error.orig).__name__)
        clash = Conflict("与已有数据冲突（可能是重复提交）", "conflicts with existing data")
        return _json(409, clash.as_dict())

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
    app.include_router(ratings_router)
    app.include_router(forecast_router)
    app.include_router(analysis_router)
    app.include_router(audit_router)
    app.include_router(jobs_router)
    app.include_router(pages_router)
    app.include_router(portal_router)
    app.include_router(console_router)
    app.mount("/static", HashedStaticFiles(), name="static")
    app.add_middleware(RequestGuard, engine=engine, hsts=get_settings().secure_cookies)
    app.add_middleware(LanguageMiddleware)
    return app
