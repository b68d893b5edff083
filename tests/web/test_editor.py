"""The quiz editor over HTTP, on SQLite and PostgreSQL + Redis: a new quiz, questions of
every type added and edited through their forms, each kind of invalid input shown
beside its field with nothing saved, reordering, deleting, settings, publishing, who
may use the editor."""

from __future__ import annotations

import re
from typing import Any

import pytest

from quizplatform.web.assets import StaticAssets
from tests.web.helpers import WebClient
from tests.web.teacher_helpers import (
    FormData,
    Teacher,
    field_error,
    marked_invalid,
    sign_up_teacher,
    summary_links,
)


def rows(*values: dict[str, str], extra: int = 1) -> FormData:
    """Answer rows as the form posts them, plus ``extra`` empty ones (which are ignored)."""
    data: FormData = {"row_count": str(len(values) + extra)}
    for i, row in enumerate(values):
        for key, value in row.items():
            data[f"row-{i}-{key}"] = value
    return data


# type -> (form fields, what the API then shows for the question)
VALID: dict[str, tuple[FormData, dict[str, Any]]] = {
    "single_choice": (
        {
            "prompt": "2 + 2?",
            "points": "2",
            "correct": "1",
            **rows({"text": "5"}, {"text": "4", "feedback": "Yes"}, {"text": "3", "weight": "25"}),
        },
        {
            "points": 2,
            "options": [
                {"text": "5", "correct": False, "weight": 0, "feedback": None},
                {"text": "4", "correct": True, "weight": 100, "feedback": "Yes"},
                {"text": "3", "correct": False, "weight": 25, "feedback": None},
            ],
        },
    ),
    "multiple_choice": (
        {
            "prompt": "Primes?",
            **rows(
                {"text": "2", "weight": "50"},
                {"text": "3", "weight": "50"},
                {"text": "4", "weight": "-100"},
            ),
        },
        {
            "options": [
                {"text": "2", "weight": 50},
                {"text": "3", "weight": 50},
                {"text": "4", "weight": -100},
            ]
        },
    ),
    "true_false": (
        {"prompt": "The Moon is a planet.", "answer": "false", "wrong_feedback": "It is a moon."},
        {"answer": False, "wrong_feedback": "It is a moon.", "right_feedback": None},
    ),
    "short_answer": (
        {
            "prompt": "Capital of France?",
            "case_sensitive": "on",
            "other_feedback": "Think of the Seine.",
            **rows({"text": "Paris", "weight": "100"}, {"text": "Pa*", "weight": "50"}),
        },
        {
            "case_sensitive": True,
            "other_feedback": "Think of the Seine.",
            "answers": [
                {"text": "Paris", "weight": 100, "feedback": None},
                {"text": "Pa*", "weight": 50, "feedback": None},
            ],
        },
    ),
    "numeric": (
        {
            "prompt": "Pi to two places?",
            "other_feedback": "About 3.",
            **rows({"value": "3,14", "tolerance": "0.01"}),
        },
        {
            "answers": [{"value": 3.14, "tolerance": 0.01, "weight": 100, "feedback": None}],
            "other_feedback": "About 3.",
        },
    ),
    "matching": (
        {
            "prompt": "Match the sounds.",
            **rows(
                {"left": "cat", "right": "meow"},
                {"left": "dog", "right": "woof"},
                {"left": "", "right": "moo"},  # a distractor
            ),
        },
        {
            "pairs": [
                {"left": "cat", "right": "meow"},
                {"left": "dog", "right": "woof"},
                {"left": "", "right": "moo"},
            ]
        },
    ),
    "ordering": (
        {"prompt": "Smallest first.", **rows({"text": "one"}, {"text": "two"}, {"text": "three"})},
        {"items": [{"text": "one"}, {"text": "two"}, {"text": "three"}]},
    ),
    "essay": (
        {
            "prompt": "Why is the sky blue?",
            "points": "5",
            "feedback": "See Rayleigh.",
            "tags": "physics, Light",
            "grader_info": "Full marks: scattering, wavelength.",
        },
        {
            "points": 5,
            "feedback": "See Rayleigh.",
            "tags": ["light", "physics"],
            "grader_info": "Full marks: scattering, wavelength.",
        },
    ),
    "description": (
        {"prompt": "Part two: the planets.", "title": "Part two"},
        {"points": 0, "title": "Part two"},
    ),
}


def _subset(expected: Any, actual: Any) -> bool:
    """Whether ``actual`` has everything ``expected`` has (lists item by item)."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and _subset(v, actual[k]) for k, v in expected.items()
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(expected) == len(actual)
            and all(_subset(e, a) for e, a in zip(expected, actual, strict=True))
        )
    return bool(expected == actual)


@pytest.fixture
async def teacher(web: WebClient) -> Teacher:
    return await sign_up_teacher(web)


async def test_a_new_quiz_opens_in_the_editor(teacher: Teacher) -> None:
    quiz_id = await teacher.new_quiz("Planets")
    page = await teacher.http.get(f"/teach/quizzes/{quiz_id}?notice=quiz_created")
    assert page.status_code == 200
    assert "<h1>Planets</h1>" in page.text and "Add its questions below" in page.text
    assert (await teacher.quiz(quiz_id))["status"] == "draft"


async def test_a_new_quiz_needs_a_title(teacher: Teacher) -> None:
    r = await teacher.post("/teach/new", {"title": "  "}, from_page="/teach/new")
    assert r.status_code == 422
    assert field_error(r.text, "title") == "Enter a title."
    assert marked_invalid(r.text, "title") and summary_links(r.text) == ["f-title"]
    r = await teacher.post("/teach/new", {"title": "x" * 201}, from_page="/teach/new")
    assert r.status_code == 422 and field_error(r.text, "title") == "Use at most 200 characters."


@pytest.mark.parametrize("type_", list(VALID))
async def test_every_question_type_is_saved_from_its_form(teacher: Teacher, type_: str) -> None:
    quiz_id = await teacher.new_quiz()
    form = await teacher.http.get(f"/teach/quizzes/{quiz_id}/questions/new?type={type_}")
    assert form.status_code == 200 and f'name="type" value="{type_}"' in form.text
    data, expected = VALID[type_]
    r = await teacher.add_question(quiz_id, type_, data)
    assert r.status_code == 303, r.text
    questions = (await teacher.quiz(quiz_id))["questions"]
    assert len(questions) == 1
    saved = questions[0]
    assert saved["type"] == type_ and saved["prompt"] == data["prompt"]
    assert _subset(expected, saved), saved
    assert r.headers["location"] == (
        f"/teach/quizzes/{quiz_id}?notice=question_added#q-{saved['id']}"
    )
    editor = await teacher.http.get(r.headers["location"].split("#")[0])
    assert f'id="q-{saved["id"]}"' in editor.text and "The question is added." in editor.text


# (type, form fields, the field whose message is expected, a part of that message)
INVALID: list[tuple[str, FormData, str, str]] = [
    (
        "single_choice",
        {"prompt": "p", "correct": "", **rows({"text": "a"}, {"text": "b"})},
        "rows",
        "exactly one correct",
    ),
    (
        "single_choice",
        {"prompt": "p", "correct": "0", **rows({"text": "a"})},
        "rows",
        "at least two options",
    ),
    (
        "single_choice",
        {"prompt": "p", "correct": "2", **rows({"text": "a"}, {"text": "b"})},
        "row-2-text",  # the schema says which row is blank
        "must not be empty",
    ),
    (
        "multiple_choice",
        {"prompt": "p", **rows({"text": "a", "weight": "50"}, {"text": "b", "weight": "30"})},
        "rows",
        "sum to 100",
    ),
    (
        "multiple_choice",
        {"prompt": "p", **rows({"text": "a", "weight": "lots"}, {"text": "b", "weight": "0"})},
        "row-0-weight",
        "as a number",
    ),
    (
        "multiple_choice",
        {"prompt": "p", **rows({"text": "a", "weight": "100"}, {"text": "b", "weight": "150"})},
        "row-1-weight",
        "at most 100",
    ),
    (
        "multiple_choice",
        {"prompt": "p", **rows({"text": "a" * 1001, "weight": "100"}, {"text": "b"})},
        "row-0-text",
        "at most 1000 characters",
    ),
    ("true_false", {"prompt": "p"}, "answer", "true or false"),
    ("short_answer", {"prompt": "p", **rows()}, "rows", "at least one answer"),
    (
        "short_answer",
        {"prompt": "p", **rows({"text": "x", "weight": "0"})},
        "rows",
        "positive weight",
    ),
    ("numeric", {"prompt": "p", **rows({"tolerance": "1"})}, "row-0-value", "accepted value"),
    (
        "numeric",
        {"prompt": "p", **rows({"value": "1", "tolerance": "-1"})},
        "row-0-tolerance",
        "at least 0",
    ),
    (
        "matching",
        {"prompt": "p", **rows({"left": "a", "right": "b"})},
        "rows",
        "at least two pairs",
    ),
    (
        "matching",
        {"prompt": "p", **rows({"left": "a", "right": "b"}, {"left": "c"})},
        "row-1-right",  # the schema says which row is blank
        "must not be empty",
    ),
    ("ordering", {"prompt": "p", **rows({"text": "only"})}, "rows", "at least two items"),
    ("essay", {"prompt": "   "}, "prompt", "must not be empty"),
    ("essay", {"prompt": "p", "points": "-1"}, "points", "at least 0"),
    ("essay", {"prompt": "p", "points": "two"}, "points", "as a number"),
    ("essay", {"prompt": "x" * 20_001}, "prompt", "at most 20000 characters"),
    ("essay", {"prompt": "p", "tags": "ok, " + "t" * 65}, "tags", "at most 64 characters"),
]


@pytest.mark.parametrize(
    ("type_", "data", "field", "message"),
    INVALID,
    ids=[f"{t}-{f}-{m}" for t, _, f, m in INVALID],
)
async def test_an_invalid_question_is_shown_again_with_the_message_at_its_field(
    teacher: Teacher, type_: str, data: FormData, field: str, message: str
) -> None:
    quiz_id = await teacher.new_quiz()
    r = await teacher.add_question(quiz_id, type_, data)
    assert r.status_code == 422, r.text
    shown = field_error(r.text, field)
    assert shown is not None and message in shown, (field, shown)
    assert f"f-{field}" in summary_links(r.text)
    if field not in ("rows", "answer"):  # those are groups (fieldsets), not one control
        assert marked_invalid(r.text, field)
    prompt = str(data["prompt"])
    assert prompt.strip() == "" or prompt[:50] in r.text, "the teacher's input is kept"
    assert (await teacher.quiz(quiz_id))["questions"] == [], "nothing was saved"


async def test_another_row_keeps_the_input_and_saves_nothing(teacher: Teacher) -> None:
    quiz_id = await teacher.new_quiz()
    data = {
        "prompt": "Kept prompt",
        "action": "more_rows",
        **rows({"text": "A", "weight": "100"}, extra=0),
    }
    r = await teacher.add_question(quiz_id, "multiple_choice", data)
    assert r.status_code == 200
    assert 'name="row_count" value="2"' in r.text and "Kept prompt" in r.text
    assert (
        'id="f-row-1-text"' in r.text
        and "autofocus" in r.text.split('id="f-row-1-text"')[1].split(">")[0]
    )
    assert (await teacher.quiz(quiz_id))["questions"] == []


async def test_editing_a_question_keeps_its_id_and_the_ids_of_kept_options(
    teacher: Teacher,
) -> None:
    quiz_id = await teacher.new_quiz()
    await teacher.add_question(quiz_id, *_valid("single_choice"))
    before = (await teacher.quiz(quiz_id))["questions"][0]
    form = await teacher.http.get(f"/teach/quizzes/{quiz_id}/questions/{before['id']}")
    assert form.status_code == 200
    assert f'value="{before["options"][0]["id"]}"' in form.text  # ids travel in hidden fields
    assert 'value="25"' in form.text  # partial credit of a wrong option is shown
    data = {
        "prompt": "Two plus two?",
        "points": "1",
        "correct": "1",
        **rows(
            {"text": "five", "id": before["options"][0]["id"]},
            {"text": "4", "id": before["options"][1]["id"]},
        ),
    }
    r = await teacher.edit_question(quiz_id, before["id"], data)
    assert r.status_code == 303, r.text
    after = (await teacher.quiz(quiz_id))["questions"][0]
    assert after["id"] == before["id"] and after["prompt"] == "Two plus two?"
    assert [o["id"] for o in after["options"]] == [o["id"] for o in before["options"][:2]]
    assert [o["text"] for o in after["options"]] == ["five", "4"]


async def test_an_invalid_edit_leaves_the_question_as_it_was(teacher: Teacher) -> None:
    quiz_id = await teacher.new_quiz()
    await teacher.add_question(quiz_id, *_valid("ordering"))
    before = await teacher.quiz(quiz_id)
    question_id = before["questions"][0]["id"]
    r = await teacher.edit_question(quiz_id, question_id, {"prompt": "New", **rows({"text": "x"})})
    assert r.status_code == 422 and "at least two items" in (field_error(r.text, "rows") or "")
    assert (await teacher.quiz(quiz_id))["questions"] == before["questions"]


async def test_questions_move_up_and_down_with_buttons(teacher: Teacher) -> None:
    quiz_id = await teacher.new_quiz()
    for type_ in ("true_false", "essay", "ordering"):
        await teacher.add_question(quiz_id, *_valid(type_))
    ids = [q["id"] for q in (await teacher.quiz(quiz_id))["questions"]]
    editor = f"/teach/quizzes/{quiz_id}"

    async def move(question_id: str, direction: str) -> list[str]:
        path = f"{editor}/questions/{question_id}/move"
        r = await teacher.post(path, {"direction": direction}, from_page=editor)
        assert r.status_code == 303
        page = await teacher.http.get(r.headers["location"].split("#")[0])
        focused = page.text.split(" autofocus")[0].rsplit("/questions/", 1)[1].split("/")[0]
        assert focused == question_id, "the moved question's button keeps the focus"
        return [q["id"] for q in (await teacher.quiz(quiz_id))["questions"]]

    assert await move(ids[2], "up") == [ids[0], ids[2], ids[1]]
    assert await move(ids[2], "up") == [ids[2], ids[0], ids[1]]
    assert await move(ids[2], "up") == [ids[2], ids[0], ids[1]], "the first stays first"
    assert await move(ids[0], "down") == [ids[2], ids[1], ids[0]]
    page = await teacher.http.get(editor)
    first = page.text.split(f'id="q-{ids[2]}"')[1].split("</li>")[0]
    assert "disabled>Move up" in first


async def test_a_question_is_deleted_after_confirming(teacher: Teacher) -> None:
    quiz_id = await teacher.new_quiz()
    await teacher.add_question(quiz_id, *_valid("essay"))
    await teacher.add_question(quiz_id, *_valid("true_false"))
    essay = (await teacher.quiz(quiz_id))["questions"][0]
    confirm = f"/teach/quizzes/{quiz_id}/questions/{essay['id']}/delete"
    page = await teacher.http.get(confirm)
    assert page.status_code == 200 and "Why is the sky blue?" in page.text
    r = await teacher.post(confirm, {}, from_page=confirm)
    assert r.status_code == 303 and "question_deleted" in r.headers["location"]
    assert [q["type"] for q in (await teacher.quiz(quiz_id))["questions"]] == ["true_false"]
    gone = await teacher.http.get(f"/teach/quizzes/{quiz_id}/questions/{essay['id']}")
    assert gone.status_code == 404


SETTINGS = {
    "title": "Renamed",
    "description": "About planets",
    "tags": "Space, science",
    "time_limit": "1.5",
    "max_attempts": "2",
    "shuffle_questions": "on",
    "opens_at": "2030-01-01T09:00",
    "closes_at": "2030-01-02T09:00",
    "show_correct_answers": "after_close",
}


async def test_settings_are_saved(teacher: Teacher) -> None:
    quiz_id = await teacher.new_quiz()
    editor = f"/teach/quizzes/{quiz_id}"
    r = await teacher.post(f"{editor}/settings", SETTINGS, from_page=editor)
    assert r.status_code == 303, r.text
    quiz = await teacher.quiz(quiz_id)
    assert (quiz["title"], quiz["description"], quiz["tags"]) == (
        "Renamed",
        "About planets",
        ["science", "space"],
    )
    assert quiz["settings"] == {
        "time_limit_seconds": 90,
        "max_attempts": 2,
        "shuffle_questions": True,
        "shuffle_options": False,
        "opens_at": "2030-01-01T09:00:00Z",
        "closes_at": "2030-01-02T09:00:00Z",
        "show_correct_answers": "after_close",
    }
    page = await teacher.http.get(editor)
    assert 'value="1.5"' in page.text and 'value="2030-01-01T09:00"' in page.text


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"time_limit": "soon"}, "time_limit", "in minutes"),
        ({"time_limit": "0"}, "time_limit", "greater than 0"),
        ({"max_attempts": "1.5"}, "max_attempts", "whole number"),
        ({"max_attempts": "0"}, "max_attempts", "greater than 0"),
        ({"opens_at": "tomorrow"}, "opens_at", "date and time"),
        ({"closes_at": "2029-12-31T09:00"}, "closes_at", "after the opening time"),
        ({"title": ""}, "title", "Enter a title"),
        ({"tags": "x" * 65}, "tags", "at most 64 characters"),
        ({"show_correct_answers": "sometimes"}, "show_correct_answers", "Choose when"),
    ],
)
async def test_invalid_settings_are_shown_at_their_fields(
    teacher: Teacher, changes: dict[str, str], field: str, message: str
) -> None:
    quiz_id = await teacher.new_quiz("Before")
    editor = f"/teach/quizzes/{quiz_id}"
    before = await teacher.quiz(quiz_id)
    r = await teacher.post(f"{editor}/settings", {**SETTINGS, **changes}, from_page=editor)
    assert r.status_code == 422, r.text
    shown = field_error(r.text, field)
    assert shown is not None and message in shown, shown
    assert marked_invalid(r.text, field) and f"f-{field}" in summary_links(r.text)
    assert 'value="About planets"' not in r.text or "About planets" in r.text  # input kept
    assert "About planets</textarea>" in r.text
    after = await teacher.quiz(quiz_id)
    assert after["title"] == "Before" and after["settings"] == before["settings"]


async def test_publishing_needs_a_question_and_then_unpublishes(teacher: Teacher) -> None:
    quiz_id = await teacher.new_quiz()
    editor = f"/teach/quizzes/{quiz_id}"
    r = await teacher.post(f"{editor}/publish", {}, from_page=editor)
    assert r.status_code == 409 and "at least one question" in r.text and 'role="alert"' in r.text
    await teacher.add_question(quiz_id, *_valid("true_false"))
    r = await teacher.post(f"{editor}/publish", {}, from_page=editor)
    assert r.status_code == 303 and (await teacher.quiz(quiz_id))["status"] == "published"
    page = await teacher.http.get(r.headers["location"])
    assert "students can find and take it now" in page.text and ">Unpublish</button>" in page.text
    r = await teacher.post(f"{editor}/unpublish", {}, from_page=editor)
    assert r.status_code == 303 and (await teacher.quiz(quiz_id))["status"] == "draft"


async def test_a_quiz_is_exported_and_deleted(teacher: Teacher) -> None:
    quiz_id = await teacher.new_quiz("To export")
    await teacher.add_question(quiz_id, *_valid("true_false"))
    gift = await teacher.http.get(f"/teach/quizzes/{quiz_id}/export?format=gift")
    assert gift.status_code == 200 and "The Moon is a planet. {FALSE" in gift.text
    assert "attachment" in gift.headers["content-disposition"]
    aiken = await teacher.http.get(f"/teach/quizzes/{quiz_id}/export?format=aiken")
    assert aiken.status_code == 422 and "Aiken" in aiken.text  # true/false is not Aiken
    confirm = f"/teach/quizzes/{quiz_id}/delete"
    assert "every attempt" in (await teacher.http.get(confirm)).text
    r = await teacher.post(confirm, {}, from_page=confirm)
    assert r.status_code == 303 and r.headers["location"] == "/dashboard?notice=quiz_deleted"
    r = await teacher.http.get(f"/api/v1/quizzes/{quiz_id}", headers=teacher.web.bearer())
    assert r.status_code == 404


async def test_only_the_owner_may_edit(web: WebClient) -> None:
    owner = await sign_up_teacher(web)
    quiz_id = await owner.new_quiz()
    await owner.add_question(quiz_id, *_valid("essay"))
    question_id = (await owner.quiz(quiz_id))["questions"][0]["id"]
    web.http.cookies.clear()
    await web.sign_up("teacher")
    for path in (f"/teach/quizzes/{quiz_id}", f"/teach/quizzes/{quiz_id}/questions/{question_id}"):
        r = await web.http.get(path)
        assert r.status_code == 404, "a draft of another teacher is not found"
    web.http.cookies.clear()
    await web.sign_up("student")
    for path in ("/teach/new", "/teach/import", "/teach/ai"):
        r = await web.http.get(path)
        assert r.status_code == 403 and "for teachers" in r.text and "Reference:" in r.text


async def test_a_published_quiz_of_another_teacher_is_forbidden(web: WebClient) -> None:
    owner = await sign_up_teacher(web)
    quiz_id = await owner.new_quiz()
    await owner.add_question(quiz_id, *_valid("essay"))
    editor = f"/teach/quizzes/{quiz_id}"
    await owner.post(f"{editor}/publish", {}, from_page=editor)
    web.http.cookies.clear()
    await web.sign_up("teacher")
    r = await web.http.get(editor)
    assert r.status_code == 403 and "Only the quiz&#39;s owner may do this." in r.text


async def test_an_edit_without_a_csrf_token_is_refused_and_changes_nothing(
    teacher: Teacher,
) -> None:
    quiz_id = await teacher.new_quiz("Untouched")
    r = await teacher.http.post(f"/teach/quizzes/{quiz_id}/settings", data=SETTINGS)
    assert r.status_code == 403 and "This form has expired" in r.text
    r = await teacher.http.post(
        f"/teach/quizzes/{quiz_id}/questions/new",
        data={"csrf_token": "forged", "type": "essay", "prompt": "p"},
    )
    assert r.status_code == 403
    quiz = await teacher.quiz(quiz_id)
    assert quiz["title"] == "Untouched" and quiz["questions"] == []


def _valid(type_: str) -> tuple[str, FormData]:
    return type_, VALID[type_][0]


async def test_teacher_pages_stay_within_the_javascript_and_css_budget(
    teacher: Teacher,
) -> None:
    """Issue 6: JavaScript + CSS per page < 60 KB compressed (teacher.css included)."""
    quiz_id = await teacher.new_quiz()
    assets = StaticAssets()
    for path in ("/dashboard", f"/teach/quizzes/{quiz_id}", "/teach/import", "/teach/ai"):
        page = await teacher.http.get(path)
        linked = re.findall(r'(?:href|src)="/static/([^"]+\.(?:css|js))"', page.text)
        assert any(name.startswith("teacher.") for name in linked), path
        total = sum(len(assets.by_hashed[name].body_for("br, gzip")[0]) for name in linked)
        assert total < 60 * 1024, (path, total)
