"""An exam's questions are not readable before it opens (title, description and settings
are); its author sees everything."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from quizplatform.web.paths import SESSION_COOKIE
from tests.api.helpers import Api
from tests.api.samples import all_types_quiz

pytestmark = pytest.mark.parametrize("services", ["sqlite", "postgres"], indirect=True)


def _iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat()


async def test_questions_are_hidden_until_opens_at(api: Api) -> None:
    teacher = await api.user("teacher")
    student = await api.user("student")
    body = all_types_quiz(opens_at=_iso(timedelta(hours=1)))
    body["description"] = "Tomorrow's exam"
    quiz = await api.quiz(teacher, body)
    url = f"/api/v1/quizzes/{quiz['id']}"
    prompts = [q["prompt"] for q in quiz["questions"]]
    for headers in ({}, student.headers, student.headers):  # the second read is cached
        r = await api.http.get(url, headers=headers)
        assert r.status_code == 200
        seen = r.json()
        assert seen["questions"] == [] and seen["questions_hidden"] is True
        assert seen["title"] == "Every type" and seen["description"] == "Tomorrow's exam"
        assert seen["settings"]["opens_at"] is not None
        assert not any(p in r.text for p in prompts)
    started = await api.http.post(f"{url}/attempts", headers=student.headers)
    assert started.status_code in (403, 409), started.text
    assert not any(p in started.text for p in prompts)
    api.http.cookies.set(SESSION_COOKIE, student.headers["Authorization"].removeprefix("Bearer "))
    try:
        page = await api.http.get(f"/quizzes/{quiz['id']}")
        assert page.status_code == 200
        assert not any(p in page.text for p in prompts)
    finally:
        api.http.cookies.clear()

    owner = (await api.http.get(url, headers=teacher.headers)).json()
    assert [q["prompt"] for q in owner["questions"]] == prompts

    r = await api.http.patch(
        url, json={"settings": {"opens_at": _iso(-timedelta(minutes=1))}}, headers=teacher.headers
    )
    assert r.status_code == 200, r.text
    seen = (await api.http.get(url, headers=student.headers)).json()
    assert seen["questions_hidden"] is False
    assert [q["prompt"] for q in seen["questions"]] == prompts
