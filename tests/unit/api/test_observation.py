"""RequestMetrics: metrics by route template, the access log line (not for quiet routes)."""

from __future__ import annotations

from typing import Any

from tests.unit.api.asgi import http_scope
from tests.unit.api.fakes import AccessLogLines

from quizplatform.api.middleware.observation import RequestMetrics, route_template
from quizplatform.runtime.logging import AccessLog
from quizplatform.runtime.metrics import Metrics
from quizplatform.runtime.request_context import request_context


def observer() -> tuple[RequestMetrics, Metrics, AccessLogLines]:
    metrics, lines = Metrics("test", "abc", "test"), AccessLogLines()
    access_log: Any = lines
    recorder: AccessLog = access_log
    return RequestMetrics(metrics, recorder), metrics, lines


def test_route_templates_never_the_raw_path() -> None:
    fast = http_scope(path="/api/v1/quizzes/abc")
    request_context(fast).route = "/api/v1/quizzes/{id}"
    assert route_template(fast) == "/api/v1/quizzes/{id}"
    routed = http_scope(path="/api/v1/quizzes/abc")
    routed["route"] = type("Route", (), {"path": "/api/v1/quizzes/{quiz_id}"})()
    assert route_template(routed) == "/api/v1/quizzes/{quiz_id}"
    plain = http_scope(path="/api/docs")
    plain["endpoint"] = object()
    assert route_template(plain) == "/api/docs"
    assert route_template(http_scope(path="/nowhere/abc")) == "<unmatched>"


def test_a_request_is_measured_and_logged() -> None:
    recorder, metrics, lines = observer()
    scope = http_scope("POST", "/api/v1/quizzes")
    context = request_context(scope)
    context.request_id, context.client_ip, context.user_id = "rid", "192.0.2.1", "u-1"
    request_context(scope).route = "/api/v1/quizzes"
    recorder.observe(scope, 201, 0.0123, [10, 20])
    assert lines.lines == [
        (
            "rid",
            {
                "method": "POST",
                "route": "/api/v1/quizzes",
                "status": 201,
                "duration_ms": 12.3,
                "user_id": "u-1",
                "client_ip": "192.0.2.1",
            },
        )
    ]
    assert b'route="/api/v1/quizzes"' in metrics.render()


def test_successful_health_checks_are_measured_not_logged() -> None:
    recorder, _, lines = observer()
    scope = http_scope(path="/health/ready")
    request_context(scope).route = "/health/ready"
    recorder.observe(scope, 200, 0.001, [0, 2])
    assert lines.lines == []
    recorder.observe(scope, 503, 0.001, [0, 2])
    assert len(lines.lines) == 1
