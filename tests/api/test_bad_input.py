"""Bad input gets the contract's answer: the right 4xx, the error envelope, a request id,
and never a 500 or a traceback."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.helpers import Api, User
from tests.api.samples import all_types_quiz, by_type

V1 = "/api/v1"
MIB = 1024 * 1024
JSON = {"Content-Type": "application/json"}
GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")


def check(r: httpx.Response) -> None:
    """What holds for every response: no 5xx, no traceback, a request id, and for errors
    the contract's envelope carrying that same id."""
    assert r.status_code < 500, f"{r.status_code}: {r.text[:500]}"
    assert "Traceback" not in r.text and 'File "' not in r.text, r.text[:500]
    request_id = r.headers.get("x-request-id")
    assert request_id, f"no X-Request-ID on a {r.status_code}"
    if r.status_code >= 400:
        assert r.headers["content-type"].startswith("application/json"), r.headers
        body = r.json()
        assert set(body) == {"error"}, body
        error = body["error"]
        assert set(error) == {"code", "message", "request_id", "details"}, error
        assert re.fullmatch(r"[a-z][a-z0-9_]*", error["code"]), error["code"]
        assert isinstance(error["message"], str) and error["message"]
        assert isinstance(error["details"], list)
        assert error["request_id"] == request_id


def check_error(r: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    check(r)
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text[:500]}"
    error: dict[str, Any] = r.json()["error"]
    if code is not None:
        assert error["code"] == code, error
    if status == 422:
        assert error["details"], "a 422 names what is wrong"
        for detail in error["details"]:
            assert isinstance(detail["message"], str) and detail["message"]
            assert isinstance(detail.get("loc", detail.get("line")), list | int), detail
    return error


@dataclass
class Scene:
    api: Api
    teacher: User
    student: User
    admin: User
    quiz: dict[str, Any]
    attempt: dict[str, Any]

    @property
    def key(self) -> dict[str, dict[str, Any]]:
        return by_type(self.quiz)

    def response_path(self, question_type: str) -> str:
        return f"{V1}/attempts/{self.attempt['id']}/responses/{self.key[question_type]['id']}"


async def make_scene(api: Api) -> Scene:
    teacher = await api.user("teacher")
    student = await api.user("student")
    admin = await api.user("admin")
    quiz = await api.quiz(teacher, all_types_quiz())
    r = await api.http.post(f"{V1}/quizzes/{quiz['id']}/attempts", headers=student.headers)
    assert r.status_code == 201, r.text
    return Scene(api, teacher, student, admin, quiz, r.json())


@pytest.fixture
def fast_hashing(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap argon2id parameters: these tests are about parsing, not about passwords."""
    cheap = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    monkeypatch.setattr(api.services.accounts, "hasher", cheap)


@pytest.fixture
async def scene(api: Api, fast_hashing: None) -> AsyncIterator[Scene]:
    yield await make_scene(api)


# -- 400: malformed JSON -----------------------------------------------------------------------
MALFORMED = [
    b'{"title": ',
    b"{,}",
    b'{"title": "x"}}',
    b"{'title': 'x'}",
    b'{"title": "x",}',
    b"[1, 2",
    b"tru",
]
TARGETS = ["register", "token", "create", "patch", "response", "grade"]


def _target(scene: Scene, name: str) -> tuple[str, str, dict[str, str]]:
    quiz_id = scene.quiz["id"]
    return {
        "register": ("POST", f"{V1}/auth/register", {}),
        "token": ("POST", f"{V1}/auth/token", {}),
        "create": ("POST", f"{V1}/quizzes", scene.teacher.headers),
        "patch": ("PATCH", f"{V1}/quizzes/{quiz_id}", scene.teacher.headers),
        "response": ("PUT", scene.response_path("true_false"), scene.student.headers),
        "grade": (
            "POST",
            f"{V1}/attempts/{scene.attempt['id']}/grades/{scene.key['essay']['id']}",
            scene.teacher.headers,
        ),
    }[name]


@pytest.mark.parametrize("target", TARGETS)
async def test_malformed_json_is_400_with_the_envelope(scene: Scene, target: str) -> None:
    method, path, headers = _target(scene, target)
    for raw in MALFORMED:
        r = await scene.api.http.request(method, path, content=raw, headers={**headers, **JSON})
        error = check_error(r, 400)
        assert error["code"] == "malformed_json", (raw, error)
    # not even text: still a 400 in the envelope
    for raw in (b"\xff\xfe\x00", b'{"title": "\xc3\x28"}'):
        r = await scene.api.http.request(method, path, content=raw, headers={**headers, **JSON})
        check_error(r, 400)


# -- 415: wrong content type -------------------------------------------------------------------
WRONG_TYPES = [
    "text/plain",
    "application/x-www-form-urlencoded",
    "text/xml",
    "multipart/form-data; boundary=x",
    "application/octet-stream",
]


@pytest.mark.parametrize("target", TARGETS)
async def test_wrong_content_type_is_415(scene: Scene, target: str) -> None:
    method, path, headers = _target(scene, target)
    for content_type in WRONG_TYPES:
        r = await scene.api.http.request(
            method,
            path,
            content=b'{"title": "x"}',
            headers={**headers, "Content-Type": content_type},
        )
        check_error(r, 415, "unsupported_media_type")


async def test_json_with_a_charset_or_a_json_suffix_is_accepted(scene: Scene) -> None:
    for content_type in ("application/json; charset=utf-8", "application/vnd.quiz+json"):
        r = await scene.api.http.post(
            f"{V1}/quizzes",
            content=b'{"title": "Typed"}',
            headers={**scene.teacher.headers, "Content-Type": content_type},
        )
        check(r)
        assert r.status_code == 201, r.text


async def test_import_refuses_content_types_that_are_no_quiz_file(scene: Scene) -> None:
    # application/xml, application/zip and application/octet-stream are quiz files now
    # (Moodle XML, QTI packages): tests/api/test_formats_api.py imports them.
    for content_type in ("image/png", "application/pdf", "audio/mpeg", "video/mp4"):
        r = await scene.api.http.post(
            f"{V1}/quizzes/import?format=gift",
            content=b"::Q:: 1 + 1 = 2 {T}\n",
            headers={**scene.teacher.headers, "Content-Type": content_type},
        )
        check_error(r, 415, "unsupported_media_type")


# -- 413: too large ------------------------------------------------------------------------------
def _chunks(total: int, size: int = 64 * 1024) -> Any:
    async def gen() -> AsyncIterator[bytes]:
        sent = 0
        while sent < total:
            part = min(size, total - sent)
            sent += part
            yield b" " * part

    return gen()


async def test_body_over_1_mib_is_413(scene: Scene) -> None:
    api, headers = scene.api, {**scene.teacher.headers, **JSON}
    big = b'{"title": "' + b"x" * MIB + b'"}'
    r = await api.http.post(f"{V1}/quizzes", content=big, headers=headers)
    check_error(r, 413, "payload_too_large")
    r = await api.http.put(
        scene.response_path("essay"),
        content=b'{"text": "' + b"x" * MIB + b'"}',
        headers={**scene.student.headers, **JSON},
    )
    check_error(r, 413, "payload_too_large")


async def test_chunked_body_over_1_mib_is_413(scene: Scene) -> None:
    """Without a Content-Length the limit applies while reading (a 413, not a 400)."""
    headers = {**scene.teacher.headers, **JSON}
    r = await scene.api.http.post(f"{V1}/quizzes", content=_chunks(MIB + 1), headers=headers)
    check_error(r, 413, "payload_too_large")


async def test_chunked_body_under_the_limit_is_read(scene: Scene) -> None:
    body = b'{"title": "Chunked"}'

    async def gen() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 4):
            yield body[i : i + 4]

    r = await scene.api.http.post(
        f"{V1}/quizzes", content=gen(), headers={**scene.teacher.headers, **JSON}
    )
    check(r)
    assert r.status_code == 201, r.text
    assert r.json()["title"] == "Chunked"


async def test_body_just_under_1_mib_is_accepted(scene: Scene) -> None:
    questions = [
        {"type": "true_false", "prompt": f"{i} " + "p" * 15_000, "answer": True} for i in range(69)
    ]
    body = httpx.Request("POST", "/", json={"title": "Big", "questions": questions}).content
    assert MIB - 20_000 < len(body) <= MIB
    r = await scene.api.http.post(
        f"{V1}/quizzes", content=body, headers={**scene.teacher.headers, **JSON}
    )
    check(r)
    assert r.status_code == 201, r.text[:300]
    assert r.json()["question_count"] == 69


def _gift(size: int) -> bytes:
    """A valid GIFT file of at least ``size`` bytes (true/false questions, long prompts)."""
    prompt = "lorem ipsum dolor sit amet " * 380  # ~10 KB
    parts = []
    total = 0
    n = 0
    while total < size:
        text = f"::Q{n}:: {n} {prompt}{{T}}\n\n"
        parts.append(text)
        total += len(text)
        n += 1
    return "".join(parts).encode()


async def test_import_limits_are_2_mib(scene: Scene) -> None:
    api, headers = scene.api, {**scene.teacher.headers, "Content-Type": "text/plain"}
    path = f"{V1}/quizzes/import?format=gift"
    too_big = _gift(2 * MIB + 1)
    r = await api.http.post(path, content=too_big, headers=headers)
    check_error(r, 413, "payload_too_large")
    r = await api.http.post(path, content=_chunks(2 * MIB + 1), headers=headers)
    check_error(r, 413, "payload_too_large")

    two_mib = _gift(2 * MIB - 20_000)
    assert 2 * MIB - 20_000 <= len(two_mib) < 2 * MIB
    r = await api.http.post(path, content=two_mib, headers=headers)
    check(r)
    assert r.status_code == 201, r.text[:300]
    assert r.json()["question_count"] == two_mib.count(b"{T}")
    # the same file as a multipart upload
    r = await api.http.post(
        path,
        files={"file": ("big.gift", two_mib, "text/plain")},
        headers=scene.teacher.headers,
    )
    check(r)
    assert r.status_code == 201, r.text[:300]


# -- 422: the shape is wrong ---------------------------------------------------------------------
SHAPE_CASES: list[tuple[str, Any, list[Any]]] = [
    ("create", {"title": "x", "colour": "red"}, ["body", "colour"]),
    ("create", {"title": 5}, ["body", "title"]),
    ("create", {"title": ""}, ["body", "title"]),
    ("create", {}, ["body", "title"]),
    ("create", [], ["body"]),
    ("create", "a quiz", ["body"]),
    ("create", {"title": "x", "settings": {"max_attempts": "many"}}, ["body", "settings"]),
    ("create", {"title": "x", "settings": {"max_attempts": 0}}, ["body", "settings"]),
    ("create", {"title": "x", "settings": {"show_correct_answers": "sometimes"}}, ["body"]),
    ("create", {"title": "x", "settings": {"opens_at": "yesterday"}}, ["body", "settings"]),
    ("create", {"title": "x", "settings": {"opens_at": "2030-01-01T00:00:00"}}, ["body"]),
    ("create", {"title": "x", "settings": {"colour": 1}}, ["body", "settings"]),
    ("create", {"title": "x", "tags": "one"}, ["body", "tags"]),
    ("create", {"title": "x", "tags": [""]}, ["body", "tags"]),
    ("create", {"title": "x", "questions": {}}, ["body", "questions"]),
    ("create", {"title": "x", "questions": [{"type": "poem", "prompt": "p"}]}, ["body"]),
    ("create", {"title": "x", "questions": [{"prompt": "p"}]}, ["body", "questions", 0]),
    (
        "create",
        {"title": "x", "questions": [{"type": "true_false", "prompt": "p", "answer": "yes"}]},
        ["body", "questions", 0],
    ),
    (
        "create",
        {"title": "x", "questions": [{"type": "essay", "prompt": "p", "points": -1}]},
        ["body", "questions", 0],
    ),
    (
        "create",
        {"title": "x", "questions": [{"type": "essay", "prompt": "p", "secret": 1}]},
        ["body", "questions", 0],
    ),
    ("patch", {"title": None, "unknown": 1}, ["body", "unknown"]),
    ("patch", {"settings": []}, ["body", "settings"]),
    ("register", {"email": "a@example.org", "password": "x" * 12}, ["body", "display_name"]),
    (
        "register",
        {"email": "a@example.org", "password": "p" * 12, "display_name": "A", "extra": 1},
        ["body", "extra"],
    ),
    ("register", {"email": 1, "password": 2, "display_name": 3}, ["body"]),
    ("token", {"email": "a@example.org"}, ["body", "password"]),
    ("token", {"email": "a@example.org", "password": "x", "remember": True}, ["body"]),
    ("grade", {"score": "four"}, ["body", "score"]),
    ("grade", {"points": 4}, ["body"]),
]


@pytest.mark.parametrize(
    ("target", "body", "loc_prefix"), SHAPE_CASES, ids=[str(i) for i in range(len(SHAPE_CASES))]
)
async def test_unknown_fields_and_wrong_types_are_422_with_loc(
    scene: Scene, target: str, body: Any, loc_prefix: list[Any]
) -> None:
    method, path, headers = _target(scene, target)
    if target == "grade":  # a grade needs a submitted attempt
        r = await scene.api.http.post(
            f"{V1}/attempts/{scene.attempt['id']}/submit", headers=scene.student.headers
        )
        assert r.status_code == 200, r.text
    r = await scene.api.http.request(method, path, json=body, headers=headers)
    error = check_error(r, 422, "validation_error")
    locs = [d["loc"] for d in error["details"]]
    assert all(isinstance(loc, list) and loc for loc in locs), error
    assert any(loc[: len(loc_prefix)] == loc_prefix for loc in locs), (loc_prefix, locs)


async def test_invalid_bodies_change_nothing(scene: Scene) -> None:
    api, quiz = scene.api, scene.quiz
    before = (
        await api.http.get(f"{V1}/quizzes/{quiz['id']}", headers=scene.teacher.headers)
    ).json()
    bad = {"title": "Changed", "questions": [{"type": "single_choice", "prompt": "p"}]}
    r = await api.http.patch(f"{V1}/quizzes/{quiz['id']}", json=bad, headers=scene.teacher.headers)
    check_error(r, 422)
    after = (await api.http.get(f"{V1}/quizzes/{quiz['id']}", headers=scene.teacher.headers)).json()
    assert after == before
    listed = (await api.http.get(f"{V1}/quizzes?mine=true", headers=scene.teacher.headers)).json()
    assert listed["total"] == 1


# -- 422: responses that do not fit their question ------------------------------------------------
def _misfits(scene: Scene) -> dict[str, list[Any]]:
    attempt = by_type(scene.attempt)
    sc, mc = attempt["single_choice"], attempt["multiple_choice"]
    matching, ordering = attempt["matching"], attempt["ordering"]
    left, right = matching["lefts"][0]["id"], matching["rights"][0]["id"]
    item_ids = [i["id"] for i in ordering["items"]]
    common: list[Any] = [None, [], "text", 1, True, {}, {"unexpected": 1}]
    return {
        "single_choice": [
            *common,
            {"option_id": "nope"},
            {"option_id": 1},
            {"option_id": [sc["options"][0]["id"]]},
            {"option_ids": [sc["options"][0]["id"]]},
            {"option_id": sc["options"][0]["id"], "extra": 1},
            {"option_id": mc["options"][0]["id"]},  # another question's option
        ],
        "multiple_choice": [
            *common,
            {"option_ids": "all"},
            {"option_ids": [mc["options"][0]["id"]] * 2},
            {"option_ids": ["nope"]},
            {"option_ids": [1, 2]},
            {"option_id": mc["options"][0]["id"]},
        ],
        "true_false": [*common, {"value": "true"}, {"value": 1}, {"value": None}],
        "short_answer": [*common, {"text": 5}, {"text": "x" * 10_001}, {"text": "a\x00b"}],
        "numeric": [
            *common,
            {"value": "3.14"},
            {"value": True},
            {"value": [3]},
            {"value": 10**400},
            {"value": None},
        ],
        "matching": [
            *common,
            {"matches": []},
            {"matches": {"nope": right}},
            {"matches": {left: "nope"}},
            {"matches": {left: 1}},
            {"matches": {left: left}},
        ],
        "ordering": [
            *common,
            {"item_ids": item_ids[:-1]},
            {"item_ids": [*item_ids, item_ids[0]]},
            {"item_ids": [*item_ids[:-1], "nope"]},
            {"item_ids": "abc"},
        ],
        "essay": [*common, {"text": ["a"]}, {"text": "x" * 10_001}],
    }


async def test_responses_that_do_not_fit_the_question_are_422(scene: Scene) -> None:
    api, headers = scene.api, scene.student.headers
    for question_type, bodies in _misfits(scene).items():
        for body in bodies:
            r = await api.http.put(scene.response_path(question_type), json=body, headers=headers)
            error = check_error(r, 422, "validation_error")
            assert error["details"][0]["loc"][0] == "body", (question_type, body, error)
    attempt = (await api.http.get(f"{V1}/attempts/{scene.attempt['id']}", headers=headers)).json()
    assert attempt["responses"] == {}, "a refused response must not be stored"


async def test_response_to_a_question_not_in_the_attempt_is_404(scene: Scene) -> None:
    r = await scene.api.http.put(
        f"{V1}/attempts/{scene.attempt['id']}/responses/nope",
        json={"value": True},
        headers=scene.student.headers,
    )
    check_error(r, 404, "not_found")


# -- 422: query parameters ------------------------------------------------------------------------
async def test_bad_query_parameters_are_422(scene: Scene) -> None:
    api, quiz_id = scene.api, scene.quiz["id"]
    teacher, admin = scene.teacher.headers, scene.admin.headers
    cases: list[tuple[str, dict[str, str], str]] = [
        (f"{V1}/quizzes?page=0", {}, "page"),
        (f"{V1}/quizzes?page=-1", {}, "page"),
        (f"{V1}/quizzes?page=abc", {}, "page"),
        (f"{V1}/quizzes?per_page=1000", {}, "per_page"),
        (f"{V1}/quizzes?per_page=0", {}, "per_page"),
        (f"{V1}/quizzes?mine=perhaps", teacher, "mine"),
        (f"{V1}/quizzes?q={'x' * 201}", {}, "q"),
        (f"{V1}/quizzes?tag={'x' * 65}", {}, "tag"),
        (f"{V1}/quizzes/{quiz_id}/export?format=xml", teacher, "format"),
        (f"{V1}/quizzes/{quiz_id}/export", teacher, "format"),
        (f"{V1}/quizzes/{quiz_id}/leaderboard?limit=0", {}, "limit"),
        (f"{V1}/quizzes/{quiz_id}/leaderboard?limit=100000", {}, "limit"),
        (f"{V1}/users?page=0", admin, "page"),
        (f"{V1}/users?per_page=1000", admin, "per_page"),
    ]
    for path, headers, name in cases:
        r = await api.http.get(path, headers=headers)
        error = check_error(r, 422, "validation_error")
        assert ["query", name] in [d["loc"] for d in error["details"]], (path, error)
    r = await api.http.post(
        f"{V1}/quizzes/import?format=xml",
        content=b"::Q:: yes {T}",
        headers={**teacher, "Content-Type": "text/plain"},
    )
    error = check_error(r, 422, "validation_error")
    assert ["query", "format"] in [d["loc"] for d in error["details"]]


# -- X-Request-ID -------------------------------------------------------------------------------
async def test_every_response_carries_a_request_id(scene: Scene) -> None:
    api, teacher = scene.api, scene.teacher.headers
    responses = [
        await api.http.get(f"{V1}/quizzes"),  # 200
        await api.http.post(f"{V1}/quizzes", json={"title": "x"}, headers=teacher),  # 201
        await api.http.post(f"{V1}/auth/logout", headers=(await api.user()).headers),  # 204
        await api.http.post(f"{V1}/quizzes", content=b"{", headers={**teacher, **JSON}),  # 400
        await api.http.get(f"{V1}/me"),  # 401
        await api.http.get(f"{V1}/me", headers={"Authorization": "Bearer nope"}),  # 401
        await api.http.get(f"{V1}/users", headers=teacher),  # 403
        await api.http.get(f"{V1}/no/such/route"),  # 404
        await api.http.delete(f"{V1}/me", headers=teacher),  # 405
        await api.http.post(
            f"{V1}/quizzes", content=b"x" * (MIB + 1), headers={**teacher, **JSON}
        ),  # 413
        await api.http.post(
            f"{V1}/quizzes", content=b"{}", headers={**teacher, "Content-Type": "text/plain"}
        ),  # 415
        await api.http.post(f"{V1}/quizzes", json={}, headers=teacher),  # 422
        await api.http.get("/health/live"),
        await api.http.get(f"{V1}/openapi.json"),
    ]
    statuses = [r.status_code for r in responses]
    assert statuses[:12] == [200, 201, 204, 400, 401, 401, 403, 404, 405, 413, 415, 422]
    ids = []
    for r in responses:
        check(r)
        ids.append(r.headers["x-request-id"])
        assert GENERATED_ID.match(r.headers["x-request-id"]), r.headers["x-request-id"]
    assert len(set(ids)) == len(ids), "request ids must be unique"


@pytest.mark.parametrize(
    "given_id",
    ["abc-123", "A.b_c:d-e", "x" * 128, "0f8c1e0e-8a5e-4b8b-9d7c-2c1c6f1b2a33"],
)
async def test_a_valid_request_id_is_echoed(scene: Scene, given_id: str) -> None:
    api = scene.api
    for r in [
        await api.http.get(f"{V1}/me", headers={**scene.student.headers, "X-Request-ID": given_id}),
        await api.http.get(f"{V1}/me", headers={"X-Request-ID": given_id}),
        await api.http.post(
            f"{V1}/quizzes",
            content=b"{",
            headers={**scene.teacher.headers, **JSON, "X-Request-ID": given_id},
        ),
        await api.http.post(
            f"{V1}/quizzes",
            content=b"{}",
            headers={
                **scene.teacher.headers,
                "Content-Type": "text/plain",
                "X-Request-ID": given_id,
            },
        ),
    ]:
        check(r)
        assert r.headers["x-request-id"] == given_id
        if r.status_code >= 400:
            assert r.json()["error"]["request_id"] == given_id


@pytest.mark.parametrize(
    "given_id",
    ["x" * 300, "x" * 129, "abc def", "a/b", "<script>", "a;b", "", " ", "id\ttab"],
)
async def test_an_invalid_request_id_is_replaced(scene: Scene, given_id: str) -> None:
    api = scene.api
    for r in [
        await api.http.get(f"{V1}/me", headers={**scene.student.headers, "X-Request-ID": given_id}),
        await api.http.get(f"{V1}/me", headers={"X-Request-ID": given_id}),
    ]:
        check(r)
        replaced = r.headers["x-request-id"]
        assert replaced != given_id and GENERATED_ID.match(replaced), replaced


# -- fuzzing (SQLite only: the point is the parsing, not the backend) -----------------------------
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
QUESTION_KEYS = [
    "type",
    "prompt",
    "points",
    "id",
    "options",
    "answer",
    "answers",
    "pairs",
    "items",
    "text",
    "correct",
    "weight",
    "value",
    "tolerance",
    "left",
    "right",
    "feedback",
    "tags",
    "case_sensitive",
]
QUESTION_TYPES = [
    "single_choice",
    "multiple_choice",
    "true_false",
    "short_answer",
    "numeric",
    "matching",
    "ordering",
    "essay",
    "description",
]
QUESTION_LIKE = st.builds(
    lambda t, rest: {"type": t, **rest},
    st.sampled_from(QUESTION_TYPES),
    st.dictionaries(
        st.sampled_from(QUESTION_KEYS),
        JSON_VALUES | st.lists(st.dictionaries(st.sampled_from(QUESTION_KEYS), JSON_VALUES)),
        max_size=5,
    ),
)
QUIZ_LIKE = st.fixed_dictionaries(
    {"title": st.text(max_size=10)},
    optional={
        "description": JSON_VALUES,
        "tags": JSON_VALUES,
        "settings": st.dictionaries(
            st.sampled_from(
                [
                    "time_limit_seconds",
                    "max_attempts",
                    "shuffle_questions",
                    "opens_at",
                    "closes_at",
                    "show_correct_answers",
                ]
            ),
            JSON_VALUES,
        ),
        "questions": st.lists(QUESTION_LIKE, max_size=3),
    },
)
RESPONSE_LIKE = JSON_VALUES | st.dictionaries(
    st.sampled_from(["option_id", "option_ids", "value", "text", "matches", "item_ids"]),
    JSON_VALUES,
    min_size=1,
    max_size=2,
)
FUZZ = settings(
    max_examples=50,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
async def sqlite_scene(api: Api, fast_hashing: None) -> AsyncIterator[Scene]:
    if api.services.settings.redis_url:
        pytest.skip("fuzzing runs on SQLite only")
    yield await make_scene(api)


@FUZZ
@given(body=JSON_VALUES | QUIZ_LIKE)
async def test_fuzz_create_quiz_never_500(sqlite_scene: Scene, body: Any) -> None:
    r = await sqlite_scene.api.http.post(
        f"{V1}/quizzes", json=body, headers=sqlite_scene.teacher.headers
    )
    check(r)
    assert r.status_code in (201, 422), r.text[:300]


@FUZZ
@given(question_type=st.sampled_from(QUESTION_TYPES[:-1]), body=RESPONSE_LIKE)
async def test_fuzz_responses_never_500(sqlite_scene: Scene, question_type: str, body: Any) -> None:
    r = await sqlite_scene.api.http.put(
        sqlite_scene.response_path(question_type), json=body, headers=sqlite_scene.student.headers
    )
    check(r)
    assert r.status_code in (200, 422), r.text[:300]
