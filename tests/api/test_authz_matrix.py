"""Who may do what: role x endpoint over the contract's Accounts, Quizzes and Attempts.

Every row of ``MATRIX`` is (role, method, path template, expected status) and runs as
its own test, on both backends, against a fresh world:

* ``owner`` (a teacher) owns a published quiz ``{pub}`` (``show_correct_answers`` is
  ``never``) and a draft quiz ``{draft}``;
* ``student`` has a submitted attempt ``{done}`` and a running attempt ``{running}`` on
  ``{pub}``;
* ``other_student`` and ``other_teacher`` have nothing; ``admin`` comes from the CLI path
  (``register(..., by_admin=True)``); ``anonymous`` sends no token.

Besides the status, every 2xx body a caller who is neither the quiz's owner nor an admin
receives is scanned for answer keys.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from argon2 import PasswordHasher

from quizplatform.services.accounts import Role
from tests.api.helpers import PASSWORD, Api, User
from tests.api.samples import all_types_quiz, by_type, perfect_responses

V1 = "/api/v1"
ROLES = ("anonymous", "student", "other_student", "owner", "other_teacher", "admin")
PRIVILEGED = {"owner", "admin"}  # may see the keys of the world's quizzes

# Body makers, by name: (world, role) -> keyword arguments for httpx.
GIFT = "::Sum:: 2 + 2 is {=4 ~5 ~3}\n\n::Sky:: The sky is blue {T}\n"
SMALL_QUIZ = {
    "title": "Mine",
    "questions": [{"type": "true_false", "prompt": "Water is wet", "answer": True}],
}

# (method, path template, body, statuses in the order of ROLES, answers with the caller's
# own object, so keys are expected)
Row = tuple[str, str, str | None, tuple[int, int, int, int, int, int], bool]
_ = None
ENDPOINTS: list[Row] = [
    # -- accounts --------------------------------------------------------------------
    ("POST", "/auth/register", "register", (201, 201, 201, 201, 201, 201), True),
    ("POST", "/auth/token", "token", (200, 200, 200, 200, 200, 200), True),
    ("POST", "/auth/logout", _, (401, 204, 204, 204, 204, 204), True),
    ("GET", "/me", _, (401, 200, 200, 200, 200, 200), True),
    ("GET", "/users", _, (401, 403, 403, 403, 403, 200), True),
    ("POST", "/auth/logout-all", _, (401, 204, 204, 204, 204, 204), True),
    ("GET", "/me/sessions", _, (401, 200, 200, 200, 200, 200), True),
    ("PATCH", "/users/{missing}", "user", (401, 403, 403, 403, 403, 404), False),
    # -- quizzes ---------------------------------------------------------------------
    ("POST", "/quizzes", "quiz", (401, 403, 403, 201, 201, 201), True),
    ("GET", "/quizzes", _, (200, 200, 200, 200, 200, 200), False),
    ("GET", "/quizzes?mine=true", _, (200, 200, 200, 200, 200, 200), True),
    ("GET", "/quizzes?q=Every", _, (200, 200, 200, 200, 200, 200), False),
    ("GET", "/quizzes/{pub}", _, (200, 200, 200, 200, 200, 200), False),
    ("GET", "/quizzes/{draft}", _, (404, 404, 404, 200, 404, 200), False),
    ("GET", "/quizzes/{missing}", _, (404, 404, 404, 404, 404, 404), False),
    ("PATCH", "/quizzes/{pub}", "patch", (401, 403, 403, 200, 403, 200), False),
    ("PATCH", "/quizzes/{draft}", "patch", (401, 404, 404, 200, 404, 200), False),
    ("PATCH", "/quizzes/{missing}", "patch", (401, 404, 404, 404, 404, 404), False),
    ("DELETE", "/quizzes/{pub}", _, (401, 403, 403, 204, 403, 204), False),
    ("DELETE", "/quizzes/{draft}", _, (401, 404, 404, 204, 404, 204), False),
    ("POST", "/quizzes/{pub}/publish", _, (401, 403, 403, 200, 403, 200), False),
    ("POST", "/quizzes/{draft}/publish", _, (401, 404, 404, 200, 404, 200), False),
    ("POST", "/quizzes/{pub}/unpublish", _, (401, 403, 403, 200, 403, 200), False),
    ("POST", "/quizzes/{draft}/unpublish", _, (401, 404, 404, 200, 404, 200), False),
    ("POST", "/quizzes/import?format=gift", "gift", (401, 403, 403, 201, 201, 201), True),
    # a preview carries no answer key (prompts, types, points): scanned for every caller
    ("POST", "/quizzes/import/preview", "gift", (401, 403, 403, 200, 200, 200), False),
    ("GET", "/quizzes/{pub}/export?format=json", _, (401, 403, 403, 200, 403, 200), False),
    ("GET", "/quizzes/{draft}/export?format=json", _, (401, 404, 404, 200, 404, 200), False),
    # -- attempts --------------------------------------------------------------------
    # the student resumes the running attempt (200); the others start one (201)
    ("POST", "/quizzes/{pub}/attempts", _, (401, 200, 201, 201, 201, 201), False),
    ("POST", "/quizzes/{draft}/attempts", _, (401, 404, 404, 404, 404, 404), False),
    ("POST", "/quizzes/{missing}/attempts", _, (401, 404, 404, 404, 404, 404), False),
    # the owner and admins may read a student's attempt, not answer or submit for them
    ("PUT", "/attempts/{running}/responses/{tf}", "tf", (401, 200, 404, 403, 404, 403), False),
    ("PUT", "/attempts/{missing}/responses/{tf}", "tf", (401, 404, 404, 404, 404, 404), False),
    ("POST", "/attempts/{running}/submit", _, (401, 200, 404, 403, 404, 403), False),
    ("POST", "/attempts/{done}/submit", _, (401, 200, 404, 403, 404, 403), False),
    ("GET", "/attempts/{running}", _, (401, 200, 404, 200, 404, 200), False),
    ("GET", "/attempts/{done}", _, (401, 200, 404, 200, 404, 200), False),
    ("GET", "/attempts/{missing}", _, (401, 404, 404, 404, 404, 404), False),
    ("POST", "/attempts/{done}/grades/{essay}", "grade", (401, 403, 404, 200, 404, 200), False),
    ("POST", "/attempts/{missing}/grades/{essay}", "grade", (401, 404, 404, 404, 404, 404), False),
    ("GET", "/quizzes/{pub}/leaderboard", _, (200, 200, 200, 200, 200, 200), False),
    ("GET", "/quizzes/{draft}/leaderboard", _, (404, 404, 404, 200, 404, 200), False),
    ("GET", "/quizzes/{pub}/report", _, (401, 403, 403, 200, 403, 200), False),
    ("GET", "/quizzes/{draft}/report", _, (401, 404, 404, 200, 404, 200), False),
    ("POST", "/quizzes/{pub}/regrade", "regrade", (401, 403, 403, 200, 403, 200), False),
    ("POST", "/quizzes/{draft}/regrade", "regrade", (401, 404, 404, 200, 404, 200), False),
    ("POST", "/quizzes/{missing}/regrade", "regrade", (401, 404, 404, 404, 404, 404), False),
    # -- the question bank: a teacher's own only (admins included: 404 for the owner's) --
    ("GET", "/bank/questions", _, (401, 403, 403, 200, 200, 200), True),
    ("GET", "/bank/categories", _, (401, 403, 403, 200, 200, 200), True),
    ("POST", "/bank/questions", "bank_question", (401, 403, 403, 201, 201, 201), True),
    ("PATCH", "/bank/questions/{banked}", "bank_question", (401, 403, 403, 200, 404, 404), True),
    ("PATCH", "/bank/questions/{missing}", "bank_question", (401, 403, 403, 404, 404, 404), False),
    ("DELETE", "/bank/questions/{banked}", _, (401, 403, 403, 204, 404, 404), False),
    ("POST", "/bank/questions/move", "bank_move", (401, 403, 403, 200, 422, 422), True),
    ("POST", "/bank/questions/tag", "bank_tag", (401, 403, 403, 200, 422, 422), True),
]

MATRIX: list[tuple[str, str, str, int]] = [
    (role, method, path, statuses[index])
    for method, path, _body, statuses, _own in ENDPOINTS
    for index, role in enumerate(ROLES)
]
_BY_ENDPOINT = {(method, path): (body, own) for method, path, body, _s, own in ENDPOINTS}


def test_matrix_covers_every_role_of_every_endpoint() -> None:
    assert len(MATRIX) == len(ENDPOINTS) * len(ROLES)
    assert len(_BY_ENDPOINT) == len(ENDPOINTS), "an endpoint row is listed twice"


# -- answer keys ---------------------------------------------------------------------------
KEY_FIELDS = frozenset(
    {
        "correct",
        "weight",
        "answer",
        "answers",
        "pairs",
        "right_id",
        "tolerance",
        "case_sensitive",
        "review",
        "right_feedback",
        "wrong_feedback",
    }
)


def _walk(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield path, k
            yield from _walk(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, (*path, i))


def key_leaks(body: Any) -> list[str]:
    """Where ``body`` carries a field of the answer key.

    ``results[i].correct`` of a submitted attempt is the contract's per-question verdict
    on the student's own response (it says no more than its score), so it is allowed.
    """
    leaks = []
    for path, key in _walk(body):
        if key not in KEY_FIELDS:
            continue
        if key == "correct" and len(path) == 2 and path[0] == "results":
            continue
        leaks.append("/".join(map(str, (*path, key))))
    return leaks


def assert_no_keys(body: Any, where: str) -> None:
    leaks = key_leaks(body)
    assert not leaks, f"{where} leaks answer-key fields: {leaks}"


def test_key_leaks_finds_owner_fields() -> None:
    owner_view = {"questions": [{"options": [{"id": "a", "text": "x", "correct": True}]}]}
    assert key_leaks(owner_view) == ["questions/0/options/0/correct"]
    assert key_leaks({"results": [{"question_id": "q", "correct": False}]}) == []
    assert key_leaks({"review": []}) == ["review"]


# -- the world -------------------------------------------------------------------------------
@dataclass
class World:
    api: Api
    users: dict[str, User]
    published: dict[str, Any]
    draft: dict[str, Any]
    running: str
    done: str
    banked: str = "-"  # a question of the owner's bank

    def headers(self, role: str) -> dict[str, str]:
        return {} if role == "anonymous" else self.users[role].headers

    def path(self, template: str) -> str:
        key = by_type(self.published)
        return V1 + template.format(
            pub=self.published["id"],
            draft=self.draft["id"],
            missing="0" * 32,
            running=self.running,
            done=self.done,
            tf=key["true_false"]["id"] if key else "-",
            essay=key["essay"]["id"] if key else "-",
            banked=self.banked,
        )

    def body(self, name: str | None, role: str) -> dict[str, Any]:
        if name is None:
            return {}
        makers: dict[str, Callable[[], dict[str, Any]]] = {
            "register": lambda: {
                "json": {
                    "email": f"newcomer-{role}@example.org",
                    "password": PASSWORD,
                    "display_name": "Newcomer",
                    "role": "student",
                }
            },
            "token": lambda: {
                "json": {
                    "email": self.users["student" if role == "anonymous" else role].email,
                    "password": PASSWORD,
                }
            },
            "quiz": lambda: {"json": SMALL_QUIZ},
            "patch": lambda: {"json": {"title": "Renamed"}},
            "gift": lambda: {"content": GIFT, "headers": {"Content-Type": "text/plain"}},
            "tf": lambda: {"json": {"value": True}},
            "grade": lambda: {"json": {"score": 3}},
            "regrade": lambda: {"json": {"dry_run": False}},
            "user": lambda: {"json": {"is_active": False}},
            "bank_question": lambda: {"json": SMALL_QUIZ["questions"][0]},
            "bank_move": lambda: {"json": {"ids": [self.banked], "category": "Moved"}},
            "bank_tag": lambda: {"json": {"ids": [self.banked], "add": ["t"]}},
        }
        return makers[name]()


@pytest.fixture
def fast_hashing(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap argon2id parameters: the matrix signs in five users for each of its rows."""
    cheap = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    monkeypatch.setattr(api.services.accounts, "hasher", cheap)


async def _user(api: Api, role: str) -> User:
    """A user made through the services (the HTTP sign-up is tested in test_accounts)."""
    kind = {"owner": "teacher", "other_teacher": "teacher", "admin": "admin"}.get(role, "student")
    email = f"{role}@example.org"
    account = await api.services.accounts.register(
        email, PASSWORD, role.replace("_", " ").title(), Role(kind), by_admin=True
    )
    token = await api.services.accounts.issue_token(account)
    return User(account.id, email, {"Authorization": f"Bearer {token.access_token}"})


def _needs(template: str) -> str:
    """How much of the world a row needs: users, quizzes, or quizzes and attempts."""
    if any(part in template for part in ("{running}", "{done}", "/attempts", "/leaderboard")):
        return "attempts"
    if "/report" in template:
        return "attempts"
    if template.startswith("/bank"):
        return "bank"
    return "quizzes" if template.startswith("/quizzes") or "{" in template else "users"


async def build_world(api: Api, caller: str, needs: str = "attempts") -> World:
    """The owner, the student and (when it is someone else) the caller, with the objects
    a row ``needs``."""
    wanted = ["owner", "student"] + (
        [caller] if caller not in {"anonymous", "owner", "student"} else []
    )
    users = {role: await _user(api, role) for role in wanted}
    owner, student = users["owner"], users["student"]
    if needs in ("users", "bank"):
        world = World(api, users, {"id": "-", "questions": []}, {"id": "-"}, "-", "-")
        if needs == "bank":
            r = await api.http.post(
                f"{V1}/bank/questions", json=SMALL_QUIZ["questions"][0], headers=owner.headers
            )
            assert r.status_code == 201, r.text
            world.banked = r.json()["id"]
        return world
    published = await api.quiz(owner, all_types_quiz(show_correct_answers="never"))
    draft = await api.quiz(owner, {**SMALL_QUIZ, "title": "Draft"}, publish=False)
    if needs == "quizzes":
        return World(api, users, published, draft, "-", "-")

    attempts = f"{V1}/quizzes/{published['id']}/attempts"
    r = await api.http.post(attempts, headers=student.headers)
    assert r.status_code == 201, r.text
    done = r.json()
    key = by_type(published)
    for qid, response in [
        (key["true_false"]["id"], {"value": True}),
        (key["essay"]["id"], {"text": "An essay."}),
    ]:
        r = await api.http.put(
            f"{V1}/attempts/{done['id']}/responses/{qid}", json=response, headers=student.headers
        )
        assert r.status_code == 200, r.text
    r = await api.http.post(f"{V1}/attempts/{done['id']}/submit", headers=student.headers)
    assert r.status_code == 200, r.text
    r = await api.http.post(attempts, headers=student.headers)
    assert r.status_code == 201, r.text
    running = r.json()["id"]
    return World(api, users, published, draft, running, done["id"])


@pytest.fixture
async def world(api: Api, fast_hashing: None, role: str, template: str) -> AsyncIterator[World]:
    yield await build_world(api, role, _needs(template))


# -- the matrix --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("role", "method", "template", "expected"),
    MATRIX,
    ids=[f"{role}:{method} {path}" for role, method, path, _s in MATRIX],
)
async def test_authz_matrix(
    world: World, role: str, method: str, template: str, expected: int
) -> None:
    body_name, own = _BY_ENDPOINT[(method, template)]
    kwargs = world.body(body_name, role)
    headers = {**world.headers(role), **kwargs.pop("headers", {})}
    r = await world.api.http.request(method, world.path(template), headers=headers, **kwargs)

    assert r.status_code == expected, f"{role} {method} {template}: {r.status_code} {r.text}"
    assert "x-request-id" in r.headers
    if r.status_code >= 400:
        error = r.json()["error"]
        assert set(error) == {"code", "message", "request_id", "details"}
        assert error["request_id"] == r.headers["x-request-id"]
        if r.status_code == 401:
            assert r.headers.get("www-authenticate", "").lower().startswith("bearer")
        return
    if role not in PRIVILEGED and not own and r.status_code != 204:
        assert r.headers["content-type"].startswith("application/json"), r.headers
        assert_no_keys(r.json(), f"{role} {method} {template}")


# -- answer keys across everything a student sees ----------------------------------------------
@pytest.mark.parametrize(
    ("rule", "shuffle"),
    [("never", False), ("never", True), ("after_close", True)],
)
async def test_student_never_receives_answer_keys(
    api: Api, fast_hashing: None, rule: str, shuffle: bool
) -> None:
    """A student walks every endpoint open to them; no body carries a key field, and
    matching rights cannot be linked to lefts by their ids. (The order of ordering items is
    uniformly random per attempt and sorted by text outside one, so it may be the correct
    order by chance and says nothing: tests/security/test_answer_keys.py.)"""
    from datetime import UTC, datetime, timedelta

    teacher = await api.user("teacher")
    student = await api.user("student")
    settings: dict[str, Any] = {
        "show_correct_answers": rule,
        "shuffle_questions": shuffle,
        "shuffle_options": shuffle,
    }
    if rule == "after_close":
        settings["closes_at"] = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    quiz = await api.quiz(teacher, all_types_quiz(**settings))
    key = by_type(quiz)
    seen: list[tuple[str, Any]] = []

    async def call(method: str, path: str, **kwargs: Any) -> Any:
        r = await api.http.request(method, V1 + path, headers=student.headers, **kwargs)
        assert r.status_code < 300, f"{method} {path}: {r.status_code} {r.text}"
        seen.append((f"{method} {path}", r.json()))
        return r.json()

    await call("GET", "/me")
    await call("GET", "/quizzes")
    await call("GET", "/quizzes?q=Every&tag=sample")
    view = await call("GET", f"/quizzes/{quiz['id']}")
    await call("GET", f"/quizzes/{quiz['id']}/leaderboard")

    for attempt_no in range(2):
        attempt = await call("POST", f"/quizzes/{quiz['id']}/attempts")
        perfect = perfect_responses(quiz, attempt)
        rng = random.Random(attempt_no)
        for question in attempt["questions"]:
            qid = question["id"]
            response = perfect[qid] if attempt_no == 0 else _wrong(question, rng)
            await call("PUT", f"/attempts/{attempt['id']}/responses/{qid}", json=response)
        await call("GET", f"/attempts/{attempt['id']}")
        result = await call("POST", f"/attempts/{attempt['id']}/submit")
        assert "results" in result and "review" not in result
        await call("POST", f"/attempts/{attempt['id']}/submit")
        await call("GET", f"/attempts/{attempt['id']}")
    await call("GET", f"/quizzes/{quiz['id']}/leaderboard")

    for where, body in seen:
        assert_no_keys(body, where)
    for shown in [view["questions"]] + [b["questions"] for w, b in seen if "questions" in b]:
        _assert_no_order_or_link_leak(by_type({"questions": shown}), key)

    # the doors that lead to keys stay shut
    for path, status in [
        (f"/quizzes/{quiz['id']}/export?format=json", 403),
        (f"/quizzes/{quiz['id']}/export?format=gift", 403),
        (f"/quizzes/{quiz['id']}/export?format=aiken", 403),
        (f"/quizzes/{quiz['id']}/report", 403),
    ]:
        r = await api.http.get(V1 + path, headers=student.headers)
        assert r.status_code == status, r.text
        assert_no_keys(r.json(), path)


def _assert_no_order_or_link_leak(
    shown: dict[str, dict[str, Any]], key: dict[str, dict[str, Any]]
) -> None:
    correct_order = [i["id"] for i in key["ordering"]["items"]]
    assert sorted(i["id"] for i in shown["ordering"]["items"]) == sorted(correct_order)
    lefts = {left["id"] for left in shown["matching"]["lefts"]}
    rights = {right["id"] for right in shown["matching"]["rights"]}
    assert lefts == {p["id"] for p in key["matching"]["pairs"]}
    assert not lefts & rights, "a right carries the id of its pair"
    for option in shown["single_choice"]["options"] + shown["multiple_choice"]["options"]:
        assert set(option) == {"id", "text"}


def _wrong(question: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """A plausible response built only from the student view."""
    t = question["type"]
    if t == "single_choice":
        return {"option_id": rng.choice(question["options"])["id"]}
    if t == "multiple_choice":
        return {"option_ids": [o["id"] for o in question["options"]]}
    if t == "true_false":
        return {"value": False}
    if t == "numeric":
        return {"value": 42}
    if t == "matching":
        rights = [r["id"] for r in question["rights"]]
        return {"matches": {left["id"]: rights[0] for left in question["lefts"]}}
    if t == "ordering":
        return {"item_ids": [i["id"] for i in question["items"]]}
    return {"text": "no idea"}


async def test_after_submit_reveals_keys_only_once_submitted(api: Api, fast_hashing: None) -> None:
    teacher = await api.user("teacher")
    student = await api.user("student")
    other = await api.user("student")
    quiz = await api.quiz(teacher, all_types_quiz(show_correct_answers="after_submit"))
    r = await api.http.post(f"{V1}/quizzes/{quiz['id']}/attempts", headers=student.headers)
    attempt = r.json()
    assert_no_keys(attempt, "started attempt")
    qid = by_type(quiz)["true_false"]["id"]
    r = await api.http.put(
        f"{V1}/attempts/{attempt['id']}/responses/{qid}",
        json={"value": False},
        headers=student.headers,
    )
    assert_no_keys(r.json(), "saved response")
    r = await api.http.get(f"{V1}/attempts/{attempt['id']}", headers=student.headers)
    assert_no_keys(r.json(), "running attempt")

    r = await api.http.post(f"{V1}/attempts/{attempt['id']}/submit", headers=student.headers)
    result = r.json()
    assert result["show_correct_answers"] is True
    review = {item["question"]["id"]: item for item in result["review"]}
    assert review[qid]["question"]["answer"] is True and review[qid]["response"] == {"value": False}
    # the quiz itself still shows no keys, to this student or anyone else
    for headers in (student.headers, other.headers, {}):
        r = await api.http.get(f"{V1}/quizzes/{quiz['id']}", headers=headers)
        assert_no_keys(r.json(), "quiz after a submit")
    r = await api.http.get(f"{V1}/attempts/{attempt['id']}", headers=other.headers)
    assert r.status_code == 404
