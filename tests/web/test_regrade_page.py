"""The report's Regrade control: a preview (dry run) of whose scores change, then the
confirmation that applies it; only for the quiz's owner."""

from __future__ import annotations

import re
from typing import Any

from tests.api.helpers import Api, User
from tests.web.helpers import WebClient

QUIZ = {
    "title": "Fix me",
    "questions": [
        {
            "type": "single_choice",
            "prompt": "2 + 2?",
            "options": [{"text": "4"}, {"text": "5", "correct": True}, {"text": "3"}],
        },
        {"type": "true_false", "prompt": "1 < 2", "answer": True},
    ],
}


def _rows(page: str, table_id: str) -> list[list[str]]:
    table = re.search(rf'<table[^>]*id="{table_id}".*?</table>', page, re.S)
    assert table, table_id
    body = table.group(0).split("<tbody>")[1]
    return [
        [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        ]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]


async def _fixed_quiz(web: WebClient) -> tuple[Api, User, dict[str, Any], dict[str, str]]:
    """A quiz of a teacher signed in on ``web`` whose key was fixed after Ann (chose 4),
    Ben (5) and Cat (3) submitted; returns their attempt ids too."""
    await web.sign_up("teacher")
    owner = User("", "", web.bearer())
    api = Api(web.http, web.services)
    quiz = await api.quiz(owner, QUIZ)
    sc, tf = quiz["questions"]
    opt = {o["text"]: o["id"] for o in sc["options"]}
    attempts = {}
    for name, choice in (("Ann <b>", "4"), ("Ben", "5"), ("Cat", "3")):
        student = await api.user("student", name)
        attempts[name] = await api.submitted_attempt(
            student, quiz["id"], {sc["id"]: {"option_id": opt[choice]}, tf["id"]: {"value": True}}
        )
    fixed = {
        **sc,
        "options": [
            {**o, "weight": 100.0 if o["text"] == "4" else 0.0, "correct": o["text"] == "4"}
            for o in sc["options"]
        ],
    }
    body = {"questions": [{k: v for k, v in q.items() if v is not None} for q in (fixed, tf)]}
    r = await web.http.patch(f"/api/v1/quizzes/{quiz['id']}", json=body, headers=owner.headers)
    assert r.status_code == 200, r.text
    return api, owner, quiz, attempts


async def _score(web: WebClient, owner: User, attempt_id: str) -> float:
    r = await web.http.get(f"/api/v1/attempts/{attempt_id}", headers=owner.headers)
    score: float = r.json()["score"]
    return score


async def test_preview_then_confirm_regrades(web: WebClient) -> None:
    _, owner, quiz, attempts = await _fixed_quiz(web)
    report = await web.http.get(f"/quizzes/{quiz['id']}/report")
    assert report.status_code == 200
    assert f'href="/quizzes/{quiz["id"]}/report/regrade"' in report.text

    preview = await web.http.get(f"/quizzes/{quiz['id']}/report/regrade")
    assert preview.status_code == 200, preview.text
    rows = _rows(preview.text, "table-regrade")
    assert [(r[0], r[2], r[4], r[6].split()[0]) for r in rows] == [
        ("Ann &lt;b&gt;", "1 / 2", "2 / 2", "+1"),
        ("Ben", "2 / 2", "1 / 2", "-1"),
    ]
    assert "Ann <b>" not in preview.text  # a name is text, never markup
    assert _rows(preview.text, "table-regrade-questions")[0][1:] == ["2", "0"]
    assert "Regrade 3 attempts" in preview.text  # Cat moves to the new version, same score
    # The preview wrote nothing.
    assert await _score(web, owner, attempts["Ann <b>"]) == 1

    r = await web.post_form(
        f"/quizzes/{quiz['id']}/report/regrade",
        {},
        from_page=f"/quizzes/{quiz['id']}/report/regrade",
    )
    assert r.status_code == 303, r.text
    assert r.headers["location"] == f"/quizzes/{quiz['id']}/report?notice=regraded"
    done = await web.http.get(r.headers["location"])
    assert "The attempts are regraded" in done.text
    assert await _score(web, owner, attempts["Ann <b>"]) == 2
    assert await _score(web, owner, attempts["Ben"]) == 1
    assert await _score(web, owner, attempts["Cat"]) == 1

    again = await web.http.get(f"/quizzes/{quiz['id']}/report/regrade")
    assert 'id="regrade-nothing"' in again.text and "regrade-confirm" not in again.text


async def test_a_confirmation_without_the_csrf_token_is_refused(web: WebClient) -> None:
    _, owner, quiz, attempts = await _fixed_quiz(web)
    r = await web.http.post(f"/quizzes/{quiz['id']}/report/regrade", data={})
    assert r.status_code in (400, 403), r.text
    assert await _score(web, owner, attempts["Ann <b>"]) == 1


async def test_another_teacher_can_neither_preview_nor_regrade(web: WebClient) -> None:
    _, owner, quiz, attempts = await _fixed_quiz(web)
    web.http.cookies.clear()
    await web.sign_up("teacher")
    path = f"/quizzes/{quiz['id']}/report/regrade"
    assert (await web.http.get(path)).status_code == 403
    r = await web.post_form(path, {}, from_page="/dashboard")
    assert r.status_code == 403
    assert await _score(web, owner, attempts["Ann <b>"]) == 1
