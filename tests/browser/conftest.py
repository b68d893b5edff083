"""Browser tests: a real `quiz serve` process (SQLite and its in-process store, so it
shares nothing with other runs on this machine), Debian's chromium driven by Playwright.

``make test`` installs chromium (scripts/system-deps.sh). Screenshots go to a temporary
folder; with QUIZ_UPDATE_SCREENSHOTS=1 they replace the ones in docs/screenshots/.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.browser.harness import BrowserPage, Seeder
from tests.e2e.procs import Instance, quiz, quiz_env

REPO = Path(__file__).resolve().parents[2]
# Playwright's assertions wait 5 s by default; with the suite on two workers of a 2-core
# machine beside real database clusters, an htmx round trip has taken longer than that.
expect.set_options(timeout=15_000)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of one `quiz serve` for the whole browser session."""
    tmp = tmp_path_factory.mktemp("browser-server")
    env = quiz_env(tmp, QUIZ_DATABASE_URL=f"sqlite:///{tmp / 'quiz.sqlite3'}")
    quiz(["db", "upgrade"], env, tmp)
    instance = Instance(tmp, env)
    try:
        # Generous: on a machine busy with other suites, importing the app alone has
        # taken 30 s.
        instance.wait_ready(timeout=180)
        yield instance.url
    finally:
        instance.stop()


@pytest.fixture(scope="session")
def seed(server: str) -> Seeder:
    return Seeder(server)


@pytest.fixture
async def page(browser: Browser, server: str) -> AsyncIterator[BrowserPage]:
    """A fresh browser context (no cookies) at desktop size; fails the test on any
    console or page error seen while it ran."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    checked = BrowserPage(await context.new_page(), server)
    try:
        yield checked
        assert not checked.problems, "\n".join(checked.problems)
    finally:
        await context.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: docs/screenshots/ with QUIZ_UPDATE_SCREENSHOTS=1."""
    if os.environ.get("QUIZ_UPDATE_SCREENSHOTS") == "1":
        target = REPO / "docs" / "screenshots"
        target.mkdir(parents=True, exist_ok=True)
        return target
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture
async def browser_context_360(browser: Browser, server: str) -> AsyncIterator[BrowserPage]:
    """Like ``page``, on a 360 px wide phone screen."""
    context = await browser.new_context(
        viewport={"width": 360, "height": 740}, device_scale_factor=2, is_mobile=True
    )
    checked = BrowserPage(await context.new_page(), server)
    try:
        yield checked
        assert not checked.problems, "\n".join(checked.problems)
    finally:
        await context.close()
