"""The token cache of AccountService (a NearCache) against a revocation that lands
while a token is being resolved: the old epoch read just before must not stay cached."""

from __future__ import annotations

import asyncio

import pytest

from quizplatform.db import models
from quizplatform.services.container import Services


async def test_a_revocation_during_a_resolution_is_not_undone_by_the_cache(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts = services.accounts
    async with services.db.session() as session:
        user = models.User(
            email="victim@example.org", password_hash="-", display_name="V", role="student"
        )
        session.add(user)
    issued = await accounts.issue_token(user)
    accounts.cache.clear()
    store_get = accounts.store.get
    read, resume = asyncio.Event(), asyncio.Event()

    async def slow_epoch_read(key: str) -> bytes | None:
        value = await store_get(key)
        if key.startswith("user-epoch:") and not read.is_set():
            read.set()  # the old epoch is read; the revocation happens now
            await resume.wait()
        return value

    monkeypatch.setattr(accounts.store, "get", slow_epoch_read)
    resolving = asyncio.create_task(accounts.resolve_token(issued.access_token))
    await read.wait()
    await accounts.revoke_all(user.id)  # sign out everywhere / password change
    await asyncio.sleep(0.1)  # the invalidation has come back through the store
    resume.set()
    await resolving  # began before the revocation: may still see the token as valid
    assert await accounts.resolve_token(issued.access_token) is None
