"""The smoke journey's logic against a fake API (httpx.MockTransport): the steps in order,
a stop at the first failure with the failing step named, and one-line transport errors."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from quizplatform.ops.smoke import (
    SmokeCredentials,
    SmokeError,
    describe_http_error,
    run_smoke,
)

CREDENTIALS = SmokeCredentials("smoke@example.org", "secret", "q1")
JOURNEY = [
    "live",
    "ready",
    "sign in",
    "find the smoke quiz",
    "start an attempt",
    "answer",
    "submit and score",
    "sign out",
]


def fake_api(score: float = 1.0, password: str = CREDENTIALS.password) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        if path.startswith("/health/"):
            return httpx.Response(200, json={"status": "ok"})
        if path == "/api/v1/auth/token":
            ok = json.loads(request.content)["password"] == password
            return httpx.Response(200, json={"access_token": "t"}) if ok else httpx.Response(401)
        assert request.headers["authorization"] == "Bearer t"
        assert request.headers["x-quiz-pool"] == "candidate-key"
        if path == "/api/v1/quizzes" and request.url.params["mine"] == "true":
            return httpx.Response(200, json={"items": [{"id": "q1"}]})
        if path == "/api/v1/quizzes/q1/attempts" and method == "POST":
            question = {"id": "x", "type": "true_false"}
            return httpx.Response(201, json={"id": "a1", "questions": [question]})
        if path == "/api/v1/attempts/a1/responses/x" and json.loads(request.content) == {
            "value": True
        }:
            return httpx.Response(200, json={})
        if path == "/api/v1/attempts/a1/submit":
            body = {"status": "submitted", "score": score, "max_score": 1.0}
            return httpx.Response(200, json=body)
        if path == "/api/v1/auth/logout":
            return httpx.Response(204)
        return httpx.Response(404)

    return httpx.MockTransport(answer)


def smoke(transport: httpx.MockTransport) -> list[tuple[str, bool, str]]:
    report = run_smoke(
        "https://quiz.test/", CREDENTIALS, pool_secret="candidate-key", transport=transport
    )
    return [(s.name, s.ok, s.detail) for s in report.steps]


def test_the_journey_passes_step_by_step() -> None:
    steps = smoke(fake_api())
    assert [name for name, _, _ in steps] == JOURNEY
    assert all(ok for _, ok, _ in steps)
    assert ("submit and score", True, "score 1/1") in steps


def test_wrong_credentials_stop_at_sign_in() -> None:
    steps = smoke(fake_api(password="other"))
    assert [name for name, _, _ in steps] == JOURNEY[:3]
    _, ok, detail = steps[-1]
    assert not ok and "answered 401" in detail and "credentials file" in detail


def test_a_wrong_score_fails_the_submit_step() -> None:
    name, ok, detail = smoke(fake_api(score=0.0))[-1]
    assert (name, ok) == ("submit and score", False)
    assert "expected full marks, got 0.0/1.0" in detail


def test_transport_errors_read_as_one_line() -> None:
    refused = httpx.ConnectError("[Errno 111] Connection refused")
    assert (
        describe_http_error("http://h:1", refused) == "cannot reach http://h:1: connection refused"
    )
    timeout = httpx.ReadTimeout("timed out")
    assert describe_http_error("http://h:1", timeout) == "cannot reach http://h:1: timed out"


def test_credentials_file_round_trip_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(CREDENTIALS.to_json())
    assert SmokeCredentials.load(path) == CREDENTIALS
    path.write_text('{"email": "x"}')
    with pytest.raises(SmokeError, match="lacks password, quiz_id: write it with `quiz smoke"):
        SmokeCredentials.load(path)
    for odd in ("[]", '"text"', '{"email": "x", "password": "", "quiz_id": "q"}'):
        path.write_text(odd)
        with pytest.raises(SmokeError, match="lacks"):
            SmokeCredentials.load(path)
    path.write_text("{not json")
    with pytest.raises(SmokeError, match="cannot read the credentials file"):
        SmokeCredentials.load(path)
    with pytest.raises(SmokeError, match="cannot read the credentials file"):
        SmokeCredentials.load(tmp_path / "missing.json")
