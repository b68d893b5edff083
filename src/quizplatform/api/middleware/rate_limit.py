"""The rate limits: per client address and per user, by route group
(``runtime/routes.py``), counted by the services' rate limiter."""

from __future__ import annotations

from typing import Protocol

from starlette.types import Scope

from quizplatform.api.middleware.caller import CallerResolver
from quizplatform.api.middleware.refusal import Refusal
from quizplatform.runtime.addresses import in_networks
from quizplatform.runtime.metrics import Metrics
from quizplatform.runtime.routes import route_group
from quizplatform.services.ratelimit import Limit


class HitCounter(Protocol):
    """The rate limiter: counts a hit on ``key``; the seconds to wait when over."""

    def hit(self, key: str, limit: Limit) -> int | None: ...


class RateLimitGate:
    """Refuses (429) a request over its group's limit for its address or its user.

    A shared address (``Settings.shared_addresses``: a school's NAT address, say) gets its
    group's per-address limit times ``shared_factor``.
    """

    def __init__(
        self,
        limiter: HitCounter,
        metrics: Metrics,
        callers: CallerResolver,
        per_ip: dict[str, str],
        per_user: dict[str, str],
        shared_addresses: tuple[str, ...] = (),
        shared_factor: int = 1,
    ) -> None:
        self.limiter = limiter
        self.metrics = metrics
        self.callers = callers
        self.limits_ip = _limits(per_ip)
        self.limits_shared_ip = {
            group: Limit(limit.requests * shared_factor, limit.window)
            for group, limit in self.limits_ip.items()
        }
        self.limits_user = _limits(per_user)
        self.shared_addresses = shared_addresses

    async def check(
        self, scope: Scope, headers: dict[bytes, bytes], client_ip: str
    ) -> Refusal | None:
        """A 429 refusal when one of the request's limits is exceeded (None: allowed)."""
        group = route_group(scope["method"], scope["path"])
        if group is None:
            return None
        checks: list[tuple[str, str, Limit]] = []
        if group in self.limits_ip:
            shared = in_networks(client_ip, self.shared_addresses)
            limits_ip = self.limits_shared_ip if shared else self.limits_ip
            checks.append(("ip", f"ip:{group}:{client_ip}", limits_ip[group]))
        user = await self.callers.rate_key(scope, headers)
        if user is not None and group in self.limits_user:
            checks.append(("user", f"user:{group}:{user}", self.limits_user[group]))
        for scope_name, key, limit in checks:
            retry_after = self.limiter.hit(key, limit)
            if retry_after is not None:
                self.metrics.rate_limited.labels(group, scope_name).inc()
                message = f"too many requests ({limit.requests} per {limit.window:g} s); slow down"
                return Refusal(429, "rate_limited", message, {"Retry-After": str(retry_after)})
        return None


def _limits(config: dict[str, str]) -> dict[str, Limit]:
    return {group: Limit.parse(text) for group, text in config.items()}
