"""Fixtures of the read-only mode tests: the failover rig (``rig.py``) once per module,
migrated, and in-process instances of the app on it (PostgreSQL through HAProxy, real
Redis)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from quizplatform.app import create_app
from quizplatform.runtime.settings import Settings
from quizplatform.services.container import Services
from tests.api.helpers import Api
from tests.conftest import REDIS_URL, SESSION_TAG, make_settings
from tests.failover.rig import FailoverRig, migrated_rig, missing_parts

_instances = itertools.count()


@pytest.fixture(scope="module")
def rig() -> Iterator[FailoverRig]:
    missing = missing_parts()
    if missing:
        pytest.fail(f"{missing}: run scripts/system-deps.sh as root", pytrace=False)
    with migrated_rig() as started:
        yield started


@dataclass
class Instance:
    """One app instance on the rig: its services, an API helper, its metrics."""

    services: Services
    api: Api

    @property
    def http(self) -> httpx.AsyncClient:
        return self.api.http

    def metric(self, name: str, **labels: str) -> float:
        value = self.services.metrics.registry.get_sample_value(name, labels)
        return value or 0.0


def rig_settings(rig: FailoverRig, tmp: Path, **changes: Any) -> Settings:
    """An instance's settings: writes through HAProxy's write frontend, replicas through
    its read frontend, real Redis under a prefix of its own."""
    values: dict[str, Any] = {
        "database_url": rig.write_url,
        "database_replica_urls": [rig.read_url],
        "redis_url": REDIS_URL,
        "redis_prefix": f"{SESSION_TAG}:fo{next(_instances)}:",
        "read_your_writes_seconds": 1.0,
        "db_pool_size": 5,
        **changes,
    }
    return make_settings("postgres", tmp, **values)


@asynccontextmanager
async def instance(
    rig: FailoverRig, tmp: Path, *, background: bool = False, **changes: Any
) -> AsyncIterator[Instance]:
    """An in-process instance (no lifespan: started and closed here); ``background``
    runs its periodic work and job runner too."""
    settings = rig_settings(rig, tmp, **changes)
    services = Services.create(settings)
    await services.start(background=background)
    try:
        app = create_app(settings, services=services)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", timeout=120
        ) as client:
            yield Instance(services, Api(client, services))
    finally:
        await services.store.flush()
        await services.close()


async def eventually(check: Any, within: float = 30, what: str = "") -> None:
    """Poll ``check()`` (sync or async) until true; fail after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        assert loop.time() < deadline, f"not within {within} s: {what}"
        await asyncio.sleep(0.1)
