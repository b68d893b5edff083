"""The fast path of saving and submitting (``api/middleware/attempt_writes.py``) answers
exactly as the routes do: the same documents, the same errors, the same metrics label.

A query string makes the fast path pass the request on, so each case is sent twice, once
to each, and the answers compared."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.helpers import Api, User
from tests.api.samples import all_types_quiz, by_type, perfect_responses

VOLATILE = ("request_id", "saved_at", "submitted_at")


def comparable(r: httpx.Response) -> tuple[int, Any, str | None]:
    """Status, body without the values that differ between two requests, and the
    WWW-Authenticate header."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in VOLATILE}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return r.status_code, strip(r.json()), r.headers.get("www-authenticate")


async def both_ways(
    api: Api, method: str, path: str, headers: dict[str, str], **kwargs: Any
) -> tuple[httpx.Response, httpx.Response]:
    fast = await api.http.request(method, path, headers=headers, **kwargs)
    routed = await api.http.request(method, path + "?via=route", headers=headers, **kwargs)
    return fast, routed


async def started(api: Api, teacher: User, student: User) -> tuple[dict[str, Any], dict[str, Any]]:
    quiz = await api.quiz(teacher, all_types_quiz())
    r = await api.http.post(f"/api/v1/quizzes/{quiz['id']}/attempts", headers=student.headers)
    assert r.status_code == 201, r.text
    return quiz, r.json()


async def test_saves_and_their_errors_match_the_route(api: Api) -> None:
    teacher, student, other = (
        await api.user("teacher"),
        await api.user("student"),
        await api.user("student"),
    )
    quiz, attempt = await started(api, teacher, student)
    base = f"/api/v1/attempts/{attempt['id']}/responses"
    single = by_type(quiz)["single_choice"]["id"]
    good = perfect_responses(quiz, attempt)[single]
    cases: list[tuple[str, dict[str, str], dict[str, Any]]] = [
        (f"{base}/{single}", student.headers, {"json": good}),
        (f"{base}/{single}", student.headers, {"json": {"option_id": "f" * 32}}),  # 422
        (f"{base}/{single}", student.headers, {"json": [[[[]]]]}),
        (f"{base}/{'e' * 32}", student.headers, {"json": good}),  # not in the attempt
        (f"{base}/{single}", other.headers, {"json": good}),  # not theirs: 404
        (f"{base}/{single}", teacher.headers, {"json": good}),  # the owner: 403
        (f"{base}/{single}", {"Authorization": "Bearer nope"}, {"json": good}),  # 401
        (f"{base}/{single}", {}, {"json": good}),  # 401
        (  # malformed JSON: the fast path reads the body, then replays it to the route
            f"{base}/{single}",
            {**student.headers, "Content-Type": "application/json"},
            {"content": b'{"option_id": '},
        ),
        (  # another content type goes to the route as it is
            f"{base}/{single}",
            {**student.headers, "Content-Type": "text/plain"},
            {"content": b'{"option_id": "x"}'},
        ),
    ]
    statuses = []
    for path, headers, kwargs in cases:
        fast, routed = await both_ways(api, "PUT", path, headers, **kwargs)
        assert comparable(fast) == comparable(routed), path
        statuses.append(fast.status_code)
    assert statuses == [200, 422, 422, 404, 404, 403, 401, 401, 400, 415]


async def test_submits_and_their_errors_match_the_route(api: Api) -> None:
    teacher, student, other = (
        await api.user("teacher"),
        await api.user("student"),
        await api.user("student"),
    )
    quiz, attempt = await started(api, teacher, student)
    for qid, body in perfect_responses(quiz, attempt).items():
        r = await api.http.put(
            f"/api/v1/attempts/{attempt['id']}/responses/{qid}", json=body, headers=student.headers
        )
        assert r.status_code == 200, r.text
    path = f"/api/v1/attempts/{attempt['id']}/submit"
    for headers in (other.headers, teacher.headers, {}):
        fast, routed = await both_ways(api, "POST", path, headers)
        assert comparable(fast) == comparable(routed)
        assert fast.status_code in (401, 403, 404)
    first = await api.http.post(path, headers=student.headers)  # the fast path scores it
    assert first.status_code == 200, first.text
    assert first.json()["score"] == 10
    fast, routed = await both_ways(api, "POST", path, student.headers)  # repeats read it back
    assert comparable(fast) == comparable(routed) == comparable(first)
    # A save after the submit: 409 both ways.
    single = by_type(quiz)["single_choice"]["id"]
    good = perfect_responses(quiz, attempt)[single]
    fast, routed = await both_ways(
        api,
        "PUT",
        f"/api/v1/attempts/{attempt['id']}/responses/{single}",
        student.headers,
        json=good,
    )
    assert comparable(fast) == comparable(routed)
    assert fast.status_code == 409


async def test_the_fast_path_is_measured_under_the_route_template(api: Api) -> None:
    teacher, student = await api.user("teacher"), await api.user("student")
    quiz, attempt = await started(api, teacher, student)
    single = by_type(quiz)["single_choice"]["id"]
    body = perfect_responses(quiz, attempt)[single]
    save = f"/api/v1/attempts/{attempt['id']}/responses/{single}"
    r = await api.http.put(save, json=body, headers=student.headers)
    assert r.status_code == 200, r.text
    assert r.headers["x-request-id"]
    r = await api.http.post(f"/api/v1/attempts/{attempt['id']}/submit", headers=student.headers)
    assert r.status_code == 200, r.text
    metrics = (await api.http.get("/metrics")).text
    for template, method in (
        ("/api/v1/attempts/{id}/responses/{question_id}", "PUT"),
        ("/api/v1/attempts/{id}/submit", "POST"),
    ):
        assert any(
            line.startswith("http_requests_total{")
            and f'route="{template}"' in line
            and f'method="{method}"' in line
            and 'status="200"' in line
            for line in metrics.splitlines()
        ), template
