"""Accounts over HTTP: register, token (with lockout), logout, /me, the admin's user list."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from pydantic import ValidationError
from sqlalchemy import select

from quizplatform.app import create_app
from quizplatform.db import models
from quizplatform.runtime.settings import Settings
from quizplatform.services.container import Services
from tests.api.helpers import PASSWORD, Api
from tests.conftest import SESSION_TAG

V1 = "/api/v1"
USER_FIELDS = {"id", "email", "display_name", "role"}


def envelope(r: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text}"
    assert r.headers.get("x-request-id")
    error: dict[str, Any] = r.json()["error"]
    assert set(error) == {"code", "message", "request_id", "details"}
    assert error["request_id"] == r.headers["x-request-id"]
    if code is not None:
        assert error["code"] == code, error
    return error


async def register(api: Api, **fields: Any) -> httpx.Response:
    body = {"email": "ada@example.org", "password": PASSWORD, "display_name": "Ada"} | fields
    body = {k: v for k, v in body.items() if v is not None}
    return await api.http.post(f"{V1}/auth/register", json=body)


async def sign_in(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD
) -> httpx.Response:
    return await client.post(f"{V1}/auth/token", json={"email": email, "password": password})


def bearer(r: httpx.Response) -> dict[str, str]:
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@asynccontextmanager
async def client_at(api: Api, ip: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client on the same instance that connects from ``ip``."""
    app = create_app(api.services.settings, services=api.services)
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@asynccontextmanager
async def app_with(api: Api, **changes: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A second instance on the same database and store, with ``changes`` to its settings.

    Settings are frozen and the services read their own copy, so the instance gets its
    own services built from the changed settings."""
    settings: Settings = api.services.settings.model_copy(update=changes)
    with pytest.raises(ValidationError, match="frozen"):
        api.services.settings.allow_teacher_registration = False  # type: ignore[misc]
    services = Services.create(settings, store_prefix=f"{SESSION_TAG}:")
    await services.start(background=False)
    try:
        app = create_app(settings, services=services)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client
    finally:
        await services.close()


@pytest.fixture
def real_hashing() -> None:
    """Asked for by the tests about the stored hash: keep the production parameters."""


@pytest.fixture(autouse=True)
def fast_hashing(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap argon2id parameters, except where the hash itself is under test."""
    if "real_hashing" in request.fixturenames or "api" not in request.fixturenames:
        return
    api: Api = request.getfixturevalue("api")
    cheap = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    monkeypatch.setattr(api.services.accounts, "hasher", cheap)


# -- register ------------------------------------------------------------------------------
async def test_register_returns_the_user(api: Api) -> None:
    r = await register(api, email="Ada.Lovelace@Example.ORG", display_name="  Ada   Lovelace ")
    assert r.status_code == 201, r.text
    user = r.json()
    assert set(user) == USER_FIELDS
    assert user["email"] == "ada.lovelace@example.org"
    assert user["display_name"] == "Ada Lovelace"
    assert user["role"] == "student"  # the default
    assert isinstance(user["id"], str) and user["id"]
    assert PASSWORD not in r.text

    r = await register(api, email="grace@example.org", role="teacher")
    assert r.status_code == 201, r.text
    assert r.json()["role"] == "teacher"


async def test_register_with_a_taken_email_is_409(api: Api) -> None:
    assert (await register(api, email="ada@example.org")).status_code == 201
    for email in ("ada@example.org", "ADA@example.org", "Ada@Example.ORG"):
        r = await register(api, email=email, display_name="Other")
        envelope(r, 409, "conflict")
    assert (await register(api, email="ada2@example.org")).status_code == 201


@pytest.mark.parametrize(
    ("email", "password", "field"),
    [
        ("ada@example.org", "short-1", "password"),  # < 10 characters
        ("ada@example.org", "123456789", "password"),
        ("ada@example.org", "qwertyuiop", "password"),  # a common password
        ("ada@example.org", "Password1234", "password"),  # common, whatever the case
        ("ada@example.org", "0123456789", "password"),
        ("marguerite@example.org", "marguerite-2024!", "password"),  # contains the local part
        ("marguerite@example.org", "xx-MARGUERITE-xx", "password"),
        ("not-an-email", PASSWORD, "email"),
        ("@example.org", PASSWORD, "email"),
        ("ada@", PASSWORD, "email"),
        ("ada example@example.org", PASSWORD, "email"),
        ("ada@@example.org", PASSWORD, "email"),
        ("", PASSWORD, "email"),
    ],
)
async def test_register_refuses_weak_passwords_and_bad_emails(
    api: Api, email: str, password: str, field: str
) -> None:
    r = await register(api, email=email, password=password)
    error = envelope(r, 422, "validation_error")
    assert ["body", field] in [d["loc"] for d in error["details"]], error
    assert all(d["message"] for d in error["details"])
    assert password not in r.text, "the password must not be echoed"
    admin = await api.user("admin")
    users = (await api.http.get(f"{V1}/users", headers=admin.headers)).json()
    assert users["total"] == 1, "nothing was saved"


async def test_register_names_every_problem_at_once(api: Api) -> None:
    r = await register(api, email="nope", password="short")
    error = envelope(r, 422)
    locs = [d["loc"] for d in error["details"]]
    assert ["body", "email"] in locs and ["body", "password"] in locs


@pytest.mark.parametrize(
    "fields",
    [
        {"role": "admin"},
        {"role": "superuser"},
        {"role": None, "display_name": ""},
        {"display_name": "   "},
        {"display_name": "x" * 101},
        {"password": None},
        {"email": None},
        {"is_admin": True},
    ],
)
async def test_register_refuses_other_roles_and_bad_fields(
    api: Api, fields: dict[str, Any]
) -> None:
    r = await register(api, **fields)
    envelope(r, 422, "validation_error")
    r = await sign_in(api.http, "ada@example.org")
    envelope(r, 401)


async def test_teacher_self_registration_can_be_switched_off(api: Api) -> None:
    async with app_with(api, allow_teacher_registration=False) as closed:
        r = await closed.post(
            f"{V1}/auth/register",
            json={
                "email": "t@example.org",
                "password": PASSWORD,
                "display_name": "T",
                "role": "teacher",
            },
        )
        envelope(r, 403, "forbidden")
        r = await closed.post(
            f"{V1}/auth/register",
            json={"email": "s@example.org", "password": PASSWORD, "display_name": "S"},
        )
        assert r.status_code == 201, r.text
        assert r.json()["role"] == "student"
    # nothing was saved for the refused teacher; the default instance still allows it
    envelope(await sign_in(api.http, "t@example.org"), 401)
    r = await register(api, email="t@example.org", role="teacher")
    assert r.status_code == 201, r.text


async def test_password_is_stored_as_an_argon2id_hash(api: Api, real_hashing: None) -> None:
    assert (await register(api, email="ada@example.org")).status_code == 201
    async with api.services.db.session() as session:
        stored = await session.scalar(
            select(models.User.password_hash).where(models.User.email == "ada@example.org")
        )
    assert stored is not None
    assert stored.startswith("$argon2id$"), stored[:20]
    # at least OWASP's minimum for argon2id: 19 MiB of memory, 2 passes
    params = dict(p.split("=") for p in stored.split("$")[3].split(","))
    assert int(params["m"]) >= 19 * 1024 and int(params["t"]) >= 2, params
    assert PASSWORD not in stored
    # each hash has its own salt
    assert (await register(api, email="bob@example.org")).status_code == 201
    async with api.services.db.session() as session:
        other = await session.scalar(
            select(models.User.password_hash).where(models.User.email == "bob@example.org")
        )
    assert other is not None and other != stored


# -- token ---------------------------------------------------------------------------------
async def test_token_shape(api: Api) -> None:
    await register(api)
    r = await sign_in(api.http, "ada@example.org")
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert isinstance(body["access_token"], str) and len(body["access_token"]) >= 32
    assert isinstance(body["expires_in"], int) and body["expires_in"] > 0
    assert r.headers.get("cache-control") == "no-store"
    # the email is matched case-insensitively; every sign-in gets its own token
    again = await sign_in(api.http, "ADA@example.org")
    assert again.status_code == 200, again.text
    assert again.json()["access_token"] != body["access_token"]


async def test_wrong_password_and_unknown_email_are_the_same_401(api: Api) -> None:
    await register(api)
    wrong = envelope(await sign_in(api.http, "ada@example.org", "not-the-password"), 401)
    unknown = envelope(await sign_in(api.http, "nobody@example.org"), 401)
    assert wrong["code"] == unknown["code"] == "not_authenticated"
    assert wrong["message"] == unknown["message"], "must not reveal which emails exist"
    r = await sign_in(api.http, "ada@example.org", PASSWORD.upper())
    envelope(r, 401)


async def test_bad_tokens_are_401(api: Api) -> None:
    for headers in [
        {},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Basic YWRhOnB3"},
        {"Authorization": "bearer"},
    ]:
        r = await api.http.get(f"{V1}/me", headers=headers)
        envelope(r, 401, "not_authenticated")
        assert r.headers.get("www-authenticate", "").lower().startswith("bearer")


async def test_five_failures_lock_the_account_even_for_the_right_password(api: Api) -> None:
    await register(api)
    await register(api, email="bob@example.org")
    for _ in range(5):
        envelope(await sign_in(api.http, "ada@example.org", "wrong-password-1"), 401)
    r = await sign_in(api.http, "ada@example.org")
    envelope(r, 429, "rate_limited")
    retry_after = int(r.headers["retry-after"])
    window = api.services.settings.login_window_seconds
    assert 0 < retry_after <= window
    assert "access_token" not in r.text
    # still locked on the next try, and the wrong password is refused the same way
    envelope(await sign_in(api.http, "ada@example.org"), 429)
    envelope(await sign_in(api.http, "ADA@example.org", "wrong-password-1"), 429)


async def test_account_lockout_holds_across_client_addresses(api: Api) -> None:
    await register(api)
    for n in range(5):
        async with client_at(api, f"10.0.0.{n + 1}") as client:
            envelope(await sign_in(client, "ada@example.org", "wrong-password-1"), 401)
    async with client_at(api, "10.0.1.1") as fresh:
        r = await sign_in(fresh, "ada@example.org")
        envelope(r, 429, "rate_limited")
        assert int(r.headers["retry-after"]) > 0
        # another account from that address is fine
        await register(api, email="bob@example.org")
        assert (await sign_in(fresh, "bob@example.org")).status_code == 200


async def test_lockout_per_client_address_across_accounts(api: Api) -> None:
    emails = [f"user{n}@example.org" for n in range(7)]
    for email in emails:
        assert (await register(api, email=email)).status_code == 201
    async with client_at(api, "192.0.2.10") as attacker, client_at(api, "192.0.2.20") as other:
        for email in [*emails[:3], "ghost1@example.org", "ghost2@example.org"]:
            envelope(await sign_in(attacker, email, "wrong-password-1"), 401)
        r = await sign_in(attacker, emails[5])  # right password, untouched account
        envelope(r, 429, "rate_limited")
        assert int(r.headers["retry-after"]) > 0
        # the accounts themselves are not locked: from elsewhere they sign in
        for email in (emails[0], emails[5], emails[6]):
            assert (await sign_in(other, email)).status_code == 200


async def test_successful_sign_ins_do_not_count_as_failures(api: Api) -> None:
    await register(api)
    for _ in range(8):
        assert (await sign_in(api.http, "ada@example.org")).status_code == 200
    for _ in range(4):
        envelope(await sign_in(api.http, "ada@example.org", "wrong-password-1"), 401)
    assert (await sign_in(api.http, "ada@example.org")).status_code == 200


# -- logout and /me -------------------------------------------------------------------------
async def test_me_and_logout(api: Api) -> None:
    created = (await register(api, display_name="Ada")).json()
    first = bearer(await sign_in(api.http, "ada@example.org"))
    second = bearer(await sign_in(api.http, "ada@example.org"))

    r = await api.http.get(f"{V1}/me", headers=first)
    assert r.status_code == 200, r.text
    assert r.json() == created

    r = await api.http.post(f"{V1}/auth/logout", headers=first)
    assert r.status_code == 204, r.text
    assert r.content == b""
    envelope(await api.http.get(f"{V1}/me", headers=first), 401, "not_authenticated")
    envelope(await api.http.post(f"{V1}/auth/logout", headers=first), 401)
    # only that token was revoked
    r = await api.http.get(f"{V1}/me", headers=second)
    assert r.status_code == 200 and r.json()["id"] == created["id"]


async def test_logout_is_seen_by_another_instance(api: Api) -> None:
    """Tokens live in the shared store: a revoked token fails on every instance."""
    if not api.services.settings.redis_url:
        pytest.skip("without Redis each instance has its own in-process store")
    await register(api)
    token = bearer(await sign_in(api.http, "ada@example.org"))
    async with app_with(api) as second:
        assert (await second.get(f"{V1}/me", headers=token)).status_code == 200
        assert (await api.http.post(f"{V1}/auth/logout", headers=token)).status_code == 204
        # The other instance's token cache hears of it through Redis pub/sub: a few ms,
        # more on a busy machine; bounded here well below the cache's 30 s lifetime.
        deadline = asyncio.get_running_loop().time() + 3
        answer = await second.get(f"{V1}/me", headers=token)
        while answer.status_code == 200 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
            answer = await second.get(f"{V1}/me", headers=token)
        envelope(answer, 401)


async def test_logout_needs_a_token(api: Api) -> None:
    envelope(await api.http.post(f"{V1}/auth/logout"), 401, "not_authenticated")


# -- users ---------------------------------------------------------------------------------
async def test_only_admins_list_users(api: Api) -> None:
    student = await api.user("student")
    teacher = await api.user("teacher")
    admin = await api.user("admin")
    envelope(await api.http.get(f"{V1}/users"), 401, "not_authenticated")
    envelope(await api.http.get(f"{V1}/users", headers=student.headers), 403, "forbidden")
    envelope(await api.http.get(f"{V1}/users", headers=teacher.headers), 403, "forbidden")

    r = await api.http.get(f"{V1}/users", headers=admin.headers)
    assert r.status_code == 200, r.text
    listing = r.json()
    assert set(listing) == {"items", "total", "page", "per_page"}
    assert listing["total"] == 3 and listing["page"] == 1 and listing["per_page"] == 20
    assert {u["id"] for u in listing["items"]} == {student.id, teacher.id, admin.id}
    for item in listing["items"]:
        assert set(item) == USER_FIELDS
    assert {u["role"] for u in listing["items"]} == {"student", "teacher", "admin"}
    assert "argon2" not in r.text


async def test_user_list_pages(api: Api) -> None:
    admin = await api.user("admin")
    for n in range(4):
        assert (await register(api, email=f"u{n}@example.org")).status_code == 201
    pages = []
    for page in (1, 2, 3):
        r = await api.http.get(f"{V1}/users?page={page}&per_page=2", headers=admin.headers)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["total"] == 5 and body["page"] == page and body["per_page"] == 2
        pages.append([u["id"] for u in body["items"]])
    assert [len(p) for p in pages] == [2, 2, 1]
    assert len({i for p in pages for i in p}) == 5, "pages must not overlap"
    r = await api.http.get(f"{V1}/users?page=9&per_page=2", headers=admin.headers)
    assert r.json()["items"] == [] and r.json()["total"] == 5
    del admin
