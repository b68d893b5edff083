"""AI drafts through the API, against the fake Gemini server (a real HTTP server), on
SQLite and on PostgreSQL + Redis: jobs, validation rounds, retries, the breaker, the
cache and fallbacks, quotas and who may see what. Jobs are run with ``run_once`` (the
worker's own code path, without its polling loop)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from quizplatform.app import create_app
from quizplatform.db import models
from quizplatform.domain.questions import validate_question
from quizplatform.services.container import Services
from quizplatform.services.jobs import LeaseLost
from tests.api.helpers import Api, User
from tests.conftest import BACKENDS, SESSION_TAG, backend_settings, make_settings, reset
from tests.fakes.ai_server import FakeAIServer

FAST = {
    "ai_retry_base_seconds": 0.01,
    "ai_retry_max_seconds": 2.0,
    "ai_timeout_seconds": 2.0,
}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeAIServer]:
    with FakeAIServer() as server:
        yield server


class AIApi(Api):
    fake: FakeAIServer

    async def draft(self, user: User, **body: Any) -> dict[str, Any]:
        """Ask for a draft, run the job as a worker would, return the finished job."""
        body.setdefault("topic", "arithmetic")
        r = await self.http.post("/api/v1/ai/quizzes", json=body, headers=user.headers)
        assert r.status_code == 202, r.text
        assert r.headers["location"] == f"/api/v1/jobs/{r.json()['job_id']}"
        assert await self.services.jobs.run_once()
        r = await self.http.get(f"/api/v1/jobs/{r.json()['job_id']}", headers=user.headers)
        assert r.status_code == 200
        job: dict[str, Any] = r.json()
        return job

    async def quiz_count(self, owner: User) -> int:
        async with self.services.db.session() as session:
            count = await session.scalar(
                select(func.count(models.Quiz.id)).where(models.Quiz.owner_id == owner.id)
            )
        return int(count or 0)


@pytest.fixture(params=BACKENDS)
async def make_api(
    request: pytest.FixtureRequest, session_tmp: Path, fake: FakeAIServer
) -> AsyncIterator[Any]:
    """``await make_api(**settings)``: an API whose AI chain points at the fake."""
    backend: str = request.param
    await backend_settings(backend, session_tmp)  # migrated once per session
    made: list[Services] = []
    clients: list[httpx.AsyncClient] = []

    async def build(**overrides: Any) -> AIApi:
        values: dict[str, Any] = {
            "ai_provider": "gemini",
            "ai_gemini_base_url": fake.gemini_url,
            "ai_gemini_api_key": "test-key",
            "ai_fallbacks": ["cache"],
            **FAST,
        }
        values.update(overrides)
        settings = make_settings(backend, session_tmp / backend, **values)
        services = Services.create(settings, store_prefix=f"{SESSION_TAG}:")
        await services.start(background=False)
        if not made:
            await reset(services)
        made.append(services)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(settings, services=services)),
            base_url="http://test",
        )
        clients.append(client)
        api = AIApi(client, services)
        api.fake = fake
        return api

    fake.set("good")
    yield build
    for client in clients:
        await client.aclose()
    for services in made:
        await services.close()


async def test_a_good_answer_becomes_a_draft_the_teacher_can_edit_and_publish(
    make_api: Any,
) -> None:
    api: AIApi = await make_api()
    teacher = await api.user("teacher")
    before = api.fake.call_count()
    job = await api.draft(teacher, topic="sums", num_questions=6, difficulty="easy")
    assert job["status"] == "succeeded", job
    assert (job["provider"], job["degraded"], job["error"]) == ("gemini", False, None)
    assert job["timings"]["run_seconds"] is not None and job["attempts"] == 1
    call = api.fake.calls[before]
    assert call.api_key == "test-key"
    assert sum(call.plan.values()) == 6 and "Topic: sums" in call.prompt

    quiz = (await api.http.get(f"/api/v1/quizzes/{job['quiz_id']}", headers=teacher.headers)).json()
    assert quiz["status"] == "draft" and quiz["title"] == "Sums"
    assert len(quiz["questions"]) == 6 and "ai-draft" in quiz["tags"]
    assert {q["type"] for q in quiz["questions"]} == {
        "single_choice",
        "multiple_choice",
        "true_false",
        "short_answer",
        "numeric",
    }
    snap = await api.services.quizzes.snapshot(job["quiz_id"])
    assert snap is not None and all(validate_question(q) == [] for q in snap.questions)

    questions = quiz["questions"]
    questions[0]["prompt"] = "Edited by the teacher: " + questions[0]["prompt"]
    r = await api.http.patch(
        f"/api/v1/quizzes/{quiz['id']}", json={"questions": questions}, headers=teacher.headers
    )
    assert r.status_code == 200, r.text
    r = await api.http.post(f"/api/v1/quizzes/{quiz['id']}/publish", headers=teacher.headers)
    assert r.status_code == 200 and r.json()["status"] == "published"

    async with api.services.db.session() as session:
        usage = list(await session.scalars(select(models.AIUsage)))
    assert [(u.provider, u.outcome) for u in usage] == [("gemini", "ok")]
    assert usage[0].prompt_chars > 0 and usage[0].output_tokens


async def test_invalid_items_are_asked_for_again(make_api: Any) -> None:
    api: AIApi = await make_api()
    teacher = await api.user("teacher")
    api.fake.set("half_bad")
    before = api.fake.call_count()
    job = await api.draft(teacher, num_questions=6)
    assert job["status"] == "succeeded", job
    step = job["steps"][0]
    assert step["step"] == "gemini" and step["accepted"] == 6
    assert sum(step["rejected"].values()) >= 3
    assert 2 <= api.fake.call_count() - before <= 3
    snap = await api.services.quizzes.snapshot(job["quiz_id"])
    assert snap is not None and len(snap.questions) == 6
    assert all(validate_question(q) == [] for q in snap.questions)
    prompts = [q.prompt for q in snap.questions]
    assert len(set(prompts)) == 6


@pytest.mark.parametrize("mode", ["bad_schema", "non_json", "truncated", "html"])
async def test_garbage_never_becomes_a_quiz_and_the_job_says_why(make_api: Any, mode: str) -> None:
    api: AIApi = await make_api(ai_fallbacks=[], ai_validation_rounds=2)
    teacher = await api.user("teacher")
    api.fake.set(mode)
    job = await api.draft(teacher, num_questions=4)
    assert job["status"] == "failed"
    assert job["quiz_id"] is None and await api.quiz_count(teacher) == 0
    assert "gemini gave 0 usable question(s) of the 4" in job["error"]
    assert job["steps"][0]["calls"] == 2  # bounded: the validation rounds


async def test_a_failing_provider_is_retried_then_the_cache_serves_a_degraded_draft(
    make_api: Any,
) -> None:
    api: AIApi = await make_api(ai_breaker_failures=10)
    teacher = await api.user("teacher")
    first = await api.draft(teacher, topic="Fractions", num_questions=3)
    assert first["provider"] == "gemini"
    api.fake.set("error500")
    before = api.fake.call_count()
    job = await api.draft(teacher, topic="  fractions ", num_questions=3)  # same, normalised
    assert api.fake.call_count() - before == 3  # the first call and two retries
    assert (job["status"], job["provider"], job["degraded"]) == ("succeeded", "cache", True)
    assert job["steps"][0]["outcome"] == "unavailable"
    assert job["quiz_id"] != first["quiz_id"]
    again = await api.http.get(f"/api/v1/quizzes/{job['quiz_id']}", headers=teacher.headers)
    assert "unavailable" in again.json()["description"]


async def test_three_failures_open_the_breaker_and_drafts_skip_the_provider(
    make_api: Any,
) -> None:
    api: AIApi = await make_api(ai_fallbacks=["cache"], ai_breaker_reset_seconds=600)
    teacher = await api.user("teacher")
    await api.draft(teacher, topic="cached topic", num_questions=2)
    api.fake.set("error500")
    failed = await api.draft(teacher, topic="uncached", num_questions=2)
    assert failed["status"] == "failed" and "answered 500" in failed["error"]

    health = (await api.http.get("/health")).json()
    assert health["status"] == "degraded"
    assert health["checks"]["ai"]["breakers"] == {"gemini": "open"}
    metrics = (await api.http.get("/metrics")).text
    assert 'quiz_ai_breaker_state{provider="gemini"} 2.0' in metrics

    before = api.fake.call_count()
    started = time.monotonic()
    job = await api.draft(teacher, topic="cached topic", num_questions=2)
    assert time.monotonic() - started < 2
    assert api.fake.call_count() == before  # the open breaker did not call it
    assert (job["provider"], job["degraded"]) == ("cache", True)
    assert job["steps"][0]["outcome"] == "breaker_open"


async def test_after_the_reset_time_a_probe_closes_the_breaker(make_api: Any) -> None:
    # 2 s, not less: on a loaded machine (the whole suite on 3 workers) the health check
    # after the third failure came more than 0.5 s later and found the breaker half open.
    reset = 2.0
    api: AIApi = await make_api(ai_breaker_reset_seconds=reset, ai_max_attempts=1)
    teacher = await api.user("teacher")
    api.fake.set("error500", times=3)
    for _ in range(3):
        await api.draft(teacher, num_questions=1)
    opened = time.monotonic()
    assert (await api.http.get("/health")).json()["checks"]["ai"]["breakers"]["gemini"] == "open"
    await asyncio.sleep(max(opened + reset + 0.1 - time.monotonic(), 0))
    job = await api.draft(teacher, num_questions=1)
    assert job["provider"] == "gemini"
    health = (await api.http.get("/health")).json()
    assert health["checks"]["ai"]["breakers"] == {"gemini": "closed"}
    assert health["checks"]["ai"]["status"] == "ok"


async def test_retry_after_is_honoured_on_429(make_api: Any) -> None:
    api: AIApi = await make_api()
    teacher = await api.user("teacher")
    api.fake.set("error429", retry_after="1", times=1)
    before = api.fake.call_count()
    job = await api.draft(teacher, num_questions=2)
    assert job["provider"] == "gemini" and job["status"] == "succeeded"
    first, second = api.fake.calls[before : before + 2]
    assert second.at - first.at >= 0.95  # waited as asked, not the 10 ms backoff


async def test_a_429_asking_for_longer_than_we_wait_falls_back_at_once(make_api: Any) -> None:
    api: AIApi = await make_api(ai_retry_max_seconds=2)
    teacher = await api.user("teacher")
    api.fake.set("error429", retry_after="120")
    before = api.fake.call_count()
    job = await api.draft(teacher, num_questions=2)
    assert api.fake.call_count() - before == 1
    assert job["status"] == "failed" and job["steps"][0]["outcome"] == "rate_limited"


async def test_slow_answers_are_cut_at_the_timeout(make_api: Any) -> None:
    api: AIApi = await make_api(ai_timeout_seconds=0.3, ai_max_attempts=2)
    teacher = await api.user("teacher")
    api.fake.set("slow", delay=3)
    started = time.monotonic()
    job = await api.draft(teacher, num_questions=2)
    assert time.monotonic() - started < 2.5  # two 0.3 s calls, not two 3 s ones
    assert job["steps"][0]["outcome"] == "timeout"
    assert "did not answer within 0.3 s" in job["steps"][0]["message"]


async def test_a_bad_api_key_is_not_retried(make_api: Any) -> None:
    api: AIApi = await make_api(ai_gemini_api_key="wrong")
    teacher = await api.user("teacher")
    before = api.fake.call_count()
    job = await api.draft(teacher, num_questions=2)
    assert api.fake.call_count() - before == 1
    assert job["steps"][0]["outcome"] == "rejected"
    assert "API key not valid" in job["steps"][0]["message"]


async def test_the_openai_compatible_provider(make_api: Any, fake: FakeAIServer) -> None:
    api: AIApi = await make_api(
        ai_provider="openai", ai_openai_base_url=fake.openai_url, ai_openai_model="local-model"
    )
    teacher = await api.user("teacher")
    job = await api.draft(teacher, num_questions=3, question_types=["numeric", "true_false"])
    assert (job["status"], job["provider"]) == ("succeeded", "openai")
    snap = await api.services.quizzes.snapshot(job["quiz_id"])
    assert snap is not None
    assert {q.type.value for q in snap.questions} <= {"numeric", "true_false"}


async def test_the_daily_quota_refuses_with_429(make_api: Any) -> None:
    api: AIApi = await make_api(ai_daily_jobs_per_teacher=2)
    teacher, other = await api.user("teacher"), await api.user("teacher")
    for _ in range(2):
        r = await api.http.post("/api/v1/ai/quizzes", json={"topic": "x"}, headers=teacher.headers)
        assert r.status_code == 202
    r = await api.http.post("/api/v1/ai/quizzes", json={"topic": "x"}, headers=teacher.headers)
    assert r.status_code == 429
    assert "your 2 AI drafts for today" in r.json()["error"]["message"]
    assert 0 < int(r.headers["retry-after"]) <= 86400
    r = await api.http.post("/api/v1/ai/quizzes", json={"topic": "x"}, headers=other.headers)
    assert r.status_code == 202  # per teacher


async def test_the_character_quota_counts_what_providers_used(make_api: Any) -> None:
    api: AIApi = await make_api(ai_daily_chars_per_teacher=5000)
    teacher = await api.user("teacher")
    job = await api.draft(teacher, num_questions=2)
    assert job["status"] == "succeeded"
    r = await api.http.post(
        "/api/v1/ai/quizzes", json={"source_text": "word " * 1000}, headers=teacher.headers
    )
    assert r.status_code == 429
    assert "past 5,000 characters" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({}, "topic"),
        ({"topic": "  "}, "topic"),
        ({"topic": "x", "num_questions": 0}, "num_questions"),
        ({"topic": "x", "num_questions": 51}, "num_questions"),
        ({"topic": "x", "question_types": ["essay"]}, "question_types"),
        ({"topic": "x", "question_types": []}, "question_types"),
        ({"topic": "x", "difficulty": "insane"}, "difficulty"),
        ({"topic": "x", "surprise": 1}, "surprise"),
        ({"source_text": "y" * 60_001}, "source_text"),
    ],
)
async def test_bad_requests_are_422_with_the_field(
    make_api: Any, body: dict[str, Any], where: str
) -> None:
    api: AIApi = await make_api()
    teacher = await api.user("teacher")
    r = await api.http.post("/api/v1/ai/quizzes", json=body, headers=teacher.headers)
    assert r.status_code == 422, r.text
    assert any(where in d["loc"] for d in r.json()["error"]["details"])


async def test_who_may_ask_and_see(make_api: Any) -> None:
    api: AIApi = await make_api()
    teacher, student, other = (
        await api.user("teacher"),
        await api.user("student"),
        await api.user("teacher"),
    )
    admin = await api.user("admin")
    r = await api.http.post("/api/v1/ai/quizzes", json={"topic": "x"})
    assert r.status_code == 401
    r = await api.http.post("/api/v1/ai/quizzes", json={"topic": "x"}, headers=student.headers)
    assert r.status_code == 403
    job = await api.draft(teacher, num_questions=1)
    url = f"/api/v1/jobs/{job['id']}"
    assert (await api.http.get(url, headers=other.headers)).status_code == 404
    assert (await api.http.get(url, headers=admin.headers)).status_code == 200
    assert (await api.http.get("/api/v1/jobs/nope", headers=teacher.headers)).status_code == 404
    listing = (await api.http.get("/api/v1/jobs", headers=teacher.headers)).json()
    assert [j["id"] for j in listing["items"]] == [job["id"]] and listing["total"] == 1
    assert (await api.http.get("/api/v1/jobs", headers=other.headers)).json()["total"] == 0


async def test_the_job_never_leaks_the_source_text(make_api: Any) -> None:
    api: AIApi = await make_api()
    teacher = await api.user("teacher")
    text = "The secret source text. " * 20
    job = await api.draft(teacher, source_text=text, num_questions=1)
    assert job["request"]["source_chars"] == len(text.strip())
    assert "secret" not in str(job)
    assert "<<<SOURCE" in api.fake.calls[-1].prompt  # grounded: the text went to the model


async def test_a_job_queued_before_a_restart_is_run_by_a_new_process(make_api: Any) -> None:
    api: AIApi = await make_api()
    teacher = await api.user("teacher")
    r = await api.http.post("/api/v1/ai/quizzes", json={"topic": "x"}, headers=teacher.headers)
    job_id = r.json()["job_id"]
    fresh: AIApi = await make_api()  # another process on the same database
    assert await fresh.services.jobs.run_once()
    assert not await api.services.jobs.run_once()  # done once, nothing left
    job = (await api.http.get(f"/api/v1/jobs/{job_id}", headers=teacher.headers)).json()
    assert job["status"] == "succeeded" and job["attempts"] == 1


async def test_a_worker_whose_lease_was_taken_over_cannot_complete_the_job(
    make_api: Any,
) -> None:
    api: AIApi = await make_api(ai_job_lease_seconds=30)
    teacher = await api.user("teacher")
    r = await api.http.post("/api/v1/ai/quizzes", json={"topic": "x"}, headers=teacher.headers)
    job_id = r.json()["job_id"]
    queue = api.services.ai.queue
    stale = await queue.claim("worker-a")
    assert stale is not None and stale.job_id == job_id
    assert await queue.claim("worker-b") is None  # leased: nobody else may take it
    async with api.services.db.session() as session:  # worker-a stalls past its lease
        row = await session.get(models.AIJob, job_id)
        assert row is not None
        row.lease_expires_at = row.created_at
    fresh = await queue.claim("worker-b")
    assert fresh is not None and fresh.takeover and fresh.claims == 2
    await api.services.ai.run_job(fresh)
    assert not await queue.renew(stale)  # worker-a's renewals now fail...
    with pytest.raises(LeaseLost):  # ...and so does its finished result
        await api.services.ai.run_job(stale)
    assert await api.quiz_count(teacher) == 1
    done = (await api.http.get(f"/api/v1/jobs/{job_id}", headers=teacher.headers)).json()
    assert (done["status"], done["worker"], done["attempts"]) == ("succeeded", "worker-b", 2)


async def test_a_job_that_keeps_killing_its_workers_is_given_up(make_api: Any) -> None:
    api: AIApi = await make_api(ai_job_max_claims=2)
    teacher = await api.user("teacher")
    r = await api.http.post("/api/v1/ai/quizzes", json={"topic": "x"}, headers=teacher.headers)
    job_id = r.json()["job_id"]
    for _ in range(2):  # two workers die holding it
        lease = await api.services.ai.queue.claim("doomed")
        assert lease is not None
        async with api.services.db.session() as session:
            row = await session.get(models.AIJob, job_id)
            assert row is not None
            row.lease_expires_at = row.created_at
    assert await api.services.jobs.run_once()
    done = (await api.http.get(f"/api/v1/jobs/{job_id}", headers=teacher.headers)).json()
    assert done["status"] == "failed" and "interrupted 2 times" in done["error"]
    assert await api.quiz_count(teacher) == 0
