"""CallerResolver: the credential by path, the principal resolved once per request."""

from __future__ import annotations

from tests.unit.api.asgi import header_map, http_scope
from tests.unit.api.fakes import ALICE, Accounts

from quizplatform.api.middleware.caller import CallerResolver
from quizplatform.runtime.request_context import request_context

COOKIE = {"cookie": "a=b; qp_session=good"}


def test_the_api_takes_the_header_and_pages_take_the_cookie() -> None:
    callers = CallerResolver(Accounts(), "qp_session")
    both = {**COOKIE, "authorization": "Bearer other"}
    api = http_scope(path="/api/v1/me", headers=both)
    assert callers.credential(api, header_map(api)) == b"Bearer other"
    page = http_scope(path="/dashboard", headers=both)
    assert callers.credential(page, header_map(page)) == b"Bearer good"
    no_web = CallerResolver(Accounts(), None)
    assert no_web.credential(page, header_map(page)) is None


async def test_the_principal_is_resolved_once_and_kept_in_the_state() -> None:
    accounts = Accounts()
    callers = CallerResolver(accounts, "qp_session")
    scope = http_scope(path="/dashboard", headers=COOKIE)
    assert await callers.user_id(scope, header_map(scope)) == ALICE.user_id
    assert await callers.principal(scope, b"Bearer good") is ALICE
    assert accounts.lookups == 1
    assert request_context(scope).principal is ALICE


async def test_an_unknown_token_is_its_own_rate_key() -> None:
    callers = CallerResolver(Accounts(), "qp_session")
    scope = http_scope(path="/api/v1/me", headers={"authorization": "Bearer guess"})
    key = await callers.rate_key(scope, header_map(scope))
    assert key is not None and key.startswith("token:") and len(key) == 22
    assert await callers.user_id(scope, header_map(scope)) is None
    anonymous = http_scope(path="/api/v1/me")
    assert await callers.rate_key(anonymous, {}) is None
    assert await callers.principal(http_scope(), b"Basic good") is None


async def test_a_forgotten_principal_is_resolved_again() -> None:
    accounts = Accounts()
    callers = CallerResolver(accounts, "qp_session")
    scope = http_scope(path="/api/v1/me")
    await callers.principal(scope, b"Bearer good")
    request_context(scope).forget_principal()
    assert await callers.principal(scope, b"Bearer good") is ALICE
    assert accounts.lookups == 2
