"""A student signs up, finds a quiz, takes it with the keyboard alone (every question
type), sees the score, the review and the leaderboard; an expired timer submits by
itself; screenshots for the README."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page, expect

from tests.api.samples import all_types_quiz, by_type
from tests.browser.harness import PASSWORD, BrowserPage, Seeder, tab_to
from tests.web.helpers import SESSION_COOKIE


def _journey_quiz(title: str, **settings: Any) -> dict[str, Any]:
    body = all_types_quiz(**settings)
    body["title"] = title
    body["description"] = "One question of each kind, to practise."
    return body


async def _wait_saved(page: Page, question_id: str) -> None:
    await expect(page.locator(f"#status-{question_id}")).to_contain_text("Saved at")


async def test_a_student_takes_a_quiz_with_the_keyboard_only(
    browser_context_360: BrowserPage, seed: Seeder
) -> None:
    teacher = seed.account("teacher")
    quiz = seed.quiz(
        teacher, _journey_quiz("Keyboard journey", show_correct_answers="after_submit")
    )
    key = by_type(quiz)
    browser = browser_context_360
    page = browser.page

    # Sign up.
    await browser.visit("/signup")
    await tab_to(page, page.get_by_label("Your name"))
    await page.keyboard.type("Kim Keyboard")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Tab")  # past the hint-less gap into the email field
    await tab_to(page, page.get_by_label("Email address"), backwards=True)
    await page.keyboard.type("kim.keyboard@example.org")
    await tab_to(page, page.get_by_label("Password"))
    await page.keyboard.type(PASSWORD)
    await tab_to(page, page.get_by_role("button", name="Create account"))
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/dashboard?notice=welcome")
    await browser.check()

    # Find the quiz in the catalogue.
    await tab_to(page, page.get_by_role("link", name="Quizzes", exact=True))
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/quizzes")
    await browser.check()
    await tab_to(page, page.get_by_label("Search quizzes"))
    await page.keyboard.type("keyboard journey")
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r".*/quizzes\?q=keyboard"))
    await browser.check()
    await tab_to(page, page.get_by_role("link", name="Keyboard journey"))
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"**/quizzes/{quiz['id']}")
    await browser.check()
    await tab_to(page, page.get_by_role("button", name="Start the quiz"))
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r".*/attempts/[0-9a-f]{32}$"))
    await browser.check()
    await browser.no_horizontal_scroll()

    # Single choice: Tab into the group, arrows choose.
    single = key["single_choice"]
    form = page.locator(f"#q-{single['id']}")
    radios = form.get_by_role("radio")
    await tab_to(page, radios.first)
    texts = [await r.evaluate("el => el.labels[0].innerText") for r in await radios.all()]
    correct = next(o["text"] for o in single["options"] if o["correct"])
    steps = texts.index(correct)
    await page.keyboard.press("Space" if steps == 0 else "ArrowDown")
    for _ in range(max(0, steps - 1)):
        await page.keyboard.press("ArrowDown")
    await expect(form.get_by_label(correct, exact=True)).to_be_checked()
    await _wait_saved(page, single["id"])

    # Multiple choice: Tab to each right option, Space ticks it.
    multiple = key["multiple_choice"]
    for option in (o for o in multiple["options"] if o["weight"] > 0):
        box = page.locator(f"#q-{multiple['id']}").get_by_label(option["text"], exact=True)
        await tab_to(page, box)
        await page.keyboard.press("Space")
        await expect(box).to_be_checked()
    await _wait_saved(page, multiple["id"])

    # True / false.
    true_false = key["true_false"]
    await tab_to(page, page.locator(f"#q-{true_false['id']}").get_by_label("True"))
    await page.keyboard.press("Space")
    await _wait_saved(page, true_false["id"])

    # Short answer, numeric, essay: type.
    for qtype, typed in (("short_answer", "Paris"), ("numeric", "3.14")):
        await tab_to(page, page.locator(f"#q-{key[qtype]['id']}").get_by_label("Your answer"))
        await page.keyboard.type(typed)
        await _wait_saved(page, key[qtype]["id"])

    # Matching: a select per item, chosen by typing the match's first letters.
    matching = key["matching"]
    for pair in matching["pairs"]:
        select = page.locator(f"#q-{matching['id']}").get_by_label(pair["left"], exact=True)
        await tab_to(page, select)
        await page.keyboard.type(pair["right"])
        await expect(select.locator("option:checked")).to_have_text(pair["right"])
    await _wait_saved(page, matching["id"])
    await browser.check()

    # Ordering: Move up buttons; the focus stays on the button that was pressed.
    ordering = key["ordering"]
    goal = [i["text"] for i in ordering["items"]]
    order_list = page.locator(f"#order-{ordering['id']}")
    if await order_list.locator(".order__text").all_inner_texts() == goal:
        # Any order may be shown, the right one too (1 in 6): move one away first.
        down = order_list.get_by_role("button", name=re.compile(f"^Move down\\W+{goal[0]}\\b"))
        await tab_to(page, down)
        await page.keyboard.press("Enter")
        await expect(order_list.locator(".order__text").nth(1)).to_have_text(goal[0])
    for index, text in enumerate(goal):
        while True:
            current = await order_list.locator(".order__text").all_inner_texts()
            if current.index(text) <= index:
                break
            button = order_list.get_by_role("button", name=re.compile(f"^Move up\\W+{text}\\b"))
            await tab_to(page, button)
            await page.keyboard.press("Enter")
            moved_to = current.index(text)  # 1-based position after moving up one
            await expect(order_list.locator(".order__text").nth(moved_to - 1)).to_have_text(text)
            await expect(page.locator(f"#status-{ordering['id']}")).to_contain_text(
                f"Moved to position {moved_to}"
            )
            focused = await page.evaluate("() => document.activeElement.id")
            assert focused.endswith("-up"), focused
    assert await order_list.locator(".order__text").all_inner_texts() == goal
    await browser.check()

    essay = key["essay"]
    await tab_to(page, page.locator(f"#q-{essay['id']}").get_by_label("Your answer"))
    await page.keyboard.type("Light of short wavelengths scatters more.")
    await _wait_saved(page, essay["id"])
    await browser.check()

    await tab_to(page, page.get_by_role("button", name="Submit answers"))
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/result?notice=submitted")
    await browser.check()
    await browser.no_horizontal_scroll()
    # 10 of 15 points: everything right, the 5-point essay waits for a grade.
    await expect(page.locator(".score")).to_contain_text("66.7 %")
    await expect(page.locator(".score")).to_contain_text("10 of 15 points")
    await expect(page.get_by_text("Waiting for your teacher's grade")).to_be_visible()
    assert await page.get_by_text("Correct answer").count() == 7

    await tab_to(page, page.get_by_role("link", name="See the leaderboard"))
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"**/quizzes/{quiz['id']}/leaderboard")
    await browser.check()
    row = page.get_by_role("row", name=re.compile("Kim Keyboard"))
    await expect(row).to_contain_text("66.7 %")
    await expect(row.get_by_role("cell").first).to_have_text("1")


async def test_one_question_per_page_with_the_keyboard(page: BrowserPage, seed: Seeder) -> None:
    teacher = seed.account("teacher")
    quiz = seed.quiz(teacher, _journey_quiz("Paged quiz"))
    student = seed.account("student")
    await page.page.context.add_cookies(
        [{"name": SESSION_COOKIE, "value": student["token"], "url": page.base_url}]
    )
    attempt = seed.attempt(student, quiz["id"])
    await page.visit(f"/attempts/{attempt['id']}")
    await tab_to(page.page, page.page.get_by_role("link", name="Show one question per page"))
    await page.page.keyboard.press("Enter")
    await page.page.wait_for_url("**?view=one")
    await page.check()
    await expect(page.page.get_by_text("Question 1 of 8")).to_be_visible()
    await tab_to(page.page, page.page.get_by_role("button", name="Next question"))
    await page.page.keyboard.press("Enter")
    await page.page.wait_for_url("**?view=one&q=2")
    await page.check()
    await expect(page.page.get_by_text("Question 2 of 8")).to_be_visible()
    # The choice is remembered on the next visit.
    await page.visit(f"/attempts/{attempt['id']}")
    await expect(page.page.get_by_text("Question 1 of 8")).to_be_visible()
    await expect(page.page.get_by_text("Question 2 of 8")).to_have_count(0)


async def test_an_expired_timer_submits_the_saved_answers(page: BrowserPage, seed: Seeder) -> None:
    teacher = seed.account("teacher")
    quiz = seed.quiz(teacher, _journey_quiz("Quick quiz", time_limit_seconds=4))
    key = by_type(quiz)
    student = seed.account("student")
    await page.page.context.add_cookies(
        [{"name": SESSION_COOKIE, "value": student["token"], "url": page.base_url}]
    )
    await page.visit(f"/quizzes/{quiz['id']}")
    await page.page.get_by_role("button", name="Start the quiz").click()
    await page.page.wait_for_url(re.compile(r".*/attempts/[0-9a-f]{32}$"))
    await page.check()
    await expect(page.page.locator("#timer-text")).to_have_text(re.compile(r"^0:0[0-4]$"))
    await page.page.locator(f"#q-{key['true_false']['id']}").get_by_label("True").check()
    await _wait_saved(page.page, key["true_false"]["id"])
    # Nobody presses Submit: at zero the page submits, the server scores what was saved.
    await page.page.wait_for_url("**/result?notice=time_up", timeout=15_000)
    await page.check()
    await expect(page.page.get_by_role("status")).to_contain_text("Time was up")
    await expect(page.page.locator(".score")).to_contain_text("1 of 15 points")


async def test_screenshots_of_taking_a_quiz(
    browser: Browser, server: str, seed: Seeder, screenshots: Path
) -> None:
    teacher = seed.account("teacher")
    quiz = seed.quiz(
        teacher,
        _journey_quiz("The solar system", time_limit_seconds=900, shuffle_options=False),
    )
    student = seed.account("student", name="Ada Student")
    attempt = seed.attempt(student, quiz["id"])
    for width, height in ((375, 812), (1280, 900)):
        context = await browser.new_context(
            viewport={"width": width, "height": height}, device_scale_factor=1
        )
        await context.add_cookies(
            [{"name": SESSION_COOKIE, "value": student["token"], "url": server}]
        )
        checked = BrowserPage(await context.new_page(), server)
        try:
            await checked.visit(f"/attempts/{attempt['id']}?view=all")
            single = by_type(quiz)["single_choice"]
            choice = checked.page.locator(f"#q-{single['id']}").get_by_label("4")
            if not await choice.is_checked():  # the first width saved it already
                await choice.check()
                await _wait_saved(checked.page, single["id"])
            await checked.no_horizontal_scroll()
            await checked.page.screenshot(path=str(screenshots / f"student-take-quiz-{width}.png"))
            assert not checked.problems, checked.problems
        finally:
            await context.close()


async def test_the_last_words_typed_are_saved_before_an_immediate_submit(
    page: BrowserPage, seed: Seeder
) -> None:
    """No waiting for the autosave: leaving the field saves it, and the submit queues
    behind that save."""
    teacher = seed.account("teacher")
    quiz = seed.quiz(teacher, _journey_quiz("In a hurry", show_correct_answers="after_submit"))
    short = by_type(quiz)["short_answer"]
    student = seed.account("student")
    await page.page.context.add_cookies(
        [{"name": SESSION_COOKIE, "value": student["token"], "url": page.base_url}]
    )
    attempt = seed.attempt(student, quiz["id"])
    await page.visit(f"/attempts/{attempt['id']}")
    await tab_to(page.page, page.page.locator(f"#q-{short['id']}").get_by_label("Your answer"))
    await page.page.keyboard.type("Paris")
    await tab_to(page.page, page.page.get_by_role("button", name="Submit answers"))
    await page.page.keyboard.press("Enter")
    await page.page.wait_for_url("**/result?notice=submitted")
    await page.check()
    row = page.page.locator("ol.review > li", has_text="Capital of France")
    await expect(row).to_contain_text("Right")
    await expect(row).to_contain_text("Paris")
