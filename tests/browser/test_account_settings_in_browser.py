"""Account settings, the forgotten-password pages and the admin's user controls in a real
browser, each page checked with axe-core. Its own `quiz serve`, with mail going to a real
SMTP server (aiosmtpd) on 127.0.0.1, and an admin made with `quiz users create`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller

from tests.browser.harness import PASSWORD, BrowserPage, Seeder
from tests.e2e.procs import Instance, free_port, quiz, quiz_env
from tests.fakes.smtp import Inbox

NEW_PASSWORD = "browser-new-passphrase-31"


@dataclass
class MailServer:
    url: str
    inbox: Inbox
    admin_email: str


@pytest.fixture(scope="module")
def mail_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailServer]:
    tmp = tmp_path_factory.mktemp("account-browser")
    inbox = Inbox()
    smtp_port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    env = quiz_env(
        tmp,
        QUIZ_DATABASE_URL=f"sqlite:///{tmp / 'quiz.sqlite3'}",
        QUIZ_SMTP_HOST="127.0.0.1",
        QUIZ_SMTP_PORT=str(smtp_port),
        QUIZ_SMTP_STARTTLS="false",
        QUIZ_SMTP_FROM="quiz@example.org",
    )
    quiz(["db", "upgrade"], env, tmp)
    password_file = Path(tmp / "admin-password")
    password_file.write_text(PASSWORD)
    admin_email = "browser-admin@example.org"
    created = quiz(
        [
            "users",
            "create",
            "--email",
            admin_email,
            "--role",
            "admin",
            "--password-file",
            str(password_file),
            "--display-name",
            "Browser Admin",
        ],
        env,
        tmp,
    )
    assert created.returncode == 0, created.stderr
    instance = Instance(tmp, env)
    try:
        instance.wait_ready(timeout=180)
        yield MailServer(instance.url, inbox, admin_email)
    finally:
        instance.stop()
        controller.stop()


async def sign_in(page: BrowserPage, email: str, password: str = PASSWORD) -> None:
    await page.visit("/signin")
    await page.page.get_by_label("Email address").fill(email)
    await page.page.get_by_label("Password", exact=True).fill(password)
    await page.page.get_by_role("button", name="Sign in").click()
    await page.page.wait_for_url("**/dashboard?notice=signed_in")


async def test_account_settings_change_password_and_sign_out_everywhere(
    page: BrowserPage, mail_server: MailServer
) -> None:
    page.base_url = mail_server.url
    account = Seeder(mail_server.url).account()
    await sign_in(page, account["email"])
    await page.page.get_by_role("link", name="Account").click()
    await page.page.wait_for_url("**/account")
    await page.check()
    sessions = page.page.locator("#sessions tbody tr")
    assert await sessions.count() == 2  # the seeder's API token and this browser
    await page.page.get_by_label("Current password").fill("not-the-password")
    await page.page.get_by_label("New password").fill(NEW_PASSWORD)
    await page.page.get_by_role("button", name="Change password").click()
    await page.page.wait_for_load_state("load")
    await page.check()
    assert "current password" in (await page.page.get_by_role("alert").inner_text()).lower()
    await page.page.get_by_label("Current password").fill(PASSWORD)
    await page.page.get_by_label("New password").fill(NEW_PASSWORD)
    await page.page.get_by_role("button", name="Change password").click()
    await page.page.wait_for_url("**/account?notice=password_changed")
    await page.check()
    assert await sessions.count() == 1  # the others were signed out
    await page.page.get_by_role("button", name="Sign out everywhere").click()
    await page.page.wait_for_url("**/signin?notice=signed_out_everywhere")
    await page.check()


async def test_forgot_password_by_mail_and_set_a_new_one(
    page: BrowserPage, mail_server: MailServer
) -> None:
    page.base_url = mail_server.url
    account = Seeder(mail_server.url).account()
    await page.visit("/signin")
    await page.page.get_by_role("link", name="Forgot your password?").click()
    await page.page.wait_for_url("**/forgot-password")
    await page.check()
    before = len(mail_server.inbox.messages)
    await page.page.get_by_label("Email address").fill(account["email"])
    await page.page.get_by_role("button", name="Send reset link").click()
    await page.page.wait_for_load_state("load")
    await page.check()
    assert "on its way" in await page.page.get_by_role("status").first.inner_text()
    for _ in range(100):
        if len(mail_server.inbox.messages) > before:
            break
        await page.page.wait_for_timeout(50)
    message = mail_server.inbox.messages[-1]
    assert message["To"] == account["email"]
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes)
    found = re.search(r"https?://\S+", body.decode())
    assert found
    link = urlsplit(found.group(0))
    await page.visit(f"{link.path}?{link.query}")
    await page.page.get_by_label("New password").fill(NEW_PASSWORD)
    await page.page.get_by_role("button", name="Set new password").click()
    await page.page.wait_for_url("**/signin?notice=password_reset")
    await page.check()
    await sign_in(page, account["email"], NEW_PASSWORD)


async def test_admin_deactivates_and_reactivates_a_user(
    page: BrowserPage, mail_server: MailServer
) -> None:
    page.base_url = mail_server.url
    student = Seeder(mail_server.url).account(name="Deactivate Me")
    await sign_in(page, mail_server.admin_email)
    await page.visit("/admin/users")
    await page.page.get_by_role("button", name="Deactivate Deactivate Me").click()
    await page.page.wait_for_url("**/admin/users?page=1&notice=user_changed")
    await page.check()
    await page.page.get_by_role("button", name="Reactivate Deactivate Me").click()
    await page.page.wait_for_url("**/admin/users?page=1&notice=user_changed")
    await page.page.get_by_label("Role of Deactivate Me").select_option("teacher")
    await page.page.get_by_role("button", name="Change role of Deactivate Me").click()
    await page.page.wait_for_url("**/admin/users?page=1&notice=user_changed")
    await page.check()
    row = page.page.locator("tr", has_text=student["email"])
    assert "Teacher" in await row.inner_text()
    await page.visit("/admin/audit?event=role_changed")
    await page.check()
    assert await page.page.locator("#audit tbody tr").count() >= 1


async def test_two_step_sign_in_set_up_and_used(page: BrowserPage, mail_server: MailServer) -> None:
    import time

    import pyotp

    page.base_url = mail_server.url
    account = Seeder(mail_server.url).account()
    await sign_in(page, account["email"])
    await page.visit("/account")
    await page.page.get_by_role("button", name="Set up two-step sign-in").click()
    await page.page.wait_for_load_state("load")
    await page.check()
    assert await page.page.locator("svg.segno").count() == 1
    secret = (await page.page.locator("#mfa-secret").inner_text()).strip()
    totp = pyotp.TOTP(secret)
    step = int(time.time()) // totp.interval
    await page.page.get_by_label("Code from the app").fill(totp.generate_otp(step))
    await page.page.get_by_role("button", name="Turn on two-step sign-in").click()
    await page.page.wait_for_load_state("load")
    await page.check()
    codes = await page.page.locator("#recovery-codes code").all_inner_texts()
    assert len(codes) == 10
    await page.page.context.clear_cookies()  # another device, signing in
    await page.visit("/signin")
    await page.page.get_by_label("Email address").fill(account["email"])
    await page.page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.page.get_by_role("button", name="Sign in").click()
    await page.page.wait_for_load_state("load")
    await page.check()
    assert "code" in (await page.page.get_by_role("alert").inner_text()).lower()
    await page.page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.page.get_by_label("Code from your authenticator app").fill(codes[0])
    await page.page.get_by_role("button", name="Sign in").click()
    await page.page.wait_for_url("**/dashboard?notice=signed_in")
