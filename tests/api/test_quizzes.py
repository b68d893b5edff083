"""Quiz authoring over HTTP: CRUD with every question type, publishing, listing with
paging, ``mine``, tags and text search (PostgreSQL full text and the SQLite fallback),
validation per question type, and other teachers' quizzes."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher

from tests.api.helpers import Api, User
from tests.api.samples import all_types_quiz, by_type

V1 = "/api/v1"
TYPES = [
    "single_choice",
    "multiple_choice",
    "true_false",
    "short_answer",
    "numeric",
    "matching",
    "ordering",
    "essay",
]
QUIZ_FIELDS = {
    "id",
    "title",
    "description",
    "status",
    "tags",
    "settings",
    "question_count",
    "max_score",
    "created_at",
    "updated_at",
    "published_at",
    "questions",
    "questions_hidden",
    "draws",  # random draws from the owner's question bank (tests/api/test_bank.py)
}
LIST_ITEM_FIELDS = {
    "id",
    "title",
    "description",
    "status",
    "tags",
    "question_count",
    "published_at",
    "updated_at",
}
DEFAULT_SETTINGS = {
    "time_limit_seconds": None,
    "max_attempts": None,
    "shuffle_questions": False,
    "shuffle_options": False,
    "opens_at": None,
    "closes_at": None,
    "show_correct_answers": "after_submit",
}


@pytest.fixture(autouse=True)
def fast_hashing(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap argon2id parameters: these tests sign in many users and are not about it."""
    if "api" in request.fixturenames:
        api: Api = request.getfixturevalue("api")
        cheap = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
        monkeypatch.setattr(api.services.accounts, "hasher", cheap)


@pytest.fixture
async def teacher(api: Api) -> AsyncIterator[User]:
    yield await api.user("teacher")


def error_of(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text}"
    error: dict[str, Any] = r.json()["error"]
    assert set(error) == {"code", "message", "request_id", "details"}
    assert error["request_id"] == r.headers["x-request-id"]
    return error


async def create(api: Api, owner: User, body: dict[str, Any]) -> dict[str, Any]:
    r = await api.http.post(f"{V1}/quizzes", json=body, headers=owner.headers)
    assert r.status_code == 201, r.text
    quiz: dict[str, Any] = r.json()
    return quiz


def as_input(question: dict[str, Any]) -> dict[str, Any]:
    """An owner-view question as a request body (the owner view re-submits as it is)."""
    return copy.deepcopy(question)


def rich_quiz() -> dict[str, Any]:
    """All eight types with the optional fields set."""
    body = all_types_quiz(max_attempts=3, time_limit_seconds=600, show_correct_answers="never")
    questions = body["questions"]
    questions[0]["feedback"] = "Basic arithmetic"
    questions[0]["options"][1]["feedback"] = "Off by one"
    questions[2].update(right_feedback="Yes", wrong_feedback="Look up")
    questions[3]["case_sensitive"] = True
    questions[4]["answers"].append({"value": 3.0, "tolerance": 0.5, "weight": 25})
    questions[7]["tags"] = ["Writing"]
    return body


# -- create and read ------------------------------------------------------------------------
async def test_create_returns_the_owner_view_with_ids(api: Api, teacher: User) -> None:
    quiz = await create(api, teacher, rich_quiz())
    assert set(quiz) == QUIZ_FIELDS
    assert quiz["status"] == "draft" and quiz["published_at"] is None
    assert quiz["title"] == "Every type" and quiz["description"] == "Covers the contract's table"
    assert quiz["tags"] == ["sample"]
    assert quiz["settings"] == {
        **DEFAULT_SETTINGS,
        "max_attempts": 3,
        "time_limit_seconds": 600,
        "show_correct_answers": "never",
    }
    assert quiz["question_count"] == 8 and quiz["max_score"] == 15
    assert quiz["created_at"].endswith("Z") and quiz["updated_at"].endswith("Z")
    assert [q["type"] for q in quiz["questions"]] == TYPES

    ids = [q["id"] for q in quiz["questions"]]
    assert all(isinstance(i, str) and i for i in ids) and len(set(ids)) == 8
    key = by_type(quiz)
    part_ids: list[str] = []
    for q in quiz["questions"]:
        assert q["points"] == {"multiple_choice": 2, "matching": 3, "essay": 5}.get(q["type"], 1)

    sc = key["single_choice"]
    assert [(o["text"], o["correct"]) for o in sc["options"]] == [
        ("4", True),
        ("5", False),
        ("3", False),
    ]
    assert sc["feedback"] == "Basic arithmetic" and sc["options"][1]["feedback"] == "Off by one"
    part_ids += [o["id"] for o in sc["options"]]

    mc = key["multiple_choice"]
    assert [(o["text"], o["weight"]) for o in mc["options"]] == [("2", 50), ("3", 50), ("4", -100)]
    part_ids += [o["id"] for o in mc["options"]]

    tf = key["true_false"]
    assert tf["answer"] is True
    assert (tf["right_feedback"], tf["wrong_feedback"]) == ("Yes", "Look up")

    sa = key["short_answer"]
    assert [(a["text"], a["weight"]) for a in sa["answers"]] == [("Paris", 100), ("Paname", 50)]
    assert sa["case_sensitive"] is True

    num = key["numeric"]
    assert [(a["value"], a["tolerance"], a["weight"]) for a in num["answers"]] == [
        (3.14, 0.01, 100),
        (3.0, 0.5, 25),
    ]

    pairs = key["matching"]["pairs"]
    assert [(p["left"], p["right"]) for p in pairs] == [
        ("cat", "meow"),
        ("dog", "woof"),
        ("cow", "moo"),
    ]
    part_ids += [p["id"] for p in pairs] + [p["right_id"] for p in pairs]

    items = key["ordering"]["items"]
    assert [i["text"] for i in items] == ["one", "two", "three"]
    part_ids += [i["id"] for i in items]

    assert key["essay"]["tags"] == ["writing"]
    assert all(isinstance(i, str) and i for i in part_ids)
    assert len(set(part_ids)) == len(part_ids), "part ids must be unique"
    assert not set(part_ids) & set(ids)

    r = await api.http.get(f"{V1}/quizzes/{quiz['id']}", headers=teacher.headers)
    assert r.status_code == 200, r.text
    assert r.json() == quiz


async def test_each_type_alone(api: Api, teacher: User) -> None:
    """Every type can make up a quiz on its own, and reads back as it was written."""
    for question in all_types_quiz()["questions"]:
        quiz = await create(api, teacher, {"title": question["type"], "questions": [question]})
        (saved,) = quiz["questions"]
        assert saved["type"] == question["type"] and saved["prompt"] == question["prompt"]
        got = (await api.http.get(f"{V1}/quizzes/{quiz['id']}", headers=teacher.headers)).json()
        assert got == quiz


async def test_create_minimal_quiz_and_defaults(api: Api, teacher: User) -> None:
    quiz = await create(api, teacher, {"title": "  Just a title  "})
    assert quiz["title"] == "Just a title"
    assert quiz["description"] == "" and quiz["tags"] == [] and quiz["questions"] == []
    assert quiz["settings"] == DEFAULT_SETTINGS
    assert quiz["question_count"] == 0 and quiz["max_score"] == 0


async def test_students_cannot_create_quizzes(api: Api) -> None:
    student = await api.user("student")
    r = await api.http.post(f"{V1}/quizzes", json={"title": "x"}, headers=student.headers)
    error_of(r, 403)
    error_of(await api.http.post(f"{V1}/quizzes", json={"title": "x"}), 401)


# -- update -------------------------------------------------------------------------------------
async def test_patch_title_description_and_tags(api: Api, teacher: User) -> None:
    quiz = await create(api, teacher, rich_quiz())
    r = await api.http.patch(
        f"{V1}/quizzes/{quiz['id']}",
        json={"title": "Renamed", "description": "New", "tags": ["Maths", "basics", "maths"]},
        headers=teacher.headers,
    )
    assert r.status_code == 200, r.text
    patched = r.json()
    assert patched["title"] == "Renamed" and patched["description"] == "New"
    assert sorted(patched["tags"]) == ["basics", "maths"]
    assert patched["questions"] == quiz["questions"], "questions were not part of the change"
    assert patched["settings"] == quiz["settings"]
    assert patched["updated_at"] >= quiz["updated_at"]
    got = (await api.http.get(f"{V1}/quizzes/{quiz['id']}", headers=teacher.headers)).json()
    assert got == patched


async def test_patch_null_leaves_a_field_as_it_is_and_an_empty_list_empties_it(
    api: Api, teacher: User
) -> None:
    quiz = await create(api, teacher, rich_quiz())
    nulls = {"title": None, "description": None, "tags": None, "settings": None, "questions": None}
    r = await api.http.patch(f"{V1}/quizzes/{quiz['id']}", json=nulls, headers=teacher.headers)
    assert r.status_code == 200, r.text
    kept = r.json()
    for name in ("title", "description", "tags", "settings", "questions"):
        assert kept[name] == quiz[name], name
    r = await api.http.patch(
        f"{V1}/quizzes/{quiz['id']}", json={"questions": [], "tags": []}, headers=teacher.headers
    )
    assert r.status_code == 200, r.text
    emptied = r.json()
    assert emptied["questions"] == [] and emptied["tags"] == []
    assert emptied["title"] == quiz["title"]


async def test_patch_settings_changes_only_the_given_fields(api: Api, teacher: User) -> None:
    quiz = await create(api, teacher, rich_quiz())
    r = await api.http.patch(
        f"{V1}/quizzes/{quiz['id']}",
        json={
            "settings": {
                "max_attempts": None,
                "shuffle_questions": True,
                "opens_at": "2030-01-01T10:00:00+02:00",
                "closes_at": "2030-01-02T08:00:00Z",
            }
        },
        headers=teacher.headers,
    )
    assert r.status_code == 200, r.text
    settings = r.json()["settings"]
    assert settings["max_attempts"] is None
    assert settings["shuffle_questions"] is True
    assert settings["time_limit_seconds"] == 600  # kept
    assert settings["show_correct_answers"] == "never"  # kept
    assert settings["opens_at"] == "2030-01-01T08:00:00Z"  # stored in UTC
    assert settings["closes_at"] == "2030-01-02T08:00:00Z"

    r = await api.http.patch(
        f"{V1}/quizzes/{quiz['id']}",
        json={"settings": {"closes_at": "2029-12-31T00:00:00Z"}},  # before opens_at
        headers=teacher.headers,
    )
    error = error_of(r, 422)
    assert ["body", "settings", "closes_at"] in [d["loc"] for d in error["details"]]


async def test_patch_questions_edits_adds_removes_and_reorders(api: Api, teacher: User) -> None:
    quiz = await create(api, teacher, rich_quiz())
    key = by_type(quiz)
    sc = as_input(key["single_choice"])
    sc["prompt"] = "Two plus two?"
    sc["options"][2]["text"] = "22"
    ordering = as_input(key["ordering"])
    ordering["items"].reverse()
    new = {"type": "true_false", "prompt": "New one", "answer": False, "points": 2}
    # drop the essay and the numeric question; put ordering first
    questions = [ordering, sc, new] + [
        as_input(key[t]) for t in ("multiple_choice", "true_false", "short_answer", "matching")
    ]
    r = await api.http.patch(
        f"{V1}/quizzes/{quiz['id']}", json={"questions": questions}, headers=teacher.headers
    )
    assert r.status_code == 200, r.text
    patched = r.json()
    got = patched["questions"]
    assert [q["type"] for q in got] == [
        "ordering",
        "single_choice",
        "true_false",
        "multiple_choice",
        "true_false",
        "short_answer",
        "matching",
    ]
    assert patched["question_count"] == 7 and patched["max_score"] == 1 + 1 + 2 + 2 + 1 + 1 + 3
    # unanswered questions are edited in place: same ids
    assert got[0]["id"] == key["ordering"]["id"] and got[1]["id"] == key["single_choice"]["id"]
    assert [i["text"] for i in got[0]["items"]] == ["three", "two", "one"]
    assert got[1]["prompt"] == "Two plus two?"
    assert [o["text"] for o in got[1]["options"]] == ["4", "5", "22"]
    assert [o["id"] for o in got[1]["options"]] == [
        o["id"] for o in key["single_choice"]["options"]
    ]
    assert got[2]["id"] not in {q["id"] for q in quiz["questions"]}
    assert got[2]["answer"] is False and got[2]["points"] == 2
    for q in got[3:]:
        assert q == key[q["type"]], "untouched questions stay exactly as they were"
    ids = {q["id"] for q in got}
    assert key["essay"]["id"] not in ids and key["numeric"]["id"] not in ids

    again = (await api.http.get(f"{V1}/quizzes/{quiz['id']}", headers=teacher.headers)).json()
    assert again == patched


async def test_patch_with_the_owner_view_changes_nothing(api: Api, teacher: User) -> None:
    quiz = await create(api, teacher, rich_quiz())
    body = {"questions": [as_input(q) for q in quiz["questions"]]}
    r = await api.http.patch(f"{V1}/quizzes/{quiz['id']}", json=body, headers=teacher.headers)
    assert r.status_code == 200, r.text
    assert r.json()["questions"] == quiz["questions"]


async def test_patch_with_a_foreign_question_id_is_422(api: Api, teacher: User) -> None:
    quiz = await create(api, teacher, rich_quiz())
    other = await create(api, teacher, {**all_types_quiz(), "title": "Other"})
    foreign = as_input(other["questions"][2])
    body = {"questions": [as_input(quiz["questions"][0]), foreign]}
    r = await api.http.patch(f"{V1}/quizzes/{quiz['id']}", json=body, headers=teacher.headers)
    error = error_of(r, 422)
    assert ["body", "questions", 1, "id"] in [d["loc"] for d in error["details"]]
    got = (await api.http.get(f"{V1}/quizzes/{quiz['id']}", headers=teacher.headers)).json()
    assert got["questions"] == quiz["questions"], "nothing was saved"
    got = (await api.http.get(f"{V1}/quizzes/{other['id']}", headers=teacher.headers)).json()
    assert got["questions"] == other["questions"]


# -- delete ---------------------------------------------------------------------------------------
async def test_delete(api: Api, teacher: User) -> None:
    quiz = await create(api, teacher, rich_quiz())
    keep = await create(api, teacher, {"title": "Keep"})
    r = await api.http.delete(f"{V1}/quizzes/{quiz['id']}", headers=teacher.headers)
    assert r.status_code == 204, r.text
    assert r.content == b""
    error_of(await api.http.get(f"{V1}/quizzes/{quiz['id']}", headers=teacher.headers), 404)
    error_of(await api.http.delete(f"{V1}/quizzes/{quiz['id']}", headers=teacher.headers), 404)
    error_of(
        await api.http.patch(
            f"{V1}/quizzes/{quiz['id']}", json={"title": "x"}, headers=teacher.headers
        ),
        404,
    )
    mine = (await api.http.get(f"{V1}/quizzes?mine=true", headers=teacher.headers)).json()
    assert [q["id"] for q in mine["items"]] == [keep["id"]]


async def test_delete_a_published_quiz_with_attempts(api: Api, teacher: User) -> None:
    quiz = await api.quiz(teacher, all_types_quiz())
    student = await api.user("student")
    r = await api.http.post(f"{V1}/quizzes/{quiz['id']}/attempts", headers=student.headers)
    assert r.status_code == 201, r.text
    attempt = r.json()
    r = await api.http.post(f"{V1}/attempts/{attempt['id']}/submit", headers=student.headers)
    assert r.status_code == 200, r.text
    r = await api.http.delete(f"{V1}/quizzes/{quiz['id']}", headers=teacher.headers)
    assert r.status_code == 204, r.text
    error_of(await api.http.get(f"{V1}/quizzes/{quiz['id']}", headers=student.headers), 404)
    error_of(await api.http.get(f"{V1}/attempts/{attempt['id']}", headers=student.headers), 404)
    assert (await api.http.get(f"{V1}/quizzes")).json()["total"] == 0


# -- publishing ------------------------------------------------------------------------------------
async def test_publish_and_unpublish(api: Api, teacher: User) -> None:
    student = await api.user("student")
    quiz = await create(api, teacher, rich_quiz())
    path = f"{V1}/quizzes/{quiz['id']}"
    error_of(await api.http.get(path, headers=student.headers), 404)
    error_of(await api.http.post(f"{path}/attempts", headers=student.headers), 404)

    r = await api.http.post(f"{path}/publish", headers=teacher.headers)
    assert r.status_code == 200, r.text
    published = r.json()
    assert set(published) == QUIZ_FIELDS
    assert published["status"] == "published"
    assert published["published_at"] and published["published_at"].endswith("Z")
    assert published["questions"] == quiz["questions"], "publishing is the owner view"
    seen = await api.http.get(path, headers=student.headers)
    assert seen.status_code == 200 and seen.json()["status"] == "published"
    listed = (await api.http.get(f"{V1}/quizzes")).json()
    assert [q["id"] for q in listed["items"]] == [quiz["id"]]
    # publishing again is harmless
    r = await api.http.post(f"{path}/publish", headers=teacher.headers)
    assert r.status_code == 200 and r.json()["status"] == "published"

    r = await api.http.post(f"{path}/unpublish", headers=teacher.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "draft"
    error_of(await api.http.get(path, headers=student.headers), 404)
    assert (await api.http.get(f"{V1}/quizzes")).json()["total"] == 0
    r = await api.http.get(path, headers=teacher.headers)
    assert r.status_code == 200 and r.json()["status"] == "draft"


async def test_a_quiz_without_questions_cannot_be_published(api: Api, teacher: User) -> None:
    quiz = await create(api, teacher, {"title": "Empty"})
    r = await api.http.post(f"{V1}/quizzes/{quiz['id']}/publish", headers=teacher.headers)
    assert error_of(r, 409)["code"] == "conflict"


# -- listing --------------------------------------------------------------------------------------
async def test_list_pages(api: Api, teacher: User) -> None:
    other = await api.user("teacher")
    published = [
        (await api.quiz(teacher, {**all_types_quiz(), "title": f"Quiz {n}"}))["id"]
        for n in range(5)
    ]
    published.append((await api.quiz(other, {**all_types_quiz(), "title": "Other's"}))["id"])
    await create(api, teacher, {"title": "Draft"})

    r = await api.http.get(f"{V1}/quizzes")
    assert r.status_code == 200, r.text
    first = r.json()
    assert set(first) == {"items", "total", "page", "per_page"}
    assert (first["total"], first["page"], first["per_page"]) == (6, 1, 20)
    assert len(first["items"]) == 6
    for item in first["items"]:
        assert set(item) == LIST_ITEM_FIELDS
        assert item["status"] == "published" and item["question_count"] == 8

    seen: list[str] = []
    for page in (1, 2, 3, 4):
        body = (await api.http.get(f"{V1}/quizzes?page={page}&per_page=2")).json()
        assert (body["total"], body["page"], body["per_page"]) == (6, page, 2)
        assert len(body["items"]) == (2 if page < 4 else 0)
        seen += [q["id"] for q in body["items"]]
    assert sorted(seen) == sorted(published) and len(set(seen)) == 6
    assert seen == [q["id"] for q in first["items"]], "pages follow the same order"


async def test_list_mine(api: Api, teacher: User) -> None:
    other = await api.user("teacher")
    student = await api.user("student")
    draft = await create(api, teacher, {"title": "My draft"})
    mine = await api.quiz(teacher, all_types_quiz())
    theirs = await api.quiz(other, all_types_quiz())

    body = (await api.http.get(f"{V1}/quizzes?mine=true", headers=teacher.headers)).json()
    assert body["total"] == 2
    assert {q["id"]: q["status"] for q in body["items"]} == {
        draft["id"]: "draft",
        mine["id"]: "published",
    }
    body = (await api.http.get(f"{V1}/quizzes?mine=true", headers=other.headers)).json()
    assert [q["id"] for q in body["items"]] == [theirs["id"]]
    for headers in ({}, student.headers):
        body = (await api.http.get(f"{V1}/quizzes?mine=true", headers=headers)).json()
        assert body["total"] == 0 and body["items"] == []
    body = (await api.http.get(f"{V1}/quizzes?mine=false", headers=teacher.headers)).json()
    assert {q["id"] for q in body["items"]} == {mine["id"], theirs["id"]}


async def test_list_by_tag(api: Api, teacher: User) -> None:
    bio = await api.quiz(teacher, {**all_types_quiz(), "tags": ["Biology", "cells"]})
    chem = await api.quiz(teacher, {**all_types_quiz(), "tags": ["chemistry"]})
    both = await api.quiz(teacher, {**all_types_quiz(), "tags": ["biology", "chemistry"]})
    await create(api, teacher, {"title": "Draft", "tags": ["biology"]})

    async def ids(query: str, headers: dict[str, str] | None = None) -> set[str]:
        r = await api.http.get(f"{V1}/quizzes?{query}", headers=headers or {})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["total"] == len(body["items"])
        return {q["id"] for q in body["items"]}

    assert await ids("tag=biology") == {bio["id"], both["id"]}
    assert await ids("tag=BIOLOGY") == {bio["id"], both["id"]}
    assert await ids("tag=chemistry") == {chem["id"], both["id"]}
    assert await ids("tag=cells") == {bio["id"]}
    assert await ids("tag=physics") == set()
    assert len(await ids("tag=biology&mine=true", teacher.headers)) == 3
    item = next(
        q
        for q in (await api.http.get(f"{V1}/quizzes?tag=cells")).json()["items"]
        if q["id"] == bio["id"]
    )
    assert sorted(item["tags"]) == ["biology", "cells"]


async def test_text_search_on_both_backends(api: Api, teacher: User) -> None:
    def titled(title: str, description: str, **extra: Any) -> dict[str, Any]:
        return {**all_types_quiz(), "title": title, "description": description, **extra}

    plants = await api.quiz(
        teacher, titled("Photosynthesis basics", "How plants turn light into sugar")
    )
    cells = await api.quiz(teacher, titled("Cell biology", "Mitochondria and photosynthesis"))
    history = await api.quiz(teacher, titled("World history", "Empires, wars and trade"))
    percent = await api.quiz(teacher, titled("100% sure", "Certainty_and doubt"))
    draft = await create(api, teacher, titled("Photosynthesis draft", "not published"))

    async def found(q: str, headers: dict[str, str] | None = None) -> set[str]:
        r = await api.http.get(f"{V1}/quizzes", params={"q": q}, headers=headers or {})
        assert r.status_code == 200, f"q={q!r}: {r.text}"
        body = r.json()
        assert body["total"] == len(body["items"]), body
        return {item["id"] for item in body["items"]}

    assert await found("photosynthesis") == {plants["id"], cells["id"]}
    assert await found("PhotoSynthesis") == {plants["id"], cells["id"]}
    assert await found("mitochondria") == {cells["id"]}  # in the description
    assert await found("history") == {history["id"]}
    assert await found("plants sugar") == {plants["id"]}  # every word, not adjacent
    assert await found("sugar plants") == {plants["id"]}  # in any order
    assert await found("biology photosynthesis") == {cells["id"]}  # title and description
    assert await found("plants history") == set()
    assert await found("xyzzy") == set()
    assert await found("  photosynthesis  ") == {plants["id"], cells["id"]}
    assert await found("photosynthesis", teacher.headers) == {plants["id"], cells["id"]}
    assert draft["id"] in await found_mine(api, teacher, "photosynthesis")
    # LIKE wildcards are literal text (the full-text search drops them as punctuation):
    # "%" and "_" never match everything; other odd input is just text, never an error
    assert await found("100%") == {percent["id"]}
    for odd in ("%", "_", "%%", "\\", "'", '"', "a & b | !c", "(", ":*", "<->", "-", "'; --"):
        assert await found(odd) <= {percent["id"]}, odd


async def found_mine(api: Api, owner: User, q: str) -> set[str]:
    r = await api.http.get(f"{V1}/quizzes", params={"q": q, "mine": "true"}, headers=owner.headers)
    assert r.status_code == 200, r.text
    return {item["id"] for item in r.json()["items"]}


async def test_search_tag_and_paging_combine(api: Api, teacher: User) -> None:
    for n in range(3):
        await api.quiz(
            teacher,
            {**all_types_quiz(), "title": f"Algebra {n}", "tags": ["maths"]},
        )
    await api.quiz(
        teacher, {**all_types_quiz(), "title": "Algebra in history", "tags": ["history"]}
    )
    r = await api.http.get(f"{V1}/quizzes", params={"q": "algebra", "tag": "maths", "per_page": 2})
    body = r.json()
    assert body["total"] == 3 and len(body["items"]) == 2
    r = await api.http.get(
        f"{V1}/quizzes", params={"q": "algebra", "tag": "maths", "per_page": 2, "page": 2}
    )
    assert r.json()["total"] == 3 and len(r.json()["items"]) == 1


# -- validation per question type -----------------------------------------------------------------
VALID = {"type": "true_false", "prompt": "A valid first question", "answer": True}
INVALID_QUESTIONS: list[tuple[str, dict[str, Any]]] = [
    (
        "single choice with two correct options",
        {
            "type": "single_choice",
            "prompt": "p",
            "options": [{"text": "a", "correct": True}, {"text": "b", "correct": True}],
        },
    ),
    (
        "single choice with no correct option",
        {"type": "single_choice", "prompt": "p", "options": [{"text": "a"}, {"text": "b"}]},
    ),
    (
        "single choice with one option",
        {"type": "single_choice", "prompt": "p", "options": [{"text": "a", "correct": True}]},
    ),
    (
        "single choice with an empty option",
        {
            "type": "single_choice",
            "prompt": "p",
            "options": [{"text": "a", "correct": True}, {"text": "  "}],
        },
    ),
    (
        "multiple choice whose positive weights sum to 80",
        {
            "type": "multiple_choice",
            "prompt": "p",
            "options": [{"text": "a", "weight": 40}, {"text": "b", "weight": 40}],
        },
    ),
    (
        "multiple choice with a weight over 100",
        {
            "type": "multiple_choice",
            "prompt": "p",
            "options": [{"text": "a", "weight": 150}, {"text": "b", "weight": -50}],
        },
    ),
    (
        "multiple choice without weights",
        {"type": "multiple_choice", "prompt": "p", "options": [{"text": "a"}, {"text": "b"}]},
    ),
    ("true/false without an answer", {"type": "true_false", "prompt": "p"}),
    ("true/false with a text answer", {"type": "true_false", "prompt": "p", "answer": "true"}),
    ("short answer without answers", {"type": "short_answer", "prompt": "p", "answers": []}),
    (
        "short answer with only a zero weight",
        {"type": "short_answer", "prompt": "p", "answers": [{"text": "x", "weight": 0}]},
    ),
    (
        "short answer with an empty answer",
        {"type": "short_answer", "prompt": "p", "answers": [{"text": " "}]},
    ),
    ("numeric without answers", {"type": "numeric", "prompt": "p", "answers": []}),
    (
        "numeric with a negative tolerance",
        {"type": "numeric", "prompt": "p", "answers": [{"value": 1, "tolerance": -1}]},
    ),
    (
        "numeric with a text value",
        {"type": "numeric", "prompt": "p", "answers": [{"value": "one"}]},
    ),
    (
        "matching with one pair",
        {"type": "matching", "prompt": "p", "pairs": [{"left": "a", "right": "b"}]},
    ),
    (
        "matching with an empty right",
        {
            "type": "matching",
            "prompt": "p",
            "pairs": [{"left": "a", "right": "b"}, {"left": "c", "right": ""}],
        },
    ),
    ("ordering with one item", {"type": "ordering", "prompt": "p", "items": [{"text": "a"}]}),
    (
        "ordering with an empty item",
        {"type": "ordering", "prompt": "p", "items": [{"text": "a"}, {"text": ""}]},
    ),
    ("essay with an empty prompt", {"type": "essay", "prompt": "   "}),
    ("essay with negative points", {"type": "essay", "prompt": "p", "points": -1}),
    ("essay with options", {"type": "essay", "prompt": "p", "options": []}),
    ("an unknown type", {"type": "riddle", "prompt": "p"}),
]


@pytest.mark.parametrize(
    ("case", "question"), INVALID_QUESTIONS, ids=[c for c, _ in INVALID_QUESTIONS]
)
async def test_invalid_question_is_422_pointing_at_it(
    api: Api, teacher: User, case: str, question: dict[str, Any]
) -> None:
    body = {"title": "Bad", "questions": [VALID, question]}
    r = await api.http.post(f"{V1}/quizzes", json=body, headers=teacher.headers)
    error = error_of(r, 422)
    assert error["code"] == "validation_error"
    locs = [d["loc"] for d in error["details"]]
    assert locs and all(loc[:3] == ["body", "questions", 1] for loc in locs), (case, locs)
    assert all(d["message"] for d in error["details"])
    mine = (await api.http.get(f"{V1}/quizzes?mine=true", headers=teacher.headers)).json()
    assert mine["total"] == 0, "nothing was saved"

    # the same question is refused by PATCH, and the quiz is left as it was
    quiz = await create(api, teacher, {"title": "Good", "questions": [VALID]})
    r = await api.http.patch(
        f"{V1}/quizzes/{quiz['id']}",
        json={"questions": [as_input(quiz["questions"][0]), question]},
        headers=teacher.headers,
    )
    error = error_of(r, 422)
    assert all(d["loc"][:3] == ["body", "questions", 1] for d in error["details"]), error
    got = (await api.http.get(f"{V1}/quizzes/{quiz['id']}", headers=teacher.headers)).json()
    assert got == quiz


async def test_every_invalid_question_is_reported(api: Api, teacher: User) -> None:
    questions = [VALID] + [q for _, q in INVALID_QUESTIONS[:3]] + [VALID]
    r = await api.http.post(
        f"{V1}/quizzes", json={"title": "Bad", "questions": questions}, headers=teacher.headers
    )
    error = error_of(r, 422)
    assert {d["loc"][2] for d in error["details"]} == {1, 2, 3}


async def test_a_question_problem_names_the_field_it_concerns(api: Api, teacher: User) -> None:
    two_correct = {
        "type": "single_choice",
        "prompt": "p",
        "options": [{"text": "a", "correct": True}, {"text": "b", "correct": True}],
    }
    r = await api.http.post(
        f"{V1}/quizzes",
        json={"title": "Bad", "questions": [VALID, two_correct]},
        headers=teacher.headers,
    )
    error = error_of(r, 422)
    assert [d["loc"] for d in error["details"]] == [["body", "questions", 1, "options"]]


async def test_invalid_settings_are_422(api: Api, teacher: User) -> None:
    for settings, field in [
        ({"time_limit_seconds": 0}, "time_limit_seconds"),
        ({"max_attempts": -1}, "max_attempts"),
        ({"show_correct_answers": "sometimes"}, "show_correct_answers"),
        ({"opens_at": "2030-01-02T00:00:00Z", "closes_at": "2030-01-01T00:00:00Z"}, "closes_at"),
    ]:
        r = await api.http.post(
            f"{V1}/quizzes", json={"title": "x", "settings": settings}, headers=teacher.headers
        )
        error = error_of(r, 422)
        assert any(d["loc"][:3] == ["body", "settings", field] for d in error["details"]), error


# -- other teachers' quizzes ------------------------------------------------------------------
async def test_another_teacher_cannot_change_a_quiz(api: Api, teacher: User) -> None:
    other = await api.user("teacher")
    published = await api.quiz(teacher, rich_quiz())
    draft = await create(api, teacher, {**rich_quiz(), "title": "Draft"})
    for quiz, status in ((published, 403), (draft, 404)):
        path = f"{V1}/quizzes/{quiz['id']}"
        calls: list[tuple[str, str, dict[str, Any] | None]] = [
            ("PATCH", path, {"title": "Mine now"}),
            ("PATCH", path, {"questions": []}),
            ("DELETE", path, None),
            ("POST", f"{path}/publish", None),
            ("POST", f"{path}/unpublish", None),
        ]
        for method, url, body in calls:
            r = await api.http.request(method, url, json=body, headers=other.headers)
            error_of(r, status)
        got = (await api.http.get(path, headers=teacher.headers)).json()
        assert got["title"] == quiz["title"] and got["status"] == quiz["status"]
        assert got["questions"] == quiz["questions"]
    # an admin may
    admin = await api.user("admin")
    r = await api.http.patch(
        f"{V1}/quizzes/{draft['id']}", json={"title": "Fixed by admin"}, headers=admin.headers
    )
    assert r.status_code == 200 and r.json()["title"] == "Fixed by admin"
