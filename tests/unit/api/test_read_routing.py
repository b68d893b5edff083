"""ReadRouting: the request's route while it runs, the read-your-writes marker after an
unsafe request by a known user."""

from __future__ import annotations

from tests.unit.api.asgi import header_map, http_scope
from tests.unit.api.fakes import Accounts

from quizplatform.api.middleware.caller import CallerResolver
from quizplatform.api.middleware.read_routing import ReadRouting
from quizplatform.db.routing import current_route, marker_key
from quizplatform.db.shared_store import MemoryStore
from quizplatform.runtime.request_context import request_context


def routing(store: MemoryStore) -> ReadRouting:
    return ReadRouting(store, CallerResolver(Accounts(), "qp_session"), 5.0)


async def test_an_unsafe_request_marks_its_user_before_the_response() -> None:
    store = MemoryStore()
    scope = http_scope("POST", "/api/v1/quizzes")
    routed = routing(store).begin(scope, {})
    assert current_route() is not None
    request_context(scope).user_id = "u-1"  # set by the app once it knows the caller
    await routed.before_response()
    assert await store.get(marker_key("u-1")) == b"1"
    await store.delete(marker_key("u-1"))
    await routed.finish()  # marked once only
    assert await store.get(marker_key("u-1")) is None
    assert current_route() is None


async def test_a_request_that_raised_still_marks_its_user() -> None:
    store = MemoryStore()
    scope = http_scope("DELETE", "/api/v1/quizzes/x")
    routed = routing(store).begin(scope, {})
    request_context(scope).user_id = "u-2"
    await routed.finish()
    assert await store.get(marker_key("u-2")) == b"1"


async def test_a_safe_request_leaves_no_marker_and_may_read_a_replica() -> None:
    store = MemoryStore()
    scope = http_scope("GET", "/dashboard", {"cookie": "qp_session=good"})
    routed = routing(store).begin(scope, header_map(scope))
    route = current_route()
    assert route is not None and await route.replica_allowed()
    request_context(scope).user_id = "u-alice"
    await routed.finish()
    assert await store.get(marker_key("u-alice")) is None
