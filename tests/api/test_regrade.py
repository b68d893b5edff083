"""Regrading after a teacher fixes a wrong key: the dry run says exactly whose scores
change and by how much and writes nothing; applying rescores, moves the report and the
leaderboard, is audited once, leaves essay grades alone and is a no-op the second time."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from quizplatform.services.attempts import regrade as regrade_module
from tests.api.helpers import Api, User


def _wrong_key_quiz() -> dict[str, Any]:
    return {
        "title": "Arithmetic",
        "questions": [
            {
                "type": "single_choice",
                "prompt": "2+2?",
                # The mistake: "5" is marked correct instead of "4".
                "options": [{"text": "4"}, {"text": "5", "correct": True}, {"text": "3"}],
            },
            {"type": "true_false", "prompt": "1 < 2", "answer": True},
            {"type": "essay", "prompt": "Explain addition", "points": 5},
        ],
    }


async def _setup(api: Api) -> dict[str, Any]:
    """Three students submit against the wrong key; Ann's essay is graded 4 of 5. Then
    the teacher fixes the key ("4" is right). Before the fix: Ann 0+1+4 = 5, Ben 1+0 = 1,
    Cat 0+1 = 1 (of 7). After a regrade: Ann 6 (+1), Ben 0 (-1), Cat 1 (same)."""
    teacher = await api.user("teacher", "Teacher T")
    quiz = await api.quiz(teacher, _wrong_key_quiz())
    sc, tf, essay = quiz["questions"]
    opt = {o["text"]: o["id"] for o in sc["options"]}
    students = {}
    attempts = {}
    for name, choice, value in (("Ann", "4", True), ("Ben", "5", False), ("Cat", "3", True)):
        student = await api.user("student", name)
        answers: dict[str, dict[str, Any]] = {
            sc["id"]: {"option_id": opt[choice]},
            tf["id"]: {"value": value},
        }
        if name != "Cat":
            answers[essay["id"]] = {"text": f"{name} explains"}
        students[name] = student
        attempts[name] = await api.submitted_attempt(student, quiz["id"], answers)
    r = await api.http.post(
        f"/api/v1/attempts/{attempts['Ann']}/grades/{essay['id']}",
        json={"score": 4},
        headers=teacher.headers,
    )
    assert r.status_code == 200 and r.json()["score"] == 5, r.text
    fixed = [dict(q) for q in quiz["questions"]]
    fixed[0] = {
        **fixed[0],
        "options": [
            {**o, "weight": 100.0 if o["text"] == "4" else 0.0, "correct": o["text"] == "4"}
            for o in sc["options"]
        ],
    }
    body = {"questions": [{k: v for k, v in q.items() if v is not None} for q in fixed]}
    r = await api.http.patch(f"/api/v1/quizzes/{quiz['id']}", json=body, headers=teacher.headers)
    assert r.status_code == 200, r.text
    new_sc = r.json()["questions"][0]
    assert new_sc["id"] != sc["id"]  # a new version: past attempts kept the old one
    return {
        "teacher": teacher,
        "quiz": quiz,
        "students": students,
        "attempts": attempts,
        "old_sc": sc["id"],
        "new_sc": new_sc["id"],
        "essay": essay["id"],
    }


async def _regrade(api: Api, quiz_id: str, user: User, dry_run: bool | None) -> Any:
    body = None if dry_run is None else {"dry_run": dry_run}
    return await api.http.post(
        f"/api/v1/quizzes/{quiz_id}/regrade", json=body, headers=user.headers
    )


async def _score(api: Api, attempt_id: str, user: User) -> float:
    r = await api.http.get(f"/api/v1/attempts/{attempt_id}", headers=user.headers)
    assert r.status_code == 200, r.text
    score: float = r.json()["score"]
    return score


async def _board(api: Api, quiz_id: str) -> list[tuple[str, float]]:
    r = await api.http.get(f"/api/v1/quizzes/{quiz_id}/leaderboard")
    assert r.status_code == 200, r.text
    return [(e["display_name"], e["score"]) for e in r.json()["items"]]


async def test_dry_run_shows_whose_scores_change_and_writes_nothing(api: Api) -> None:
    s = await _setup(api)
    quiz_id, teacher = s["quiz"]["id"], s["teacher"]
    board_before = await _board(api, quiz_id)
    assert board_before == [("Ann", 5), ("Ben", 1), ("Cat", 1)] or board_before == [
        ("Ann", 5),
        ("Cat", 1),
        ("Ben", 1),
    ]
    for dry_run in (None, True):  # no body: a dry run too
        r = await _regrade(api, quiz_id, teacher, dry_run)
        assert r.status_code == 200, r.text
        plan = r.json()
        assert plan["dry_run"] is True and plan["applied"] is False
        assert plan["attempts_checked"] == 3
        assert plan["attempts_changed"] == 2 and plan["attempts_moved_only"] == 1
        assert plan["total_delta"] == 0
        rows = [
            (a["student"], a["old"]["score"], a["new"]["score"], a["delta"])
            for a in plan["attempts"]
        ]
        assert rows == [("Ann", 5, 6, 1), ("Ben", 1, 0, -1)]
        ann = plan["attempts"][0]
        assert ann["email"] == s["students"]["Ann"].email
        assert ann["attempt_id"] == s["attempts"]["Ann"]
        assert ann["old"]["percent"] == pytest.approx(71.43)
        assert ann["new"]["percent"] == pytest.approx(85.71)
        assert ann["responses_changed"] == 1 and ann["questions_updated"] == 1
        assert plan["questions"] == [
            {"question_id": s["new_sc"], "responses_changed": 2, "kept_on_old_version": 0}
        ]
    # Nothing was written.
    assert await _score(api, s["attempts"]["Ann"], teacher) == 5
    assert await _score(api, s["attempts"]["Ben"], teacher) == 1
    assert await _board(api, quiz_id) == board_before
    r = await api.http.get(f"/api/v1/quizzes/{quiz_id}/report", headers=teacher.headers)
    assert sorted(r.json()["scores"]) == pytest.approx([14.29, 14.29, 71.43])


async def test_apply_rescores_report_leaderboard_audit_and_is_idempotent(api: Api) -> None:
    s = await _setup(api)
    quiz_id, teacher = s["quiz"]["id"], s["teacher"]
    await _board(api, quiz_id)  # built before the regrade: it must follow it
    r = await _regrade(api, quiz_id, teacher, False)
    assert r.status_code == 200, r.text
    plan = r.json()
    assert plan["dry_run"] is False and plan["applied"] is True
    assert [(a["student"], a["delta"]) for a in plan["attempts"]] == [("Ann", 1), ("Ben", -1)]

    ann = await api.http.get(f"/api/v1/attempts/{s['attempts']['Ann']}", headers=teacher.headers)
    body = ann.json()
    assert body["score"] == 6 and body["max_score"] == 7
    assert body["percent"] == pytest.approx(85.71)
    results = {x["question_id"]: x for x in body["results"]}
    # The attempt now holds the current version, scored against the fixed key.
    assert results[s["new_sc"]]["score"] == 1 and results[s["new_sc"]]["correct"] is True
    assert s["old_sc"] not in results
    # The teacher's essay grade is untouched.
    assert results[s["essay"]]["score"] == 4
    # The student sees the same.
    ann_self = await api.http.get(
        f"/api/v1/attempts/{s['attempts']['Ann']}", headers=s["students"]["Ann"].headers
    )
    assert ann_self.json()["score"] == 6
    assert await _score(api, s["attempts"]["Ben"], teacher) == 0
    assert await _score(api, s["attempts"]["Cat"], teacher) == 1

    assert await _board(api, quiz_id) == [("Ann", 6), ("Cat", 1), ("Ben", 0)]
    r = await api.http.get(f"/api/v1/quizzes/{quiz_id}/report", headers=teacher.headers)
    report = r.json()
    assert sorted(report["scores"]) == pytest.approx([0.0, 14.29, 85.71])
    q1 = next(q for q in report["questions"] if q["question_id"] == s["new_sc"])
    assert q1["mean_score"] == pytest.approx(1 / 3, abs=1e-3)  # Ann's right answer, now counted

    admin = await api.user("admin")
    r = await api.http.get(
        "/api/v1/audit", params={"event": "attempts_regraded"}, headers=admin.headers
    )
    events = [e for e in r.json()["items"] if e["target_id"] == quiz_id]
    assert len(events) == 1
    assert events[0]["actor_id"] == teacher.id and events[0]["target_type"] == "quiz"
    assert events[0]["details"] == {
        "attempts_changed": 2,
        "total_delta": 0,
        "responses_changed": 2,
    }

    # Again: nothing left to change, nothing written, nothing audited.
    for dry_run in (True, False):
        again = (await _regrade(api, quiz_id, teacher, dry_run)).json()
        assert again["attempts"] == [] and again["attempts_changed"] == 0
        assert again["attempts_moved_only"] == 0 and again["applied"] is False
        assert again["questions"] == []
    r = await api.http.get(
        "/api/v1/audit", params={"event": "attempts_regraded"}, headers=admin.headers
    )
    assert len([e for e in r.json()["items"] if e["target_id"] == quiz_id]) == 1
    assert await _score(api, s["attempts"]["Ann"], teacher) == 6


async def test_only_the_owner_or_an_admin_may_regrade(api: Api) -> None:
    s = await _setup(api)
    quiz_id = s["quiz"]["id"]
    other_teacher = await api.user("teacher")
    student = s["students"]["Ann"]
    for user in (student, other_teacher):
        for dry_run in (True, False):
            r = await _regrade(api, quiz_id, user, dry_run)
            assert r.status_code == 403, r.text
    r = await api.http.post(f"/api/v1/quizzes/{quiz_id}/regrade", json={"dry_run": False})
    assert r.status_code == 401
    r = await _regrade(api, "0" * 32, s["teacher"], True)
    assert r.status_code == 404
    # A draft of another teacher is not even known to exist.
    draft = await api.quiz(other_teacher, _wrong_key_quiz(), publish=False)
    r = await _regrade(api, draft["id"], s["teacher"], False)
    assert r.status_code == 404
    assert await _score(api, s["attempts"]["Ann"], s["teacher"]) == 5  # nobody wrote
    admin = await api.user("admin")
    r = await _regrade(api, quiz_id, admin, False)
    assert r.status_code == 200 and r.json()["attempts_changed"] == 2


@pytest.mark.parametrize(
    "body",
    [
        {"dry_run": "false"},
        {"dry_run": 0},
        {"dry_run": None},
        {"dry_run": True, "everyone": True},
        ["dry_run"],
    ],
)
async def test_bad_bodies_are_refused_before_anything_is_written(api: Api, body: Any) -> None:
    teacher = await api.user("teacher")
    quiz = await api.quiz(teacher, _wrong_key_quiz())
    r = await api.http.post(
        f"/api/v1/quizzes/{quiz['id']}/regrade", json=body, headers=teacher.headers
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"]


async def test_a_quiz_without_attempts_has_nothing_to_regrade(api: Api) -> None:
    teacher = await api.user("teacher")
    quiz = await api.quiz(teacher, _wrong_key_quiz())
    plan = (await _regrade(api, quiz["id"], teacher, False)).json()
    assert plan["attempts_checked"] == 0 and plan["attempts"] == [] and not plan["applied"]


async def test_concurrent_applies_change_the_scores_once(api: Api) -> None:
    s = await _setup(api)
    quiz_id, teacher = s["quiz"]["id"], s["teacher"]
    replies = await asyncio.gather(*(_regrade(api, quiz_id, teacher, False) for _ in range(3)))
    assert [r.status_code for r in replies] == [200, 200, 200], [r.text for r in replies]
    changed = sorted(r.json()["attempts_changed"] for r in replies)
    assert changed == [0, 0, 2]  # one did the work; the others found nothing left
    assert await _score(api, s["attempts"]["Ann"], teacher) == 6
    assert await _score(api, s["attempts"]["Ben"], teacher) == 0
    assert await _board(api, quiz_id) == [("Ann", 6), ("Cat", 1), ("Ben", 0)]
    admin = await api.user("admin")
    r = await api.http.get(
        "/api/v1/audit", params={"event": "attempts_regraded"}, headers=admin.headers
    )
    assert len([e for e in r.json()["items"] if e["target_id"] == quiz_id]) == 1


async def test_a_failure_while_writing_leaves_nothing_half_written(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = await _setup(api)
    quiz_id, teacher = s["quiz"]["id"], s["teacher"]
    real_write = regrade_module._write

    async def write_then_fail(session: Any, writes: Any) -> None:
        await real_write(session, writes)  # every row written, then the transaction fails
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(regrade_module, "_write", write_then_fail)
    try:
        r = await _regrade(api, quiz_id, teacher, False)
    except RuntimeError:
        pass
    else:
        assert r.status_code == 500
    monkeypatch.undo()
    assert await _score(api, s["attempts"]["Ann"], teacher) == 5
    assert await _score(api, s["attempts"]["Ben"], teacher) == 1
    # Still all to do: the plan is the same as before the failed apply.
    plan = (await _regrade(api, quiz_id, teacher, True)).json()
    assert plan["attempts_changed"] == 2 and plan["attempts_moved_only"] == 1


async def test_the_latest_of_several_versions_is_used_and_lost_answers_keep_theirs(
    api: Api,
) -> None:
    teacher = await api.user("teacher")
    quiz = await api.quiz(
        teacher, {"title": "One", "questions": [_wrong_key_quiz()["questions"][0]]}
    )
    v1 = quiz["questions"][0]
    opt = {o["text"]: o["id"] for o in v1["options"]}
    attempts = {}
    for name, choice in (("Ann", "4"), ("Ben", "5"), ("Cat", "3")):
        student = await api.user("student", name)
        attempts[name] = await api.submitted_attempt(
            student, quiz["id"], {v1["id"]: {"option_id": opt[choice]}}
        )

    async def edit(question: dict[str, Any]) -> dict[str, Any]:
        body = {"questions": [{k: v for k, v in question.items() if v is not None}]}
        r = await api.http.patch(
            f"/api/v1/quizzes/{quiz['id']}", json=body, headers=teacher.headers
        )
        assert r.status_code == 200, r.text
        latest: dict[str, Any] = r.json()["questions"][0]
        return latest

    # Version 2: "4" is right and "3" is gone; version 3: worth 2 points.
    v2 = await edit(
        {
            **v1,
            "options": [
                {**o, "weight": 100.0 if o["text"] == "4" else 0.0, "correct": o["text"] == "4"}
                for o in v1["options"]
                if o["text"] != "3"
            ],
        }
    )
    v3 = await edit({**v2, "points": 2})
    assert len({v1["id"], v2["id"], v3["id"]}) == 3
    plan = (await _regrade(api, quiz["id"], teacher, True)).json()
    rows = [
        (a["student"], a["old"]["score"], a["new"]["score"], a["new"]["max_score"], a["delta"])
        for a in plan["attempts"]
    ]
    assert rows == [("Ann", 0, 2, 2, 2), ("Ben", 1, 0, 2, -1)]
    assert plan["attempts_moved_only"] == 0  # Cat's answer ("3") has no counterpart
    assert plan["questions"] == [
        {"question_id": v3["id"], "responses_changed": 2, "kept_on_old_version": 1}
    ]
    applied = (await _regrade(api, quiz["id"], teacher, False)).json()
    assert applied["applied"] is True and applied["total_delta"] == 1
    ann = (
        await api.http.get(f"/api/v1/attempts/{attempts['Ann']}", headers=teacher.headers)
    ).json()
    assert [(x["question_id"], x["score"]) for x in ann["results"]] == [(v3["id"], 2)]
    cat = (
        await api.http.get(f"/api/v1/attempts/{attempts['Cat']}", headers=teacher.headers)
    ).json()
    assert [(x["question_id"], x["score"]) for x in cat["results"]] == [(v1["id"], 0)]
    assert cat["max_score"] == 1
    # Cat's response stays put: applying again still reports it, and changes nothing.
    again = (await _regrade(api, quiz["id"], teacher, False)).json()
    assert again["attempts"] == [] and again["applied"] is False
    assert again["questions"] == [
        {"question_id": v3["id"], "responses_changed": 0, "kept_on_old_version": 1}
    ]


async def test_a_grade_racing_a_regrade_never_leaves_a_wrong_total(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The teacher regrades Ann's essay while a regrade moves Ann's attempt to the fixed
    question (run in between the grade's checks and its transaction): the grade is
    refused (409, grade again) rather than writing a total from the old questions (which
    would leave out her now right answer: 6 instead of 7)."""
    s = await _setup(api)
    quiz_id, teacher = s["quiz"]["id"], s["teacher"]
    lifecycle = api.services.attempts.grading.lifecycle
    real = lifecycle.questions_of
    ran: list[int] = []

    async def regrade_meanwhile(quiz: str, ids: Any) -> Any:
        found = await real(quiz, ids)
        if not ran:
            r = await _regrade(api, quiz_id, teacher, False)
            ran.append(r.status_code)
        return found

    monkeypatch.setattr(lifecycle, "questions_of", regrade_meanwhile)
    ann = s["attempts"]["Ann"]
    r = await api.http.post(
        f"/api/v1/attempts/{ann}/grades/{s['essay']}", json={"score": 5}, headers=teacher.headers
    )
    assert ran == [200]
    assert r.status_code == 409, r.text
    monkeypatch.undo()
    body = (await api.http.get(f"/api/v1/attempts/{ann}", headers=teacher.headers)).json()
    assert body["score"] == 6 == sum(x["score"] for x in body["results"])  # 1 + 1 + 4
    r = await api.http.post(
        f"/api/v1/attempts/{ann}/grades/{s['essay']}", json={"score": 5}, headers=teacher.headers
    )
    assert r.status_code == 200 and r.json()["score"] == 7
    assert sum(x["score"] for x in r.json()["results"]) == 7


async def test_an_edited_essay_keeps_its_version_and_its_grade(api: Api) -> None:
    s = await _setup(api)
    quiz_id, teacher = s["quiz"]["id"], s["teacher"]
    current = (await api.http.get(f"/api/v1/quizzes/{quiz_id}", headers=teacher.headers)).json()
    edited = [dict(q) for q in current["questions"]]
    edited[2] = {**edited[2], "prompt": "Explain addition (edited)", "points": 2}
    body = {"questions": [{k: v for k, v in q.items() if v is not None} for q in edited]}
    r = await api.http.patch(f"/api/v1/quizzes/{quiz_id}", json=body, headers=teacher.headers)
    assert r.status_code == 200, r.text
    assert r.json()["questions"][2]["id"] != s["essay"]
    plan = (await _regrade(api, quiz_id, teacher, False)).json()
    assert [(a["student"], a["delta"]) for a in plan["attempts"]] == [("Ann", 1), ("Ben", -1)]
    assert [q["question_id"] for q in plan["questions"]] == [s["new_sc"]]
    ann = (
        await api.http.get(f"/api/v1/attempts/{s['attempts']['Ann']}", headers=teacher.headers)
    ).json()
    essay = next(x for x in ann["results"] if x["question_id"] == s["essay"])
    assert essay == {"question_id": s["essay"], "score": 4, "max_score": 5, "correct": False}
    assert ann["score"] == 6 and ann["max_score"] == 7


async def test_malformed_requests_get_a_clear_error_not_a_500(api: Api) -> None:
    teacher = await api.user("teacher")
    quiz = await api.quiz(teacher, _wrong_key_quiz())
    path = f"/api/v1/quizzes/{quiz['id']}/regrade"
    for content, kind in (
        (b'{"dry_run": fals', "application/json"),
        (b"dry_run=false", "application/x-www-form-urlencoded"),
        (b"\xff\xfe\x00", "application/json"),
        (b'{"dry_run": ' + b"[" * 5000 + b"]" * 5000 + b"}", "application/json"),
    ):
        r = await api.http.post(
            path, content=content, headers={**teacher.headers, "Content-Type": kind}
        )
        assert r.status_code in (400, 415, 422), (content[:40], r.status_code, r.text)
        assert r.json()["error"]["code"]
    r = await api.http.post(
        f"/api/v1/quizzes/{'é' * 40}/regrade", json={"dry_run": True}, headers=teacher.headers
    )
    assert r.status_code == 404
