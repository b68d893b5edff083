"""The account page (password change, sessions) and the admin's account controls."""

from __future__ import annotations

import pytest

from quizplatform.services.accounts import Role
from tests.web.helpers import PASSWORD, WebClient

pytestmark = pytest.mark.parametrize("services", ["sqlite", "postgres"], indirect=True)

NEW_PASSWORD = "another-horse-battery-7"


async def test_password_change_keeps_this_browser_and_ends_the_others(web: WebClient) -> None:
    account = await web.sign_up("student")
    other = await web.services.accounts.authenticate(account.email, PASSWORD, "10.0.0.9")
    phone = await web.services.accounts.issue_token(other, ip="10.0.0.9", user_agent="Phone")
    page = await web.http.get("/account")
    assert page.status_code == 200
    assert "Phone" in page.text and "(this device)" in page.text

    wrong = await web.post_form(
        "/account/password",
        {"current_password": "not-it-at-all", "new_password": NEW_PASSWORD},
        from_page="/account",
    )
    assert wrong.status_code == 422 and "current password" in wrong.text.lower()

    r = await web.post_form(
        "/account/password",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        from_page="/account",
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/account")
    assert await web.services.accounts.resolve_token(phone.access_token) is None
    page = await web.http.get("/account")
    assert page.status_code == 200 and "Phone" not in page.text


async def test_sign_out_everywhere_from_the_account_page(web: WebClient) -> None:
    account = await web.sign_up("student")
    user = await web.services.accounts.authenticate(account.email, PASSWORD, "10.0.0.9")
    phone = await web.services.accounts.issue_token(user)
    r = await web.post_form("/account/sessions/end-all", {}, from_page="/account")
    assert r.status_code == 303
    assert await web.services.accounts.resolve_token(phone.access_token) is None
    page = await web.http.get("/account")
    assert page.status_code == 303 and page.headers["location"].startswith("/signin")


async def test_an_admin_deactivates_and_reactivates_an_account(web: WebClient) -> None:
    student = await web.sign_up("student")
    student_token = web.session_token
    assert student_token
    web.http.cookies.clear()
    admin = await web.services.accounts.register(
        "admin-web@example.org", PASSWORD, "Admin", Role.ADMIN, by_admin=True
    )
    await web.sign_in(admin.email)
    page = await web.http.get("/admin/users")
    assert page.status_code == 200 and "Deactivate" in page.text
    user = next(
        u for u in (await web.services.accounts.list_users(1, 50))[0] if u.email == student.email
    )
    r = await web.post_form(
        f"/admin/users/{user.id}", {"action": "deactivate"}, from_page="/admin/users"
    )
    assert r.status_code == 303 and "user_changed" in r.headers["location"]
    assert await web.services.accounts.resolve_token(student_token) is None
    page = await web.http.get("/admin/users")
    assert "Reactivate" in page.text
    r = await web.post_form(
        f"/admin/users/{user.id}", {"action": "reactivate"}, from_page="/admin/users"
    )
    assert r.status_code == 303
    r = await web.post_form(
        f"/admin/users/{admin.id}", {"action": "deactivate"}, from_page="/admin/users"
    )
    assert "user_unchanged" in r.headers["location"]


async def test_an_admin_erases_an_account_only_once_the_box_is_ticked(web: WebClient) -> None:
    student = await web.sign_up("student")
    web.http.cookies.clear()
    admin = await web.services.accounts.register(
        "admin-erase@example.org", PASSWORD, "Admin", Role.ADMIN, by_admin=True
    )
    await web.sign_in(admin.email)
    users, _ = await web.services.accounts.list_users(1, 50)
    target = next(u for u in users if u.email == student.email)
    r = await web.post_form(f"/admin/users/{target.id}/erase", {}, from_page="/admin/users")
    assert "erase_unconfirmed" in r.headers["location"]
    r = await web.post_form(
        f"/admin/users/{target.id}/erase", {"confirm": "yes"}, from_page="/admin/users"
    )
    assert "user_erased" in r.headers["location"]
    page = await web.http.get("/admin/users")
    assert student.email not in page.text and "Deleted user" in page.text


async def test_your_data_downloads_from_the_account_page(web: WebClient) -> None:
    account = await web.sign_up("student")
    page = await web.http.get("/account")
    assert 'href="/account/export"' in page.text
    r = await web.http.get("/account/export")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    assert r.json()["profile"]["email"] == account.email
