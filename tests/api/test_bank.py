"""The question bank and random draws, over HTTP on both backends (issue 16, part 4).

A teacher's bank holds questions by category and tag; a quiz may draw "N random
questions of a category tagged T worth P points" per attempt, from the attempt's secret
generator: different students get different questions, a student sees the same ones on
every reload, every attempt has the same maximum, and the report analyses each drawn
question over the attempts that saw it.
"""

from __future__ import annotations

from typing import Any

from tests.api.helpers import Api, User

V1 = "/api/v1"
KEY_FIELDS = ("correct", "weight", "answer", "answers", "pairs", "case_sensitive")


def tf(prompt: str, answer: bool = True, **extra: Any) -> dict[str, Any]:
    return {"type": "true_false", "prompt": prompt, "answer": answer, **extra}


async def bank_add(api: Api, owner: User, body: dict[str, Any]) -> dict[str, Any]:
    r = await api.http.post(f"{V1}/bank/questions", json=body, headers=owner.headers)
    assert r.status_code == 201, r.text
    result: dict[str, Any] = r.json()
    return result


async def fill_bank(api: Api, owner: User) -> dict[str, str]:
    """Ten capitals tagged year-7 (answer True), two rivers tagged year-7, two capitals
    tagged year-8, two capitals worth 2 points; returns id -> prompt of the draw's pool."""
    pool: dict[str, str] = {}
    for i in range(10):
        q = await bank_add(
            api,
            owner,
            tf(f"Capital {i} is right", category="Geography/Capitals", tags=["Year-7"]),
        )
        pool[q["id"]] = q["prompt"]
    for i in range(2):
        await bank_add(api, owner, tf(f"River {i}", category="Geography/Rivers", tags=["year-7"]))
        await bank_add(
            api, owner, tf(f"Y8 capital {i}", category="Geography/Capitals", tags=["year-8"])
        )
        await bank_add(
            api,
            owner,
            tf(f"Heavy {i}", category="Geography/Capitals", tags=["year-7"], points=2),
        )
    await bank_add(api, owner, tf("Elsewhere", category="Geographyx", tags=["year-7"]))
    return pool


DRAW = {"count": 3, "category": "geography/capitals", "tag": "year-7", "points": 1}


async def drawing_quiz(api: Api, owner: User, **settings: Any) -> dict[str, Any]:
    return await api.quiz(
        owner,
        {
            "title": "Weekly test",
            "questions": [tf("Fixed: water is wet")],
            "draws": [DRAW],
            "settings": settings,
        },
    )


async def start(api: Api, student: User, quiz_id: str) -> dict[str, Any]:
    r = await api.http.post(f"{V1}/quizzes/{quiz_id}/attempts", headers=student.headers)
    assert r.status_code in (200, 201), r.text
    result: dict[str, Any] = r.json()
    return result


def ids_of(attempt: dict[str, Any]) -> list[str]:
    return [q["id"] for q in attempt["questions"]]


async def test_draws_differ_between_students_and_stay_on_reload(api: Api) -> None:
    owner = await api.user("teacher")
    pool = await fill_bank(api, owner)
    quiz = await drawing_quiz(api, owner)
    fixed_id = quiz["questions"][0]["id"]
    assert quiz["question_count"] == 4 and quiz["max_score"] == 4
    r = await api.http.get(f"{V1}/quizzes?q=Weekly")
    assert [item["question_count"] for item in r.json()["items"]] == [4]
    drawn_sets = []
    for _ in range(6):
        student = await api.user()
        attempt = await start(api, student, quiz["id"])
        ids = ids_of(attempt)
        assert len(ids) == 4 and len(set(ids)) == 4 and ids[0] == fixed_id
        drawn = ids[1:]
        # only the pool: the category's subcategory, the tag, the points
        assert set(drawn) <= set(pool), [q["prompt"] for q in attempt["questions"]]
        for q in attempt["questions"]:
            assert not set(KEY_FIELDS) & set(q), q
            assert "category" not in q
        # the same questions on every reload, and on resuming
        r = await api.http.get(f"{V1}/attempts/{attempt['id']}", headers=student.headers)
        assert ids_of(r.json()) == ids
        assert ids_of(await start(api, student, quiz["id"])) == ids
        drawn_sets.append(frozenset(drawn))
    # 6 draws of 3 out of 10: all equal would be a 1 in 120**5 chance
    assert len(set(drawn_sets)) > 1


async def test_drawn_questions_are_graded_and_reported_per_question(api: Api) -> None:
    owner = await api.user("teacher")
    await fill_bank(api, owner)
    quiz = await drawing_quiz(api, owner, shuffle_questions=True)
    fixed_id = quiz["questions"][0]["id"]
    seen: dict[str, list[float]] = {}  # drawn question -> the scores it got
    for n in range(7):
        student = await api.user()
        attempt = await start(api, student, quiz["id"])
        drawn = [qid for qid in ids_of(attempt) if qid != fixed_id]
        # student n answers the first n % 4 drawn questions right, the rest wrong
        answers = {qid: {"value": index < n % 4} for index, qid in enumerate(drawn)} | {
            fixed_id: {"value": True}
        }
        for qid, body in answers.items():
            r = await api.http.put(
                f"{V1}/attempts/{attempt['id']}/responses/{qid}", json=body, headers=student.headers
            )
            assert r.status_code == 200, r.text
        r = await api.http.post(f"{V1}/attempts/{attempt['id']}/submit", headers=student.headers)
        assert r.status_code == 200, r.text
        done = r.json()
        assert done["max_score"] == 4  # every attempt: 1 fixed + 3 drawn worth 1
        assert done["score"] == 1 + min(n % 4, 3)
        for index, qid in enumerate(drawn):
            seen.setdefault(qid, []).append(1.0 if index < n % 4 else 0.0)
    r = await api.http.get(f"{V1}/quizzes/{quiz['id']}/report", headers=owner.headers)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["attempts"] == 7
    by_id = {q["question_id"]: q for q in report["questions"]}
    assert by_id[fixed_id]["attempts"] == 7 and by_id[fixed_id]["draw_id"] is None
    assert by_id[fixed_id]["mean_score"] == 1
    draw_id = quiz["draws"][0]["id"]
    assert set(by_id) == {fixed_id, *seen}
    for qid, scores in seen.items():
        item = by_id[qid]
        assert item["draw_id"] == draw_id
        assert item["attempts"] == len(scores)
        assert item["max_score"] == 1
        assert item["mean_score"] == round(sum(scores) / len(scores), 4)
    assert sum(by_id[q]["attempts"] for q in seen) == 7 * 3


async def test_too_few_questions_is_a_clear_422_not_a_500(api: Api) -> None:
    owner = await api.user("teacher")
    pool = await fill_bank(api, owner)
    r = await api.http.post(
        f"{V1}/quizzes",
        json={"title": "Too many", "draws": [{**DRAW, "count": 11}]},
        headers=owner.headers,
    )
    assert r.status_code == 422, r.text
    detail = r.json()["error"]["details"][0]
    assert detail["loc"] == ["body", "draws", 0, "count"]
    assert "10 question(s)" in detail["message"]
    # two overlapping draws: each alone fits, together they need 13 of 12
    quiz = await api.quiz(owner, {"title": "Two", "questions": [tf("x")]}, publish=False)
    r = await api.http.patch(
        f"{V1}/quizzes/{quiz['id']}",
        json={"draws": [DRAW, {**DRAW, "count": 10, "category": "Geography"}]},
        headers=owner.headers,
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["details"][0]["loc"] == ["body", "draws"]
    # Geography has 12 year-7 questions worth 1 (capitals and rivers): 3 + 9 fit
    r = await api.http.patch(
        f"{V1}/quizzes/{quiz['id']}",
        json={"draws": [DRAW, {**DRAW, "count": 9, "category": "Geography"}]},
        headers=owner.headers,
    )
    assert r.status_code == 200, r.text
    # the bank shrinks: publishing says so (422), as does starting a published quiz (409)
    quiz = await drawing_quiz(api, owner)
    for qid in list(pool)[:8]:
        r = await api.http.delete(f"{V1}/bank/questions/{qid}", headers=owner.headers)
        assert r.status_code == 204, r.text
    student = await api.user()
    r = await api.http.post(f"{V1}/quizzes/{quiz['id']}/attempts", headers=student.headers)
    assert r.status_code == 409, r.text
    assert "bank" in r.json()["error"]["message"]
    r = await api.http.post(f"{V1}/quizzes/{quiz['id']}/unpublish", headers=owner.headers)
    assert r.status_code == 200
    r = await api.http.post(f"{V1}/quizzes/{quiz['id']}/publish", headers=owner.headers)
    assert r.status_code == 422, r.text
    # a draw without category nor tag, and odd counts, are refused by validation
    for draw in ({"count": 1}, {"count": 0, "tag": "x"}, {"count": 2.5, "tag": "x"}):
        r = await api.http.patch(
            f"{V1}/quizzes/{quiz['id']}", json={"draws": [draw]}, headers=owner.headers
        )
        assert r.status_code == 422, (draw, r.text)


async def test_students_never_learn_the_bank(api: Api) -> None:
    owner = await api.user("teacher")
    pool = await fill_bank(api, owner)
    quiz = await drawing_quiz(api, owner, show_correct_answers="never")
    student = await api.user()
    r = await api.http.get(f"{V1}/quizzes/{quiz['id']}", headers=student.headers)
    assert r.json()["draws"] == [{"count": 3, "points": 1.0}]
    text = r.text
    assert "Capital" not in text and "geography" not in text.lower() and "year-7" not in text
    attempt = await start(api, student, quiz["id"])
    drawn = [qid for qid in ids_of(attempt) if qid in pool]
    assert len(drawn) == 3
    for qid in drawn:
        r = await api.http.put(
            f"{V1}/attempts/{attempt['id']}/responses/{qid}",
            json={"value": False},
            headers=student.headers,
        )
        assert r.status_code == 200
    r = await api.http.post(f"{V1}/attempts/{attempt['id']}/submit", headers=student.headers)
    body = r.json()
    assert body.get("review") is None
    undrawn = set(pool) - set(drawn)
    assert not any(qid in r.text for qid in undrawn)
    # the bank routes: students have none; a teacher sees only their own
    r = await api.http.get(f"{V1}/bank/questions", headers=student.headers)
    assert r.status_code == 403
    other = await api.user("teacher")
    r = await api.http.get(f"{V1}/bank/questions", headers=other.headers)
    assert r.json()["total"] == 0
    some = next(iter(pool))
    r = await api.http.patch(
        f"{V1}/bank/questions/{some}", json=tf("Mine now"), headers=other.headers
    )
    assert r.status_code == 404
    r = await api.http.post(
        f"{V1}/bank/questions/move", json={"ids": [some], "category": "X"}, headers=other.headers
    )
    assert r.status_code == 422
    r = await api.http.get(f"{V1}/bank/questions", headers=owner.headers)
    assert r.json()["total"] == len(pool) + 7
    # the bank is no quiz: not listed, not served, not startable
    r = await api.http.get(f"{V1}/quizzes?mine=true", headers=owner.headers)
    assert [q["id"] for q in r.json()["items"]] == [quiz["id"]]
    from quizplatform.services.draws import bank_quiz_id

    bank = bank_quiz_id(owner.id)
    for method, path in (("GET", ""), ("POST", "/attempts"), ("PATCH", "")):
        r = await api.http.request(
            method, f"{V1}/quizzes/{bank}{path}", json={}, headers=owner.headers
        )
        assert r.status_code == 404, (method, path, r.text)


async def test_editing_a_bank_question_makes_a_version_attempts_keep_theirs(api: Api) -> None:
    owner = await api.user("teacher")
    ids = [
        (await bank_add(api, owner, tf(f"Old {i}", category="Maths", points=2)))["id"]
        for i in range(3)
    ]
    quiz = await api.quiz(
        owner, {"title": "All", "draws": [{"count": 3, "category": "Maths", "points": 2}]}
    )
    student = await api.user()
    attempt = await start(api, student, quiz["id"])
    assert sorted(ids_of(attempt)) == sorted(ids)
    r = await api.http.patch(
        f"{V1}/bank/questions/{ids[0]}", json=tf("New 0", False, points=2), headers=owner.headers
    )
    assert r.status_code == 200, r.text
    new = r.json()
    assert new["id"] != ids[0] and new["category"] == "Maths" and new["answer"] is False
    # the running attempt keeps the old version, and scores against it
    r = await api.http.put(
        f"{V1}/attempts/{attempt['id']}/responses/{ids[0]}",
        json={"value": True},
        headers=student.headers,
    )
    assert r.status_code == 200
    r = await api.http.post(f"{V1}/attempts/{attempt['id']}/submit", headers=student.headers)
    assert r.json()["score"] == 2 and r.json()["max_score"] == 6
    prompts = [q["prompt"] for q in r.json()["questions"]]
    assert "Old 0" in prompts and "New 0" not in prompts
    # a new attempt draws the new version
    later = await start(api, await api.user(), quiz["id"])
    assert new["id"] in ids_of(later) and ids[0] not in ids_of(later)
    r = await api.http.patch(f"{V1}/bank/questions/{ids[0]}", json=tf("x"), headers=owner.headers)
    assert r.status_code == 404  # archived: only the current version is editable


async def test_import_files_questions_into_the_bank_keeping_categories(api: Api) -> None:
    owner = await api.user("teacher")
    gift = (
        "$CATEGORY: $course$/top/Geography/Capitals\n\n"
        "::Paris:: Paris is the capital of France {T}\n\n"
        "::Rome:: Rome is the capital of Italy {T}\n\n"
        "$CATEGORY: $course$/top/Maths\n\n"
        "::Sum:: 2 + 2 = {=4 ~5}\n"
    )
    r = await api.http.post(
        f"{V1}/quizzes/import?format=gift",
        content=gift,
        headers={**owner.headers, "Content-Type": "text/plain"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "draft" and r.json()["question_count"] == 3
    r = await api.http.get(f"{V1}/bank/questions?category=Geography", headers=owner.headers)
    items = r.json()["items"]
    assert sorted(q["title"] for q in items) == ["Paris", "Rome"]
    assert {q["category"] for q in items} == {"Geography/Capitals"}
    r = await api.http.get(f"{V1}/bank/categories", headers=owner.headers)
    assert r.json()["items"] == [
        {"category": "Geography/Capitals", "questions": 2},
        {"category": "Maths", "questions": 1},
    ]
    # the quiz's own questions are not the bank's: editing the quiz leaves the bank alone
    assert r.status_code == 200


async def test_bulk_move_and_tag_and_filters(api: Api) -> None:
    owner = await api.user("teacher")
    ids = [(await bank_add(api, owner, tf(f"Q{i}")))["id"] for i in range(5)]
    r = await api.http.post(
        f"{V1}/bank/questions/move",
        json={"ids": ids[:3], "category": " History / Rome /"},
        headers=owner.headers,
    )
    assert r.status_code == 200 and r.json() == {"moved": 3}
    r = await api.http.post(
        f"{V1}/bank/questions/tag",
        json={"ids": ids[1:4], "add": ["Emperors", "hard"], "remove": []},
        headers=owner.headers,
    )
    assert r.status_code == 200 and r.json() == {"changed": 3}
    r = await api.http.post(
        f"{V1}/bank/questions/tag",
        json={"ids": ids[1:4], "add": ["again"], "remove": ["hard"]},
        headers=owner.headers,
    )
    assert r.status_code == 200

    async def listed(query: str) -> list[str]:
        r = await api.http.get(f"{V1}/bank/questions?{query}", headers=owner.headers)
        assert r.status_code == 200, r.text
        return sorted(q["prompt"] for q in r.json()["items"])

    assert await listed("category=history") == ["Q0", "Q1", "Q2"]
    assert await listed("category=History/Rome") == ["Q0", "Q1", "Q2"]
    assert await listed("category=Hist") == []
    assert await listed("tag=emperors") == ["Q1", "Q2", "Q3"]
    assert await listed("tag=hard") == []
    assert await listed("category=History&tag=again") == ["Q1", "Q2"]
    assert await listed("q=q4") == ["Q4"]
    assert await listed("q=%25") == []  # LIKE wildcards are literal
    assert await listed("q=_") == []
    assert await listed("per_page=2&page=3") == ["Q4"]  # categorised first, then by position
    r = await api.http.get(f"{V1}/bank/questions?per_page=2&page=1", headers=owner.headers)
    assert r.json()["total"] == 5 and len(r.json()["items"]) == 2
    # uncategorise with null; unknown ids and odd bodies are 422, never 500
    r = await api.http.post(
        f"{V1}/bank/questions/move", json={"ids": [ids[0]], "category": None}, headers=owner.headers
    )
    assert r.status_code == 200
    for body in (
        {"ids": [], "category": "X"},
        {"ids": ["nope"], "category": "X"},
        {"ids": [ids[0]] * 501, "category": "X"},
        {"ids": [ids[0]], "category": "x" * 300},
        {"ids": [ids[0]]},
        {"ids": "abc", "category": "X"},
    ):
        r = await api.http.post(f"{V1}/bank/questions/move", json=body, headers=owner.headers)
        assert r.status_code == 422, (body, r.text)
    r = await api.http.post(
        f"{V1}/bank/questions/tag", json={"ids": ["nope"], "add": ["x"]}, headers=owner.headers
    )
    assert r.status_code == 422


async def test_drawn_essays_wait_for_grading_and_are_graded_like_fixed_ones(api: Api) -> None:
    from quizplatform.services.accounts import Principal, Role

    owner = await api.user("teacher")
    for i in range(3):
        await bank_add(
            api, owner, {"type": "essay", "prompt": f"Essay {i}", "points": 5, "category": "E"}
        )
    quiz = await api.quiz(
        owner, {"title": "Essays", "draws": [{"count": 2, "category": "E", "points": 5}]}
    )
    student = await api.user()
    attempt = await start(api, student, quiz["id"])
    drawn = ids_of(attempt)
    assert len(drawn) == 2
    for qid in drawn:
        r = await api.http.put(
            f"{V1}/attempts/{attempt['id']}/responses/{qid}",
            json={"text": "My essay."},
            headers=student.headers,
        )
        assert r.status_code == 200, r.text
    r = await api.http.post(f"{V1}/attempts/{attempt['id']}/submit", headers=student.headers)
    assert r.json()["max_score"] == 10 and r.json()["score"] == 0
    teacher = Principal(user_id=owner.id, role=Role.TEACHER, display_name="T")
    waiting = await api.services.attempts.awaiting_grades(teacher, quiz["id"])
    assert [(w.attempt_id, w.ungraded) for w in waiting] == [(attempt["id"], 2)]
    r = await api.http.post(
        f"{V1}/attempts/{attempt['id']}/grades/{drawn[0]}", json={"score": 4}, headers=owner.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["score"] == 4 and r.json()["max_score"] == 10
    r = await api.http.post(
        f"{V1}/attempts/{attempt['id']}/grades/{drawn[1]}", json={"score": 6}, headers=owner.headers
    )
    assert r.status_code == 422  # above the question's 5 points
    waiting = await api.services.attempts.awaiting_grades(teacher, quiz["id"])
    assert [(w.attempt_id, w.ungraded) for w in waiting] == [(attempt["id"], 1)]


async def test_a_bank_made_by_two_first_uses_at_once_is_one_bank(api: Api) -> None:
    import asyncio

    owner = await api.user("teacher")
    results = await asyncio.gather(
        *(
            api.http.post(f"{V1}/bank/questions", json=tf(f"Q{i}"), headers=owner.headers)
            for i in range(4)
        )
    )
    assert [r.status_code for r in results] == [201] * 4, [r.text for r in results]
    r = await api.http.get(f"{V1}/bank/questions", headers=owner.headers)
    assert r.json()["total"] == 4
    from sqlalchemy import func, select

    from quizplatform.db import models

    async with api.services.db.session() as session:
        banks = await session.scalar(
            select(func.count()).where(
                models.Quiz.owner_id == owner.id, models.Quiz.status == "bank"
            )
        )
    assert banks == 1


async def test_regrading_moves_drawn_questions_to_the_fixed_bank_version(api: Api) -> None:
    owner = await api.user("teacher")
    wrong = [
        (await bank_add(api, owner, tf(f"Right {i}", False, category="K")))["id"] for i in range(3)
    ]
    quiz = await api.quiz(owner, {"title": "Keys", "draws": [{"count": 3, "category": "K"}]})
    draw_id = quiz["draws"][0]["id"]
    attempts = []
    for _ in range(2):
        student = await api.user()
        attempt = await start(api, student, quiz["id"])
        answers = {qid: {"value": True} for qid in ids_of(attempt)}
        attempts.append(await api.submitted_attempt(student, quiz["id"], answers))
    # the teacher fixes one key in the bank: a new version; the attempts keep the old one
    r = await api.http.patch(
        f"{V1}/bank/questions/{wrong[0]}", json=tf("Right 0", True), headers=owner.headers
    )
    fixed = r.json()["id"]
    r = await api.http.post(
        f"{V1}/quizzes/{quiz['id']}/regrade", json={"dry_run": False}, headers=owner.headers
    )
    assert r.status_code == 200, r.text
    for attempt_id in attempts:
        r = await api.http.get(f"{V1}/attempts/{attempt_id}", headers=owner.headers)
        body = r.json()
        assert fixed in ids_of(body) and wrong[0] not in ids_of(body)
        assert body["score"] == 1 and body["max_score"] == 3
    r = await api.http.get(f"{V1}/quizzes/{quiz['id']}/report", headers=owner.headers)
    by_id = {q["question_id"]: q for q in r.json()["questions"]}
    assert by_id[fixed]["draw_id"] == draw_id and by_id[fixed]["attempts"] == 2
    assert by_id[fixed]["mean_score"] == 1
    assert wrong[0] not in by_id


async def test_a_drawn_question_whose_points_changed_keeps_its_version_on_regrade(
    api: Api,
) -> None:
    # A draw promises every attempt the same maximum: regrading must not move one
    # attempt's drawn question to a version worth more than the others'.
    owner = await api.user("teacher")
    ids = [(await bank_add(api, owner, tf(f"Q {i}", False, category="W")))["id"] for i in range(2)]
    quiz = await api.quiz(owner, {"title": "Weights", "draws": [{"count": 2, "category": "W"}]})
    student = await api.user()
    attempt = await start(api, student, quiz["id"])
    answers = {qid: {"value": True} for qid in ids_of(attempt)}
    attempt_id = await api.submitted_attempt(student, quiz["id"], answers)
    # fixed key AND worth 3 points now: the attempt keeps the 1-point version
    r = await api.http.patch(
        f"{V1}/bank/questions/{ids[0]}", json=tf("Q 0", True, points=3), headers=owner.headers
    )
    heavier = r.json()["id"]
    # fixed key, same points: this one moves
    r = await api.http.patch(
        f"{V1}/bank/questions/{ids[1]}", json=tf("Q 1", True), headers=owner.headers
    )
    fixed = r.json()["id"]
    r = await api.http.post(
        f"{V1}/quizzes/{quiz['id']}/regrade", json={"dry_run": False}, headers=owner.headers
    )
    assert r.status_code == 200, r.text
    kept = {q["question_id"]: q for q in r.json()["questions"]}
    assert kept[heavier]["kept_on_old_version"] == 1
    body = (await api.http.get(f"{V1}/attempts/{attempt_id}", headers=owner.headers)).json()
    assert ids[0] in ids_of(body) and heavier not in ids_of(body)
    assert fixed in ids_of(body)
    assert body["max_score"] == 2 and body["score"] == 1
