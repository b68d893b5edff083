"""Tracing: off by default, one trace per request across FastAPI, SQLAlchemy, httpx and Redis.

Spans are collected with the SDK's in-memory exporter. The tiny app here queries an async
SQLite engine, calls a plain HTTP server on 127.0.0.1 with httpx and, when Redis answers on
127.0.0.1:6379, sets and reads a ``qptrace:`` key.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import structlog
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from quizplatform.runtime import tracing
from quizplatform.runtime.tracing import (
    add_trace_context,
    setup_tracing,
    shutdown_tracing,
    traces_url,
)

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
KEY_PREFIX = "qptrace:"
_redis_keys: list[str] = []  # the keys this module wrote; the redis fixture deletes them


# --- the local HTTP server the app calls ---------------------------------------------------


class _Upstream(BaseHTTPRequestHandler):
    seen_traceparents: list[str | None]

    def do_GET(self) -> None:
        type(self).seen_traceparents.append(self.headers.get("traceparent"))
        body = b'{"pong": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def upstream() -> Iterator[tuple[str, list[str | None]]]:
    """A plain HTTP server on 127.0.0.1 (random port); yields its URL and the traceparents."""
    seen: list[str | None] = []
    handler = type("Handler", (_Upstream,), {"seen_traceparents": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/ping", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# --- the app under test ---------------------------------------------------------------------


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    eng = create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/t.db")
    try:
        yield eng
    finally:
        await eng.dispose()


@pytest.fixture
async def redis_client() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_connect_timeout=1)
    try:
        await client.ping()
    except (aioredis.ConnectionError, aioredis.TimeoutError, OSError):
        await client.aclose()
        pytest.skip("no Redis on 127.0.0.1:6379")
    try:
        yield client
    finally:
        if _redis_keys:
            await client.delete(*_redis_keys)
            _redis_keys.clear()
        await client.aclose()


def make_app(
    engine: AsyncEngine, upstream_url: str, redis_client: aioredis.Redis | None = None
) -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, Any]:
        async with engine.connect() as conn:
            value = (await conn.execute(text("SELECT :x + 1"), {"x": item_id})).scalar_one()
        async with httpx.AsyncClient() as client:
            upstream = (await client.get(upstream_url)).json()
        return {
            "value": value,
            "upstream": upstream,
            "traced": trace.get_current_span().get_span_context().is_valid,
        }

    @app.get("/cache/{name}")
    async def cache(name: str) -> dict[str, Any]:
        assert redis_client is not None
        key = f"{KEY_PREFIX}{name}"
        _redis_keys.append(key)
        await redis_client.set(key, b"1", ex=60)
        value = await redis_client.get(key)
        assert isinstance(value, bytes)
        return {"value": value.decode()}

    @app.get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics")
    async def metrics() -> dict[str, str]:
        return {"metrics": ""}

    return app


async def call(app: FastAPI, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get(path)
    response.raise_for_status()
    return response


# --- set-up and guaranteed teardown ---------------------------------------------------------

TracingSetup = Callable[..., TracerProvider | None]


def _assert_nothing_instrumented() -> None:
    for instrumentor in (RedisInstrumentor(), HTTPXClientInstrumentor(), SQLAlchemyInstrumentor()):
        assert not instrumentor.is_instrumented_by_opentelemetry, instrumentor


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def trace_app(engine: AsyncEngine) -> Iterator[TracingSetup]:
    """``setup_tracing`` with test defaults; every app and library is uninstrumented after."""
    _assert_nothing_instrumented()
    apps: list[FastAPI] = []
    providers: list[TracerProvider] = []

    def setup(app: FastAPI, **overrides: Any) -> TracerProvider | None:
        kwargs: dict[str, Any] = {
            "service_name": "quizplatform",
            "service_version": "9.9.9",
            "environment": "test",
            "instance_id": "test-1",
            "otlp_endpoint": None,
            "sync_engine": engine.sync_engine,
            **overrides,
        }
        apps.append(app)
        provider = setup_tracing(app, **kwargs)
        if provider is not None:
            providers.append(provider)
        return provider

    try:
        yield setup
    finally:
        for provider in providers:
            shutdown_tracing(provider)
        for app in apps:
            if getattr(app, "_is_instrumented_by_opentelemetry", False):
                FastAPIInstrumentor.uninstrument_app(app)
        for instrumentor in (
            RedisInstrumentor(),
            HTTPXClientInstrumentor(),
            SQLAlchemyInstrumentor(),
        ):
            if instrumentor.is_instrumented_by_opentelemetry:
                instrumentor.uninstrument()
        assert tracing._active is None


def _one(spans: list[ReadableSpan], what: str) -> ReadableSpan:
    assert len(spans) == 1, f"expected one {what} span, got {[s.name for s in spans]}"
    return spans[0]


def _attr(span: ReadableSpan, *names: str) -> Any:
    attributes = span.attributes or {}
    return next((attributes[n] for n in names if n in attributes), None)


def _is_child(child: ReadableSpan, parent: ReadableSpan) -> bool:
    assert child.context is not None and parent.context is not None
    return (
        child.context.trace_id == parent.context.trace_id
        and child.parent is not None
        and child.parent.span_id == parent.context.span_id
    )


# --- tracing off ----------------------------------------------------------------------------


async def test_off_by_default_returns_none_and_traces_nothing(
    trace_app: TracingSetup, engine: AsyncEngine, upstream: tuple[str, list[str | None]]
) -> None:
    url, seen = upstream
    app = make_app(engine, url)

    assert trace_app(app) is None
    assert trace_app(app, otlp_endpoint="") is None

    body = (await call(app, "/items/1")).json()
    assert body == {"value": 2, "upstream": {"pong": True}, "traced": False}
    assert seen == [None]  # no trace context propagated
    assert not getattr(app, "_is_instrumented_by_opentelemetry", False)
    _assert_nothing_instrumented()
    assert tracing._active is None


def test_off_imports_neither_sdk_nor_instrumentations() -> None:
    code = (
        "import sys\n"
        "from fastapi import FastAPI\n"
        "from quizplatform.runtime.tracing import setup_tracing\n"
        "assert setup_tracing(FastAPI(), service_name='s', service_version='v',"
        " environment='e', instance_id='i', otlp_endpoint=None, sync_engine=None) is None\n"
        "heavy = sorted(m for m in sys.modules if m.startswith(("
        "'opentelemetry.sdk', 'opentelemetry.instrumentation', 'opentelemetry.exporter')))\n"
        "print(heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]"


# --- tracing on -----------------------------------------------------------------------------


async def test_request_makes_one_trace_with_db_and_http_client_spans(
    trace_app: TracingSetup,
    engine: AsyncEngine,
    upstream: tuple[str, list[str | None]],
    exporter: InMemorySpanExporter,
) -> None:
    url, seen = upstream
    app = make_app(engine, url)
    provider = trace_app(app, exporter=exporter)
    assert isinstance(provider, TracerProvider)
    assert trace.get_tracer_provider() is not provider  # not installed globally

    body = (await call(app, "/items/41")).json()
    assert body == {"value": 42, "upstream": {"pong": True}, "traced": True}
    spans = list(exporter.get_finished_spans())

    server = _one([s for s in spans if s.kind is SpanKind.SERVER], "server")
    assert _attr(server, "http.route") == "/items/{item_id}"
    assert server.name == "GET /items/{item_id}"
    assert server.context is not None
    trace_id = server.context.trace_id
    assert {s.context.trace_id for s in spans if s.context is not None} == {trace_id}

    resource = server.resource.attributes
    assert resource["service.name"] == "quizplatform"
    assert resource["service.version"] == "9.9.9"
    assert resource["deployment.environment"] == "test"
    assert resource["service.instance.id"] == "test-1"

    db = _one(
        [s for s in spans if "SELECT" in (_attr(s, "db.statement", "db.query.text") or "")], "db"
    )
    assert _attr(db, "db.system", "db.system.name") == "sqlite"
    assert _is_child(db, server)

    client = _one(
        [s for s in spans if s.kind is SpanKind.CLIENT and _attr(s, "http.url", "url.full") == url],
        "httpx client",
    )
    assert _attr(client, "http.status_code", "http.response.status_code") == 200
    assert _is_child(client, server)
    # The upstream saw the client span as its parent.
    assert client.context is not None
    assert len(seen) == 1 and seen[0] is not None
    assert seen[0].split("-")[1:3] == [f"{trace_id:032x}", f"{client.context.span_id:016x}"]


async def test_redis_command_is_a_child_span(
    trace_app: TracingSetup,
    engine: AsyncEngine,
    upstream: tuple[str, list[str | None]],
    exporter: InMemorySpanExporter,
    redis_client: aioredis.Redis,
) -> None:
    app = make_app(engine, upstream[0], redis_client)
    trace_app(app, exporter=exporter)
    name = uuid.uuid4().hex

    assert (await call(app, f"/cache/{name}")).json() == {"value": "1"}
    spans = list(exporter.get_finished_spans())
    server = _one([s for s in spans if s.kind is SpanKind.SERVER], "server")
    assert _attr(server, "http.route") == "/cache/{name}"
    commands = [s for s in spans if _attr(s, "db.system", "db.system.name") == "redis"]
    assert [s.name for s in commands] == ["SET", "GET"]
    assert all(_is_child(s, server) for s in commands)
    # Arguments (keys, values) are not recorded.
    assert name not in (_attr(commands[0], "db.statement", "db.query.text") or "")


async def test_probes_and_metrics_are_not_traced(
    trace_app: TracingSetup,
    engine: AsyncEngine,
    upstream: tuple[str, list[str | None]],
    exporter: InMemorySpanExporter,
) -> None:
    app = make_app(engine, upstream[0])
    trace_app(app, exporter=exporter)

    await call(app, "/health/live")
    await call(app, "/metrics")
    assert exporter.get_finished_spans() == ()


async def test_setup_again_replaces_and_shutdown_uninstruments(
    trace_app: TracingSetup,
    engine: AsyncEngine,
    upstream: tuple[str, list[str | None]],
) -> None:
    first, second = InMemorySpanExporter(), InMemorySpanExporter()
    app1, app2 = make_app(engine, upstream[0]), make_app(engine, upstream[0])
    trace_app(app1, exporter=first)
    provider2 = trace_app(app2, exporter=second)

    assert not getattr(app1, "_is_instrumented_by_opentelemetry", False)
    await call(app2, "/items/1")
    assert first.get_finished_spans() == ()
    assert {s.kind for s in second.get_finished_spans()} >= {SpanKind.SERVER, SpanKind.CLIENT}

    shutdown_tracing(provider2)
    shutdown_tracing(provider2)  # harmless twice
    shutdown_tracing(None)  # tracing off
    assert not getattr(app2, "_is_instrumented_by_opentelemetry", False)
    _assert_nothing_instrumented()
    assert tracing._active is None


def test_otlp_endpoint_batches_to_the_traces_url(trace_app: TracingSetup) -> None:
    provider = trace_app(FastAPI(), otlp_endpoint="http://127.0.0.1:4318", sync_engine=None)
    assert isinstance(provider, TracerProvider)
    processors = provider._active_span_processor._span_processors
    assert [type(p) for p in processors] == [BatchSpanProcessor]
    assert provider.resource.attributes["deployment.environment.name"] == "test"
    assert not SQLAlchemyInstrumentor().is_instrumented_by_opentelemetry
    shutdown_tracing(provider)  # nothing recorded, so nothing is sent


def test_in_memory_exporter_is_fed_span_by_span(
    trace_app: TracingSetup, exporter: InMemorySpanExporter
) -> None:
    provider = trace_app(FastAPI(), exporter=exporter)
    assert provider is not None
    processors = provider._active_span_processor._span_processors
    assert [type(p) for p in processors] == [SimpleSpanProcessor]


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("http://collector:4318", "http://collector:4318/v1/traces"),
        ("http://collector:4318/", "http://collector:4318/v1/traces"),
        (" https://otel.example/v1/traces ", "https://otel.example/v1/traces"),
        ("http://collector:4318/custom/path", "http://collector:4318/custom/path"),
    ],
)
def test_traces_url(endpoint: str, expected: str) -> None:
    assert traces_url(endpoint) == expected


# --- log correlation ------------------------------------------------------------------------


def test_trace_context_processor_adds_ids_of_current_span(exporter: InMemorySpanExporter) -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer(__name__)

    assert add_trace_context(None, "info", {"event": "x"}) == {"event": "x"}

    with tracer.start_as_current_span("work") as span:
        ctx = span.get_span_context()
        event = add_trace_context(None, "info", {"event": "x"})
        assert event == {
            "event": "x",
            "trace_id": f"{ctx.trace_id:032x}",
            "span_id": f"{ctx.span_id:016x}",
        }
        assert len(event["trace_id"]) == 32 and len(event["span_id"]) == 16

        # Through a structlog pipeline, as configure_logging will use it.
        logger = structlog.wrap_logger(
            structlog.testing.CapturingLogger(), processors=[add_trace_context]
        )
        logger.info("hello")
        call = logger._logger.calls[0]
        assert call.kwargs["trace_id"] == f"{ctx.trace_id:032x}"

    assert add_trace_context(None, "info", {"event": "x"}) == {"event": "x"}
    provider.shutdown()


def test_trace_context_processor_without_sdk_span_adds_nothing() -> None:
    assert trace.get_current_span() is trace.INVALID_SPAN
    assert add_trace_context(None, "info", {"event": "x"}) == {"event": "x"}
    # A non-recording span with a valid remote context still correlates.
    remote = trace.NonRecordingSpan(
        trace.SpanContext(trace_id=0xABC, span_id=0xDEF, is_remote=True)
    )
    with trace.use_span(remote):
        assert add_trace_context(None, "info", {}) == {
            "trace_id": f"{0xABC:032x}",
            "span_id": f"{0xDEF:016x}",
        }
