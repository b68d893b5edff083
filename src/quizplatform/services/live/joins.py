"""Join limits of live games: per client address and per game, per minute, exact across
instances (the shared store's sliding windows), so bots cannot flood a lobby and PINs
cannot be guessed at speed. A shared address (a school's NAT, ``shared_addresses``) gets
``shared_address_factor`` times the per-address limit."""

from __future__ import annotations

import time

from quizplatform.db.shared_store import KeyValueStore
from quizplatform.runtime.addresses import in_networks
from quizplatform.runtime.settings import Settings
from quizplatform.services.errors import RateLimited

JOIN_WINDOW_SECONDS = 60.0


class JoinLimits:
    """Counts joins; raises ``RateLimited`` (with Retry-After) over a limit. Off when
    the site's ``rate_limit_enabled`` is."""

    def __init__(self, settings: Settings, kv: KeyValueStore) -> None:
        self.settings = settings
        self.kv = kv

    async def by_address(self, ip: str) -> None:
        """Count a join (or a PIN tried) from ``ip``."""
        limit = self.settings.live_join_per_ip_per_minute
        if in_networks(ip, tuple(self.settings.shared_addresses)):
            limit *= self.settings.shared_address_factor
        await self._count(f"live-join:ip:{ip}", limit)

    async def by_game(self, game_id: str) -> None:
        """Count a join to ``game_id``."""
        await self._count(f"live-join:game:{game_id}", self.settings.live_join_per_game_per_minute)

    async def _count(self, key: str, limit: int) -> None:
        if not self.settings.rate_limit_enabled:
            return
        now = time.time()
        if await self.kv.window_add(key, now, JOIN_WINDOW_SECONDS) > limit:
            _, oldest = await self.kv.window_count(key, now, JOIN_WINDOW_SECONDS)
            retry = int(oldest + JOIN_WINDOW_SECONDS - now) + 1 if oldest else 1
            raise RateLimited("too many joins; try again later", retry)
