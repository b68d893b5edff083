"""No N+1: the SQL statements of "get quiz", "start attempt" and "submit" do not grow
with the number of questions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from tests.api.helpers import Api, User


@contextmanager
def counting(api: Api) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    engine = api.services.db.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _quiz(n: int) -> dict[str, Any]:
    kinds = [
        {"type": "single_choice", "options": [{"text": "a", "correct": True}, {"text": "b"}]},
        {"type": "matching", "pairs": [{"left": "x", "right": "1"}, {"left": "y", "right": "2"}]},
        {"type": "short_answer", "answers": [{"text": "z"}], "tags": ["t1", "t2"]},
    ]
    questions = [{"prompt": f"Q{i}", **kinds[i % 3]} for i in range(n)]
    return {"title": f"{n} questions", "tags": ["a", "b"], "questions": questions}


async def _measure(api: Api, teacher: User, student: User, n: int) -> dict[str, int]:
    quiz = await api.quiz(teacher, _quiz(n))
    counts: dict[str, int] = {}

    async def count(name: str, call: Callable[[], Awaitable[Any]]) -> Any:
        api.services.cache.clear()  # measure the database path, not the near cache
        with counting(api) as statements:
            result = await call()
        counts[name] = len(statements)
        return result

    await count(
        "get quiz", lambda: api.http.get(f"/api/v1/quizzes/{quiz['id']}", headers=student.headers)
    )
    r = await count(
        "start attempt",
        lambda: api.http.post(f"/api/v1/quizzes/{quiz['id']}/attempts", headers=student.headers),
    )
    attempt = r.json()
    for q in attempt["questions"]:
        if q["type"] == "single_choice":
            body: dict[str, Any] = {"option_id": q["options"][0]["id"]}
        elif q["type"] == "matching":
            body = {"matches": {q["lefts"][0]["id"]: q["rights"][0]["id"]}}
        else:
            body = {"text": "z"}
        r = await api.http.put(
            f"/api/v1/attempts/{attempt['id']}/responses/{q['id']}",
            json=body,
            headers=student.headers,
        )
        assert r.status_code == 200, r.text
    r = await count(
        "submit",
        lambda: api.http.post(f"/api/v1/attempts/{attempt['id']}/submit", headers=student.headers),
    )
    assert r.json()["status"] == "submitted"
    return counts


async def test_statement_counts_do_not_grow_with_questions(api: Api) -> None:
    teacher = await api.user("teacher")
    small = await _measure(api, teacher, await api.user("student"), 3)
    large = await _measure(api, teacher, await api.user("student"), 30)
    assert small == large, f"3 questions: {small}; 30 questions: {large}"
    assert all(n > 0 for n in small.values())
