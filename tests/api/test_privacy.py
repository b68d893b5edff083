"""Privacy: a user downloads their data; an admin erases a user, whose attempts stay for
item analysis without them."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from quizplatform.db import models
from quizplatform.services.audit import AuditQuery
from tests.api.helpers import PASSWORD, Api
from tests.api.samples import all_types_quiz

pytestmark = pytest.mark.parametrize("services", ["sqlite", "postgres"], indirect=True)


async def test_a_user_downloads_everything_held_about_them(api: Api) -> None:
    teacher, student = await api.user("teacher"), await api.user("student")
    quiz = await api.quiz(teacher, all_types_quiz())
    started = await api.http.post(f"/api/v1/quizzes/{quiz['id']}/attempts", headers=student.headers)
    qid = started.json()["questions"][0]["id"]
    await api.http.put(
        f"/api/v1/attempts/{started.json()['id']}/responses/{qid}",
        json={"option_id": started.json()["questions"][0]["options"][0]["id"]},
        headers=student.headers,
    )
    r = await api.http.get("/api/v1/me/export", headers=student.headers)
    assert r.status_code == 200
    assert "attachment" in r.headers["content-disposition"]
    data = r.json()
    assert data["profile"]["email"] == student.email
    assert [a["quiz_id"] for a in data["attempts"]] == [quiz["id"]]
    assert data["attempts"][0]["responses"][0]["question_id"] == qid
    assert any(e["event"] == "sign_in_succeeded" for e in data["audit_events"])
    assert data["sessions"] and PASSWORD not in r.text
    mine = (await api.http.get("/api/v1/me/export", headers=teacher.headers)).json()
    assert [q["id"] for q in mine["quizzes"]] == [quiz["id"]] and mine["attempts"] == []
    audit = await api.services.audit.search(
        AuditQuery(event="user_data_exported", actor_id=student.id), 1, 10
    )
    assert audit[1] == 1


async def test_an_admin_erases_a_user_and_their_attempts_stay_anonymous(api: Api) -> None:
    admin, teacher, student = (
        await api.user("admin"),
        await api.user("teacher"),
        await api.user("student"),
    )
    quiz = await api.quiz(teacher, all_types_quiz())
    started = await api.http.post(f"/api/v1/quizzes/{quiz['id']}/attempts", headers=student.headers)
    await api.http.post(f"/api/v1/attempts/{started.json()['id']}/submit", headers=student.headers)
    r = await api.http.post(f"/api/v1/users/{student.id}/erase", json={}, headers=admin.headers)
    assert r.status_code == 422  # the confirmation is required
    for who in (teacher, student):
        r = await api.http.post(
            f"/api/v1/users/{admin.id}/erase", json={"confirm": True}, headers=who.headers
        )
        assert r.status_code == 403
    r = await api.http.post(
        f"/api/v1/users/{student.id}/erase", json={"confirm": True}, headers=admin.headers
    )
    assert r.status_code == 204
    assert (await api.http.get("/api/v1/me", headers=student.headers)).status_code == 401
    r = await api.http.post(
        "/api/v1/auth/token", json={"email": student.email, "password": PASSWORD}
    )
    assert r.status_code == 401
    async with api.services.db.session() as session:
        user = await session.get(models.User, student.id)
        attempts = list(
            await session.scalars(
                select(models.Attempt).where(models.Attempt.user_id == student.id)
            )
        )
        events = list(
            await session.scalars(
                select(models.AuditEvent).where(models.AuditEvent.actor_id == student.id)
            )
        )
    assert user is not None and user.display_name == "Deleted user"
    assert student.email not in user.email and not user.is_active
    assert len(attempts) == 1 and attempts[0].status == "submitted"
    assert events and all(e.actor_display == "Deleted user" and e.ip is None for e in events)
    report = await api.http.get(f"/api/v1/quizzes/{quiz['id']}/report", headers=teacher.headers)
    assert report.status_code == 200 and student.email not in report.text
    r = await api.http.post(
        f"/api/v1/users/{admin.id}/erase", json={"confirm": True}, headers=admin.headers
    )
    assert r.status_code == 409
