"""The audit log: security-relevant events are recorded with actor, target, address and
request id; admins read them with filters; nobody else can."""

from __future__ import annotations

import pytest

from tests.api.helpers import PASSWORD, Api
from tests.api.samples import all_types_quiz

pytestmark = pytest.mark.parametrize("services", ["sqlite", "postgres"], indirect=True)


async def _events(api: Api, headers: dict[str, str], **filters: str) -> list[dict[str, object]]:
    r = await api.http.get("/api/v1/audit", params=filters, headers=headers)
    assert r.status_code == 200, r.text
    items: list[dict[str, object]] = r.json()["items"]
    return items


async def test_security_events_are_recorded_and_filtered(api: Api) -> None:
    admin, teacher, student = (
        await api.user("admin"),
        await api.user("teacher"),
        await api.user("student"),
    )
    r = await api.http.post(
        "/api/v1/auth/token", json={"email": student.email, "password": "wrong-password-1"}
    )
    assert r.status_code == 401
    quiz = await api.quiz(teacher, all_types_quiz())
    r = await api.http.get(
        f"/api/v1/quizzes/{quiz['id']}/export", params={"format": "json"}, headers=teacher.headers
    )
    assert r.status_code == 200
    r = await api.http.patch(
        f"/api/v1/users/{student.id}", json={"role": "teacher"}, headers=admin.headers
    )
    assert r.status_code == 200
    r = await api.http.delete(f"/api/v1/quizzes/{quiz['id']}", headers=teacher.headers)
    assert r.status_code == 204

    everything = await _events(api, admin.headers, per_page="200")
    kinds = {e["event"] for e in everything}
    assert {
        "sign_in_succeeded",
        "sign_in_failed",
        "quiz_published",
        "answer_key_exported",
        "role_changed",
        "quiz_deleted",
    } <= kinds
    failed = next(e for e in everything if e["event"] == "sign_in_failed")
    assert failed["actor_id"] == student.id and failed["ip"] and failed["request_id"]
    assert PASSWORD not in str(everything) and "wrong-password-1" not in str(everything)

    exports = await _events(api, admin.headers, event="answer_key_exported")
    assert [e["target_id"] for e in exports] == [quiz["id"]]
    assert exports[0]["actor_id"] == teacher.id and exports[0]["details"] == {"format": "json"}
    by_admin = await _events(api, admin.headers, actor_id=admin.id, event="role_changed")
    assert by_admin[0]["target_id"] == student.id
    assert by_admin[0]["details"] == {"from": "student", "to": "teacher"}


async def test_only_admins_read_the_audit_log(api: Api) -> None:
    for role in ("student", "teacher"):
        user = await api.user(role)
        r = await api.http.get("/api/v1/audit", headers=user.headers)
        assert r.status_code == 403
    assert (await api.http.get("/api/v1/audit")).status_code == 401


async def test_the_admin_audit_page_filters(api: Api) -> None:
    from quizplatform.web.paths import SESSION_COOKIE

    admin = await api.user("admin")
    student = await api.user("student")
    api.http.cookies.set(SESSION_COOKIE, admin.headers["Authorization"].removeprefix("Bearer "))
    try:
        page = await api.http.get("/admin/audit", params={"event": "sign_in_succeeded"})
        assert page.status_code == 200 and "sign in succeeded" in page.text
        assert student.id in page.text
        page = await api.http.get("/admin/audit", params={"event": "no-such", "page": "²"})
        assert page.status_code == 200
    finally:
        api.http.cookies.clear()
    api.http.cookies.set(SESSION_COOKIE, student.headers["Authorization"].removeprefix("Bearer "))
    try:
        assert (await api.http.get("/admin/audit")).status_code == 403
    finally:
        api.http.cookies.clear()
