"""OpenTelemetry tracing: off unless an OTLP endpoint (or, in tests, an exporter) is given.

``setup_tracing`` builds a ``TracerProvider`` and instruments the FastAPI app, the SQLAlchemy
engine, redis-py and httpx with it. The provider is deliberately *not* installed as the global
one: each instrumentor is handed it explicitly, so building several apps in one process (tests)
never fights over global state. ``add_trace_context`` is a structlog processor that puts the
current trace and span ids on log lines.

The SDK, the instrumentations and the OTLP exporter cost several hundred milliseconds to import,
so they are imported inside ``setup_tracing`` only; with tracing off the module costs nothing
beyond ``opentelemetry.trace``, which FastAPI imports anyway.

One process has at most one active installation: the redis, httpx and SQLAlchemy
instrumentations patch their libraries process-wide. Calling ``setup_tracing`` again replaces
the previous installation (its app and the library patches are uninstrumented first), and
``shutdown_tracing`` of the active provider removes every patch it made.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from opentelemetry import trace

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from sqlalchemy.engine import Engine
    from structlog.typing import EventDict, WrappedLogger

__all__ = ["EXCLUDED_URLS", "add_trace_context", "setup_tracing", "shutdown_tracing"]

#: Requests that are never traced: probes and scrapes would drown the interesting traces.
EXCLUDED_URLS = "health/live,health/ready,metrics"

_TRACES_PATH = "/v1/traces"


@dataclass(slots=True)
class _Installation:
    provider: TracerProvider
    app: FastAPI


_lock = threading.Lock()
_active: _Installation | None = None
_shut_down: weakref.WeakSet[TracerProvider] = weakref.WeakSet()


def setup_tracing(
    app: FastAPI,
    *,
    service_name: str,
    service_version: str,
    environment: str,
    instance_id: str,
    otlp_endpoint: str | None,
    sync_engine: Engine | None,
    exporter: SpanExporter | None = None,
) -> TracerProvider | None:
    """Trace ``app`` and the libraries it uses; ``None`` (and nothing done) when tracing is off.

    Tracing is on when ``otlp_endpoint`` or ``exporter`` is given. ``exporter`` wins and is fed
    span by span (``SimpleSpanProcessor``, for tests with the SDK's in-memory exporter);
    otherwise spans are batched to an OTLP/HTTP exporter. An endpoint without a path (such as
    ``http://collector:4318``) gets the standard ``/v1/traces`` appended.

    Call it once the app's routes and middleware are in place and before it serves; keep the
    returned provider for ``shutdown_tracing``.
    """
    if exporter is None and not otlp_endpoint:
        return None

    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    global _active
    resource = Resource.create(
        {
            "service.name": service_name,
            "service.version": service_version,
            "deployment.environment": environment,
            "deployment.environment.name": environment,
            "service.instance.id": instance_id,
        }
    )
    provider = TracerProvider(resource=resource)
    processor: SpanProcessor
    if exporter is not None:
        processor = SimpleSpanProcessor(exporter)
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        assert otlp_endpoint is not None
        processor = BatchSpanProcessor(OTLPSpanExporter(endpoint=traces_url(otlp_endpoint)))
    provider.add_span_processor(processor)

    with _lock:
        if _active is not None:
            _uninstrument(_active)
            _active = None
        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=provider,
            excluded_urls=EXCLUDED_URLS,
            exclude_spans=["receive", "send"],
        )
        _instrument_libraries(provider, sync_engine)
        _active = _Installation(provider=provider, app=app)
    return provider


def shutdown_tracing(provider: TracerProvider | None, *, timeout_millis: int = 5000) -> None:
    """Flush pending spans and shut ``provider`` down; ``None`` (tracing off) is a no-op.

    If ``provider`` is the active installation, its app and library patches are removed too.
    Calling it twice is harmless.
    """
    global _active
    if provider is None:
        return
    with _lock:
        if _active is not None and _active.provider is provider:
            _uninstrument(_active)
            _active = None
        if provider in _shut_down:
            return
        _shut_down.add(provider)
    provider.force_flush(timeout_millis)
    provider.shutdown()


def add_trace_context(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: ``trace_id`` (32 hex) and ``span_id`` (16 hex) of the current span.

    Adds nothing outside a valid span, which is always the case with tracing off.
    """
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict["trace_id"] = format(context.trace_id, "032x")
        event_dict["span_id"] = format(context.span_id, "016x")
    return event_dict


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL: ``endpoint`` as is if it has a path, else ``.../v1/traces``."""
    parts = urlsplit(endpoint.strip())
    if parts.path in ("", "/"):
        parts = parts._replace(path=_TRACES_PATH)
    return urlunsplit(parts)


def _instrument_libraries(provider: TracerProvider, sync_engine: Engine | None) -> None:
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    RedisInstrumentor().instrument(tracer_provider=provider)
    HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    if sync_engine is not None:
        # The instrumentation declares "sqlalchemy < 2.1" and would otherwise refuse (logging an
        # error) to instrument 2.1; the engine events it relies on are unchanged in 2.1, and the
        # tests check that query spans are recorded.
        SQLAlchemyInstrumentor().instrument(
            engine=sync_engine, tracer_provider=provider, skip_dep_check=True
        )


def _uninstrument(installation: _Installation) -> None:
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    if getattr(installation.app, "_is_instrumented_by_opentelemetry", False):
        FastAPIInstrumentor.uninstrument_app(installation.app)
    for instrumentor in (RedisInstrumentor(), HTTPXClientInstrumentor(), SQLAlchemyInstrumentor()):
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()
