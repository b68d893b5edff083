"""The application factory: one FastAPI app per instance, built from one ``Settings``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI, Response
from fastapi.middleware.cors import CORSMiddleware

from quizplatform.api import diagnostics, health
from quizplatform.api.errors import install_error_handlers
from quizplatform.api.middleware import RequestContextMiddleware
from quizplatform.api.responses import json_response
from quizplatform.api.retry import FailoverRetryMiddleware
from quizplatform.api.v1 import API_PREFIX, accounts, ai, attempts, quizzes
from quizplatform.runtime.lifecycle import tune_gc
from quizplatform.runtime.logging import configure_logging
from quizplatform.runtime.settings import Settings
from quizplatform.runtime.tracing import add_trace_context, setup_tracing, shutdown_tracing
from quizplatform.services.container import Services
from quizplatform.web import app as web

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter


def create_app(
    settings: Settings, services: Services | None = None, span_exporter: SpanExporter | None = None
) -> FastAPI:
    """Build the app. ``services`` and ``span_exporter`` may be given by tests."""
    settings.ensure_startable()
    configure_logging(settings, extra=[add_trace_context])
    services = services or Services.create(settings)
    metrics = services.metrics

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await services.start()
        tune_gc()
        try:
            yield
        finally:
            await services.close()
            shutdown_tracing(app.state.tracer_provider)

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
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.draining = False
    install_error_handlers(app)

    for module in (accounts, quizzes, attempts, ai):
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

    # The web interface answers every path the API does not own (last, so it never
    # shadows an API route).
    web_app = web.mount(app, settings, services)

    if not services.db.is_sqlite:  # one SQLite file has no failover: nothing to retry
        # Added first, so RequestContextMiddleware (added next) wraps it: a request run
        # again is not rate-limited, logged or measured twice.
        app.add_middleware(
            FailoverRetryMiddleware,
            wait_seconds=settings.db_leader_wait_seconds,
            metrics=metrics,
        )
    app.add_middleware(
        RequestContextMiddleware,
        settings=settings,
        services=services,
        docs_path=f"{API_PREFIX}/docs",
        error_page=web.error_page_renderer(web_app),
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After", "X-Quiz-Read-Only"],
            max_age=600,
        )
    app.state.tracer_provider = setup_tracing(
        app,
        service_name="quizplatform",
        service_version=settings.version,
        environment=settings.env,
        instance_id=settings.instance_id,
        otlp_endpoint=settings.otel_endpoint,
        sync_engine=services.db.sync_engine,
        exporter=span_exporter,
    )
    return app
