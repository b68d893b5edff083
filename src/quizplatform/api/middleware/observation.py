"""What each request leaves behind: the HTTP metrics (by route template, never the raw
path) and one access log line (not for successful health checks and scrapes)."""

from __future__ import annotations

from starlette.types import Scope

from quizplatform.runtime.logging import AccessLog
from quizplatform.runtime.metrics import Metrics
from quizplatform.runtime.request_context import request_context
from quizplatform.runtime.routes import is_quiet_route


class RequestMetrics:
    """Records a finished request in the metrics and the access log."""

    def __init__(self, metrics: Metrics, access_log: AccessLog) -> None:
        self.metrics = metrics
        self.access_log = access_log

    def observe(self, scope: Scope, status: int, seconds: float, sizes: list[int]) -> None:
        """``sizes``: the request's and the response's body bytes."""
        template = route_template(scope)
        method = scope["method"]
        self.metrics.observe_request(method, template, status, seconds, sizes[0], sizes[1])
        if is_quiet_route(template) and status < 400:
            return
        context = request_context(scope)
        self.access_log.write(
            context.request_id,
            method=method,
            route=template,
            status=status,
            duration_ms=round(seconds * 1000, 2),
            user_id=context.user_id,
            client_ip=context.client_ip or None,
        )


def route_template(scope: Scope) -> str:
    """The matched route's template (``/api/v1/quizzes/{id}``), never the raw path."""
    fast = request_context(scope).route
    if fast is not None:
        return fast
    route = scope.get("route")
    if route is not None:
        return str(route.path)
    if "endpoint" in scope:  # a plain Starlette route (docs, OpenAPI): a fixed path
        return str(scope["path"])
    return "<unmatched>"
