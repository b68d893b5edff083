"""An HTTP client on the app of the parametrised backend."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from quizplatform.app import create_app
from quizplatform.services.container import Services
from tests.api.helpers import Api


@pytest.fixture
async def api(services: Services) -> AsyncIterator[Api]:
    app = create_app(services.settings, services=services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Api(client, services)
