"""Sessions: the cookie holds the API's own revocable token; CSRF on every unsafe web
request; sign-in goes through the API's lockout; read routing sees cookie users."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from starlette.routing import Mount

from quizplatform.api.middleware.caller import CallerResolver
from quizplatform.app import create_app
from quizplatform.db.routing import marker_key
from quizplatform.runtime.routes import route_group
from quizplatform.services.container import Services
from quizplatform.web.app import WebMount
from quizplatform.web.forms import safe_next
from quizplatform.web.paths import PRESESSION_COOKIE, SESSION_COOKIE
from tests.conftest import SESSION_TAG
from tests.web.helpers import PASSWORD, WebClient, csrf_from


def _set_cookies(r: httpx.Response) -> dict[str, str]:
    return {h.split("=", 1)[0]: h for h in r.headers.get_list("set-cookie")}


async def test_sign_up_sets_an_httponly_lax_cookie_holding_an_api_token(web: WebClient) -> None:
    token = await web.csrf("/signup")
    r = await web.http.post(
        "/signup",
        data={
            "csrf_token": token,
            "email": "ada@example.org",
            "password": PASSWORD,
            "display_name": "Ada",
            "role": "student",
        },
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/dashboard?notice=welcome"
    cookie = _set_cookies(r)[SESSION_COOKIE]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http here
    me = await web.http.get("/api/v1/me", headers=web.bearer())
    assert me.status_code == 200
    assert me.json()["email"] == "ada@example.org"
    dashboard = await web.http.get("/dashboard?notice=welcome")
    assert dashboard.status_code == 200
    assert "Hello, Ada" in dashboard.text and "Your account is ready" in dashboard.text


async def test_the_cookie_is_secure_under_https_and_behind_a_trusted_proxy(
    services: Services,
) -> None:
    numbers = itertools.count()

    async def cookie_flags(settings_changes: dict[str, Any], base: str, headers: dict[str, str]):
        settings = services.settings.model_copy(update=settings_changes)
        app = create_app(settings, services=services)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=base) as client:
            page = await client.get("/signup", headers=headers)
            # Sent by hand: httpx (like a browser) keeps Secure cookies off plain http,
            # and behind the proxy this client speaks plain http.
            presession = page.cookies[PRESESSION_COOKIE]
            client.cookies.clear()
            r = await client.post(
                "/signup",
                headers={**headers, "Cookie": f"{PRESESSION_COOKIE}={presession}"},
                data={
                    "csrf_token": csrf_from(page.text),
                    "email": f"secure{next(numbers)}@example.org",
                    "password": PASSWORD,
                    "display_name": "Sec",
                    "role": "student",
                },
            )
            assert r.status_code == 303, r.text
            return _set_cookies(page).get(PRESESSION_COOKIE, ""), _set_cookies(r)[SESSION_COOKIE]

    pre, session = await cookie_flags({}, "https://test", {})
    assert "Secure" in pre and "Secure" in session
    proxy = {"X-Forwarded-Proto": "https"}
    pre, session = await cookie_flags({"trusted_proxies": ["127.0.0.1/32"]}, "http://test", proxy)
    assert "Secure" in session
    # The same header from a client that is not a trusted proxy is not believed.
    pre, session = await cookie_flags({}, "http://test", proxy)
    assert "Secure" not in session


async def test_sign_out_revokes_the_token_for_the_api_too(web: WebClient) -> None:
    await web.sign_up()
    bearer = web.bearer()
    assert (await web.http.get("/api/v1/me", headers=bearer)).status_code == 200
    token = await web.csrf("/dashboard")
    r = await web.http.post("/signout", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == "/?notice=signed_out"
    assert "Max-Age=0" in _set_cookies(r)[SESSION_COOKIE]
    assert (await web.http.get("/api/v1/me", headers=bearer)).status_code == 401
    home = await web.http.get("/?notice=signed_out")
    assert "You have signed out." in home.text
    assert (await web.http.get("/dashboard")).status_code == 303


async def test_an_api_token_is_accepted_by_the_pages_as_the_same_user(web: WebClient) -> None:
    account = await web.sign_up(name="Same Person")
    token = web.session_token
    web.http.cookies.clear()
    r = await web.http.post(
        "/api/v1/auth/token", json={"email": account.email, "password": PASSWORD}
    )
    api_token = r.json()["access_token"]
    assert api_token != token
    web.http.cookies.set(SESSION_COOKIE, api_token)
    assert "Hello, Same Person" in (await web.http.get("/dashboard")).text


async def test_every_unsafe_web_route_refuses_a_missing_or_wrong_csrf_token(
    web: WebClient,
) -> None:
    await web.sign_up()
    app = create_app(web.services.settings, services=web.services)
    mount = next(r for r in app.router.routes if isinstance(r, WebMount))
    assert isinstance(mount, Mount)
    unsafe = [
        (method, route.path)
        for route in _leaf_routes(mount.routes)
        for method in getattr(route, "methods", set()) or set()
        if method not in ("GET", "HEAD")
    ]
    assert ("POST", "/signout") in unsafe and ("POST", "/signin") in unsafe
    for method, template in unsafe:
        path = template.replace("{", "").replace("}", "")  # any value for the parameters
        for data in ({}, {"csrf_token": "forged"}):
            r = await web.http.request(method, path, data=data)
            assert r.status_code == 403, (method, path, data, r.status_code)
            assert r.headers["content-type"].startswith("text/html")
            assert "This form has expired" in r.text
            assert r.headers["x-request-id"] in r.text
    # Still signed in: nothing was done.
    assert (await web.http.get("/dashboard")).status_code == 200


def _leaf_routes(routes: list[Any]) -> list[Any]:
    """Every route, inside included routers too (FastAPI keeps them as wrappers)."""
    found = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        found.extend(_leaf_routes(inner.routes) if inner is not None else [route])
    return found


async def test_a_csrf_token_from_another_session_is_refused(web: WebClient) -> None:
    await web.sign_up()
    mine = await web.csrf("/dashboard")
    other = WebClient(
        httpx.AsyncClient(transport=web.http._transport, base_url="http://test"), web.services
    )
    async with other.http:
        await other.sign_up()
        r = await other.http.post("/signout", data={"csrf_token": mine})
        assert r.status_code == 403
        r = await other.http.post(
            "/signout", headers={"X-CSRF-Token": await other.csrf("/dashboard")}
        )
        assert r.status_code == 303  # htmx sends it as a header


async def test_the_presession_token_protects_the_sign_in_form(web: WebClient) -> None:
    page = await web.http.get("/signin")
    assert PRESESSION_COOKIE in _set_cookies(page)
    web.http.cookies.clear()
    r = await web.http.post(
        "/signin", data={"csrf_token": csrf_from(page.text), "email": "x@example.org"}
    )
    assert r.status_code == 403
    assert "cookie" in r.text


async def test_wrong_credentials_are_explained_inline_and_lock_out_like_the_api(
    web: WebClient,
) -> None:
    account = await web.sign_up()
    web.http.cookies.clear()
    empty = await web.sign_in("", "")
    assert empty.status_code == 422
    assert 'aria-invalid="true"' in empty.text and "Enter your email address." in empty.text
    limit = web.services.settings.login_max_failures
    for _ in range(limit):
        r = await web.sign_in(account.email, "not-the-password")
        assert r.status_code == 401
        assert "The email or password is not right" in r.text
        assert 'role="alert"' in r.text
    locked = await web.sign_in(account.email, PASSWORD)
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.text and int(locked.headers["retry-after"]) > 0
    api = await web.http.post(
        "/api/v1/auth/token", json={"email": account.email, "password": PASSWORD}
    )
    assert api.status_code == 429  # the same lockout, whichever door was used


async def test_sign_in_goes_back_to_the_page_that_asked_for_it(web: WebClient) -> None:
    account = await web.sign_up()
    web.http.cookies.clear()
    r = await web.http.get("/dashboard")
    assert r.status_code == 303 and r.headers["location"] == "/signin?next=/dashboard"
    page = await web.http.get(r.headers["location"])
    assert 'name="next" value="/dashboard"' in page.text
    r = await web.http.post(
        "/signin",
        data={
            "csrf_token": csrf_from(page.text),
            "email": account.email.upper(),
            "password": PASSWORD,
            "next": "/dashboard",
        },
    )
    assert r.status_code == 303 and r.headers["location"] == "/dashboard?notice=signed_in"
    assert (await web.http.get("/")).headers["location"] == "/dashboard"


def test_next_targets_stay_on_this_site() -> None:
    assert safe_next("/quizzes?q=a") == "/quizzes?q=a"
    for bad in ("//evil.example", "https://evil.example/", "/\\evil.example", "", None, "x"):
        assert safe_next(bad) == "/dashboard", bad


async def test_sign_up_shows_each_problem_next_to_its_field(web: WebClient) -> None:
    token = await web.csrf("/signup")
    r = await web.http.post(
        "/signup",
        data={
            "csrf_token": token,
            "email": "not-an-email",
            "password": "short",
            "display_name": "",
            "role": "student",
        },
    )
    assert r.status_code == 422
    assert "Enter the name others will see" in r.text
    r = await web.http.post(
        "/signup",
        data={
            "csrf_token": token,
            "email": "not-an-email",
            "password": "short",
            "display_name": "Bo",
            "role": "student",
        },
    )
    assert r.status_code == 422
    assert 'id="f-password-error"' in r.text and "at least 10 characters" in r.text
    assert 'id="f-email-error"' in r.text
    assert 'href="#f-password"' in r.text  # the summary links to the field
    assert 'value="Bo"' in r.text  # what was typed is kept (not the password)
    assert "short" not in r.text.split("<main", 1)[1].replace("shorter", "")
    r = await web.http.post(
        "/signup",
        data={
            "csrf_token": token,
            "email": "bo@example.org",
            "password": PASSWORD,
            "display_name": "Bo",
            "role": "admin",
        },
    )
    assert r.status_code == 422 and "Choose student or teacher." in r.text


async def test_forms_are_accepted_on_web_paths_only(web: WebClient) -> None:
    r = await web.http.post("/api/v1/auth/token", data={"email": "a@example.org", "password": "x"})
    assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_media_type"
    r = await web.http.post("/signin", json={"email": "a@example.org"})
    assert r.status_code == 415
    assert r.headers["content-type"].startswith("text/html")
    assert "send a form" in r.text


def test_web_requests_have_rate_limit_groups() -> None:
    assert route_group("POST", "/signin") == "auth"
    assert route_group("POST", "/signup") == "auth"
    assert route_group("POST", "/signout") == "write"
    assert route_group("POST", "/quizzes/import") == "import"  # the teacher's upload page
    assert route_group("GET", "/quizzes") == "read"
    assert route_group("GET", "/static/app.0123456789.css") is None
    assert route_group("GET", "/health/ready") is None
    assert route_group("POST", "/api/v1/auth/token") == "auth"


def test_the_middleware_reads_the_session_cookie_on_web_paths_only() -> None:
    cookie = {b"cookie": f"a=b; {SESSION_COOKIE}=tok123".encode()}
    credential = CallerResolver(accounts=None, session_cookie=SESSION_COOKIE).credential  # type: ignore[arg-type]
    assert credential({"path": "/dashboard"}, cookie) == b"Bearer tok123"
    # The API never takes the cookie: it has no CSRF protection of its own.
    assert credential({"path": "/api/v1/me"}, cookie) is None
    assert credential({"path": "/dashboard"}, {}) is None


@asynccontextmanager
async def _instance_with_replica(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    """An instance whose "replica" is its own primary: the read/write split (and so the
    read-your-writes markers) is on."""
    settings = services.settings.model_copy(
        update={"database_replica_urls": [services.settings.database_url]}
    )
    split = Services.create(settings, store_prefix=f"{SESSION_TAG}:")
    await split.start(background=False)
    try:
        app = create_app(settings, services=split)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client
    finally:
        await split.close()


async def test_a_web_write_keeps_that_users_reads_on_the_primary(services: Services) -> None:
    if services.settings.uses_sqlite:
        pytest.skip("the store of a second SQLite instance is its own process memory")
    async with _instance_with_replica(services) as client:
        web = WebClient(client, services)
        await web.sign_up()
        me = await client.get("/api/v1/me", headers=web.bearer())
        user_id = me.json()["id"]
        await services.store.delete(marker_key(user_id))
        token = await web.csrf("/dashboard")
        await client.post("/signout", data={"csrf_token": token})
        assert await services.store.get(marker_key(user_id)) is not None
