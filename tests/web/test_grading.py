"""Grading essays on the web: the report lists the attempts whose essays wait, the
attempt's result page has a grade form per essay for the quiz's owner, and a grade
changes the score the student sees. On SQLite and PostgreSQL + Redis."""

from __future__ import annotations

import html
import re
from typing import Any

from tests.api.helpers import Api, User
from tests.web.helpers import WebClient, csrf_from

QUIZ = {
    "title": "Essays",
    "questions": [
        {"type": "true_false", "prompt": "Water is wet.", "answer": True},
        {"type": "essay", "prompt": "Why is the sky blue?", "points": 2},
    ],
}
ESSAY = "Rayleigh scattering:\nshort wavelengths scatter more."


async def _submitted_essay(web: WebClient) -> tuple[Api, User, dict[str, Any], str]:
    """A teacher signed in on ``web`` owns QUIZ; a student answered both questions right
    (the essay with ESSAY) and submitted. Returns the API, the student, the quiz and the
    attempt id."""
    await web.sign_up("teacher", name="Ms Teacher")
    owner = User("", "", web.bearer())
    api = Api(web.http, web.services)
    quiz = await api.quiz(owner, QUIZ)
    true_false, essay = quiz["questions"]
    student = await api.user("student", name="Sam Student")
    answers = {true_false["id"]: {"value": True}, essay["id"]: {"text": ESSAY}}
    attempt = await api.submitted_attempt(student, quiz["id"], answers)
    return api, student, quiz, attempt


def _to_grade(page: str) -> list[tuple[str, str]]:
    """The report's "essays to grade" rows: (attempt id, essays waiting)."""
    table = re.search(r'<table[^>]*id="table-to-grade".*?</table>', page, re.S)
    if table is None:
        return []
    return re.findall(
        r'href="/attempts/([^/"]+)/result".*?<td class="num">(\d+)</td>', table.group(0), re.S
    )


def _grade_error(page: str, question_id: str) -> str | None:
    match = re.search(rf'id="f-grade-{question_id}-error"[^>]*>(.*?)</p>', page, re.S)
    if match is None:
        return None
    return html.unescape(re.sub(r"<[^>]+>", "", match.group(1))).replace("Error: ", "").strip()


async def _post_grade(web: WebClient, attempt: str, question_id: str, score: str) -> Any:
    page = await web.http.get(f"/attempts/{attempt}/result")
    assert page.status_code == 200, page.text
    return await web.http.post(
        f"/attempts/{attempt}/grades/{question_id}",
        data={"csrf_token": csrf_from(page.text), "score": score},
    )


async def test_the_teacher_grades_an_essay_from_the_report(web: WebClient) -> None:
    api, student, quiz, attempt = await _submitted_essay(web)
    essay_id = quiz["questions"][1]["id"]

    report = await web.http.get(f"/quizzes/{quiz['id']}/report")
    assert report.status_code == 200, report.text
    assert "Essays to grade" in report.text and _to_grade(report.text) == [(attempt, "1")]

    result = await web.http.get(f"/attempts/{attempt}/result")
    assert result.status_code == 200
    assert "Sam Student&#39;s result" in result.text and "Your result" not in result.text
    assert html.escape(ESSAY) in result.text and "Not graded yet" in result.text
    assert f'<label for="f-grade-{essay_id}">Grade for question 2 (0 to 2 points)' in result.text
    assert result.text.count('class="grade-form"') == 1, "only the essay is graded by hand"
    assert "33.3 %" in result.text  # 1 of 3 points: the essay counts 0 until graded

    r = await _post_grade(web, attempt, essay_id, "1,5")  # a decimal comma is accepted
    assert r.status_code == 303, r.text
    assert r.headers["location"] == f"/attempts/{attempt}/result?notice=graded#q-{essay_id}"
    graded = await web.http.get(r.headers["location"].split("#")[0])
    assert "The grade is saved" in graded.text and "83.3 %" in graded.text  # 2.5 of 3
    assert f'id="f-grade-{essay_id}" name="score"' in graded.text
    assert 'value="1.5"' in graded.text and "Change the grade" in graded.text

    report = await web.http.get(f"/quizzes/{quiz['id']}/report")
    assert _to_grade(report.text) == [] and "Every submitted essay answer is graded." in report.text

    # The student sees the new score (through the API and on the page).
    r = await api.http.get(f"/api/v1/attempts/{attempt}", headers=student.headers)
    assert r.json()["score"] == 2.5
    web.http.cookies.clear()
    assert (await web.sign_in(student.email)).status_code == 303
    mine = await web.http.get(f"/attempts/{attempt}/result")
    assert "Your result" in mine.text and "83.3 %" in mine.text
    assert "grade-form" not in mine.text and "Waiting for your teacher" not in mine.text


async def test_the_attempts_to_grade_are_listed_oldest_first(web: WebClient) -> None:
    api, _, quiz, first = await _submitted_essay(web)
    essay_id = quiz["questions"][1]["id"]
    later = []
    for _ in range(2):
        student = await api.user("student")
        later.append(await api.submitted_attempt(student, quiz["id"], {essay_id: {"text": "x"}}))
    page = await web.http.get(f"/quizzes/{quiz['id']}/report")
    assert [a for a, _ in _to_grade(page.text)] == [first, *later]
    r = await _post_grade(web, later[0], essay_id, "1")
    assert r.status_code == 303, r.text
    page = await web.http.get(f"/quizzes/{quiz['id']}/report")
    assert [a for a, _ in _to_grade(page.text)] == [first, later[1]]


async def test_a_bad_grade_is_shown_beside_its_field(web: WebClient) -> None:
    api, student, quiz, attempt = await _submitted_essay(web)
    essay_id = quiz["questions"][1]["id"]
    for score, message in (
        ("two", "Enter the score as a number, such as 2 or 1.5."),
        ("", "Enter the score as a number, such as 2 or 1.5."),
        ("3", "between 0 and 2"),
        ("-1", "between 0 and 2"),
        ("nan", "finite"),
    ):
        r = await _post_grade(web, attempt, essay_id, score)
        assert r.status_code == 422, (score, r.text)
        error = _grade_error(r.text, essay_id)
        assert error is not None and message in error, (score, error)
        assert f'aria-describedby="f-grade-{essay_id}-error"' in r.text
    r = await api.http.get(f"/api/v1/attempts/{attempt}", headers=student.headers)
    assert r.json()["score"] == 1.0, "no bad grade was saved"
    page = await web.http.get(f"/quizzes/{quiz['id']}/report")
    assert _to_grade(page.text) == [(attempt, "1")]


async def test_only_the_quiz_owner_may_grade(web: WebClient) -> None:
    _, student, quiz, attempt = await _submitted_essay(web)
    essay_id = quiz["questions"][1]["id"]
    web.http.cookies.clear()
    assert (await web.sign_in(student.email)).status_code == 303
    page = await web.http.get(f"/attempts/{attempt}/result")
    assert "grade-form" not in page.text and "Waiting for your teacher&#39;s grade" in page.text
    r = await web.http.post(
        f"/attempts/{attempt}/grades/{essay_id}",
        data={"csrf_token": csrf_from(page.text), "score": "2"},
    )
    assert r.status_code == 403 and "Reference:" in r.text

    web.http.cookies.clear()
    await web.sign_up("teacher")  # another teacher: the attempt does not exist for them
    dashboard = await web.http.get("/dashboard")
    r = await web.http.post(
        f"/attempts/{attempt}/grades/{essay_id}",
        data={"csrf_token": csrf_from(dashboard.text), "score": "2"},
    )
    assert r.status_code == 404
    assert (await web.http.get(f"/quizzes/{quiz['id']}/report")).status_code == 403


async def test_a_grade_needs_the_csrf_token(web: WebClient) -> None:
    _, _, quiz, attempt = await _submitted_essay(web)
    essay_id = quiz["questions"][1]["id"]
    r = await web.http.post(f"/attempts/{attempt}/grades/{essay_id}", data={"score": "2"})
    assert r.status_code == 403
    page = await web.http.get(f"/attempts/{attempt}/result")
    assert "Not graded yet" in page.text


async def test_a_quiz_without_essays_has_no_grading_section(web: WebClient) -> None:
    await web.sign_up("teacher")
    owner = User("", "", web.bearer())
    quiz = await Api(web.http, web.services).quiz(
        owner, {"title": "No essays", "questions": [QUIZ["questions"][0]]}
    )
    page = await web.http.get(f"/quizzes/{quiz['id']}/report")
    assert page.status_code == 200 and "Essays to grade" not in page.text
