"""An HTTP client on the app of the parametrised backend."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from quizplatform.services.container import Services
from tests.api.helpers import Api
from tests.conftest import shared_app


@pytest.fixture
async def api(services: Services) -> AsyncIterator[Api]:
    transport = httpx.ASGITransport(app=shared_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Api(client, services)
