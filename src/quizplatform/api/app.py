"""The API application: its routes, error handlers, version and metrics endpoints. The
composition root (``quizplatform/app.py``) builds it, mounts the web interface beside it
and wraps both in the request middleware."""

from __future__ import annotations

from fastapi import FastAPI, Response
from starlette.types import Lifespan

from quizplatform.api import diagnostics, docs, health
from quizplatform.api.errors import install_error_handlers
from quizplatform.api.openapi import COMMON, error_responses
from quizplatform.api.responses import json_response
from quizplatform.api.v1 import (
    API_PREFIX,
    accounts,
    ai,
    attempts,
    bank,
    imports,
    live,
    mfa,
    quizzes,
    regrade,
)
from quizplatform.runtime.settings import Settings
from quizplatform.services.container import Services


def create_api_app(
    settings: Settings, services: Services, lifespan: Lifespan[FastAPI] | None = None
) -> FastAPI:
    """The FastAPI app with every API route (and its OpenAPI document) on ``services``."""
    metrics = services.metrics
    app = FastAPI(
        title="Quiz Platform",
        version=settings.version,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # api/docs.py serves it without a CDN
        redoc_url=None,
        lifespan=lifespan,
        debug=settings.debug and settings.is_development,
    )
    app.state.services = services
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.draining = False
    install_error_handlers(app)

    for module in (accounts, mfa, imports, quizzes, attempts, regrade, ai, bank, live):
        app.include_router(module.router)

    @app.get(
        f"{API_PREFIX}/version",
        tags=["operations"],
        summary="Version of this instance",
        responses=error_responses(*COMMON),
    )
    async def version() -> Response:
        return json_response(
            {"version": settings.version, "commit": settings.commit, "environment": settings.env}
        )

    app.include_router(docs.router)
    app.include_router(health.router)
    if settings.diagnostic_routes:
        app.include_router(diagnostics.router)

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint() -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    return app
