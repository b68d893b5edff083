"""The application factory: one FastAPI app per instance, built from one ``Settings``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Response

from quizplatform.api import diagnostics, health
from quizplatform.api.errors import install_error_handlers
from quizplatform.api.middleware import RequestContextMiddleware
from quizplatform.api.responses import json_response
from quizplatform.api.v1 import API_PREFIX, accounts, attempts, quizzes
from quizplatform.runtime.logging import configure_logging
from quizplatform.runtime.settings import Settings
from quizplatform.services.container import Services


def create_app(settings: Settings, services: Services | None = None) -> FastAPI:
    """Build the app. ``services`` may be given by tests; otherwise they are made here."""
    settings.ensure_startable()
    configure_logging(settings)
    services = services or Services.create(settings)
    metrics = services.metrics

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await services.start()
        try:
            yield
        finally:
            await services.close()

    app = FastAPI(
        title="Quiz Platform",
        version=settings.version,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
        lifespan=lifespan,
        debug=settings.debug and settings.is_development,
    )
    app.state.services = services
    app.state.metrics = metrics
    app.state.draining = False
    install_error_handlers(app)

    for module in (accounts, quizzes, attempts):
        app.include_router(module.router)

    @app.get(f"{API_PREFIX}/version", tags=["operations"], summary="Version of this instance")
    async def version() -> Response:
        return json_response(
            {"version": settings.version, "commit": settings.commit, "environment": settings.env}
        )

    app.include_router(health.router)
    if settings.diagnostic_routes:
        app.include_router(diagnostics.router)

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint() -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    app.add_middleware(
        RequestContextMiddleware,
        settings=settings,
        services=services,
        docs_path=f"{API_PREFIX}/docs",
    )
    return app
