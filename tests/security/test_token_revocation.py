"""Tokens do not outlive what they stood for: deactivation, a role change, "sign out
everywhere" and a password change revoke them at once, on every instance.

Before: a deactivated user's tokens kept working until they expired, and there was no
password change nor any way to end other sessions."""

from __future__ import annotations

import pytest

from tests.api.helpers import PASSWORD, Api, User

pytestmark = pytest.mark.parametrize("services", ["sqlite", "postgres"], indirect=True)

NEW_PASSWORD = "another-horse-battery-7"


async def _sign_in(api: Api, email: str, password: str = PASSWORD) -> dict[str, str]:
    r = await api.http.post("/api/v1/auth/token", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def _works(api: Api, headers: dict[str, str]) -> bool:
    r = await api.http.get("/api/v1/me", headers=headers)
    assert r.status_code in (200, 401)
    return r.status_code == 200


async def test_deactivation_revokes_every_token_at_once(api: Api) -> None:
    admin, student = await api.user("admin"), await api.user("student")
    second = await _sign_in(api, student.email)
    assert await _works(api, student.headers) and await _works(api, second)
    r = await api.http.patch(
        f"/api/v1/users/{student.id}", json={"is_active": False}, headers=admin.headers
    )
    assert r.status_code == 200 and r.json()["is_active"] is False
    assert not await _works(api, student.headers)
    assert not await _works(api, second)
    r = await api.http.post(
        "/api/v1/auth/token", json={"email": student.email, "password": PASSWORD}
    )
    assert r.status_code == 401
    r = await api.http.patch(
        f"/api/v1/users/{student.id}", json={"is_active": True}, headers=admin.headers
    )
    assert r.status_code == 200
    assert await _works(api, await _sign_in(api, student.email))


async def test_a_role_change_revokes_tokens_that_carry_the_old_role(api: Api) -> None:
    admin, teacher = await api.user("admin"), await api.user("teacher")
    r = await api.http.patch(
        f"/api/v1/users/{teacher.id}", json={"role": "student"}, headers=admin.headers
    )
    assert r.status_code == 200 and r.json()["role"] == "student"
    assert not await _works(api, teacher.headers)
    fresh = await _sign_in(api, teacher.email)
    r = await api.http.post("/api/v1/quizzes", json={"title": "x"}, headers=fresh)
    assert r.status_code == 403


async def test_admins_cannot_lock_themselves_out_and_others_cannot_patch(api: Api) -> None:
    admin, teacher = await api.user("admin"), await api.user("teacher")
    r = await api.http.patch(
        f"/api/v1/users/{admin.id}", json={"is_active": False}, headers=admin.headers
    )
    assert r.status_code == 409
    r = await api.http.patch(
        f"/api/v1/users/{admin.id}", json={"role": "student"}, headers=teacher.headers
    )
    assert r.status_code == 403
    r = await api.http.patch(
        "/api/v1/users/nobody", json={"is_active": False}, headers=admin.headers
    )
    assert r.status_code == 404


async def test_sign_out_everywhere(api: Api) -> None:
    student = await api.user("student")
    others = [await _sign_in(api, student.email) for _ in range(2)]
    r = await api.http.post("/api/v1/auth/logout-all", headers=student.headers)
    assert r.status_code == 204
    for headers in (student.headers, *others):
        assert not await _works(api, headers)
    assert await _works(api, await _sign_in(api, student.email))


async def test_sessions_are_listed_and_one_can_be_ended(api: Api) -> None:
    student: User = await api.user("student")
    phone = await _sign_in(api, student.email)
    r = await api.http.get("/api/v1/me/sessions", headers=student.headers)
    assert r.status_code == 200
    items = r.json()["items"]
    assert len(items) == 2 and sum(s["current"] for s in items) == 1
    other = next(s for s in items if not s["current"])
    r = await api.http.delete(f"/api/v1/me/sessions/{other['id']}", headers=student.headers)
    assert r.status_code == 204
    assert not await _works(api, phone) and await _works(api, student.headers)
    stranger = await api.user("student")
    current = next(s for s in items if s["current"])
    r = await api.http.delete(f"/api/v1/me/sessions/{current['id']}", headers=stranger.headers)
    assert r.status_code == 404
    assert await _works(api, student.headers)


async def test_password_change_ends_every_other_session(api: Api) -> None:
    student = await api.user("student")
    other = await _sign_in(api, student.email)
    r = await api.http.post(
        "/api/v1/me/password",
        json={"current_password": "not-my-password", "new_password": NEW_PASSWORD},
        headers=student.headers,
    )
    assert r.status_code == 422
    assert await _works(api, other)
    r = await api.http.post(
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=student.headers,
    )
    assert r.status_code == 200, r.text
    fresh = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert await _works(api, fresh)
    assert not await _works(api, other) and not await _works(api, student.headers)
    r = await api.http.post(
        "/api/v1/auth/token", json={"email": student.email, "password": PASSWORD}
    )
    assert r.status_code == 401
    assert await _works(api, await _sign_in(api, student.email, NEW_PASSWORD))
