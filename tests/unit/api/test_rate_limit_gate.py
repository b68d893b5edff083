"""RateLimitGate on the in-process store: per address, per user, by route group."""

from __future__ import annotations

from tests.unit.api.asgi import header_map, http_scope
from tests.unit.api.fakes import Accounts

from quizplatform.api.middleware.caller import CallerResolver
from quizplatform.api.middleware.rate_limit import RateLimitGate
from quizplatform.db.shared_store import MemoryStore
from quizplatform.runtime.metrics import Metrics
from quizplatform.services.ratelimit import RateLimiter


def gate(per_ip: dict[str, str], per_user: dict[str, str]) -> tuple[RateLimitGate, Metrics]:
    metrics = Metrics("test", "abc", "test")
    limiter = RateLimiter(MemoryStore())
    callers = CallerResolver(Accounts(), "qp_session")
    return RateLimitGate(limiter, metrics, callers, per_ip, per_user), metrics


async def test_the_address_limit_refuses_with_retry_after() -> None:
    limits, metrics = gate({"auth": "2/60"}, {})
    scope = http_scope("POST", "/api/v1/auth/token")
    assert await limits.check(scope, {}, "198.51.100.1") is None
    assert await limits.check(scope, {}, "198.51.100.1") is None
    refusal = await limits.check(scope, {}, "198.51.100.1")
    assert refusal is not None and refusal.status == 429 and refusal.code == "rate_limited"
    assert refusal.message == "too many requests (2 per 60 s); slow down"
    assert refusal.headers is not None and int(refusal.headers["Retry-After"]) > 0
    assert await limits.check(scope, {}, "198.51.100.2") is None  # another address
    assert metrics.rate_limited.labels("auth", "ip")._value.get() == 1


async def test_the_user_limit_follows_the_session_cookie_across_addresses() -> None:
    limits, metrics = gate({}, {"write": "1/60"})
    scope = http_scope("POST", "/quizzes/new", {"cookie": "qp_session=good"})
    assert await limits.check(scope, header_map(scope), "198.51.100.1") is None
    again = http_scope("POST", "/quizzes/new", {"cookie": "qp_session=good"})
    assert await limits.check(again, header_map(again), "198.51.100.2") is not None
    assert metrics.rate_limited.labels("write", "user")._value.get() == 1


async def test_requests_without_a_group_are_never_limited() -> None:
    limits, _ = gate({"read": "1/60"}, {})
    for _ in range(3):
        assert await limits.check(http_scope("GET", "/static/app.css"), {}, "a") is None
        assert await limits.check(http_scope("GET", "/health/ready"), {}, "a") is None
