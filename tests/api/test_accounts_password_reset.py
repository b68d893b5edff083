"""Password reset by e-mail, through a real SMTP server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator, Iterator
from email.message import Message
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from aiosmtpd.controller import Controller

from quizplatform.app import create_app
from quizplatform.services.container import Services
from tests.api.helpers import PASSWORD, Api
from tests.conftest import SESSION_TAG
from tests.fakes.smtp import Inbox

V1 = "/api/v1"
NEW_PASSWORD = "reset-to-this-passphrase-42"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
async def mail_api(api: Api, smtp: tuple[Inbox, int]) -> AsyncIterator[tuple[Api, Inbox]]:
    """An instance on the same database and store whose mail goes to ``smtp``."""
    inbox, port = smtp
    settings = api.services.settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "smtp_starttls": False,
            "smtp_from": "quiz@example.org",
            "public_url": "https://quiz.example.org",
        }
    )
    services = Services.create(settings, store_prefix=f"{SESSION_TAG}:")
    await services.start(background=False)
    try:
        app = create_app(settings, services=services)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield Api(client, services), inbox
    finally:
        await services.close()


def _link(message: Message) -> str:
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes)
    found = re.search(r"https://\S+", body.decode())
    assert found, body
    return found.group(0)


async def _wait_for(inbox: Inbox, count: int) -> None:
    for _ in range(100):
        if len(inbox.messages) >= count:
            return
        await asyncio.sleep(0.05)


async def test_reset_link_by_mail_sets_password_once_and_signs_out(
    mail_api: tuple[Api, Inbox],
) -> None:
    api, inbox = mail_api
    user = await api.user("student")
    r = await api.http.post(f"{V1}/auth/password-reset", json={"email": user.email.upper()})
    assert r.status_code == 202, r.text
    await _wait_for(inbox, 1)
    assert len(inbox.messages) == 1
    message = inbox.messages[0]
    assert message["To"] == user.email
    link = _link(message)
    assert link.startswith("https://quiz.example.org/reset-password?token=")
    token = parse_qs(urlsplit(link).query)["token"][0]
    # The token is stored hashed, never in clear.
    from sqlalchemy import select

    from quizplatform.db import models

    async with api.services.db.session() as session:
        stored = list(await session.scalars(select(models.PasswordResetToken.token_hash)))
    assert stored and token not in stored
    confirm = f"{V1}/auth/password-reset/confirm"
    r = await api.http.post(confirm, json={"token": token, "new_password": "short"})
    assert r.status_code == 422
    r = await api.http.post(confirm, json={"token": token, "new_password": NEW_PASSWORD})
    assert r.status_code == 204, r.text
    assert (await api.http.get(f"{V1}/me", headers=user.headers)).status_code == 401
    r = await api.http.post(f"{V1}/auth/token", json={"email": user.email, "password": PASSWORD})
    assert r.status_code == 401
    r = await api.http.post(
        f"{V1}/auth/token", json={"email": user.email, "password": NEW_PASSWORD}
    )
    assert r.status_code == 200
    r = await api.http.post(confirm, json={"token": token, "new_password": NEW_PASSWORD + "x"})
    assert r.status_code == 422, "a reset token works once"


async def test_unknown_address_gets_the_same_answer_and_no_mail(
    mail_api: tuple[Api, Inbox],
) -> None:
    api, inbox = mail_api
    user = await api.user("student")
    known = await api.http.post(f"{V1}/auth/password-reset", json={"email": user.email})
    unknown = await api.http.post(f"{V1}/auth/password-reset", json={"email": "nobody@example.org"})
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    await _wait_for(inbox, 1)
    await asyncio.sleep(0.2)
    assert [m["To"] for m in inbox.messages] == [user.email]


async def test_expired_and_bogus_tokens_are_refused(mail_api: tuple[Api, Inbox]) -> None:
    api, inbox = mail_api
    user = await api.user("student")
    await api.http.post(f"{V1}/auth/password-reset", json={"email": user.email})
    await _wait_for(inbox, 1)
    token = parse_qs(urlsplit(_link(inbox.messages[0])).query)["token"][0]
    from sqlalchemy import update

    from quizplatform.db import models
    from quizplatform.runtime.clock import utcnow

    async with api.services.db.session() as session:
        await session.execute(update(models.PasswordResetToken).values(expires_at=utcnow()))
    confirm = f"{V1}/auth/password-reset/confirm"
    body: dict[str, Any] = {"token": token, "new_password": NEW_PASSWORD}
    assert (await api.http.post(confirm, json=body)).status_code == 422
    body["token"] = "not-a-token"
    assert (await api.http.post(confirm, json=body)).status_code == 422
    body["extra"] = True
    assert (await api.http.post(confirm, json=body)).status_code == 422


async def test_reset_requests_are_rate_limited_per_address(mail_api: tuple[Api, Inbox]) -> None:
    api, _ = mail_api
    limit = api.services.settings.password_reset_per_address
    statuses = [
        (
            await api.http.post(f"{V1}/auth/password-reset", json={"email": "x@example.org"})
        ).status_code
        for _ in range(limit + 2)
    ]
    assert statuses[:limit] == [202] * limit
    assert statuses[limit:] == [429, 429]


async def test_reset_switched_off_without_smtp(api: Api) -> None:
    r = await api.http.post(f"{V1}/auth/password-reset", json={"email": "a@example.org"})
    assert r.status_code == 503
    assert "switched off" in r.json()["error"]["message"]
