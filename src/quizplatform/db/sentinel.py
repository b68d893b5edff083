"""redis-py's asyncio Sentinel support, made to follow a failover in every case.

Two gaps in redis-py (8.1); the first failed tests/integration/test_redis_sentinel.py
every time a command was in flight when the master died:

- A command that fails on a dead master reconnects, within its retries, to the same
  address: ``Connection.send_packed_command`` reconnects through ``connect_check_health``,
  which the Sentinel-managed connection does not override, so the sentinels are not asked
  again. The old master's address refuses connections, then (``ops/redis_launcher.py``
  brings it back as a replica) answers ``READONLY``, until the retries give up.
  ``MasterFollowingConnection`` asks the sentinels before every connection it opens.
- ``Sentinel.discover_master`` takes the first sentinel that names a master it does not
  consider down. Right after a failover that can be a sentinel that has not heard of it
  yet (sentinels learn a new configuration from each other's hello messages, every 2 s).
  Sentinel settles such disagreements by the configuration epoch, so
  ``NewestMasterSentinel`` asks all sentinels at once and takes the newest answer.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from redis.asyncio.sentinel import MasterNotFoundError, Sentinel, SentinelManagedConnection
from redis.exceptions import RedisError


class NewestMasterSentinel(Sentinel):
    """``Sentinel`` whose ``discover_master`` trusts the highest config epoch."""

    async def discover_master(self, service_name: str) -> tuple[str, int]:
        """The address of ``service_name``'s master; ``MasterNotFoundError`` (a
        ``ConnectionError``, so retried) when no sentinel names one that is up."""
        answers = await asyncio.gather(
            *(sentinel.sentinel_master(service_name) for sentinel in self.sentinels),
            return_exceptions=True,
        )
        states: list[dict[str, Any]] = []
        problems: list[str] = []
        for sentinel, answer in zip(self.sentinels, answers, strict=True):
            if isinstance(answer, RedisError):
                problems.append(f"{sentinel} - {answer!r}")
            elif isinstance(answer, BaseException):
                raise answer
            elif self.check_master_state(cast(dict[str, Any], answer), service_name):
                states.append(cast(dict[str, Any], answer))
        if not states:
            detail = f": {', '.join(problems)}" if problems else ""
            raise MasterNotFoundError(f"No master found for {service_name!r}{detail}")
        newest = max(states, key=lambda state: int(state.get("config-epoch", 0)))
        return str(newest["ip"]), int(newest["port"])


class MasterFollowingConnection(SentinelManagedConnection):
    """A master connection that asks the sentinels for the address at every (re)connect."""

    async def _connect(self) -> None:
        if self.connection_pool.is_master:
            self.host, self.port = await self.connection_pool.get_master_address()
        await super()._connect()  # type: ignore[no-untyped-call]  # redis-py: untyped
