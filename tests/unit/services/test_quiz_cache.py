"""The quiz cache of QuizService (a NearCache) against a change that lands while a quiz
is being read: the version read just before must not stay cached (no read replicas)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import update

from quizplatform.db import models
from quizplatform.services.container import Services


async def test_a_change_during_a_read_is_not_undone_by_the_cache(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not services.replicas
    async with services.db.session() as session:
        owner = models.User(
            email="t@example.org", password_hash="-", display_name="T", role="teacher"
        )
        session.add(owner)
        await session.flush()
        quiz = models.Quiz(owner_id=owner.id, title="old title")
        session.add(quiz)
    quizzes = services.quizzes
    run_read = services.db.run_read
    read, resume = asyncio.Event(), asyncio.Event()

    async def slow_read(fn: Callable[[Any], Awaitable[Any]], *, fresh: bool = False) -> Any:
        value = await run_read(fn, fresh=fresh)
        if not read.is_set():
            read.set()  # the old version is read; the change happens now
            await resume.wait()
        return value

    monkeypatch.setattr(services.db, "run_read", slow_read)
    reading = asyncio.create_task(quizzes.snapshot(quiz.id))
    await read.wait()
    async with services.db.session() as session:  # as QuizService.update writes
        await session.execute(
            update(models.Quiz).where(models.Quiz.id == quiz.id).values(title="new title")
        )
    await quizzes.cache.invalidate(f"quiz:{quiz.id}")
    await asyncio.sleep(0.1)  # the invalidation has come back through the store
    resume.set()
    await reading  # began before the change: may still see the old title
    snap = await quizzes.snapshot(quiz.id)
    assert snap is not None and snap.title == "new title"
