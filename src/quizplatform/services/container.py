"""The services of one instance, built once from the settings and shared by every request."""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass, field

import structlog
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from quizplatform.ai.providers import build_providers
from quizplatform.db.engine import Database
from quizplatform.db.failover import DatabaseFailover
from quizplatform.db.schema_version import code_head
from quizplatform.db.shared_store import KeyValueStore, create_store
from quizplatform.runtime.cpu import CpuPool
from quizplatform.runtime.metrics import Metrics
from quizplatform.runtime.settings import Settings
from quizplatform.services.accounts import AccountService
from quizplatform.services.ai import AIDraftService
from quizplatform.services.ai_drafting import DraftGenerator
from quizplatform.services.attempts import AttemptService
from quizplatform.services.audit import AuditLog
from quizplatform.services.bank import BankService, file_questions
from quizplatform.services.cache import NearCache
from quizplatform.services.jobs import JobQueue, JobRunner
from quizplatform.services.live.hub import LiveHub
from quizplatform.services.live.persist import LiveRecords
from quizplatform.services.live.service import LiveGameService
from quizplatform.services.live.store import create_live_store
from quizplatform.services.mail import Mailer
from quizplatform.services.mfa import MfaService
from quizplatform.services.password_reset import PasswordResetService
from quizplatform.services.privacy import PrivacyService
from quizplatform.services.quizzes import QuizService
from quizplatform.services.ratelimit import RateLimiter

log = structlog.get_logger(__name__)

# Running jobs get this long to finish at shutdown; the rest go back to the queue, where
# another worker takes them at once.
JOB_SHUTDOWN_GRACE_SECONDS = 10.0
#: How long closing waits for an attempt sweep in progress before cancelling it.
SWEEP_SHUTDOWN_GRACE_SECONDS = 10.0
BREAKER_REFRESH_SECONDS = 2.0

# A replica that does not answer within this is skipped (its reads go elsewhere) rather
# than holding requests for the driver's default minute.
REPLICA_CONNECT_TIMEOUT_SECONDS = 2.0


@dataclass
class Services:
    settings: Settings
    metrics: Metrics
    db: Database
    store: KeyValueStore
    cache: NearCache
    accounts: AccountService
    password_resets: PasswordResetService
    mfa: MfaService
    audit: AuditLog
    privacy: PrivacyService
    quizzes: QuizService
    attempts: AttemptService
    rate_limiter: RateLimiter
    ai: AIDraftService
    jobs: JobRunner
    schema_head: str | None
    bank: BankService
    live: LiveGameService
    replicas: list[Database] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _runner_task: asyncio.Task[None] | None = None
    _sweep_task: asyncio.Task[None] | None = None
    _closing: asyncio.Event = field(default_factory=asyncio.Event)
    live_hub: LiveHub = field(init=False)  # this instance's live game fan-out

    def __post_init__(self) -> None:
        self.live_hub = LiveHub(self.live, self.live.store, self.metrics)

    @classmethod
    def create(
        cls, settings: Settings, store: KeyValueStore | None = None, store_prefix: str | None = None
    ) -> Services:
        metrics = Metrics(settings.version, settings.commit, settings.env)
        replicas = [
            Database(
                settings,
                metrics,
                name=f"replica{i}",
                url=url,
                read_only=True,
                connect_timeout=REPLICA_CONNECT_TIMEOUT_SECONDS,
            )
            for i, url in enumerate(settings.database_replica_urls, start=1)
        ]
        # Reads go to the replicas where they may (Database.read_session, db/routing.py).
        db = Database(settings, metrics, replicas=replicas)
        store = store or create_store(
            settings.redis_url,
            store_prefix or settings.redis_prefix,
            metrics,
            sentinels=settings.redis_sentinels,
            sentinel_service=settings.redis_sentinel_service,
            retry_seconds=settings.redis_retry_seconds,
            password=(
                settings.redis_password.get_secret_value() if settings.redis_password else None
            ),
        )
        cache = NearCache(
            store,
            ttl=settings.quiz_cache_ttl_seconds,
            metrics=metrics,
            # With replicas: the read-your-writes window. Without: still long enough that
            # a quiz read while it changed is not cached (QuizService.snapshot's since=).
            remember_invalidations=(
                settings.read_your_writes_seconds if replicas else settings.quiz_cache_ttl_seconds
            ),
        )
        cpu = CpuPool(settings.cpu_slots)
        audit = AuditLog(db)
        accounts = AccountService(
            settings,
            db,
            store,
            NearCache(
                store,
                settings.token_cache_ttl_seconds,
                metrics=metrics,
                # A token or epoch read while it is revoked must not be cached as valid.
                remember_invalidations=settings.token_cache_ttl_seconds,
            ),
            metrics,
            cpu,
        )
        quizzes = QuizService(db, cache, metrics, cpu, settings.import_deadline_seconds)
        quizzes.file_into_bank = file_questions
        generator = DraftGenerator(settings, build_providers(settings, cpu), store, metrics)
        queue = JobQueue(
            db,
            store,
            metrics,
            lease_seconds=settings.ai_job_lease_seconds,
            max_claims=settings.ai_job_max_claims,
        )
        ai = AIDraftService(settings, db, quizzes, generator, queue, metrics)
        runner = JobRunner(
            queue,
            ai.run_job,
            metrics,
            worker=settings.instance_id,
            concurrency=settings.ai_worker_concurrency,
            poll_seconds=settings.ai_worker_poll_seconds,
        )
        mfa = MfaService(db, accounts)
        attempts = AttemptService(db, store, quizzes, metrics)
        for service in (accounts, quizzes, attempts, mfa):
            service.audit = audit
        return cls(
            settings=settings,
            metrics=metrics,
            db=db,
            store=store,
            cache=cache,
            accounts=accounts,
            password_resets=PasswordResetService(settings, db, store, accounts, Mailer(settings)),
            mfa=mfa,
            audit=audit,
            privacy=PrivacyService(db, accounts, audit),
            quizzes=quizzes,
            attempts=attempts,
            rate_limiter=RateLimiter(store),
            ai=ai,
            jobs=runner,
            schema_head=code_head(),
            bank=BankService(db),
            live=LiveGameService(
                settings, create_live_store(store), store, LiveRecords(db), quizzes, attempts
            ),
            replicas=replicas,
        )

    async def start(self, *, background: bool = True, jobs: bool | None = None) -> None:
        """Open what the instance needs; with ``background`` start its periodic work.

        ``jobs`` runs the background job runner here (None: as ``embedded_worker`` says,
        when ``background``); ``quiz worker`` passes True.
        """
        await self.cache.start()
        await self.accounts.cache.start()
        await self._warm_pools()
        self.live_hub.start()  # the WebSocket endpoint needs it with or without background
        self._tasks.append(asyncio.create_task(self.rate_limiter.run()))
        if background and self.settings.attempt_sweep_interval_seconds > 0:
            self._closing.clear()  # services closed and started again (tests do) sweep again
            self._sweep_task = asyncio.create_task(self._sweep_forever())
        if background and self.replicas:
            self._tasks.append(asyncio.create_task(self._watch_replicas()))
        if background and self.ai.generator.breakers:
            self._tasks.append(asyncio.create_task(self._watch_breakers()))
        if jobs if jobs is not None else (background and self.settings.runs_embedded_worker):
            self._runner_task = asyncio.create_task(self.jobs.run())

    async def _warm_pools(self) -> None:
        """Open a few pooled connections per database before taking traffic: the first
        connection of an engine also initialises the dialect (several round trips), which
        otherwise lands on the first users' requests (~100 ms each on a fresh instance)."""
        databases = [d for d in (self.db, *self.replicas) if not d.is_sqlite]
        if not databases:
            return
        per_database = min(2, self.settings.db_pool_size)

        async def one(database: Database) -> None:
            async with database.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))

        results = await asyncio.gather(
            *(one(d) for d in databases for _ in range(per_database)), return_exceptions=True
        )
        for failure in (r for r in results if isinstance(r, BaseException)):
            # Not fatal: readiness reports the database; a replica may come later.
            log.warning("could not open a pooled connection at start", error=str(failure))

    async def close(self) -> None:
        await self.live_hub.close()  # sockets closed with 1012: their players reconnect
        if self._runner_task is not None:
            await self.jobs.stop(JOB_SHUTDOWN_GRACE_SECONDS)
            self._runner_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner_task
            self._runner_task = None
        self._closing.set()
        if self._sweep_task is not None:
            # A sweep in progress finishes: cancelled inside a statement, it would leave a
            # pooled connection to the garbage collector (a traceback at every shutdown).
            done, _ = await asyncio.wait({self._sweep_task}, timeout=SWEEP_SHUTDOWN_GRACE_SECONDS)
            if not done:
                self._tasks.append(self._sweep_task)
            self._sweep_task = None
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.ai.generator.close()
        await self.live.store.close()
        await self.store.close()
        await self.db.dispose()
        for replica in self.replicas:
            await replica.dispose()

    async def _watch_replicas(self, interval: float = 5.0) -> None:
        """Export each replica's lag (``db_replica_lag_seconds``) for the ReplicaLagHigh
        alert; a replica that does not answer keeps its last value and is logged."""
        gauges = {r.name: self.metrics.db_replica_lag.labels(r.name) for r in self.replicas}
        while True:
            for replica in self.replicas:
                try:
                    gauges[replica.name].set(await replica.replication_lag_seconds())
                except (SQLAlchemyError, OSError, TimeoutError) as exc:  # keep watching
                    log.warning("replica lag unknown", database=replica.name, error=str(exc))
            await asyncio.sleep(interval)

    async def _watch_breakers(self) -> None:
        """Keep ``quiz_ai_breaker_state`` current on every process, also those that make
        no AI calls themselves (the breakers' state is shared through the store)."""
        while True:
            try:
                await self.ai.generator.breaker_states()
            except Exception as exc:  # noqa: BLE001 - keep watching
                log.warning("AI breaker state unknown", error=type(exc).__name__)
            await asyncio.sleep(BREAKER_REFRESH_SECONDS)

    async def _sweep_forever(self) -> None:
        interval = self.settings.attempt_sweep_interval_seconds
        while True:
            # Jitter spreads the instances' sweeps; each submit is a conditional update,
            # so two instances sweeping the same attempt submit it once.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), interval * random.uniform(0.5, 1.5))
            if self._closing.is_set():
                return
            runs = self.metrics.background_runs
            try:
                done = await self.attempts.sweep_expired()
                runs.labels("attempt_sweep", "ok").inc()
                if done:
                    log.info("expired attempts submitted", count=done)
            except DatabaseFailover as exc:  # no leader now: the next sweep does it
                runs.labels("attempt_sweep", "failed").inc()
                log.warning("attempt sweep skipped: database failover", error=str(exc))
            except Exception:  # the sweep must survive a database hiccup
                runs.labels("attempt_sweep", "failed").inc()
                log.exception("attempt sweep failed")
