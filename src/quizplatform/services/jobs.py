"""Durable background jobs: a table with leases, and the runner that works through it.

Why a table and not a queue library: the embedded default is SQLite (``make run`` needs no
services) and production is PostgreSQL, and the job must finish in the same transaction
as the quiz it creates. PostgreSQL-only queues (procrastinate) would split the two
setups and leave the "completed once" guarantee to us anyway. The table is small:

- **enqueue** inserts a ``queued`` row and publishes its id on the store's ``jobs``
  channel, so an idle runner on any instance wakes at once (it also polls).
- **claim** is one ``UPDATE … WHERE id = (SELECT … LIMIT 1 [FOR UPDATE SKIP LOCKED])``
  taking a queued job, or a running one whose lease has expired (its worker died), with a
  fresh ``lease_token``. The claimable condition is checked again by the UPDATE itself,
  so two workers never both win.
- **renew**: the runner extends the lease every third of its length while the job
  runs; a renewal that finds the token replaced means another worker took the job over,
  and this one stops.
- **finish** is conditional on the token too, and happens inside the transaction that
  writes the job's result (``complete_in``): a worker that lost its lease rolls its
  result back, so a job is completed exactly once.
- A job claimed more than ``ai_job_max_claims`` times (it keeps killing its workers) is
  failed with a message instead of being retried forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import and_, func, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from quizplatform.ai.base import DraftRequest
from quizplatform.db import models
from quizplatform.db.engine import Database
from quizplatform.db.failover import DatabaseFailover
from quizplatform.db.shared_store import KeyValueStore
from quizplatform.runtime.clock import utcnow
from quizplatform.runtime.metrics import Metrics

log = structlog.get_logger(__name__)
JOBS_CHANNEL = "jobs"
KIND = "ai_draft"  # the only kind so far; the metrics carry it for the next one


class LeaseLost(Exception):
    """Another worker holds the job now; this worker's result must not be kept."""


@dataclass(frozen=True)
class Lease:
    """A claimed job: what the handler needs, and the token that proves the claim."""

    job_id: str
    token: str
    owner_id: str
    request: Mapping[str, object]  # the job's request as stored (its JSON document)
    claims: int
    created_at: datetime

    @property
    def takeover(self) -> bool:
        return self.claims > 1


class JobQueue:
    """The ``ai_jobs`` table as a queue with leases (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        store: KeyValueStore,
        metrics: Metrics,
        *,
        lease_seconds: float,
        max_claims: int,
    ) -> None:
        self.db = db
        self.store = store
        self.metrics = metrics
        self.lease_seconds = lease_seconds
        self.max_claims = max_claims

    async def enqueue(self, owner_id: str, request: DraftRequest) -> models.AIJob:
        """Queue a draft job for ``owner_id`` and wake an idle runner."""
        async with self.db.session() as session:
            job = models.AIJob(
                owner_id=owner_id, request=request.to_json(), status="queued", claims=0
            )
            session.add(job)
        self.metrics.jobs_enqueued.labels(KIND).inc()
        await self.store.publish(JOBS_CHANNEL, job.id)
        return job

    async def claim(self, worker: str) -> Lease | None:
        """Take the oldest claimable job, or None when there is none."""
        now = utcnow()
        claimable = or_(
            models.AIJob.status == "queued",
            and_(models.AIJob.status == "running", models.AIJob.lease_expires_at < now),
        )
        pick = select(models.AIJob.id).where(claimable).order_by(models.AIJob.created_at).limit(1)
        if not self.db.is_sqlite:
            pick = pick.with_for_update(skip_locked=True)
        token = os.urandom(16).hex()
        stamp = literal(now, models.UTCDateTime())
        statement = (
            update(models.AIJob)
            .where(models.AIJob.id == pick.scalar_subquery(), claimable)
            .values(
                status="running",
                claims=models.AIJob.claims + 1,
                lease_token=token,
                lease_expires_at=now + timedelta(seconds=self.lease_seconds),
                worker=worker[:200],
                started_at=func.coalesce(models.AIJob.started_at, stamp),
            )
            .returning(
                models.AIJob.id,
                models.AIJob.owner_id,
                models.AIJob.request,
                models.AIJob.claims,
                models.AIJob.created_at,
            )
            .execution_options(synchronize_session=False)
        )
        async with self.db.session() as session:
            row = (await session.execute(statement)).first()
        if row is None:
            return None
        lease = Lease(row.id, token, row.owner_id, row.request, row.claims, row.created_at)
        self.metrics.jobs_claims.labels(KIND, "takeover" if lease.takeover else "first").inc()
        if not lease.takeover:
            self.metrics.job_queue_wait.labels(KIND).observe(
                max(0.0, (now - lease.created_at).total_seconds())
            )
        else:
            log.warning("job taken over after its lease expired", job_id=lease.job_id)
        return lease

    async def renew(self, lease: Lease) -> bool:
        """Extend the lease; False when the job is no longer ours."""
        until = utcnow() + timedelta(seconds=self.lease_seconds)
        async with self.db.session() as session:
            result = await session.execute(
                self._ours(lease)
                .values(lease_expires_at=until)
                .execution_options(synchronize_session=False)
            )
        return _rowcount(result) == 1

    async def complete_in(self, session: AsyncSession, lease: Lease, **values: Any) -> None:
        """Mark the job succeeded inside ``session``'s transaction; ``LeaseLost`` (which
        rolls that transaction back) when another worker holds it now."""
        result = await session.execute(
            self._ours(lease)
            .values(status="succeeded", finished_at=utcnow(), lease_expires_at=None, **values)
            .execution_options(synchronize_session=False)
        )
        if _rowcount(result) != 1:
            raise LeaseLost(lease.job_id)

    async def fail(self, lease: Lease, error: str, **values: Any) -> bool:
        """Mark the job failed with a message for its owner; False if not ours any more."""
        async with self.db.session() as session:
            result = await session.execute(
                self._ours(lease)
                .values(
                    status="failed",
                    error=error[:2000],
                    finished_at=utcnow(),
                    lease_expires_at=None,
                    **values,
                )
                .execution_options(synchronize_session=False)
            )
        return _rowcount(result) == 1

    async def release(self, lease: Lease) -> None:
        """Give an unfinished job back (shutdown): queued again, the claim not counted."""
        async with self.db.session() as session:
            await session.execute(
                self._ours(lease)
                .values(
                    status="queued",
                    claims=models.AIJob.claims - 1,
                    lease_token=None,
                    lease_expires_at=None,
                )
                .execution_options(synchronize_session=False)
            )
        await self.store.publish(JOBS_CHANNEL, lease.job_id)

    def _ours(self, lease: Lease) -> Any:
        return update(models.AIJob).where(
            models.AIJob.id == lease.job_id,
            models.AIJob.lease_token == lease.token,
            models.AIJob.status == "running",
        )


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


Handler = Callable[[Lease], Awaitable[None]]


class JobRunner:
    """Claims jobs and runs up to ``concurrency`` of them at once, renewing their leases.

    ``run()`` loops until ``stop()``; ``run_once()`` claims and runs one job (tests and
    the command line). A handler that raises fails its job with a generic message (the
    error itself is logged); a lost lease cancels the handler.
    """

    def __init__(
        self,
        queue: JobQueue,
        handler: Handler,
        metrics: Metrics,
        *,
        worker: str,
        concurrency: int,
        poll_seconds: float,
    ) -> None:
        self.queue = queue
        self.handler = handler
        self.metrics = metrics
        self.worker = worker
        self.concurrency = concurrency
        self.poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._stopping = False
        self._running: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        await self.queue.store.subscribe(JOBS_CHANNEL, self._on_message)
        log.info("job runner started", worker=self.worker, concurrency=self.concurrency)
        while not self._stopping:
            self._wake.clear()  # before looking: a job queued meanwhile wakes the wait
            try:
                await self._fill()
            except DatabaseFailover as exc:  # no leader: look again at the next poll
                log.warning("claiming jobs failed: database failover", error=str(exc))
            except Exception:  # a database hiccup must not end the runner
                log.exception("claiming jobs failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)

    def _on_message(self, _message: str) -> None:
        self._wake.set()

    async def _fill(self) -> None:
        while not self._stopping and len(self._running) < self.concurrency:
            lease = await self.queue.claim(self.worker)
            if lease is None:
                return
            task = asyncio.create_task(self._run(lease))
            self._running.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._wake.set()  # a slot is free: look for more work at once

    async def run_once(self) -> bool:
        """Claim one job and run it to its end; False when nothing was claimable."""
        lease = await self.queue.claim(self.worker)
        if lease is None:
            return False
        await self._run(lease)
        return True

    async def _run(self, lease: Lease) -> None:
        running = self.metrics.jobs_running.labels(KIND)
        running.inc()
        started = asyncio.get_running_loop().time()
        work = asyncio.create_task(self._handle(lease))
        keeper = asyncio.create_task(self._keep_lease(lease, work))
        try:
            await asyncio.shield(work)
        except asyncio.CancelledError:
            if not work.done():  # the runner is stopping: hand the job back
                work.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await work
                with contextlib.suppress(Exception):
                    await self.queue.release(lease)
                log.info("job released at shutdown", job_id=lease.job_id)
            if self._stopping or work.cancelled():
                return
            raise
        except Exception:  # _handle failed even to record the failure (database down)
            log.exception("job could not be finished; its lease will expire", job_id=lease.job_id)
        finally:
            keeper.cancel()
            running.dec()
            self.metrics.job_duration.labels(KIND).observe(
                asyncio.get_running_loop().time() - started
            )

    async def _handle(self, lease: Lease) -> None:
        structlog.contextvars.bind_contextvars(job_id=lease.job_id)
        try:
            if lease.claims > self.queue.max_claims:
                await self.queue.fail(
                    lease,
                    f"the job was interrupted {lease.claims - 1} times (its worker stopped "
                    "each time); it was given up. Try again, perhaps with a shorter text.",
                )
                self.metrics.jobs_finished.labels(KIND, "failed", "none").inc()
                return
            await self.handler(lease)
        except LeaseLost:
            self.metrics.jobs_lost_leases.labels(KIND).inc()
            log.warning("job result dropped: another worker holds the job now")
        except DatabaseFailover as exc:
            # Not the job's fault: hand it back to run again (if the database lets us;
            # otherwise its lease expires and a worker takes it over).
            log.warning("job interrupted by a database failover; it will run again", error=str(exc))
            with contextlib.suppress(Exception):
                await self.queue.release(lease)
        except Exception:
            log.exception("job failed unexpectedly")
            await self.queue.fail(
                lease,
                f"the job failed on our side; try again (quote job {lease.job_id} if it "
                "keeps failing)",
            )
            self.metrics.jobs_finished.labels(KIND, "failed", "none").inc()
        finally:
            structlog.contextvars.unbind_contextvars("job_id")

    async def _keep_lease(self, lease: Lease, work: asyncio.Task[None]) -> None:
        interval = self.queue.lease_seconds / 3
        while not work.done():
            await asyncio.sleep(interval)
            try:
                ours = await self.queue.renew(lease)
            except Exception:  # noqa: BLE001 - try again next time; the lease has slack
                log.warning("could not renew a job lease", job_id=lease.job_id)
                continue
            if not ours:
                self.metrics.jobs_lost_leases.labels(KIND).inc()
                log.warning("job lease lost: another worker took it over", job_id=lease.job_id)
                work.cancel()
                return

    async def stop(self, grace: float) -> None:
        """Stop claiming; give running jobs ``grace`` seconds, then hand them back."""
        self._stopping = True
        self._wake.set()
        if not self._running:
            return
        _, pending = await asyncio.wait(set(self._running), timeout=grace)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await task
