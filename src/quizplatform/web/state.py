"""What every web handler needs, built once per app (never module-level state)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from jinja2 import Environment

from quizplatform.runtime.settings import Settings
from quizplatform.services.container import Services
from quizplatform.web.assets import StaticAssets


@dataclass(frozen=True)
class WebState:
    settings: Settings
    services: Services
    assets: StaticAssets
    templates: Environment

    @property
    def secret(self) -> str:
        return self.settings.secret_key.get_secret_value()


def get_web(request: Request) -> WebState:
    """The web app's state (``request.app`` is the web sub-application)."""
    state: WebState = request.app.state.web
    return state


async def web_state(request: Request) -> WebState:
    """Dependency form of ``get_web`` (async: FastAPI runs plain functions in threads)."""
    return get_web(request)
