"""CachedQuizFastPath: a plain quiz read answered from the cache, every other case
declined to the route."""

from __future__ import annotations

from typing import Any

from tests.unit.api.asgi import RecordingSend, header_map, http_scope
from tests.unit.api.fakes import Accounts

from quizplatform.api.middleware.cached_quiz import CachedQuizFastPath
from quizplatform.api.middleware.caller import CallerResolver
from quizplatform.runtime.request_context import request_context
from quizplatform.services.accounts import Principal
from quizplatform.services.errors import NotFound

QUIZ = "0123456789abcdef0123456789abcdef"
BODY = b'{"id":"quiz"}'


class Quizzes:
    """One visible quiz, owned by ``owner``."""

    def __init__(self, owner: str | None = None) -> None:
        self.owner = owner

    async def visible(self, caller: Principal | None, quiz_id: str) -> tuple[Any, bool]:
        if quiz_id != QUIZ:
            raise NotFound("quiz")
        return "snapshot", caller is not None and caller.user_id == self.owner

    async def student_view_bytes(self, snap: Any, render: Any) -> bytes:
        return BODY


def fast_path(owner: str | None = None) -> CachedQuizFastPath:
    return CachedQuizFastPath(Quizzes(owner), CallerResolver(Accounts(), "qp_session"))


async def serve(fast: CachedQuizFastPath, **scope_args: Any) -> tuple[bool, RecordingSend, Any]:
    scope = http_scope(**scope_args)
    send = RecordingSend()
    return await fast.serve(scope, header_map(scope), send), send, scope


async def test_a_student_read_is_answered_from_the_cache() -> None:
    served, send, scope = await serve(
        fast_path(), path=f"/api/v1/quizzes/{QUIZ}", headers={"authorization": "Bearer good"}
    )
    assert served and send.status == 200 and send.body == BODY
    assert send.messages[0]["headers"] == [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(BODY)).encode()),
    ]
    assert request_context(scope).route == "/api/v1/quizzes/{id}"
    assert request_context(scope).user_id == "u-alice"


async def test_other_cases_go_to_the_route() -> None:
    path = f"/api/v1/quizzes/{QUIZ}"
    declined = [
        await serve(fast_path("u-alice"), path=path, headers={"authorization": "Bearer good"}),
        await serve(fast_path(), path=path, headers={"authorization": "Bearer bad"}),
        await serve(fast_path(), path="/api/v1/quizzes/" + "f" * 32),
        await serve(fast_path(), path=path, query=b"x=1"),
        await serve(fast_path(), method="HEAD", path=path),
        await serve(fast_path(), path="/api/v1/quizzes"),
    ]
    assert [served for served, _, _ in declined] == [False] * len(declined)
    assert all(send.messages == [] for _, send, _ in declined)
