"""Sign up, sign out and sign in in a real browser, with the keyboard where it matters."""

from __future__ import annotations

from tests.browser.harness import PASSWORD, BrowserPage, Seeder


async def test_sign_up_sign_out_and_sign_in_again(page: BrowserPage) -> None:
    await page.visit("/")
    await page.page.get_by_role("link", name="Create an account").click()
    await page.page.wait_for_url("**/signup")
    await page.check()
    await page.page.get_by_label("Your name").fill("Grace Hopper")
    await page.page.get_by_label("Email address").fill("grace@example.org")
    await page.page.get_by_label("Password").fill(PASSWORD)
    await page.page.get_by_role("button", name="Create account").click()
    await page.page.wait_for_url("**/dashboard?notice=welcome")
    await page.check()
    assert await page.page.get_by_role("heading", name="Hello, Grace Hopper").is_visible()

    await page.page.get_by_role("button", name="Sign out").click()
    await page.page.wait_for_url("**/?notice=signed_out")
    await page.check()
    assert await page.page.get_by_role("status").inner_text() == "You have signed out."

    await page.visit("/signin")
    await page.page.get_by_label("Email address").fill("grace@example.org")
    await page.page.get_by_label("Password").fill(PASSWORD)
    await page.page.keyboard.press("Enter")
    await page.page.wait_for_url("**/dashboard?notice=signed_in")
    await page.check()


async def test_a_wrong_password_is_announced_and_focused(page: BrowserPage, seed: Seeder) -> None:
    account = seed.account()
    await page.visit("/signin")
    await page.page.get_by_label("Email address").fill(account["email"])
    await page.page.get_by_label("Password").fill("not-my-password")
    await page.page.get_by_role("button", name="Sign in").click()
    await page.page.wait_for_load_state("load")
    await page.check()
    summary = page.page.get_by_role("alert")
    assert "The email or password is not right" in await summary.inner_text()
    focused = await page.page.evaluate("() => document.activeElement.id")
    assert focused == "error-summary"


async def test_the_skip_link_is_the_first_stop_and_moves_focus_to_main(page: BrowserPage) -> None:
    await page.visit("/signin")
    await page.page.keyboard.press("Tab")
    skip = page.page.get_by_role("link", name="Skip to main content")
    assert await skip.evaluate("el => el === document.activeElement")
    assert await skip.is_visible()  # shown when focused
    await page.page.keyboard.press("Enter")
    await page.page.keyboard.press("Tab")
    # The next stop is inside <main>: the header's links were skipped.
    inside_main = await page.page.evaluate(
        "() => document.getElementById('main').contains(document.activeElement)"
    )
    assert inside_main


async def test_error_pages_are_pages(page: BrowserPage) -> None:
    await page.visit("/no/such/page")
    assert await page.page.get_by_role("heading", name="Page not found").is_visible()
    assert "Reference:" in await page.page.locator("main").inner_text()


async def test_pages_fit_a_360_px_phone(browser_context_360: BrowserPage) -> None:
    for path in ("/", "/signin", "/signup", "/no/such/page"):
        await browser_context_360.visit(path)
        await browser_context_360.no_horizontal_scroll()
