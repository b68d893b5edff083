"""Importing a quiz from the import page, on SQLite and PostgreSQL + Redis: pasted and
uploaded GIFT, Aiken and JSON; problems listed beside their line numbers with nothing
saved; unreadable uploads."""

from __future__ import annotations

import re
from pathlib import Path

from quizplatform.domain.formats import read_quiz
from quizplatform.web.pages.imports import listing
from tests.web.helpers import WebClient, csrf_from
from tests.web.teacher_helpers import Teacher, field_error, sign_up_teacher

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "every_feature.gift"
BROKEN_GIFT = "Fine?{=yes ~no}\n\nBroken {=a ~b\n\nAlso fine {T}\n\nNo answer is right {~a ~b}\n"


async def _mine(teacher: Teacher) -> int:
    r = await teacher.http.get("/api/v1/quizzes?mine=true", headers=teacher.web.bearer())
    total: int = r.json()["total"]
    return total


async def _upload(
    teacher: Teacher, content: bytes, fmt: str = "gift", name: str = "quiz.gift", text: str = ""
) -> str:
    page = await teacher.http.get("/teach/import")
    r = await teacher.http.post(
        "/teach/import",
        data={"csrf_token": csrf_from(page.text), "format": fmt, "title": "", "text": text},
        files={"file": (name, content, "text/plain")},
    )
    return f"{r.status_code}\n{r.text}"


def _problem_rows(page: str) -> dict[int, str]:
    """Line number -> the problems shown in that line's row of the listing."""
    found = {}
    for number, row in re.findall(
        r'<tr id="line-(\d+)" class="source__line--error">(.*?)</tr>', page, re.S
    ):
        texts = re.findall(r'<p class="source__problem">(.*?)</p>', row, re.S)
        found[int(number)] = " ".join(re.sub(r"<[^>]+>", "", t) for t in texts)
    return found


async def test_a_pasted_gift_file_becomes_a_draft_quiz(web: WebClient) -> None:
    teacher = await sign_up_teacher(web)
    text = FIXTURE.read_text()
    data = {"format": "gift", "title": "Science", "text": text}
    r = await teacher.post("/teach/import", data, from_page="/teach/import")
    assert r.status_code == 303, r.text
    quiz_id = r.headers["location"].split("/")[3].split("?")[0]
    assert r.headers["location"].endswith("?notice=imported")
    quiz = await teacher.quiz(quiz_id)
    assert quiz["title"] == "Science" and quiz["status"] == "draft"
    assert len(quiz["questions"]) == len(read_quiz("gift", text).questions)
    editor = await teacher.http.get(r.headers["location"])
    assert "The file was imported as a draft quiz" in editor.text


async def test_an_uploaded_file_is_imported(web: WebClient) -> None:
    teacher = await sign_up_teacher(web)
    aiken = b"What is 2 + 2?\nA. 3\nB. 4\nANSWER: B\n"
    status, _ = (await _upload(teacher, aiken, fmt="aiken", name="q.txt")).split("\n", 1)
    assert status == "303"
    assert await _mine(teacher) == 1


async def test_problems_are_shown_beside_their_lines_and_nothing_is_saved(
    web: WebClient,
) -> None:
    teacher = await sign_up_teacher(web)
    data = {"format": "gift", "title": "", "text": BROKEN_GIFT}
    r = await teacher.post("/teach/import", data, from_page="/teach/import")
    assert r.status_code == 422
    assert "The GIFT file has 2 problems; nothing was imported." in r.text
    assert 'role="alert"' in r.text
    assert re.findall(r'href="#line-(\d+)"', r.text) == ["3", "7"]
    problems = _problem_rows(r.text)
    assert set(problems) == {3, 7}
    assert "is not closed" in problems[3] and "sum to 100" in problems[7]
    # every line is listed, numbered as the readers number them
    assert re.findall(r'<th scope="row" class="num source__number">(\d+)</th>', r.text) == [
        str(n) for n in range(1, BROKEN_GIFT.count("\n") + 2)
    ]
    assert "Broken {=a ~b\n" in r.text.split('id="f-text"')[1], "the text is kept to fix"
    assert await _mine(teacher) == 0


async def test_an_uploaded_file_with_problems_comes_back_in_the_text_box(web: WebClient) -> None:
    teacher = await sign_up_teacher(web)
    body = b'{"title": "x", "questions": [\n {"type": "essay"}\n]}'
    status, page = (await _upload(teacher, body, fmt="json", name="q.json")).split("\n", 1)
    assert status == "422"
    assert "missing field" in _problem_rows(page)[2]
    assert "it now holds the file" in page
    assert "{&#34;type&#34;: &#34;essay&#34;}" in page.split('id="f-text"')[1]
    assert await _mine(teacher) == 0


async def test_unusable_uploads_are_explained_at_the_file_field(web: WebClient) -> None:
    teacher = await sign_up_teacher(web)
    status, page = (await _upload(teacher, "Frage?{T}\n\xff".encode("latin-1"))).split("\n", 1)
    assert status == "422"
    assert "not UTF-8 text (line 2)" in (field_error(page, "file") or "")
    status, page = (await _upload(teacher, b"Q?{T}", text="Q2?{F}")).split("\n", 1)
    assert status == "422" and "not both" in (field_error(page, "file") or "")
    data = {"format": "gift", "title": "", "text": "  "}
    r = await teacher.post("/teach/import", data, from_page="/teach/import")
    assert r.status_code == 422 and "Paste the quiz" in (field_error(r.text, "text") or "")
    data = {"format": "docx", "title": "", "text": "Q?{T}"}
    r = await teacher.post("/teach/import", data, from_page="/teach/import")
    assert r.status_code == 422 and field_error(r.text, "format") == "Choose the file's format."
    assert await _mine(teacher) == 0


def test_a_long_file_is_listed_around_its_problems_only() -> None:
    text = "\n".join(f"line {n}" for n in range(1, 1001))
    shown = listing(text, {500: ["bad"], 502: ["worse"]}, full=400, context=2)
    numbers = [line.number if line else None for line in shown]
    assert numbers == [None, 498, 499, 500, 501, 502, 503, 504, None]
    assert shown[3] is not None and shown[3].messages == ["bad"] and shown[3].text == "line 500"
    short = listing("a\nb", {2: ["x"]})
    assert [(line.number, line.messages) for line in short if line] == [(1, []), (2, ["x"])]
