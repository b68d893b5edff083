"""The composition root: the one place that builds the application from ``Settings``.

It creates the services, builds the API app (``api/app.py``), mounts the web interface
beside it (``web/app.py``) and wraps both in the request middleware, handing the
middleware what it needs of the web (``runtime/web_hooks.py``). The API and the web never
import each other.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from quizplatform.api.app import create_api_app
from quizplatform.api.docs import DOCS_PATH
from quizplatform.api.middleware import RequestContextMiddleware
from quizplatform.api.middleware.attempt_writes import AttemptWriteFastPath
from quizplatform.api.middleware.caller import CallerResolver
from quizplatform.api.retry import FailoverRetryMiddleware
from quizplatform.runtime.lifecycle import tune_gc, watch_gc
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

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await services.start()
        tune_gc()
        watch_gc(services.metrics.gc_pause)
        try:
            yield
        finally:
            await services.close()
            shutdown_tracing(app.state.tracer_provider)

    app = create_api_app(settings, services, lifespan)
    # The web interface answers every path the API does not own (last, so it never
    # shadows an API route).
    web_hooks = web.mount(app, settings, services)
    # The live games' WebSocket signs a host in by this cookie (api/live_socket.py).
    app.state.session_cookie = web_hooks.session_cookie

    # Innermost of our layers: inside the failover retry layer, which runs a request
    # this one passes on after a failover again; outside the routing it skips.
    app.add_middleware(
        AttemptWriteFastPath,
        attempts=services.attempts,
        callers=CallerResolver(services.accounts, session_cookie=None),
    )
    if not services.db.is_sqlite:  # one SQLite file has no failover: nothing to retry
        # Added first, so RequestContextMiddleware (added next) wraps it: a request run
        # again is not rate-limited, logged or measured twice.
        app.add_middleware(
            FailoverRetryMiddleware,
            wait_seconds=settings.db_leader_wait_seconds,
            metrics=services.metrics,
        )
    app.add_middleware(
        RequestContextMiddleware,
        settings=settings,
        services=services,
        docs_path=DOCS_PATH,
        web=web_hooks,
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
