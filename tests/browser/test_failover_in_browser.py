"""A student answers through a database failover and loses nothing.

A real `quiz serve` on PostgreSQL behind HAProxy (``tests/failover/rig.py``) with a short
leader wait, Debian's chromium through Playwright. While the student answers, the leader
leaves the write backend (HAProxy "maint") for longer than the server waits for it, so
the saves are answered 503 read_only: app.js keeps the answers, shows the banner and
sends them again; the submit waits for them. When the leader is back, every answer is
saved and the score counts them all.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.api.samples import by_type, four_question_quiz
from tests.browser.harness import BrowserPage, Seeder
from tests.conftest import REDIS_URL, SESSION_TAG
from tests.e2e.procs import Instance, quiz_env
from tests.failover.rig import FailoverRig, migrated_rig, missing_parts
from tests.web.helpers import SESSION_COOKIE

LEADER_WAIT_SECONDS = 2  # the server's wait for a leader; the outage lasts longer
# Saves queue one after another (hx-sync) and each waits LEADER_WAIT_SECONDS at the server,
# then up to 8 s in the page: generous bounds for a busy 2-core machine.
SLOW = 90_000
BANNER = "Saving is paused for a moment; your answers are kept and sent when it is back."
# What Chromium logs for each autosave answered 503 while saving is paused: expected here.
PAUSED_SAVE = "Failed to load resource: the server responded with a status of 503"


@pytest.fixture(scope="module")
def failover_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, FailoverRig]]:
    missing = missing_parts()
    if missing:
        pytest.fail(f"{missing}: run scripts/system-deps.sh as root", pytrace=False)
    tmp = tmp_path_factory.mktemp("failover-server")
    with migrated_rig() as rig:
        env = quiz_env(
            tmp,
            QUIZ_DATABASE_URL=rig.write_url,
            QUIZ_DATABASE_REPLICA_URLS=json.dumps([rig.read_url]),
            QUIZ_REDIS_URL=REDIS_URL,
            QUIZ_REDIS_PREFIX=f"{SESSION_TAG}:browser-failover:",
            QUIZ_DB_LEADER_WAIT_SECONDS=str(LEADER_WAIT_SECONDS),
            QUIZ_DB_POOL_SIZE="5",
        )
        instance = Instance(tmp, env)
        try:
            instance.wait_ready(timeout=180)  # importing the app on a busy machine is slow
            yield instance.url, rig
        finally:
            instance.stop()


async def test_answers_typed_while_the_database_has_no_leader_are_all_saved_and_scored(
    browser: Browser, failover_server: tuple[str, FailoverRig]
) -> None:
    base_url, rig = failover_server
    seed = Seeder(base_url)
    teacher = seed.account("teacher")
    quiz = seed.quiz(teacher, four_question_quiz())
    student = seed.account("student")
    attempt = seed.attempt(student, quiz["id"])
    q = {kind: question["id"] for kind, question in by_type(attempt).items()}
    options = {o["text"]: o["id"] for o in by_type(attempt)["single_choice"]["options"]}

    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(SLOW)
    cookie = {"name": SESSION_COOKIE, "value": student["token"], "url": base_url}
    await context.add_cookies([cookie])
    browser_page = BrowserPage(await context.new_page(), base_url)
    page = browser_page.page
    banner = page.locator("#save-paused")
    try:
        await browser_page.visit(f"/attempts/{attempt['id']}")
        await expect(banner).to_be_empty()
        await page.locator(f"#o-{q['single_choice']}-{options['4']}").check()
        await expect(page.locator(f"#status-{q['single_choice']}")).to_contain_text("Saved at")

        rig.no_leader()
        try:
            await page.locator(f"#tf-{q['true_false']}-true").check()
            await page.locator(f"#a-{q['short_answer']}").fill("Lyon")
            await page.locator(f"#a-{q['short_answer']}").press("Tab")
            await page.locator(f"#a-{q['numeric']}").fill("3.14")
            await page.locator(f"#a-{q['numeric']}").press("Tab")
            for kind in ("true_false", "short_answer", "numeric"):
                await expect(page.locator(f"#status-{q[kind]}")).to_have_text(
                    "Waiting to save…", timeout=SLOW
                )
            await expect(banner).to_have_text(BANNER, timeout=SLOW)
            # Changed again while waiting: the latest answer is the one saved.
            await page.locator(f"#a-{q['short_answer']}").fill("Paris")
            await page.locator(f"#a-{q['short_answer']}").press("Tab")
            # Submitting now waits for the answers.
            await page.locator("#submit-attempt").click()
            await expect(page.locator("#submit-status")).to_have_text(
                re.compile("Submitting as soon as your answers are saved|Waiting to submit"),
                timeout=SLOW,
            )
            assert page.url.endswith(f"/attempts/{attempt['id']}")
            await _check_page(browser_page)
        finally:
            rig.leader_back()

        await page.wait_for_url(re.compile(r".*/attempts/[0-9a-f]{32}/result.*"), timeout=SLOW)
        await _check_page(browser_page)
    finally:
        await context.close()

    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        r = await client.get(
            f"/api/v1/attempts/{attempt['id']}",
            headers={"Authorization": f"Bearer {student['token']}"},
        )
    result = r.json()
    assert result["status"] == "submitted"
    assert result["responses"][q["short_answer"]] == {"text": "Paris"}
    assert result["score"] == result["max_score"] == 4, result


async def _check_page(browser_page: BrowserPage) -> None:
    """The harness's checks (console errors, axe-core), minus the 503s of paused saves."""
    browser_page.problems[:] = [p for p in browser_page.problems if PAUSED_SAVE not in p]
    await browser_page.check()
