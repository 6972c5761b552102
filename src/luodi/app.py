"""The web application: REST API under /api/v1, server-rendered pages, local static assets."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine, text

from luodi import __version__
from luodi.db import get_engine
from luodi.errors import LuodiError
from luodi.feeds.api import router as feeds_router
from luodi.programs.api import router as programs_router
from luodi.registry.api import router as registry_router
from luodi.scoring.api import router as scoring_router
from luodi.web.pages import router as pages_router


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
        return JSONResponse(status_code=error.status, content=error.as_dict())

    @app.get("/api/v1/health", tags=["health"], summary="健康检查 / health")
    def health() -> dict[str, str]:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return {"status": "ok", "database": engine.dialect.name, "version": __version__}

    app.include_router(registry_router)
    app.include_router(scoring_router)
    app.include_router(feeds_router)
    app.include_router(programs_router)
    app.include_router(pages_router)
    app.mount(
        "/static", StaticFiles(directory=Path(__file__).parent / "web" / "static"), name="static"
    )
    return app
