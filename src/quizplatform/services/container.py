"""The services of one instance, built once from the settings and shared by every request."""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass, field

import structlog

from quizplatform.db.engine import Database
from quizplatform.db.kv import KeyValueStore, create_store
from quizplatform.runtime.settings import Settings
from quizplatform.services.accounts import AccountService
from quizplatform.services.attempts import AttemptService
from quizplatform.services.cache import NearCache
from quizplatform.services.quizzes import QuizService

log = structlog.get_logger(__name__)


@dataclass
class Services:
    settings: Settings
    db: Database
    store: KeyValueStore
    cache: NearCache
    accounts: AccountService
    quizzes: QuizService
    attempts: AttemptService
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def create(cls, settings: Settings, store: KeyValueStore | None = None) -> Services:
        db = Database(settings)
        store = store or create_store(settings.redis_url)
        cache = NearCache(store, ttl=settings.quiz_cache_ttl_seconds)
        quizzes = QuizService(db, cache)
        return cls(
            settings=settings,
            db=db,
            store=store,
            cache=cache,
            accounts=AccountService(settings, db, store, cache),
            quizzes=quizzes,
            attempts=AttemptService(db, store, quizzes),
        )

    async def start(self, *, background: bool = True) -> None:
        await self.cache.start()
        if background and self.settings.attempt_sweep_interval_seconds > 0:
            self._tasks.append(asyncio.create_task(self._sweep_forever()))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.store.close()
        await self.db.dispose()

    async def _sweep_forever(self) -> None:
        interval = self.settings.attempt_sweep_interval_seconds
        while True:
            # Jitter spreads the instances' sweeps; each submit is a conditional update,
            # so two instances sweeping the same attempt submit it once.
            await asyncio.sleep(interval * random.uniform(0.5, 1.5))
            try:
                done = await self.attempts.sweep_expired()
                if done:
                    log.info("expired attempts submitted", count=done)
            except Exception:
                log.exception("attempt sweep failed")
