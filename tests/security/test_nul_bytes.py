"""A NUL character (PostgreSQL text cannot hold one) anywhere a user types is refused or
dropped, never a server error."""

from __future__ import annotations

import pytest

from tests.api.helpers import PASSWORD, Api
from tests.api.samples import all_types_quiz

pytestmark = pytest.mark.parametrize("services", ["sqlite", "postgres"], indirect=True)


async def test_nul_in_bodies_and_query_strings_is_never_a_server_error(api: Api) -> None:
    teacher = await api.user("teacher")
    body = all_types_quiz()
    body["title"] = "Nul\x00title"
    body["tags"] = ["a\x00b"]
    body["questions"][0]["prompt"] = "2+2\x00?"
    responses = [
        await api.http.post("/api/v1/quizzes", json=body, headers=teacher.headers),
        await api.http.post(
            "/api/v1/auth/register",
            json={"email": "nul@example.org", "password": PASSWORD, "display_name": "A\x00B"},
        ),
        await api.http.post(
            "/api/v1/auth/token", json={"email": "nul\x00@example.org", "password": PASSWORD}
        ),
        await api.http.get("/api/v1/quizzes", params={"q": "a\x00b", "tag": "\x00"}),
        await api.http.get("/quizzes", params={"q": "\x00"}),
    ]
    statuses = [r.status_code for r in responses]
    assert all(s < 500 for s in statuses), statuses
