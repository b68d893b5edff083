"""Error pages: HTML with the request id for web paths, the JSON envelope for the API,
never a traceback."""

from __future__ import annotations

import httpx
import pytest

from quizplatform.app import create_app
from quizplatform.services.container import Services
from tests.web.helpers import WebClient


async def test_404_is_a_page_for_web_paths_and_json_for_the_api(web: WebClient) -> None:
    r = await web.http.get("/no/such/page")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    assert "Page not found" in r.text and r.headers["x-request-id"] in r.text
    api = await web.http.get("/api/v1/no/such/route")
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"
    wrong_method = await web.http.delete("/api/v1/quizzes")
    assert wrong_method.status_code == 405 and "error" in wrong_method.json()


async def test_500_shows_the_request_id_and_no_traceback(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(services.settings, services=services)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        web = WebClient(client, services)
        await web.sign_up()

        async def broken(*args: object, **kwargs: object) -> None:
            raise RuntimeError("SELECT secret FROM users -- /srv/quizplatform/web/pages.py")

        monkeypatch.setattr(services.attempts, "list_mine", broken)
        r = await client.get("/dashboard", headers={"X-Request-ID": "req-500-check"})
    assert r.status_code == 500
    assert r.headers["content-type"].startswith("text/html")
    assert "Something went wrong" in r.text and "req-500-check" in r.text
    for leak in ("Traceback", "SELECT", "/srv/", "RuntimeError"):
        assert leak not in r.text


async def test_rate_limited_web_requests_get_a_429_page(services: Services) -> None:
    limits = {"auth": "2/60", "import": "60/60", "write": "3000/60", "read": "12000/60"}
    settings = services.settings.model_copy(
        update={"rate_limit_enabled": True, "rate_limits_per_ip": limits}
    )
    app = create_app(settings, services=services)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 5000))
    services.rate_limiter.reset()
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        statuses = []
        for _ in range(3):
            page = await client.get("/signin")
            token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
            r = await client.post("/signin", data={"csrf_token": token, "email": "a@b.org"})
            statuses.append(r.status_code)
    services.rate_limiter.reset()
    assert statuses[:2] == [422, 422]
    assert statuses[2] == 429
    assert r.headers["content-type"].startswith("text/html")
    assert "Too many requests" in r.text and int(r.headers["retry-after"]) >= 1
    assert r.headers["x-request-id"] in r.text


async def test_service_errors_become_pages_with_their_message(web: WebClient) -> None:
    await web.sign_up()
    r = await web.http.post("/signout", headers={"X-CSRF-Token": "nope"})
    assert r.status_code == 403 and "did not come from this site" in r.text
