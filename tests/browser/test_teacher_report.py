"""The teacher's report in a real browser (axe, console), reached from the dashboard, for
a quiz of every type (its README screenshot: test_teacher_in_browser.py)."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.async_api import Browser, expect

from tests.api.samples import all_types_quiz, by_type
from tests.browser.harness import BrowserPage, Seeder
from tests.web.helpers import SESSION_COOKIE


def _answer_and_submit(base: str, token: str, quiz: dict[str, Any], correct_upto: int) -> None:
    """One student's attempt: the first ``correct_upto`` auto-scored questions right."""
    key = by_type(quiz)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        attempt = client.post(f"/api/v1/quizzes/{quiz['id']}/attempts").json()
        shown = by_type(attempt)
        rights = {r["text"]: r["id"] for r in shown["matching"]["rights"]}
        answers = [
            ("single_choice", {"option_id": key["single_choice"]["options"][0]["id"]}),
            ("true_false", {"value": True}),
            ("short_answer", {"text": "Paris"}),
            ("numeric", {"value": 3.14}),
            (
                "multiple_choice",
                {"option_ids": [o["id"] for o in key["multiple_choice"]["options"][:2]]},
            ),
            (
                "matching",
                {"matches": {p["id"]: rights[p["right"]] for p in key["matching"]["pairs"]}},
            ),
        ]
        wrong = [
            ("single_choice", {"option_id": key["single_choice"]["options"][1]["id"]}),
            ("true_false", {"value": False}),
            ("short_answer", {"text": "Lyon"}),
            ("numeric", {"value": 2}),
            ("multiple_choice", {"option_ids": [key["multiple_choice"]["options"][2]["id"]]}),
            ("matching", {"matches": {}}),
        ]
        for index, ((qtype, good), (_, bad)) in enumerate(zip(answers, wrong, strict=True)):
            body = good if index < correct_upto else bad
            path = f"/api/v1/attempts/{attempt['id']}/responses/{key[qtype]['id']}"
            r = client.put(path, json=body)
            assert r.status_code == 200, r.text
        assert client.post(f"/api/v1/attempts/{attempt['id']}/submit").status_code == 200


async def test_the_teacher_report_page(browser: Browser, server: str, seed: Seeder) -> None:
    teacher = seed.account("teacher", name="Tess Teacher")
    body = all_types_quiz()
    body["title"] = "Weekly check"
    quiz = seed.quiz(teacher, body)
    for correct in (6, 5, 4, 4, 3, 2, 1, 0):
        student = seed.account("student")
        _answer_and_submit(server, student["token"], quiz, correct)

    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    await context.add_cookies([{"name": SESSION_COOKIE, "value": teacher["token"], "url": server}])
    page = BrowserPage(await context.new_page(), server)
    try:
        await page.visit("/dashboard")
        await page.page.get_by_role("link", name="Report on Weekly check").click()
        await page.page.wait_for_url(f"**/quizzes/{quiz['id']}/report")
        await page.check()
        await expect(page.page.get_by_role("img", name="Score histogram")).to_be_visible()
        facility_table = page.page.get_by_role("table", name="Item analysis")
        await expect(facility_table.get_by_role("row")).to_have_count(9)  # header + 8 items
        await expect(page.page.locator(".stat-tiles")).to_contain_text("Submitted attempts")
        assert not page.problems, page.problems
    finally:
        await context.close()


def _submit_essay(base: str, token: str, quiz: dict[str, Any], text: str) -> dict[str, Any]:
    """One student's submitted attempt on a quiz of one essay."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        attempt: dict[str, Any] = client.post(f"/api/v1/quizzes/{quiz['id']}/attempts").json()
        path = f"/api/v1/attempts/{attempt['id']}/responses/{quiz['questions'][0]['id']}"
        assert client.put(path, json={"text": text}).is_success
        assert client.post(f"/api/v1/attempts/{attempt['id']}/submit").is_success
    return attempt


async def test_the_teacher_grades_an_essay_with_the_keyboard(
    browser: Browser, server: str, seed: Seeder
) -> None:
    teacher = seed.account("teacher", name="Tess Teacher")
    essay = {"type": "essay", "prompt": "Why is the sky blue?", "points": 4}
    quiz = seed.quiz(teacher, {"title": "Essay week", "questions": [essay]})
    student = seed.account("student", name="Eve Essayist")
    attempt = _submit_essay(server, student["token"], quiz, "Light scatters.\nBlue the most.")

    context = await browser.new_context(viewport={"width": 375, "height": 800})
    await context.add_cookies([{"name": SESSION_COOKIE, "value": teacher["token"], "url": server}])
    page = BrowserPage(await context.new_page(), server)
    try:
        await page.visit(f"/quizzes/{quiz['id']}/report")
        to_grade = page.page.get_by_role("table", name="Submitted attempts with essay answers")
        await to_grade.get_by_role("link", name="Eve Essayist").click()
        await page.page.wait_for_url(f"**/attempts/{attempt['id']}/result")
        await page.check()
        await page.no_horizontal_scroll()
        field = page.page.get_by_label("Grade for question 1 (0 to 4 points)")
        await field.focus()
        await page.page.keyboard.type("9")
        await page.page.keyboard.press("Enter")
        await expect(page.page.get_by_role("alert")).to_contain_text("between 0 and 4")
        await expect(field).to_have_attribute("aria-invalid", "true")
        await page.check()
        await field.fill("")
        await page.page.keyboard.type("3")
        await page.page.keyboard.press("Enter")
        await expect(page.page.get_by_role("status")).to_contain_text("The grade is saved")
        await expect(page.page.locator(".score")).to_contain_text("75 %")
        await page.check()
        await page.visit(f"/quizzes/{quiz['id']}/report")
        await expect(
            page.page.get_by_text("Every submitted essay answer is graded.")
        ).to_be_visible()
        assert not page.problems, page.problems
    finally:
        await context.close()
