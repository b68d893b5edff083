"""The AI draft pages, on SQLite and PostgreSQL + Redis, against the fake Gemini server:
a request queues a job, the job page polls a status fragment that follows the job
(queued, running, finished) and stops polling when it is done; failures show the
job's error; invalid requests are shown beside their fields."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher

from quizplatform.app import create_app
from quizplatform.services.container import Services
from tests.conftest import BACKENDS, SESSION_TAG, backend_settings, make_settings, reset
from tests.fakes.ai_server import FakeAIServer
from tests.web.helpers import WebClient
from tests.web.teacher_helpers import Teacher, field_error, sign_up_teacher

HTMX = {"HX-Request": "true"}
FAST = {"ai_retry_base_seconds": 0.01, "ai_retry_max_seconds": 0.5, "ai_timeout_seconds": 2.0}
MakeWeb = Callable[..., Awaitable[WebClient]]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeAIServer]:
    with FakeAIServer() as server:
        yield server


@pytest.fixture(params=BACKENDS)
async def make_web(
    request: pytest.FixtureRequest, session_tmp: Path, fake: FakeAIServer
) -> AsyncIterator[MakeWeb]:
    """``await make_web(**settings)``: the pages on services whose AI is the fake."""
    backend: str = request.param
    await backend_settings(backend, session_tmp)
    made: list[tuple[Services, httpx.AsyncClient]] = []

    async def build(**overrides: Any) -> WebClient:
        values: dict[str, Any] = {
            "ai_provider": "gemini",
            "ai_gemini_base_url": fake.gemini_url,
            "ai_gemini_api_key": "test-key",
            "ai_fallbacks": ["cache"],
            **FAST,
            **overrides,
        }
        settings = make_settings(backend, session_tmp / backend, **values)
        services = Services.create(settings, store_prefix=f"{SESSION_TAG}:")
        await services.start(background=False)
        services.accounts.hasher = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
        if not made:
            await reset(services)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(settings, services=services)),
            base_url="http://test",
        )
        made.append((services, client))
        return WebClient(client, services)

    fake.set("good")
    yield build
    for services, client in made:
        await client.aclose()
        await services.close()


async def _ask(teacher: Teacher, **fields: Any) -> tuple[str, str]:
    """Post the AI form; returns (job id, job page html)."""
    data = {"topic": "sums", "num_questions": "3", "question_types": ["single_choice", "numeric"]}
    data.update(fields)
    r = await teacher.post("/teach/ai", data, from_page="/teach/ai")
    assert r.status_code == 303, r.text
    job_id = r.headers["location"].rsplit("/", 1)[1]
    page = await teacher.http.get(r.headers["location"])
    assert page.status_code == 200
    return job_id, page.text


def _polling(fragment: str) -> str | None:
    """The URL the fragment polls every second (None: it does not poll)."""
    match = re.search(r'hx-get="([^"]+)" hx-trigger="every 1s"', fragment)
    return match.group(1).replace("&amp;", "&") if match else None


async def test_a_draft_is_followed_live_from_queued_to_the_editor(make_web: MakeWeb) -> None:
    web = await make_web()
    teacher = await sign_up_teacher(web)
    job_id, page = await _ask(teacher, difficulty="easy", title="Sums for year 3")
    assert (
        'id="job-status" class="job-status" role="status"' in page
        and "Waiting for a worker" in page
    )
    poll = _polling(page)
    assert poll == f"/teach/ai/jobs/{job_id}/status?shown=queued"

    unchanged = await teacher.http.get(poll, headers=HTMX)
    assert unchanged.status_code == 204 and unchanged.content == b"", "no swap while queued"

    lease = await web.services.ai.queue.claim("test-worker")
    assert lease is not None and lease.job_id == job_id
    running = await teacher.http.get(poll, headers=HTMX)
    assert running.status_code == 200 and "Drafting the questions" in running.text
    assert "<html" not in running.text, "a fragment, not a page"
    poll = _polling(running.text)
    assert poll == f"/teach/ai/jobs/{job_id}/status?shown=running"
    assert (await teacher.http.get(poll, headers=HTMX)).status_code == 204

    await web.services.ai.run_job(lease)
    done = await teacher.http.get(poll, headers=HTMX)
    assert done.status_code == 200 and "Your draft is ready." in done.text
    assert _polling(done.text) is None, "a finished job stops the polling"
    job = await web.services.ai.job(await _principal(web, teacher), job_id)
    link = f'href="/teach/quizzes/{job.quiz_id}"'
    assert link in done.text and "Open the draft in the editor" in done.text
    editor = await teacher.http.get(f"/teach/quizzes/{job.quiz_id}")
    assert editor.status_code == 200 and "Sums for year 3" in editor.text
    assert len((await teacher.quiz(job.quiz_id))["questions"]) == 3
    again = await teacher.http.get(f"/teach/ai/jobs/{job_id}")
    assert _polling(again.text) is None and link in again.text

    dashboard = await teacher.http.get("/dashboard")
    assert f'href="/teach/ai/jobs/{job_id}"' in dashboard.text and "AI draft" in dashboard.text


async def test_a_job_run_by_the_worker_is_shown_finished(make_web: MakeWeb) -> None:
    web = await make_web()
    teacher = await sign_up_teacher(web)
    _job_id, page = await _ask(teacher)
    assert await web.services.jobs.run_once()
    poll = _polling(page)
    assert poll is not None
    done = await teacher.http.get(poll, headers=HTMX)
    assert done.status_code == 200 and "Your draft is ready." in done.text


async def test_a_failed_job_shows_its_error_and_stops_polling(
    make_web: MakeWeb, fake: FakeAIServer
) -> None:
    web = await make_web(ai_fallbacks=[], ai_max_attempts=1)
    teacher = await sign_up_teacher(web)
    fake.set("error500")
    _job_id, page = await _ask(teacher)
    assert await web.services.jobs.run_once()
    poll = _polling(page)
    assert poll is not None
    failed = await teacher.http.get(poll, headers=HTMX)
    assert failed.status_code == 200 and "The draft could not be made." in failed.text
    assert "answered 500" in failed.text and _polling(failed.text) is None
    assert 'href="/teach/ai"' in failed.text  # ask again


async def test_invalid_requests_are_shown_beside_their_fields(make_web: MakeWeb) -> None:
    web = await make_web()
    teacher = await sign_up_teacher(web)
    cases = [
        ({"topic": "", "source_text": "  "}, "topic", "Give a topic"),
        ({"num_questions": "many"}, "num_questions", "from 1 to 50"),
        ({"num_questions": "51"}, "num_questions", "at most 50"),
        ({"question_types": []}, "question_types", "at least one type"),
        ({"question_types": ["essay"]}, "question_types", ""),
        ({"topic": "t" * 201}, "topic", "at most 200 characters"),
        ({"difficulty": "brutal"}, "difficulty", ""),
    ]
    for changes, field, message in cases:
        data = {"topic": "sums", "num_questions": "3", "question_types": ["true_false"]}
        data.update(changes)
        r = await teacher.post("/teach/ai", data, from_page="/teach/ai")
        assert r.status_code == 422, (changes, r.text)
        shown = field_error(r.text, field)
        assert shown is not None and message in shown, (changes, shown)
    _jobs, total = await web.services.ai.jobs(await _principal(web, teacher), 1, 10)
    assert total == 0, "nothing was queued"


async def test_a_job_is_private_to_its_teacher(make_web: MakeWeb) -> None:
    web = await make_web()
    teacher = await sign_up_teacher(web)
    job_id, _ = await _ask(teacher)
    web.http.cookies.clear()
    other = await sign_up_teacher(web)
    for path in (f"/teach/ai/jobs/{job_id}", f"/teach/ai/jobs/{job_id}/status?shown=queued"):
        assert (await other.http.get(path)).status_code == 404


async def _principal(web: WebClient, teacher: Teacher) -> Any:
    token = teacher.web.session_token
    assert token
    return await web.services.accounts.resolve_token(token)
