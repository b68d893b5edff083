"""Import and export through HTTP: every GIFT feature, line-numbered errors, round trips."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from quizplatform.db import models
from tests.api.helpers import Api
from tests.api.samples import all_types_quiz

FIXTURES = Path(__file__).parent.parent / "fixtures"


async def test_gift_with_every_feature_imports_with_types_keys_and_weights(api: Api) -> None:
    teacher = await api.user("teacher")
    gift = (FIXTURES / "every_feature.gift").read_text()
    r = await api.http.post(
        "/api/v1/quizzes/import?format=gift&title=Everything",
        content=gift.encode(),
        headers={**teacher.headers, "Content-Type": "text/plain"},
    )
    assert r.status_code == 201, r.text
    quiz = r.json()
    assert quiz["title"] == "Everything" and quiz["status"] == "draft"
    qs = quiz["questions"]
    assert [q["type"] for q in qs] == [
        "single_choice",
        "multiple_choice",
        "true_false",
        "true_false",
        "short_answer",
        "numeric",
        "numeric",
        "numeric",
        "matching",
        "essay",
        "description",
        "single_choice",
        "true_false",
        "single_choice",
    ]
    red = qs[0]
    assert red["title"] == "Red planet" and red["text_format"] == "html"
    assert red["category"] == "$course$/Science/Astronomy"
    assert [(o["text"], o["weight"], o["correct"]) for o in red["options"]] == [
        ("Mars", 100, True),
        ("Jupiter", 50, False),
        ("Venus", 0, False),
    ]
    assert red["options"][0]["feedback"] == "Right, iron oxide."
    assert red["feedback"] == "Mars looks red because of rust."
    assert [o["weight"] for o in qs[1]["options"]] == [50, 50, -100]
    assert qs[2]["answer"] is True
    assert qs[2]["wrong_feedback"] == "Wrong: it is a star." and qs[2]["right_feedback"] == "Right!"
    assert qs[3]["answer"] is False
    assert [(a["text"], a["weight"]) for a in qs[4]["answers"]] == [
        ("Au", 100),
        ("AU", 50),
        ("Gold", 100),
    ]
    assert qs[5]["answers"] == [
        {"value": 3.14, "tolerance": 0.005, "weight": 100, "feedback": None}
    ]
    assert (qs[6]["answers"][0]["value"], qs[6]["answers"][0]["tolerance"]) == (3, 2)
    assert [(a["value"], a["tolerance"], a["weight"]) for a in qs[7]["answers"]] == [
        (1822, 0, 100),
        (1822, 2, 50),
    ]
    assert [(p["left"], p["right"]) for p in qs[8]["pairs"]] == [
        ("cat", "meow"),
        ("dog", "woof"),
        ("cow", "moo"),
    ]
    assert qs[10]["points"] == 0
    assert qs[11]["prompt"] == "Moodle costs _____ to download."
    assert (
        qs[12]["prompt"]
        == "Escapes: 1 = 1, ~ tilde, # hash, {braces} and a colon: fine. Line\nbreak"
    )
    assert qs[13]["prompt"] == "A question\nspread over\nseveral lines"
    assert qs[13]["text_format"] == "markdown"


async def test_malformed_gift_gets_422_with_line_numbers_and_saves_nothing(api: Api) -> None:
    teacher = await api.user("teacher")
    bad = "::Q1:: Fine question {=yes ~no}\n\n::Q2:: Broken {=a ~b\n\n::Q3:: Also fine {T}\n"
    r = await api.http.post(
        "/api/v1/quizzes/import?format=gift",
        content=bad.encode(),
        headers={**teacher.headers, "Content-Type": "text/plain"},
    )
    assert r.status_code == 422, r.text
    details = r.json()["error"]["details"]
    assert details and all("line" in d and "message" in d for d in details)
    assert 3 in [d["line"] for d in details]
    async with api.services.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(models.Quiz)) == 0
        assert await session.scalar(select(func.count()).select_from(models.Question)) == 0


async def test_json_export_reimports_to_an_equal_quiz(api: Api) -> None:
    teacher = await api.user("teacher")
    quiz = await api.quiz(teacher, all_types_quiz(time_limit_seconds=600, shuffle_options=True))
    r = await api.http.get(
        f"/api/v1/quizzes/{quiz['id']}/export?format=json", headers=teacher.headers
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    again = await api.http.post(
        "/api/v1/quizzes/import?format=json",
        content=r.content,
        headers={**teacher.headers, "Content-Type": "application/json"},
    )
    assert again.status_code == 201, again.text
    copy = again.json()
    assert _content(copy) == _content(quiz)


async def test_gift_export_of_ordering_question_is_refused_clearly(api: Api) -> None:
    teacher = await api.user("teacher")
    quiz = await api.quiz(teacher, all_types_quiz())
    r = await api.http.get(
        f"/api/v1/quizzes/{quiz['id']}/export?format=gift", headers=teacher.headers
    )
    assert r.status_code == 422
    assert "ordering" in r.json()["error"]["message"]


async def test_multipart_upload_of_aiken(api: Api) -> None:
    teacher = await api.user("teacher")
    aiken = "What is 2+2?\nA. 3\nB. 4\nC. 5\nANSWER: B\n"
    r = await api.http.post(
        "/api/v1/quizzes/import?format=aiken",
        files={"file": ("quiz.txt", aiken.encode(), "text/plain")},
        headers=teacher.headers,
    )
    assert r.status_code == 201, r.text
    options = r.json()["questions"][0]["options"]
    assert [o["correct"] for o in options] == [False, True, False]


def _content(quiz: dict[str, object]) -> object:
    """A quiz without ids, timestamps and status: what an export must carry."""
    drop = {"id", "right_id", "created_at", "updated_at", "published_at", "status"}

    def strip(value: object) -> object:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in drop}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(quiz)
