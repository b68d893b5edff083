"""Attempts end to end through HTTP, on SQLite and on PostgreSQL + Redis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.api.helpers import Api
from tests.api.samples import all_types_quiz, by_type, perfect_responses


async def test_full_attempt_scores_exactly(api: Api) -> None:
    teacher = await api.user("teacher")
    student = await api.user("student")
    quiz = await api.quiz(teacher, all_types_quiz())
    r = await api.http.post(f"/api/v1/quizzes/{quiz['id']}/attempts", headers=student.headers)
    assert r.status_code == 201, r.text
    attempt = r.json()
    assert attempt["status"] == "in_progress"
    assert len(attempt["questions"]) == 8
    for qid, body in perfect_responses(quiz, attempt).items():
        r = await api.http.put(
            f"/api/v1/attempts/{attempt['id']}/responses/{qid}", json=body, headers=student.headers
        )
        assert r.status_code == 200, r.text
    r = await api.http.post(f"/api/v1/attempts/{attempt['id']}/submit", headers=student.headers)
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["status"] == "submitted"
    # Everything right except the essay, which waits for a teacher: 10 of 15.
    assert result["max_score"] == 15
    assert result["score"] == 10
    assert result["percent"] == 66.67
    essay = by_type(quiz)["essay"]["id"]
    essay_result = next(x for x in result["results"] if x["question_id"] == essay)
    assert essay_result == {"question_id": essay, "score": 0.0, "max_score": 5.0, "correct": None}

    again = await api.http.post(f"/api/v1/attempts/{attempt['id']}/submit", headers=student.headers)
    assert again.json()["score"] == result["score"]

    r = await api.http.post(
        f"/api/v1/attempts/{attempt['id']}/grades/{essay}",
        json={"score": 4},
        headers=teacher.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["score"] == 14

    r = await api.http.get(f"/api/v1/quizzes/{quiz['id']}/leaderboard", headers=student.headers)
    assert r.json()["items"][0]["score"] == 14


async def test_partial_and_negative_scores(api: Api) -> None:
    teacher = await api.user("teacher")
    student = await api.user("student")
    quiz = await api.quiz(teacher, all_types_quiz())
    attempt = (
        await api.http.post(f"/api/v1/quizzes/{quiz['id']}/attempts", headers=student.headers)
    ).json()
    key = by_type(quiz)
    mc = key["multiple_choice"]
    answers = {
        # 50 + (-100) floors at 0
        mc["id"]: {"option_ids": [mc["options"][0]["id"], mc["options"][2]["id"]]},
        key["short_answer"]["id"]: {"text": "PANAME"},  # 50 %
        key["numeric"]["id"]: {"value": 3.13},  # 3.14 - 0.01: inclusive edge
    }
    for qid, body in answers.items():
        r = await api.http.put(
            f"/api/v1/attempts/{attempt['id']}/responses/{qid}", json=body, headers=student.headers
        )
        assert r.status_code == 200, r.text
    result = (
        await api.http.post(f"/api/v1/attempts/{attempt['id']}/submit", headers=student.headers)
    ).json()
    scores = {x["question_id"]: x["score"] for x in result["results"]}
    assert scores[mc["id"]] == 0
    assert scores[key["short_answer"]["id"]] == 0.5
    assert scores[key["numeric"]["id"]] == 1
    assert result["score"] == 1.5


async def test_student_view_has_no_keys(api: Api) -> None:
    teacher = await api.user("teacher")
    student = await api.user("student")
    quiz = await api.quiz(teacher, all_types_quiz(show_correct_answers="never"))
    r = await api.http.get(f"/api/v1/quizzes/{quiz['id']}", headers=student.headers)
    text = r.text
    for forbidden in ('"correct"', '"weight"', '"answer"', '"answers"', '"pairs"', 'meow","right'):
        assert forbidden not in text
    attempt = (
        await api.http.post(f"/api/v1/quizzes/{quiz['id']}/attempts", headers=student.headers)
    ).json()
    r = await api.http.post(f"/api/v1/attempts/{attempt['id']}/submit", headers=student.headers)
    assert "review" not in r.json()
    assert '"correct":true,"weight"' not in r.text


async def test_shuffled_order_is_stable_per_attempt(api: Api) -> None:
    teacher = await api.user("teacher")
    student = await api.user("student")
    quiz = await api.quiz(teacher, all_types_quiz(shuffle_questions=True, shuffle_options=True))
    attempt = (
        await api.http.post(f"/api/v1/quizzes/{quiz['id']}/attempts", headers=student.headers)
    ).json()
    for _ in range(3):
        again = (
            await api.http.get(f"/api/v1/attempts/{attempt['id']}", headers=student.headers)
        ).json()
        assert [q["id"] for q in again["questions"]] == [q["id"] for q in attempt["questions"]]
        assert again["questions"] == attempt["questions"]


async def test_max_attempts_and_closed_window(api: Api) -> None:
    teacher = await api.user("teacher")
    student = await api.user("student")
    quiz = await api.quiz(teacher, all_types_quiz(max_attempts=1))
    first = await api.http.post(f"/api/v1/quizzes/{quiz['id']}/attempts", headers=student.headers)
    await api.http.post(f"/api/v1/attempts/{first.json()['id']}/submit", headers=student.headers)
    second = await api.http.post(f"/api/v1/quizzes/{quiz['id']}/attempts", headers=student.headers)
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "conflict"

    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    older = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    closed = await api.quiz(teacher, all_types_quiz(opens_at=older, closes_at=past))
    r = await api.http.post(f"/api/v1/quizzes/{closed['id']}/attempts", headers=student.headers)
    assert r.status_code == 409


async def test_expired_attempt_is_submitted_on_access_and_by_sweep(api: Api) -> None:
    teacher = await api.user("teacher")
    student = await api.user("student")
    quiz = await api.quiz(teacher, all_types_quiz(time_limit_seconds=60))
    key = by_type(quiz)
    attempts = []
    for _ in range(2):
        other = await api.user("student")
        a = (
            await api.http.post(f"/api/v1/quizzes/{quiz['id']}/attempts", headers=other.headers)
        ).json()
        await api.http.put(
            f"/api/v1/attempts/{a['id']}/responses/{key['true_false']['id']}",
            json={"value": True},
            headers=other.headers,
        )
        attempts.append((a, other))
    await _expire(api, [a["id"] for a, _ in attempts])
    # on access
    a, who = attempts[0]
    r = await api.http.put(
        f"/api/v1/attempts/{a['id']}/responses/{key['single_choice']['id']}",
        json={"option_id": key["single_choice"]["options"][0]["id"]},
        headers=who.headers,
    )
    assert r.status_code == 409
    got = (await api.http.get(f"/api/v1/attempts/{a['id']}", headers=who.headers)).json()
    assert got["status"] == "submitted" and got["auto_submitted"] is True and got["score"] == 1
    # by the sweep, run twice as two instances would
    assert await api.services.attempts.sweep_expired() == 1
    assert await api.services.attempts.sweep_expired() == 0
    b, who_b = attempts[1]
    got = (await api.http.get(f"/api/v1/attempts/{b['id']}", headers=who_b.headers)).json()
    assert got["status"] == "submitted" and got["score"] == 1
    del student


async def _expire(api: Api, attempt_ids: list[str]) -> None:
    from sqlalchemy import update

    from quizplatform.db import models

    async with api.services.db.session() as session:
        await session.execute(
            update(models.Attempt)
            .where(models.Attempt.id.in_(attempt_ids))
            .values(deadline_at=datetime.now(UTC) - timedelta(seconds=1))
        )


async def test_leaderboard_best_attempt_ties_by_duration_and_rebuild(api: Api) -> None:
    teacher = await api.user("teacher")
    quiz = await api.quiz(teacher, all_types_quiz())
    tf = by_type(quiz)["true_false"]["id"]
    names = []
    for index, value in enumerate([True, True, False]):
        s = await api.user("student", name=f"Student {index}")
        names.append(f"Student {index}")
        a = (
            await api.http.post(f"/api/v1/quizzes/{quiz['id']}/attempts", headers=s.headers)
        ).json()
        await api.http.put(
            f"/api/v1/attempts/{a['id']}/responses/{tf}", json={"value": value}, headers=s.headers
        )
        await api.http.post(f"/api/v1/attempts/{a['id']}/submit", headers=s.headers)
    board = (await api.http.get(f"/api/v1/quizzes/{quiz['id']}/leaderboard")).json()["items"]
    assert [e["score"] for e in board] == [1, 1, 0]
    assert [e["rank"] for e in board] == [1, 2, 3]
    assert board[2]["display_name"] == "Student 2"
    # lose the shared store: the leaderboard comes back from the database
    await api.services.store.flush()
    again = (await api.http.get(f"/api/v1/quizzes/{quiz['id']}/leaderboard")).json()["items"]
    assert [e["score"] for e in again] == [1, 1, 0]


async def test_editing_answered_question_keeps_past_scores(api: Api) -> None:
    teacher = await api.user("teacher")
    student = await api.user("student")
    quiz = await api.quiz(teacher, all_types_quiz())
    tf = by_type(quiz)["true_false"]
    a = (
        await api.http.post(f"/api/v1/quizzes/{quiz['id']}/attempts", headers=student.headers)
    ).json()
    await api.http.put(
        f"/api/v1/attempts/{a['id']}/responses/{tf['id']}",
        json={"value": True},
        headers=student.headers,
    )
    before = (
        await api.http.post(f"/api/v1/attempts/{a['id']}/submit", headers=student.headers)
    ).json()
    questions = [dict(q) for q in quiz["questions"]]
    for q in questions:
        if q["id"] == tf["id"]:
            q["answer"] = False
    # the owner view has output-only fields; send what the input schema takes
    body = {"questions": [_input(q) for q in questions]}
    r = await api.http.patch(f"/api/v1/quizzes/{quiz['id']}", json=body, headers=teacher.headers)
    assert r.status_code == 200, r.text
    new_ids = [q["id"] for q in r.json()["questions"]]
    assert tf["id"] not in new_ids  # versioned: a new row replaced the answered question
    after = (await api.http.get(f"/api/v1/attempts/{a['id']}", headers=student.headers)).json()
    assert after["score"] == before["score"]
    assert [x["score"] for x in after["results"]] == [x["score"] for x in before["results"]]


def _input(q: dict[str, object]) -> dict[str, object]:
    drop = {"question_count"}
    out = {k: v for k, v in q.items() if k not in drop and v is not None}
    return out


async def test_report_item_analysis(api: Api) -> None:
    teacher = await api.user("teacher")
    quiz = await api.quiz(teacher, all_types_quiz())
    key = by_type(quiz)
    sc = key["single_choice"]
    for index in range(6):
        s = await api.user("student")
        a = (
            await api.http.post(f"/api/v1/quizzes/{quiz['id']}/attempts", headers=s.headers)
        ).json()
        option = sc["options"][0 if index < 4 else 1]["id"]
        await api.http.put(
            f"/api/v1/attempts/{a['id']}/responses/{sc['id']}",
            json={"option_id": option},
            headers=s.headers,
        )
        await api.http.put(
            f"/api/v1/attempts/{a['id']}/responses/{key['true_false']['id']}",
            json={"value": index < 3},
            headers=s.headers,
        )
        await api.http.post(f"/api/v1/attempts/{a['id']}/submit", headers=s.headers)
    report = (
        await api.http.get(f"/api/v1/quizzes/{quiz['id']}/report", headers=teacher.headers)
    ).json()
    assert report["attempts"] == 6
    item = next(q for q in report["questions"] if q["question_id"] == sc["id"])
    assert item["facility"] == round(4 / 6, 4)
    assert item["discrimination"] is not None
    assert {o["id"]: o["chosen"] for o in item["options"]} == {
        sc["options"][0]["id"]: 4,
        sc["options"][1]["id"]: 2,
        sc["options"][2]["id"]: 0,
    }
