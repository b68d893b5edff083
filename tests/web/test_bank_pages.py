"""The question bank page and the editor's random draws, over HTTP on both backends:
filter by category and tag, move and tag in bulk, add a draw (a bank too small for it is
said beside the count, nothing saved), remove it; students may not use them."""

from __future__ import annotations

import re
from typing import Any

from tests.web.helpers import WebClient
from tests.web.teacher_helpers import Teacher, field_error, sign_up_teacher


async def bank_question(teacher: Teacher, prompt: str, **extra: Any) -> str:
    r = await teacher.http.post(
        "/api/v1/bank/questions",
        json={"type": "true_false", "prompt": prompt, "answer": True, **extra},
        headers=teacher.web.bearer(),
    )
    assert r.status_code == 201, r.text
    question_id: str = r.json()["id"]
    return question_id


def listed(page: str) -> list[str]:
    return re.findall(r'name="ids" value="([0-9a-f]+)"', page)


async def test_bank_page_filters_moves_and_tags(web: WebClient) -> None:
    teacher = await sign_up_teacher(web)
    rome = [await bank_question(teacher, f"Rome {i}", category="History/Rome") for i in range(3)]
    other = await bank_question(teacher, "Nile", category="Geography")
    r = await teacher.http.get("/teach/bank")
    assert r.status_code == 200
    assert sorted(listed(r.text)) == sorted([*rome, other])
    assert "History/Rome (3)" in r.text
    r = await teacher.http.get("/teach/bank?category=History")
    assert sorted(listed(r.text)) == sorted(rome)
    # move two to a new category, then tag one
    r = await teacher.post(
        "/teach/bank",
        {"ids": rome[:2], "action": "move", "target_category": "History/Empire"},
        from_page="/teach/bank",
    )
    assert r.status_code == 303 and r.headers["location"].endswith("notice=moved")
    r = await teacher.http.get("/teach/bank?category=History/Empire")
    assert sorted(listed(r.text)) == sorted(rome[:2])
    assert (
        "The selected questions are moved."
        in (await teacher.http.get("/teach/bank?notice=moved")).text
    )
    r = await teacher.post(
        "/teach/bank",
        {"ids": [rome[0]], "action": "tag_add", "tag_name": "Emperors", "category": "History"},
        from_page="/teach/bank",
    )
    assert r.status_code == 303
    assert "category=History" in r.headers["location"]  # the filter is kept
    r = await teacher.http.get("/teach/bank?tag=emperors")
    assert listed(r.text) == [rome[0]]
    r = await teacher.post(
        "/teach/bank",
        {"ids": [rome[0]], "action": "tag_remove", "tag_name": "emperors"},
        from_page="/teach/bank",
    )
    assert r.status_code == 303
    assert listed((await teacher.http.get("/teach/bank?tag=emperors")).text) == []
    # nothing selected, no tag, an id not of the bank: said on the page (422)
    for data, where in (
        ({"action": "move", "target_category": "X"}, None),
        ({"ids": [other], "action": "tag_add"}, "tag_name"),
        ({"ids": ["0" * 32], "action": "move", "target_category": "X"}, None),
        ({"ids": [other], "action": "explode"}, None),
    ):
        r = await teacher.post("/teach/bank", data, from_page="/teach/bank")
        assert r.status_code == 422, (data, r.text)
        assert 'class="error-summary"' in r.text
        if where:
            assert field_error(r.text, where)


async def test_editor_adds_and_removes_a_random_draw(web: WebClient) -> None:
    teacher = await sign_up_teacher(web)
    for i in range(4):
        await bank_question(teacher, f"Capital {i}", category="Geography/Capitals")
    quiz_id = await teacher.new_quiz("Draws")
    editor = await teacher.http.get(f"/teach/quizzes/{quiz_id}")
    assert f"/teach/quizzes/{quiz_id}/draws/new" in editor.text
    new = f"/teach/quizzes/{quiz_id}/draws/new"
    # too many for the bank: the count says so, nothing saved
    r = await teacher.post(
        new, {"count": "5", "category": "Geography", "points": "1"}, from_page=new
    )
    assert r.status_code == 422, r.text
    message = field_error(r.text, "count")
    assert message is not None and "4 question(s)" in message
    assert (await teacher.quiz(quiz_id))["draws"] == []
    for data, where in (
        ({"count": "abc", "category": "Geography"}, "count"),
        ({"count": "2", "category": "Geography", "points": "lots"}, "points"),
        ({"count": "2", "category": "Geography", "points": "-1"}, "points"),
        ({"count": "2"}, "category"),
        ({"count": "2", "category": "x" * 300}, "category"),
    ):
        r = await teacher.post(new, data, from_page=new)
        assert r.status_code == 422, (data, r.text)
        assert field_error(r.text, where), (data, r.text)
    r = await teacher.post(
        new, {"count": "3", "category": "Geography", "points": "1"}, from_page=new
    )
    assert r.status_code == 303, r.text
    assert "notice=draw_added" in r.headers["location"]
    draws = (await teacher.quiz(quiz_id))["draws"]
    assert [(d["count"], d["category"]) for d in draws] == [(3, "Geography")]
    editor = await teacher.http.get(f"/teach/quizzes/{quiz_id}")
    assert "3 random questions worth 1 point each, from Geography" in editor.text
    remove = f"/teach/quizzes/{quiz_id}/draws/{draws[0]['id']}/delete"
    r = await teacher.post(remove, {}, from_page=f"/teach/quizzes/{quiz_id}")
    assert r.status_code == 303
    assert (await teacher.quiz(quiz_id))["draws"] == []
    r = await teacher.post(remove, {}, from_page=f"/teach/quizzes/{quiz_id}")
    assert r.status_code == 404


async def test_students_may_not_use_the_bank_pages(web: WebClient) -> None:
    await web.sign_up("student")
    r = await web.http.get("/teach/bank")
    assert r.status_code == 403


async def test_report_page_lists_drawn_questions_with_their_attempts(web: WebClient) -> None:
    teacher = await sign_up_teacher(web)
    bank = [await bank_question(teacher, f"Capital {i}", category="Geography") for i in range(3)]
    r = await teacher.http.post(
        "/api/v1/quizzes",
        json={"title": "Drawn", "draws": [{"count": 2, "category": "Geography"}]},
        headers=teacher.web.bearer(),
    )
    quiz_id = r.json()["id"]
    r = await teacher.http.post(f"/api/v1/quizzes/{quiz_id}/publish", headers=teacher.web.bearer())
    assert r.status_code == 200, r.text
    seen: dict[str, int] = {}
    for n in range(3):
        email = f"drawn-student-{n}@example.org"
        r = await web.http.post(
            "/api/v1/auth/register",
            json={"email": email, "password": "correct-horse-battery-9", "display_name": "S"},
        )
        assert r.status_code == 201, r.text
        r = await web.http.post(
            "/api/v1/auth/token", json={"email": email, "password": "correct-horse-battery-9"}
        )
        student = {"Authorization": f"Bearer {r.json()['access_token']}"}
        r = await web.http.post(f"/api/v1/quizzes/{quiz_id}/attempts", headers=student)
        for q in r.json()["questions"]:
            seen[q["id"]] = seen.get(q["id"], 0) + 1
        r = await web.http.post(f"/api/v1/attempts/{r.json()['id']}/submit", headers=student)
        assert r.status_code == 200, r.text
    assert set(seen) <= set(bank)
    page = await teacher.http.get(f"/quizzes/{quiz_id}/report")
    assert page.status_code == 200, page.text
    badges = re.findall(r"Drawn: (\d+) attempts?", page.text)
    assert sorted(map(int, badges)) == sorted(seen.values())
    assert sum(map(int, badges)) == 6
