"""Helpers for the teacher page tests: a signed-in teacher, forms posted from the page
they are on, and the inline messages of a re-shown form."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx

from tests.web.helpers import WebClient, csrf_from

FormData = dict[str, str | list[str]]


def field_error(page: str, name: str) -> str | None:
    """The inline message shown beside the field ``name`` (None: no message)."""
    match = re.search(
        rf'<p class="field-error" id="f-{re.escape(name)}-error">(.*?)</p>', page, re.S
    )
    if match is None:
        return None
    return html.unescape(re.sub(r"<[^>]+>", "", match.group(1))).replace("Error: ", "").strip()


def marked_invalid(page: str, name: str) -> bool:
    """Whether the control ``f-<name>`` says it is invalid and points at its message."""
    tag = re.search(rf'<(?:input|textarea|select)[^>]*id="f-{re.escape(name)}"[^>]*>', page)
    if tag is None:
        return False
    return 'aria-invalid="true"' in tag.group(0) and f"f-{name}-error" in tag.group(0)


def summary_links(page: str) -> list[str]:
    """The targets the error summary (role=alert) links to."""
    box = re.search(r'<div class="error-summary"[^>]*role="alert".*?</div>', page, re.S)
    return re.findall(r'href="#([^"]+)"', box.group(0)) if box else []


class Teacher:
    """A signed-in teacher (or admin) on a ``WebClient``."""

    def __init__(self, web: WebClient) -> None:
        self.web = web

    @property
    def http(self) -> httpx.AsyncClient:
        return self.web.http

    async def post(self, path: str, data: FormData, *, from_page: str) -> httpx.Response:
        """Post ``data`` with the CSRF token of the form on ``from_page``."""
        page = await self.http.get(from_page)
        assert page.status_code == 200, page.text
        return await self.http.post(path, data={"csrf_token": csrf_from(page.text), **data})

    async def new_quiz(self, title: str = "Web quiz") -> str:
        r = await self.post("/teach/new", {"title": title}, from_page="/teach/new")
        assert r.status_code == 303, r.text
        location = r.headers["location"]
        assert location.endswith("?notice=quiz_created")
        return location.split("/")[3].split("?")[0]

    async def quiz(self, quiz_id: str) -> dict[str, Any]:
        """The quiz as its owner sees it through the API."""
        r = await self.http.get(f"/api/v1/quizzes/{quiz_id}", headers=self.web.bearer())
        assert r.status_code == 200, r.text
        quiz: dict[str, Any] = r.json()
        return quiz

    async def add_question(self, quiz_id: str, type_: str, data: FormData) -> httpx.Response:
        new = f"/teach/quizzes/{quiz_id}/questions/new"
        return await self.post(new, {"type": type_, **data}, from_page=f"{new}?type={type_}")

    async def edit_question(self, quiz_id: str, question_id: str, data: FormData) -> httpx.Response:
        path = f"/teach/quizzes/{quiz_id}/questions/{question_id}"
        return await self.post(path, data, from_page=path)


async def sign_up_teacher(web: WebClient) -> Teacher:
    await web.sign_up("teacher")
    return Teacher(web)
