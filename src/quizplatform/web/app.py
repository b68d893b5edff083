"""The web sub-application, mounted by the composition root (``quizplatform/app.py``)
under every path the API does not own (``runtime/routes.is_web_path``).

It has its own error handlers (HTML pages) and no middleware of its own: the outer
app's ``RequestContextMiddleware`` gives web requests their request id, security
headers, body checks, rate limits and read routing, exactly like API requests. HTML and
static files are compressed here, so API responses never pay for it.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Match, Mount
from starlette.types import Scope

from quizplatform.runtime.routes import is_web_path
from quizplatform.runtime.settings import Settings
from quizplatform.runtime.web_hooks import ErrorPageRenderer, WebHooks
from quizplatform.services.container import Services
from quizplatform.web.assets import StaticAssets
from quizplatform.web.errors import error_page_html, install_web_error_handlers
from quizplatform.web.pages import PAGE_MODULES
from quizplatform.web.paths import SESSION_COOKIE
from quizplatform.web.rendering import build_templates
from quizplatform.web.state import WebState


class WebMount(Mount):
    """A mount at the root that matches only web paths, so unknown ``/api/...`` paths and
    wrong methods on API routes keep their JSON 404 and 405."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or not is_web_path(scope["path"]):
            return Match.NONE, {}
        return super().matches(scope)


def create_web_app(settings: Settings, services: Services) -> FastAPI:
    """Build the web interface on ``services`` (the same ones the API uses)."""
    assets = StaticAssets()  # hashed and compressed once, here
    state = WebState(
        settings=settings,
        services=services,
        assets=assets,
        templates=build_templates(assets),
    )
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.state.web = state
    install_web_error_handlers(app)

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str, request: Request) -> Response:
        response = assets.response(name, request.headers.get("accept-encoding", ""))
        if response is None:
            raise HTTPException(404)
        return response

    for module in PAGE_MODULES:
        app.include_router(module.router)
    return app


def error_page_renderer(web_app: FastAPI) -> ErrorPageRenderer:
    """For the request middleware: its refusals of web requests as HTML pages."""
    state: WebState = web_app.state.web

    def render(status: int, message: str, request_id: str) -> bytes:
        read_only = state.services.db.leader.read_only
        html = error_page_html(state.templates, status, message, request_id, read_only=read_only)
        return html.encode()

    return render


def mount(app: FastAPI, settings: Settings, services: Services) -> WebHooks:
    """Add the web interface to ``app`` (after every API route); return what the request
    middleware needs of it."""
    web_app = create_web_app(settings, services)
    app.router.routes.append(WebMount("", app=web_app))
    return WebHooks(session_cookie=SESSION_COOKIE, error_page=error_page_renderer(web_app))
