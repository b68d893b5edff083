"""Web-layer tests: the whole app (API + pages) through httpx's ASGI transport, on SQLite
and on PostgreSQL + Redis, like tests/api."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from argon2 import PasswordHasher

from quizplatform.services.container import Services
from tests.conftest import shared_app
from tests.web.helpers import WebClient


@pytest.fixture(autouse=True)
def fast_hashing(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap argon2id parameters: these tests are about pages, not hashing."""
    if "services" not in request.fixturenames:
        return
    services: Services = request.getfixturevalue("services")
    cheap = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    monkeypatch.setattr(services.accounts, "hasher", cheap)


@pytest.fixture
async def web(services: Services) -> AsyncIterator[WebClient]:
    transport = httpx.ASGITransport(app=shared_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield WebClient(client, services)
