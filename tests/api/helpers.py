"""Helpers for the API tests: sign-up and quiz creation over HTTP."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import httpx

from quizplatform.services.container import Services

PASSWORD = "correct-horse-battery-9"
_counter = itertools.count()


@dataclass
class User:
    id: str
    email: str
    headers: dict[str, str]


class Api:
    """Thin helpers over an httpx client bound to the app."""

    def __init__(self, client: httpx.AsyncClient, services: Services) -> None:
        self.http = client
        self.services = services

    async def user(self, role: str = "student", name: str | None = None) -> User:
        n = next(_counter)
        email = f"{role}{n}@example.org"
        if role == "admin":
            from quizplatform.services.accounts import Role

            u = await self.services.accounts.register(
                email, PASSWORD, name or f"Admin {n}", Role.ADMIN, by_admin=True
            )
            user_id = u.id
        else:
            r = await self.http.post(
                "/api/v1/auth/register",
                json={
                    "email": email,
                    "password": PASSWORD,
                    "display_name": name or f"{role} {n}",
                    "role": role,
                },
            )
            assert r.status_code == 201, r.text
            user_id = r.json()["id"]
        r = await self.http.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return User(user_id, email, {"Authorization": f"Bearer {r.json()['access_token']}"})

    async def quiz(self, owner: User, body: dict[str, Any], publish: bool = True) -> dict[str, Any]:
        r = await self.http.post("/api/v1/quizzes", json=body, headers=owner.headers)
        assert r.status_code == 201, r.text
        quiz: dict[str, Any] = r.json()
        if publish:
            r = await self.http.post(f"/api/v1/quizzes/{quiz['id']}/publish", headers=owner.headers)
            assert r.status_code == 200, r.text
            quiz = r.json()
        return quiz

    async def submitted_attempt(
        self, student: User, quiz_id: str, answers: dict[str, dict[str, Any]]
    ) -> str:
        """Start an attempt as ``student``, save ``answers`` (question id -> response
        body), submit it, and return its id."""
        r = await self.http.post(f"/api/v1/quizzes/{quiz_id}/attempts", headers=student.headers)
        assert r.status_code in (200, 201), r.text
        attempt: str = r.json()["id"]
        for question_id, body in answers.items():
            r = await self.http.put(
                f"/api/v1/attempts/{attempt}/responses/{question_id}",
                json=body,
                headers=student.headers,
            )
            assert r.status_code == 200, r.text
        r = await self.http.post(f"/api/v1/attempts/{attempt}/submit", headers=student.headers)
        assert r.status_code == 200, r.text
        return attempt
