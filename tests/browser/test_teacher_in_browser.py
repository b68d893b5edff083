"""The teacher pages in a real browser (Debian chromium + Playwright; every page checked
by axe-core and for console errors through ``BrowserPage``):

- the acceptance journey: a teacher signs up, imports a GIFT file (after a broken one
  shows its problems by line), edits a question, publishes;
- questions reordered with the keyboard, the focus staying on the moved question;
- an AI draft followed live (htmx polling) from waiting to the finished draft;
- the report with its SVG charts, at 1280 px and 375 px (the README's screenshots);
- the admin's user list, and the pages in the dark colour scheme.

These tests run their own `quiz serve` (SQLite, in-process store) whose AI provider is
the fake Gemini server of ``tests/fakes``, answering slowly so that the progress can be
seen, and which has an admin made with the command line.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from quizplatform.web.paths import SESSION_COOKIE
from tests.browser.harness import PASSWORD, BrowserPage, Seeder, focused_text, tab_to
from tests.e2e.procs import Instance, quiz, quiz_env
from tests.fakes.ai_server import FakeAIServer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
GIFT = FIXTURES / "every_feature.gift"
BROKEN_GIFT = "Fine?{=yes ~no}\n\nBroken {=a ~b\n\nAlso fine {T}\n"
ADMIN_EMAIL = "admin@example.org"
AI_DELAY_SECONDS = 2.5


@dataclass
class TeacherServer:
    url: str
    fake: FakeAIServer
    seed: Seeder


@pytest.fixture(scope="module")
def teacher_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TeacherServer]:
    tmp = tmp_path_factory.mktemp("teacher-server")
    with FakeAIServer() as fake:
        env = quiz_env(
            tmp,
            QUIZ_DATABASE_URL=f"sqlite:///{tmp / 'quiz.sqlite3'}",
            QUIZ_AI_PROVIDER="gemini",
            QUIZ_AI_GEMINI_BASE_URL=fake.gemini_url,
            QUIZ_AI_GEMINI_API_KEY="test-key",
            QUIZ_AI_FALLBACKS='["cache"]',
            QUIZ_AI_WORKER_POLL_SECONDS="0.5",
        )
        quiz(["db", "upgrade"], env, tmp)
        (tmp / "admin-password").write_text(PASSWORD)
        quiz(
            [
                *("users", "create", "--email", ADMIN_EMAIL, "--role", "admin"),
                *("--password-file", str(tmp / "admin-password"), "--display-name", "Ada Admin"),
            ],
            env,
            tmp,
        )
        instance = Instance(tmp, env)
        try:
            instance.wait_ready(timeout=120)  # the machine may be busy with other runs
            yield TeacherServer(instance.url, fake, Seeder(instance.url))
        finally:
            instance.stop()


async def _page(
    browser: Browser, server: TeacherServer, **options: Any
) -> AsyncIterator[BrowserPage]:
    context = await browser.new_context(**{"viewport": {"width": 1280, "height": 900}, **options})
    context.set_default_timeout(10_000)
    checked = BrowserPage(await context.new_page(), server.url)
    try:
        yield checked
        assert not checked.problems, "\n".join(checked.problems)
    finally:
        await context.close()


@pytest.fixture
async def tpage(browser: Browser, teacher_server: TeacherServer) -> AsyncIterator[BrowserPage]:
    """A fresh desktop browser context on the teacher server."""
    async for page in _page(browser, teacher_server):
        yield page


async def _focused(page: Page) -> str:
    """The focused element's text, as one line (visually hidden parts included)."""
    return " ".join((await focused_text(page)).split())


async def _sign_in_as(page: BrowserPage, token: str) -> None:
    await page.page.context.add_cookies(
        [{"name": SESSION_COOKIE, "value": token, "url": page.base_url}]
    )


# -- the acceptance journey ---------------------------------------------------------------
async def test_a_teacher_signs_up_imports_gift_edits_a_question_and_publishes(
    tpage: BrowserPage,
) -> None:
    p = tpage.page
    await tpage.visit("/signup")
    await p.get_by_label("Your name").fill("Marie Curie")
    await p.get_by_label("Email address").fill("marie@example.org")
    await p.get_by_label("Password").fill(PASSWORD)
    await p.get_by_label("Teacher").check()
    await p.get_by_role("button", name="Create account").click()
    await p.wait_for_url("**/dashboard?notice=welcome")
    await tpage.check()

    await p.get_by_role("link", name="Import a file").first.click()
    await p.wait_for_url("**/teach/import")
    await tpage.check()

    # A broken file first: nothing saved, each problem beside its line, summary focused.
    await p.get_by_label("Or paste the text").fill(BROKEN_GIFT)
    await p.get_by_role("button", name="Preview the import", exact=True).click()
    await p.wait_for_load_state("load")
    await tpage.check()
    assert await focused_text(p) != "" and await p.evaluate("document.activeElement.id") == (
        "error-summary"
    )
    assert "nothing was imported" in await p.get_by_role("alert").inner_text()
    line = p.locator("#line-3")
    assert "is not closed" in await line.inner_text()
    await p.get_by_role("link", name="Line 3:").click()  # the summary leads to the line
    assert await p.evaluate("location.hash") == "#line-3"

    # Then the real file, uploaded.
    await p.get_by_label("Or paste the text").fill("")
    await p.get_by_label("A file from your computer").set_input_files(GIFT)
    await p.get_by_label("Title", exact=True).fill("Science, imported")
    await p.get_by_role("button", name="Preview the import", exact=True).click()
    await p.wait_for_load_state("load")
    await expect(p.get_by_role("heading", level=1)).to_have_text("Check the import")
    await tpage.check()
    await p.get_by_role("button", name="Import these questions", exact=True).click()
    await p.wait_for_url("**/teach/quizzes/*?notice=imported")
    await tpage.check()
    await expect(p.get_by_role("heading", level=1)).to_have_text("Science, imported")
    await expect(p.locator(".badge--draft")).to_have_text("Draft")

    # Edit question 1 (single choice): new prompt, the correct answer moves to option 3.
    await p.get_by_role("link", name="Edit question 1", exact=True).click()
    await p.wait_for_url("**/questions/*")
    await tpage.check()
    await p.get_by_label("Question", exact=True).fill("Which planet is called the red one?")
    await p.locator("#f-row-2-correct").check()
    await p.locator("#f-row-2-text").fill("Mars")
    await p.locator("#f-row-0-text").fill("Venus")
    await p.get_by_role("button", name="Save question").click()
    await p.wait_for_url("**?notice=question_saved#q-*")
    await tpage.check()
    first = p.locator(".question-item").first
    await expect(first).to_contain_text("Which planet is called the red one?")

    # An invalid edit is refused beside its field and saves nothing.
    await p.get_by_role("link", name="Edit question 1", exact=True).click()
    await p.locator("#f-row-0-weight").fill("lots")
    await p.locator("#f-row-0-weight").press("Enter")  # Enter saves (the default button)
    await p.wait_for_load_state("load")
    await tpage.check()
    assert "as a number" in await p.locator("#f-row-0-weight-error").inner_text()
    assert await p.locator("#f-row-0-weight").get_attribute("aria-invalid") == "true"
    await p.get_by_role("link", name="Cancel").click()

    await p.get_by_role("button", name="Publish").click()
    await p.wait_for_url("**?notice=published")
    await tpage.check()
    await expect(p.locator(".badge--published")).to_have_text("Published")
    assert "students can find and take it now" in await p.get_by_role("status").inner_text()

    await tpage.visit("/quizzes")  # students can find it in the catalogue now
    await expect(p.get_by_role("link", name="Science, imported")).to_be_visible()


async def test_questions_are_reordered_with_the_keyboard(
    tpage: BrowserPage, teacher_server: TeacherServer
) -> None:
    teacher = teacher_server.seed.account("teacher")
    body = {
        "title": "Order me",
        "questions": [
            {"type": "true_false", "prompt": f"Statement {n}", "answer": True} for n in (1, 2, 3)
        ],
    }
    quiz_id = _create(teacher_server, teacher, body, publish=False)["id"]
    await _sign_in_as(tpage, teacher["token"])
    p = tpage.page
    await tpage.visit(f"/teach/quizzes/{quiz_id}")
    button = p.get_by_role("button", name="Move down question 1")
    await tab_to(p, button)
    async with p.expect_navigation(url="**notice=question_moved**"):
        await p.keyboard.press("Enter")
    await tpage.check()
    assert await _focused(p) == "Move down question 2", "the focus follows the question"
    async with p.expect_navigation(url="**notice=question_moved**"):
        await p.keyboard.press("Enter")  # again: it moves to the end
    await tpage.check()
    prompts = await p.locator(".question-item__prompt").all_inner_texts()
    assert prompts == ["Statement 2", "Statement 3", "Statement 1"]
    # At the end "Move down" is disabled, so the focus is on "Move up".
    assert await _focused(p) == "Move up question 3"


# -- AI drafts ------------------------------------------------------------------------------
async def test_an_ai_draft_is_followed_live_to_the_finished_draft(
    tpage: BrowserPage, teacher_server: TeacherServer
) -> None:
    teacher_server.fake.set("slow", delay=AI_DELAY_SECONDS)
    teacher = teacher_server.seed.account("teacher")
    await _sign_in_as(tpage, teacher["token"])
    p = tpage.page
    await tpage.visit("/teach/ai")
    await p.get_by_label("Topic").fill("the solar system")
    await p.get_by_label("Number of questions").fill("4")
    await p.get_by_label("Numeric").uncheck()
    await p.get_by_label("Short answer").uncheck()
    await p.get_by_role("button", name="Ask for the draft").click()
    await p.wait_for_url("**/teach/ai/jobs/*")
    await tpage.check()

    status = p.get_by_role("status")
    # The provider takes a few seconds: the page shows it drafting, then done, by itself.
    await expect(status).to_contain_text("Drafting the questions", timeout=10_000)
    await tpage.check()
    await expect(status).to_contain_text("Your draft is ready.", timeout=20_000)
    await tpage.check()
    requests: list[str] = []
    p.on("request", lambda r: requests.append(r.url) if "/status" in r.url else None)
    await p.wait_for_timeout(2_500)
    assert requests == [], "polling stops once the job is finished"

    await p.get_by_role("link", name="Open the draft in the editor").click()
    await p.wait_for_url("**/teach/quizzes/*")
    await tpage.check()
    await expect(p.get_by_role("heading", level=1)).to_have_text("The solar system")
    await expect(p.locator(".question-item")).to_have_count(4)


async def test_a_failed_ai_draft_shows_why(
    tpage: BrowserPage, teacher_server: TeacherServer
) -> None:
    teacher_server.fake.set("bad_key")
    teacher = teacher_server.seed.account("teacher")
    await _sign_in_as(tpage, teacher["token"])
    p = tpage.page
    await tpage.visit("/teach/ai")
    await p.get_by_label("Topic").fill("volcanoes that nobody has drafted before")
    await p.get_by_role("button", name="Ask for the draft").click()
    await p.wait_for_url("**/teach/ai/jobs/*")
    status = p.get_by_role("status")
    await expect(status).to_contain_text("The draft could not be made.", timeout=20_000)
    await tpage.check()
    assert "Why:" in await status.inner_text()
    teacher_server.fake.set("good")


# -- the report -----------------------------------------------------------------------------
REPORT_QUIZ = {
    "title": "Fractions check",
    "questions": [
        {
            "type": "single_choice",
            "prompt": "Which is the largest: 1/2, 2/3 or 3/5?",
            "options": [{"text": "1/2"}, {"text": "2/3", "correct": True}, {"text": "3/5"}],
        },
        {
            "type": "multiple_choice",
            "prompt": "Which of these equal one half?",
            "options": [
                {"text": "2/4", "weight": 50},
                {"text": "3/6", "weight": 50},
                {"text": "2/3", "weight": -100},
            ],
        },
        {"type": "true_false", "prompt": "3/4 is more than 0.7.", "answer": True},
        {
            "type": "numeric",
            "prompt": "What is 1/4 as a decimal?",
            "answers": [{"value": 0.25, "tolerance": 0}],
        },
    ],
}
# Per student: (option index for Q1, option indexes for Q2, answer for Q3, value for Q4)
REPORT_ANSWERS = [
    (1, [0, 1], True, 0.25),
    (1, [0, 1], True, 0.25),
    (1, [0], True, 0.25),
    (1, [0, 1], False, 0.25),
    (2, [0, 2], True, 0.4),
    (0, [1], False, 0.25),
    (1, [0, 1], True, 0.2),
    (2, [2], False, 0.5),
    (1, [1], True, 0.25),
    (0, [0, 2], False, 0.75),
    (1, [0, 1], True, 0.25),
    (2, [0], True, 0.25),
]


def _create(
    server: TeacherServer, teacher: dict[str, str], body: dict[str, Any], *, publish: bool
) -> dict[str, Any]:
    if publish:
        return server.seed.quiz(teacher, body)
    headers = {"Authorization": f"Bearer {teacher['token']}"}
    r = httpx.post(f"{server.url}/api/v1/quizzes", json=body, headers=headers, timeout=30)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


def _take(server: TeacherServer, quiz: dict[str, Any], answers: tuple[Any, ...]) -> None:
    """One student's submitted attempt with ``answers`` (through the API)."""
    student = server.seed.account("student")
    attempt = server.seed.attempt(student, quiz["id"])
    single, multiple, true_false, numeric = quiz["questions"]
    responses = [
        (single["id"], {"option_id": single["options"][answers[0]]["id"]}),
        (multiple["id"], {"option_ids": [multiple["options"][i]["id"] for i in answers[1]]}),
        (true_false["id"], {"value": answers[2]}),
        (numeric["id"], {"value": answers[3]}),
    ]
    headers = {"Authorization": f"Bearer {student['token']}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
        for question_id, body in responses:
            r = client.put(f"/api/v1/attempts/{attempt['id']}/responses/{question_id}", json=body)
            assert r.status_code == 200, r.text
        r = client.post(f"/api/v1/attempts/{attempt['id']}/submit")
        assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def reported(teacher_server: TeacherServer) -> dict[str, Any]:
    """A teacher's published quiz with a dozen submitted attempts."""
    teacher = teacher_server.seed.account("teacher", name="Rosalind Franklin")
    quiz = _create(teacher_server, teacher, REPORT_QUIZ, publish=True)
    for answers in REPORT_ANSWERS:
        _take(teacher_server, quiz, answers)
    return {"teacher": teacher, "quiz": quiz}


async def test_the_report_shows_its_charts_and_tables(
    tpage: BrowserPage, reported: dict[str, Any], screenshots: Path
) -> None:
    await _sign_in_as(tpage, reported["teacher"]["token"])
    p = tpage.page
    await tpage.visit(f"/quizzes/{reported['quiz']['id']}/report")
    await expect(p.get_by_role("heading", level=1)).to_have_text("Report: Fractions check")
    scores = p.get_by_role("img", name="Score histogram")
    await expect(scores).to_be_visible()
    bars = await scores.locator("rect.bar").evaluate_all(
        "rects => rects.map(r => Number(r.dataset.value))"
    )
    assert sum(bars) == len(REPORT_ANSWERS)
    for name in ("Facility per question", "Discrimination per question", "Options chosen in Q1"):
        await expect(p.get_by_role("img", name=name)).to_be_visible()
    table = p.get_by_role("table", name="Attempts per score range")
    counts = await table.locator("tbody td").all_inner_texts()
    assert sum(int(c) for c in counts) == len(REPORT_ANSWERS)
    await p.screenshot(path=str(screenshots / "teacher-report-1280.png"), full_page=True)


async def test_the_report_fits_a_phone(
    browser: Browser,
    teacher_server: TeacherServer,
    reported: dict[str, Any],
    screenshots: Path,
) -> None:
    phone = {"viewport": {"width": 375, "height": 812}, "device_scale_factor": 2, "is_mobile": True}
    async for page in _page(browser, teacher_server, **phone):
        await _sign_in_as(page, reported["teacher"]["token"])
        await page.visit(f"/quizzes/{reported['quiz']['id']}/report")
        await page.no_horizontal_scroll()
        chart = page.page.get_by_role("img", name="Score histogram")
        width = await chart.evaluate("el => el.getBoundingClientRect().width")
        assert 300 <= width <= 375, width
        await page.page.screenshot(path=str(screenshots / "teacher-report-375.png"), full_page=True)


# -- admin, dark mode -----------------------------------------------------------------------
async def test_the_admin_pages_through_the_users(
    tpage: BrowserPage, teacher_server: TeacherServer
) -> None:
    for _ in range(26):  # more than one page of 25
        teacher_server.seed.account("student")
    p = tpage.page
    await tpage.visit("/signin")
    await p.get_by_label("Email address").fill(ADMIN_EMAIL)
    await p.get_by_label("Password").fill(PASSWORD)
    await p.keyboard.press("Enter")
    await p.wait_for_url("**/dashboard?notice=signed_in")
    await p.get_by_role("navigation", name="Main").get_by_role("link", name="Users").click()
    await p.wait_for_url("**/admin/users")
    await tpage.check()
    await expect(p.locator("#users tbody tr")).to_have_count(25)
    await p.get_by_role("link", name="Next page").click()
    await p.wait_for_url("**/admin/users?page=2")
    await tpage.check()
    assert await p.locator("#users tbody tr").count() >= 1
    await expect(p.get_by_role("link", name="Previous page")).to_be_visible()


async def test_teacher_pages_pass_axe_in_the_dark_scheme_and_on_a_phone(
    browser: Browser, teacher_server: TeacherServer, reported: dict[str, Any]
) -> None:
    quiz_id = reported["quiz"]["id"]
    question_id = reported["quiz"]["questions"][0]["id"]
    paths = [
        "/dashboard",
        "/teach/new",
        f"/teach/quizzes/{quiz_id}",
        f"/teach/quizzes/{quiz_id}/questions/{question_id}",
        f"/teach/quizzes/{quiz_id}/questions/new?type=matching",
        f"/quizzes/{quiz_id}/report",
        "/teach/import",
        "/teach/ai",
        "/teach/bank",
        f"/teach/quizzes/{quiz_id}/draws/new",
    ]
    token = reported["teacher"]["token"]
    async with httpx.AsyncClient(base_url=teacher_server.url) as client:
        for i in range(2):  # the bank page with questions in it
            r = await client.post(
                "/api/v1/bank/questions",
                json={"type": "true_false", "prompt": f"B{i}", "answer": True, "category": "A/B"},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert r.status_code == 201, r.text
    for options in (
        {"color_scheme": "dark"},
        {"viewport": {"width": 360, "height": 740}, "is_mobile": True},
    ):
        async for page in _page(browser, teacher_server, **options):
            await _sign_in_as(page, reported["teacher"]["token"])
            for path in paths:
                await page.visit(path)
                if "viewport" in options:
                    await page.no_horizontal_scroll()
