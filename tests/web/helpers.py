"""A browser-like httpx client for the web pages: keeps cookies, finds CSRF tokens."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any

import httpx

from quizplatform.services.container import Services
from quizplatform.web.paths import SESSION_COOKIE

PASSWORD = "correct-horse-battery-9"
_counter = itertools.count()
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Account:
    email: str
    display_name: str


def csrf_from(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF field in the page"
    return match.group(1)


class WebClient:
    def __init__(self, client: httpx.AsyncClient, services: Services) -> None:
        self.http = client
        self.services = services

    async def csrf(self, path: str = "/signin") -> str:
        """The CSRF token of the form on ``path`` (sets the pre-session cookie if needed)."""
        page = await self.http.get(path)
        assert page.status_code == 200, page.text
        return csrf_from(page.text)

    async def post_form(self, path: str, data: dict[str, Any], *, from_page: str) -> httpx.Response:
        token = await self.csrf(from_page)
        return await self.http.post(path, data={"csrf_token": token, **data})

    async def sign_up(self, role: str = "student", name: str | None = None) -> Account:
        n = next(_counter)
        account = Account(f"web-{role}{n}@example.org", name or f"Web {role} {n}")
        r = await self.post_form(
            "/signup",
            {
                "email": account.email,
                "password": PASSWORD,
                "display_name": account.display_name,
                "role": role,
            },
            from_page="/signup",
        )
        assert r.status_code == 303, r.text
        return account

    async def sign_in(self, email: str, password: str = PASSWORD) -> httpx.Response:
        return await self.post_form(
            "/signin", {"email": email, "password": password}, from_page="/signin"
        )

    @property
    def session_token(self) -> str | None:
        return self.http.cookies.get(SESSION_COOKIE)

    def bearer(self) -> dict[str, str]:
        token = self.session_token
        assert token, "not signed in"
        return {"Authorization": f"Bearer {token}"}
