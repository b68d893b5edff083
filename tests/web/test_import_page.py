"""Importing a quiz from the import page, on SQLite and PostgreSQL + Redis: pasted and
uploaded files of every registered format, the format detected, a preview before
anything is saved, then the save step that reads the file again; problems listed beside
their line numbers (or by file in a package) with nothing saved; unreadable uploads;
unsupported questions skipped on request (with a FAKE format registered for the test)."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path
from typing import Any

import pytest

from quizplatform.domain.formats import FORMAT_INFO, read_quiz
from quizplatform.web.pages.imports import listing
from tests.fakes.formats import FAKE_XML, register_fake_qti, register_fake_xml, zip_of
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


def _save_form(page: str, action: str = "/teach/import/save") -> dict[str, Any]:
    """The hidden fields of the form that posts to ``action`` (the preview's save form);
    ``payload`` (the file, in parts) as a list."""
    match = re.search(rf'<form method="post" action="{action}"[^>]*>(.*?)</form>', page, re.S)
    assert match, "no save form on the page"
    fields = re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', match.group(1))
    form: dict[str, Any] = {"payload": []}
    for name, value in fields:
        if name == "payload":
            form["payload"].append(html.unescape(value))
        else:
            form[name] = html.unescape(value)
    return form


def _payload(form: dict[str, Any]) -> bytes:
    return base64.urlsafe_b64decode("".join(form["payload"]))


async def test_a_pasted_gift_file_becomes_a_draft_quiz(web: WebClient) -> None:
    teacher = await sign_up_teacher(web)
    text = FIXTURE.read_text()
    data = {"format": "gift", "title": "Science", "text": text}
    preview = await teacher.post("/teach/import", data, from_page="/teach/import")
    assert preview.status_code == 200, preview.text
    assert "Check the import" in preview.text and await _mine(teacher) == 0
    count = len(read_quiz("gift", text).quiz.questions)
    assert f"<strong>Science</strong> with {count} questions" in preview.text
    r = await teacher.http.post("/teach/import/save", data=_save_form(preview.text))
    assert r.status_code == 303, r.text
    quiz_id = r.headers["location"].split("/")[3].split("?")[0]
    assert r.headers["location"].endswith("?notice=imported")
    quiz = await teacher.quiz(quiz_id)
    assert quiz["title"] == "Science" and quiz["status"] == "draft"
    assert len(quiz["questions"]) == len(read_quiz("gift", text).quiz.questions)
    editor = await teacher.http.get(r.headers["location"])
    assert "The file was imported as a draft quiz" in editor.text


async def test_an_uploaded_file_is_imported(web: WebClient) -> None:
    teacher = await sign_up_teacher(web)
    aiken = b"What is 2 + 2?\nA. 3\nB. 4\nANSWER: B\n"
    status, page = (await _upload(teacher, aiken, fmt="", name="q.txt")).split("\n", 1)
    assert status == "200"
    assert "Read as Aiken (detected from the file)." in page
    assert await _mine(teacher) == 0
    r = await teacher.http.post("/teach/import/save", data=_save_form(page))
    assert r.status_code == 303
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
    assert r.status_code == 422
    assert field_error(r.text, "format") == "Choose the file's format, or let us detect it."
    data = {"format": "", "title": "", "text": "Nothing here says which format this is."}
    r = await teacher.post("/teach/import", data, from_page="/teach/import")
    assert r.status_code == 422
    assert "could not tell the file's format" in (field_error(r.text, "format") or "")
    assert await _mine(teacher) == 0


def test_a_long_file_is_listed_around_its_problems_only() -> None:
    text = "\n".join(f"line {n}" for n in range(1, 1001))
    shown = listing(text, {500: ["bad"], 502: ["worse"]}, full=400, context=2)
    numbers = [line.number if line else None for line in shown]
    assert numbers == [None, 498, 499, 500, 501, 502, 503, 504, None]
    assert shown[3] is not None and shown[3].messages == ["bad"] and shown[3].text == "line 500"
    short = listing("a\nb", {2: ["x"]})
    assert [(line.number, line.messages) for line in short if line] == [(1, []), (2, ["x"])]


async def test_the_format_select_and_the_export_menu_offer_every_registered_format(
    web: WebClient,
) -> None:
    teacher = await sign_up_teacher(web)
    page = (await teacher.http.get("/teach/import")).text
    select = re.search(r'<select id="f-format" name="format"[^>]*>(.*?)</select>', page, re.S)
    assert select is not None
    options = re.findall(r'<option value="([^"]*)"( selected)?>([^<]*)</option>', select.group(1))
    assert options[0] == ("", " selected", "Detect from the file")
    assert [(v, html.unescape(t)) for v, _, t in options[1:]] == [
        (fmt, info.label) for fmt, info in FORMAT_INFO.items()
    ]
    quiz_id = await teacher.new_quiz()
    editor = (await teacher.http.get(f"/teach/quizzes/{quiz_id}")).text
    assert re.findall(r"export\?format=(\w+)", editor) == list(FORMAT_INFO)
    for fmt, info in FORMAT_INFO.items():
        r = await teacher.http.get(f"/teach/quizzes/{quiz_id}/export?format={fmt}")
        assert r.status_code == 200, (fmt, r.text)
        assert r.headers["content-disposition"].endswith(f'.{info.extension}"')


async def test_the_preview_lists_the_questions_and_saves_nothing_until_confirmed(
    web: WebClient,
) -> None:
    teacher = await sign_up_teacher(web)
    text = "$CATEGORY: Maths\n::Sum:: 2 + 2 = ? {=4 ~3}\n\n::Star:: The Sun is a star. {T}\n"
    data = {"format": "", "title": "", "text": text}
    page = await teacher.post("/teach/import", data, from_page="/teach/import")
    assert page.status_code == 200, page.text
    assert "Read as GIFT (Moodle) (detected from the file)." in page.text
    rows = re.findall(r"<tr>\s*<td class=\"num\">(\d+)</td>(.*?)</tr>", page.text, re.S)
    assert [n for n, _ in rows] == ["1", "2"]
    assert "Single choice" in rows[0][1] and "<strong>Sum</strong>" in rows[0][1]
    assert "2 + 2 = ?" in rows[0][1] and "Maths" in rows[0][1]
    assert "True or false" in rows[1][1]
    assert await _mine(teacher) == 0
    form = _save_form(page.text)
    assert form["format"] == "gift" and form["skip_unsupported"] == ""
    assert _payload(form).decode() == text
    r = await teacher.http.post("/teach/import/save", data=form)
    assert r.status_code == 303
    quiz_id = r.headers["location"].split("/")[3].split("?")[0]
    quiz = await teacher.quiz(quiz_id)
    assert [q["title"] for q in quiz["questions"]] == ["Sum", "Star"]


async def test_the_save_step_reads_the_file_again_and_refuses_a_damaged_one(
    web: WebClient,
) -> None:
    teacher = await sign_up_teacher(web)
    data = {"format": "gift", "title": "", "text": "Q1 {T}\n"}
    page = await teacher.post("/teach/import", data, from_page="/teach/import")
    form = _save_form(page.text)
    for payload in ("not base64 at all!", "", "QQ", "QQ==QQ==", "\u00e9t\u00e9"):
        r = await teacher.http.post("/teach/import/save", data={**form, "payload": payload})
        assert r.status_code == 422, payload
        assert "did not come back intact" in r.text
    r = await teacher.http.post("/teach/import/save", data={**form, "format": "docx"})
    assert r.status_code == 422 and "did not come back intact" in r.text
    # what is saved is what the file says, read again: a file changed on the way is
    # read as it now is (broken here), never what the preview showed
    broken = base64.urlsafe_b64encode(b"Q1 {T}\n\nQ2 {=a ~b\n").decode()
    r = await teacher.http.post("/teach/import/save", data={**form, "payload": broken})
    assert r.status_code == 422
    assert "The GIFT file has 1 problem; nothing was imported." in r.text
    assert set(_problem_rows(r.text)) == {3}
    # larger than the import limit once decoded
    limit = web.services.settings.max_import_bytes
    big = base64.urlsafe_b64encode(b"Q {T}\n\n" * (limit // 7 + 1)).decode()
    r = await teacher.http.post("/teach/import/save", data={**form, "payload": big})
    assert r.status_code == 400, "one field over 1 MB: the form parser refuses it"
    parts = [big[at : at + 512 * 1024] for at in range(0, len(big), 512 * 1024)]
    r = await teacher.http.post("/teach/import/save", data={**form, "payload": parts})
    assert r.status_code == 422 and "did not come back intact" in r.text
    r = await teacher.http.post("/teach/import/save", data={**form, "payload": parts * 2})
    assert r.status_code == 413
    assert await _mine(teacher) == 0


async def test_a_file_near_the_limit_travels_to_the_save_step_in_parts(web: WebClient) -> None:
    teacher = await sign_up_teacher(web)
    limit = web.services.settings.max_import_bytes
    question = "::Q{n}:: " + "Long prompt. " * 300 + "{{T}}\n\n"
    count = min(500, int(limit * 0.9) // len(question))
    gift = "".join(question.format(n=n) for n in range(count)).encode()
    assert len(gift) > 1024 * 1024, "larger than one form field may be"
    status, page = (await _upload(teacher, gift, fmt="", name="big.gift")).split("\n", 1)
    assert status == "200", page[:2000]
    form = _save_form(page)
    assert len(form["payload"]) > 1 and _payload(form) == gift
    r = await teacher.http.post("/teach/import/save", data=form)
    assert r.status_code == 303, r.text[:2000]
    quiz = await teacher.quiz(r.headers["location"].split("/")[3].split("?")[0])
    assert len(quiz["questions"]) == count


async def test_an_oversize_upload_is_refused_before_reading_and_nothing_is_saved(
    web: WebClient,
) -> None:
    teacher = await sign_up_teacher(web)
    limit = web.services.settings.max_import_bytes
    result = await _upload(teacher, b"Q {T}\n\n" * (limit // 7 + 1), fmt="")
    assert result.startswith("413\n")
    assert await _mine(teacher) == 0


async def test_unsupported_questions_can_be_skipped_with_a_fake_format(
    web: WebClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FAKE reader (tests/fakes/formats.py) registered as "moodle_xml" for this test."""
    register_fake_xml(monkeypatch)
    teacher = await sign_up_teacher(web)
    status, page = (await _upload(teacher, FAKE_XML.encode(), fmt="", name="q.xml")).split("\n", 1)
    assert status == "422"
    assert "Read as Fake XML (test) (detected from the file)." in page
    assert set(_problem_rows(page)) == {4, 6}
    assert "Import the 2 supported questions and skip the listed ones" in page
    assert await _mine(teacher) == 0
    form = _save_form(page)
    assert form["skip_unsupported"] == "1" and form["format"] == "moodle_xml"
    r = await teacher.http.post("/teach/import/save", data=form)
    assert r.status_code == 303, r.text
    quiz = await teacher.quiz(r.headers["location"].split("/")[3].split("?")[0])
    assert [q["prompt"] for q in quiz["questions"]] == ["The Earth is round.", "Water is wet."]


async def test_a_zip_package_is_previewed_and_imported_with_a_fake_format(
    web: WebClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FAKE zip reader (tests/fakes/formats.py) registered as "qti" for this test."""
    register_fake_qti(monkeypatch)
    teacher = await sign_up_teacher(web)
    package = zip_of({"a.gift": "Q1 {T}\n\nQ2 {F}\n", "b.gift": "Q3 {=x ~y}\n"})
    status, page = (await _upload(teacher, package, fmt="", name="export.zip")).split("\n", 1)
    assert status == "200", page
    assert "Read as Fake QTI (test) (detected from the file)." in page
    assert "with 3 questions" in page
    form = _save_form(page)
    assert _payload(form) == package
    r = await teacher.http.post("/teach/import/save", data=form)
    assert r.status_code == 303
    assert await _mine(teacher) == 1
    # a package with problems: listed by file and line, no line listing, no binary in the box
    broken = zip_of({"a.gift": "Q1 {T}\n", "b.gift": "Fine {T}\n\nBroken {=a ~b\n"})
    status, page = (await _upload(teacher, broken, fmt="", name="export.zip")).split("\n", 1)
    assert status == "422"
    assert "The Fake QTI file has 1 problem; nothing was imported." in page
    assert "<li>b.gift, line 3: " in page
    assert "source__line" not in page
    assert re.search(r'<textarea[^>]*id="f-text"[^>]*>\s*</textarea>', page)
    assert await _mine(teacher) == 1


MOODLE_MIXED = FIXTURE.parent / "moodle_xml" / "mixed_unsupported.xml"


@pytest.mark.skipif(
    "moodle_xml" not in FORMAT_INFO or not MOODLE_MIXED.exists(),
    reason="the real Moodle XML reader and its fixtures come with the h16-xml branch",
)
async def test_a_real_moodle_xml_export_can_be_imported_skipping_what_cannot_be_held(
    web: WebClient,
) -> None:
    """The real reader (not a fake): runs once Moodle XML is registered."""
    teacher = await sign_up_teacher(web)
    data = MOODLE_MIXED.read_bytes()
    status, page = (await _upload(teacher, data, fmt="", name="moodle.xml")).split("\n", 1)
    assert status == "422"
    assert "(detected from the file)" in page and "Moodle XML" in page
    assert len(_problem_rows(page)) == 4
    assert "Import the 2 supported questions and skip the listed ones" in page
    r = await teacher.http.post("/teach/import/save", data=_save_form(page))
    assert r.status_code == 303, r.text
    quiz = await teacher.quiz(r.headers["location"].split("/")[3].split("?")[0])
    assert [q["type"] for q in quiz["questions"]] == ["true_false", "essay"]


async def test_a_real_qti_package_with_a_hotspot_can_be_imported_skipping_it(
    web: WebClient,
) -> None:
    """The real QTI reader: a .zip upload, the unsupported item named by its file."""
    from tests.unit.domain.formats.test_qti import of

    teacher = await sign_up_teacher(web)
    data = of("choice", "hotspot", "order")
    status, page = (await _upload(teacher, data, fmt="", name="export.zip")).split("\n", 1)
    assert status == "422", page
    assert "(detected from the file)" in page and "IMS QTI 2.1 package" in page
    assert "items/hotspot.xml" in page and "hotspotInteraction" in page
    assert "Import the 2 supported questions and skip the listed ones" in page
    assert await _mine(teacher) == 0
    r = await teacher.http.post("/teach/import/save", data=_save_form(page))
    assert r.status_code == 303, r.text
    quiz = await teacher.quiz(r.headers["location"].split("/")[3].split("?")[0])
    assert [q["type"] for q in quiz["questions"]] == ["single_choice", "ordering"]
