"""The browser-test harness: a real `quiz serve`, Debian's chromium through Playwright,
and ``BrowserPage.visit`` — which every test uses — failing on console errors, page
errors and serious or critical axe-core violations."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import ConsoleMessage, Error, Page, Response

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "correct-horse-battery-9"
BLOCKING_IMPACTS = ("serious", "critical")
_numbers = itertools.count()
_axe = Axe()


@dataclass
class BrowserPage:
    """A Playwright page that records every console error and page error."""

    page: Page
    base_url: str
    problems: list[str] = field(default_factory=list)
    axe_runs: int = 0
    # Pages deliberately answered with an error status (a form re-shown with 422, a 404
    # page): Chromium logs "Failed to load resource" for them, which is not a fault of
    # the page. A failing stylesheet, script or htmx request still counts.
    _error_documents: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.page.on("console", self._on_console)
        self.page.on("pageerror", self._on_page_error)
        self.page.on("response", self._on_response)

    def _on_response(self, response: Response) -> None:
        request = response.request
        if response.status >= 400 and request.is_navigation_request():
            self._error_documents.add(response.url)

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        url = message.location.get("url", "")
        if message.text.startswith("Failed to load resource") and url in self._error_documents:
            return
        self.problems.append(f"console error: {message.text} ({message.location})")

    def _on_page_error(self, error: Error) -> None:
        self.problems.append(f"page error: {error.message}")

    async def visit(self, path: str) -> None:
        """Open ``path`` and check the page (see ``check``)."""
        response = await self.page.goto(self.base_url + path)
        assert response is not None, path
        await self.page.wait_for_load_state("load")
        await self.check()

    async def check(self) -> None:
        """Fail on console or page errors so far and on serious or critical axe-core
        violations of the page as it is now. Call it after anything that changes the page."""
        assert not self.problems, "\n".join(self.problems)
        results = await _axe.run(self.page)
        self.axe_runs += 1
        blocking = [
            v for v in results.response["violations"] if v.get("impact") in BLOCKING_IMPACTS
        ]
        assert not blocking, _describe(self.page.url, blocking)
        assert not self.problems, "\n".join(self.problems)

    async def no_horizontal_scroll(self) -> None:
        """Nothing on the page is wider than the viewport (a 360 px phone must not scroll
        sideways)."""
        widths = await self.page.evaluate(
            "() => [document.documentElement.scrollWidth, window.innerWidth]"
        )
        assert widths[0] <= widths[1], f"page is {widths[0]} px wide in a {widths[1]} px viewport"


def _describe(url: str, violations: list[dict[str, Any]]) -> str:
    lines = [f"axe-core: {len(violations)} serious/critical violation(s) on {url}"]
    for v in violations:
        targets = [", ".join(n["target"]) for n in v["nodes"][:5]]
        lines.append(f"- {v['id']} ({v['impact']}): {v['help']} -> {targets}")
    return "\n".join(lines)


@dataclass
class Seeder:
    """Puts data in place through the real HTTP API of the server under test."""

    base_url: str

    def _client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30)

    def account(self, role: str = "student", name: str | None = None) -> dict[str, str]:
        n = next(_numbers)
        email = f"{role}{n}@example.org"
        display = name or f"{role.title()} {n}"
        with self._client() as client:
            r = client.post(
                "/api/v1/auth/register",
                json={"email": email, "password": PASSWORD, "display_name": display, "role": role},
            )
            assert r.status_code == 201, r.text
            r = client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
            assert r.status_code == 200, r.text
            token = r.json()["access_token"]
        return {"email": email, "display_name": display, "token": token}

    def quiz(self, teacher: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        """Create and publish a quiz; returns the owner's view."""
        headers = {"Authorization": f"Bearer {teacher['token']}"}
        with self._client() as client:
            r = client.post("/api/v1/quizzes", json=body, headers=headers)
            assert r.status_code == 201, r.text
            quiz_id = r.json()["id"]
            r = client.post(f"/api/v1/quizzes/{quiz_id}/publish", headers=headers)
            assert r.status_code == 200, r.text
            quiz: dict[str, Any] = r.json()
        return quiz

    def attempt(self, student: dict[str, str], quiz_id: str) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {student['token']}"}
        with self._client() as client:
            r = client.post(f"/api/v1/quizzes/{quiz_id}/attempts", headers=headers)
            assert r.status_code in (200, 201), r.text
            attempt: dict[str, Any] = r.json()
        return attempt


async def tab_to(page: Page, target: Any, *, backwards: bool = False, limit: int = 120) -> None:
    """Press Tab (Shift+Tab) until ``target`` (a Locator) has the focus: proves that the
    keyboard alone reaches it, in the page's focus order."""
    key = "Shift+Tab" if backwards else "Tab"
    for _ in range(limit):
        if await target.evaluate("el => el === document.activeElement"):
            return
        await page.keyboard.press(key)
    raise AssertionError(f"{target} not reached with {limit} presses of {key}")


async def focused_text(page: Page) -> str:
    text: str = await page.evaluate(
        "() => (document.activeElement.innerText || document.activeElement.value || '').trim()"
    )
    return text
