"""The job queue and its runner (services/jobs.py) on a migrated database (SQLite and
PostgreSQL, the shared ``services`` fixture): claims, leases and their expiry, fencing of
a worker whose lease was taken over, and the counting of claims.

The queue's clock (``jobs.utcnow``) is moved by hand to expire leases; the runner's own
lease keeping runs on the real clock with short leases.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from quizplatform.ai.base import DraftRequest
from quizplatform.db import models
from quizplatform.db.failover import DatabaseFailover
from quizplatform.runtime.clock import utcnow
from quizplatform.services import jobs as jobs_module
from quizplatform.services.container import Services
from quizplatform.services.jobs import JobQueue, JobRunner, Lease, LeaseLost

LEASE = 30.0


class JobClock:
    """The queue's ``utcnow``: the real time plus what the test has moved it on."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return utcnow() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> JobClock:
    fake = JobClock()
    monkeypatch.setattr(jobs_module, "utcnow", fake)
    return fake


@pytest.fixture
async def owner(services: Services) -> str:
    async with services.db.session() as session:
        user = models.User(
            email="jobs@example.org", password_hash="-", display_name="Jobs", role="teacher"
        )
        session.add(user)
    return user.id


def queue_of(services: Services, *, lease: float = LEASE, max_claims: int = 3) -> JobQueue:
    """A queue on the test database, as one worker instance would have it."""
    return JobQueue(
        services.db, services.store, services.metrics, lease_seconds=lease, max_claims=max_claims
    )


def runner_of(queue: JobQueue, handler: Any, worker: str = "runner") -> JobRunner:
    return JobRunner(queue, handler, queue.metrics, worker=worker, concurrency=2, poll_seconds=0.05)


async def enqueue(queue: JobQueue, owner: str, count: int = 1) -> list[str]:
    """Queue ``count`` jobs; their ids, oldest first."""
    return [
        (await queue.enqueue(owner, DraftRequest(1, ("true_false",), topic=f"job {i}"))).id
        for i in range(count)
    ]


async def job_row(services: Services, job_id: str) -> models.AIJob:
    async with services.db.session() as session:
        job = await session.get(models.AIJob, job_id)
        assert job is not None
        return job


# -- claiming -------------------------------------------------------------------------------
async def test_claims_take_queued_jobs_oldest_first_then_none(
    services: Services, owner: str, clock: JobClock
) -> None:
    queue = queue_of(services)
    ids = await enqueue(queue, owner, 3)
    leases = [await queue.claim("w1") for _ in range(4)]
    assert [lease.job_id if lease else None for lease in leases] == [*ids, None]
    first = leases[0]
    assert first is not None
    assert (first.owner_id, first.request, first.claims, first.takeover) == (
        owner,
        DraftRequest(1, ("true_false",), topic="job 0").to_json(),
        1,
        False,
    )
    row = await job_row(services, ids[0])
    assert (row.status, row.claims, row.worker) == ("running", 1, "w1")
    assert row.lease_token == first.token
    assert row.lease_expires_at is not None and row.started_at is not None


async def test_concurrent_workers_never_claim_one_job_twice(
    services: Services, owner: str, clock: JobClock
) -> None:
    queues = [queue_of(services) for _ in range(4)]
    for _round in range(3):
        ids = await enqueue(queues[0], owner, 10)
        leases = await asyncio.gather(*(queues[i % 4].claim(f"w{i % 4}") for i in range(24)))
        claimed = [lease.job_id for lease in leases if lease is not None]
        assert sorted(claimed) == sorted(ids)
        for job_id in ids:
            assert (await job_row(services, job_id)).claims == 1


async def test_a_leased_job_is_claimed_again_only_once_its_lease_expired(
    services: Services, owner: str, clock: JobClock
) -> None:
    dead, alive = queue_of(services), queue_of(services)
    [job_id] = await enqueue(dead, owner)
    first = await dead.claim("dead worker")
    assert first is not None
    started_at = (await job_row(services, job_id)).started_at
    clock.advance(LEASE - 1)
    assert await alive.claim("alive worker") is None
    clock.advance(2)
    second = await alive.claim("alive worker")
    assert second is not None
    assert (second.job_id, second.claims, second.takeover) == (job_id, 2, True)
    assert second.token != first.token
    row = await job_row(services, job_id)
    assert (row.lease_token, row.worker, row.claims) == (second.token, "alive worker", 2)
    assert row.started_at == started_at  # the first claim's


async def test_renewing_keeps_the_job_from_being_taken_over(
    services: Services, owner: str, clock: JobClock
) -> None:
    worker, other = queue_of(services), queue_of(services)
    await enqueue(worker, owner)
    lease = await worker.claim("worker")
    assert lease is not None
    clock.advance(LEASE * 2 / 3)
    assert await worker.renew(lease)
    clock.advance(LEASE * 2 / 3)  # beyond the first lease, within the renewed one
    assert await other.claim("other") is None


# -- fencing --------------------------------------------------------------------------------
async def taken_over(services: Services, owner: str, clock: JobClock) -> tuple[Lease, Lease]:
    """A job whose first worker's lease expired and was taken over: (old, new) lease."""
    old_queue, new_queue = queue_of(services), queue_of(services)
    await enqueue(old_queue, owner)
    old = await old_queue.claim("old")
    clock.advance(LEASE + 1)
    new = await new_queue.claim("new")
    assert old is not None and new is not None and new.job_id == old.job_id
    return old, new


async def test_a_worker_whose_lease_was_taken_over_cannot_finish_the_job(
    services: Services, owner: str, clock: JobClock
) -> None:
    old, new = await taken_over(services, owner, clock)
    queue = queue_of(services)
    assert not await queue.renew(old)
    assert not await queue.fail(old, "too late")
    with pytest.raises(LeaseLost):
        async with services.db.session() as session:
            # The result the old worker writes in the same transaction is rolled back.
            await session.execute(
                update(models.AIJob)
                .where(models.AIJob.id == old.job_id)
                .values(details={"written by": "old"})
            )
            await queue.complete_in(session, old, degraded=True)
    await queue.release(old)
    row = await job_row(services, new.job_id)
    assert (row.status, row.lease_token, row.claims) == ("running", new.token, 2)
    assert (row.details, row.degraded, row.error) == (None, False, None)


async def test_the_new_holder_finishes_the_job_exactly_once(
    services: Services, owner: str, clock: JobClock
) -> None:
    _old, new = await taken_over(services, owner, clock)
    queue = queue_of(services)
    async with services.db.session() as session:
        await queue.complete_in(session, new, degraded=True)
    row = await job_row(services, new.job_id)
    assert (row.status, row.degraded, row.lease_expires_at) == ("succeeded", True, None)
    assert row.finished_at is not None
    with pytest.raises(LeaseLost):
        async with services.db.session() as session:
            await queue.complete_in(session, new)
    assert not await queue.fail(new, "after the end")
    clock.advance(10 * LEASE)
    assert await queue.claim("late") is None  # a finished job is never claimed again
    assert (await job_row(services, new.job_id)).status == "succeeded"


async def test_a_failed_job_keeps_its_message_and_is_not_claimed_again(
    services: Services, owner: str, clock: JobClock
) -> None:
    queue = queue_of(services)
    [job_id] = await enqueue(queue, owner)
    lease = await queue.claim("w")
    assert lease is not None
    assert await queue.fail(lease, "x" * 3000, provider="offline")
    row = await job_row(services, job_id)
    assert (row.status, row.error, row.provider) == ("failed", "x" * 2000, "offline")
    clock.advance(10 * LEASE)
    assert await queue.claim("w") is None


# -- counting claims ------------------------------------------------------------------------
async def test_release_requeues_without_counting_the_claim(
    services: Services, owner: str, clock: JobClock
) -> None:
    queue = queue_of(services)
    [job_id] = await enqueue(queue, owner)
    lease = await queue.claim("stopping")
    assert lease is not None
    await queue.release(lease)
    row = await job_row(services, job_id)
    assert (row.status, row.claims, row.lease_token, row.lease_expires_at) == (
        "queued",
        0,
        None,
        None,
    )
    again = await queue.claim("next")
    assert again is not None and (again.claims, again.takeover) == (1, False)


async def test_a_job_that_keeps_losing_its_worker_is_given_up_after_max_claims(
    services: Services, owner: str, clock: JobClock
) -> None:
    queue = queue_of(services, max_claims=2)
    [job_id] = await enqueue(queue, owner)
    first = await queue.claim("dies")
    assert first is not None and first.claims == 1
    clock.advance(LEASE + 1)
    handled: list[int] = []

    async def handler(lease: Lease) -> None:
        handled.append(lease.claims)  # and its worker dies: the job stays running

    runner = runner_of(queue, handler)
    assert await runner.run_once()
    assert handled == [2]  # the last claim allowed still runs
    clock.advance(LEASE + 1)
    assert await runner.run_once()
    assert handled == [2]
    row = await job_row(services, job_id)
    assert (row.status, row.claims) == ("failed", 3)
    assert row.error is not None and "interrupted 2 times" in row.error


# -- the runner -----------------------------------------------------------------------------
async def test_the_runner_completes_a_job_through_its_handler(
    services: Services, owner: str, clock: JobClock
) -> None:
    queue = queue_of(services)
    [job_id] = await enqueue(queue, owner)

    async def handler(lease: Lease) -> None:
        async with services.db.session() as session:
            await queue.complete_in(session, lease, provider="offline")

    runner = runner_of(queue, handler)
    assert await runner.run_once()
    assert not await runner.run_once()
    row = await job_row(services, job_id)
    assert (row.status, row.provider, row.claims) == ("succeeded", "offline", 1)


async def test_a_handler_that_raises_fails_its_job_once(
    services: Services, owner: str, clock: JobClock
) -> None:
    queue = queue_of(services)
    [job_id] = await enqueue(queue, owner)

    async def handler(lease: Lease) -> None:
        raise RuntimeError("a bug")

    assert await runner_of(queue, handler).run_once()
    row = await job_row(services, job_id)
    assert row.status == "failed"
    assert row.error is not None and job_id in row.error and "a bug" not in row.error
    clock.advance(10 * LEASE)
    assert await queue.claim("w") is None


async def test_a_database_failover_hands_the_job_back(
    services: Services, owner: str, clock: JobClock
) -> None:
    queue = queue_of(services)
    [job_id] = await enqueue(queue, owner)

    async def handler(lease: Lease) -> None:
        raise DatabaseFailover("no leader")

    assert await runner_of(queue, handler).run_once()
    row = await job_row(services, job_id)
    assert (row.status, row.claims) == ("queued", 0)


async def test_the_runner_keeps_its_lease_while_the_handler_works(
    services: Services, owner: str
) -> None:
    queue, other = queue_of(services, lease=0.6), queue_of(services, lease=0.6)
    [job_id] = await enqueue(queue, owner)
    stolen: list[Lease] = []

    async def handler(lease: Lease) -> None:
        for _ in range(10):  # 1.5 s: 2.5 leases
            await asyncio.sleep(0.15)
            if (taken := await other.claim("thief")) is not None:
                stolen.append(taken)
        async with services.db.session() as session:
            await queue.complete_in(session, lease)

    async with asyncio.timeout(10):
        assert await runner_of(queue, handler).run_once()
    assert stolen == []
    assert (await job_row(services, job_id)).status == "succeeded"


async def test_a_runner_that_loses_its_lease_stops_the_handler(
    services: Services, owner: str, clock: JobClock
) -> None:
    queue, other = queue_of(services, lease=0.3), queue_of(services, lease=0.3)
    [job_id] = await enqueue(queue, owner)
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def handler(lease: Lease) -> None:
        started.set()
        try:
            await asyncio.Event().wait()  # works for ever, unless stopped
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def take_over() -> Lease | None:
        await started.wait()
        for _ in range(20):  # a renewal may land between the clock's move and the claim
            clock.advance(1)  # the lease has expired (however the runner renewed it)
            if (lease := await other.claim("other")) is not None:
                return lease
        return None

    async with asyncio.timeout(10):
        _, new = await asyncio.gather(runner_of(queue, handler).run_once(), take_over())
    assert cancelled.is_set()
    assert new is not None
    row = await job_row(services, job_id)
    assert (row.status, row.lease_token) == ("running", new.token)


async def test_a_queued_job_wakes_an_idle_runner(services: Services, owner: str) -> None:
    queue = queue_of(services)
    done = asyncio.Event()

    async def handler(lease: Lease) -> None:
        async with services.db.session() as session:
            await queue.complete_in(session, lease)
        done.set()

    runner = JobRunner(queue, handler, queue.metrics, worker="idle", concurrency=1, poll_seconds=60)
    running = asyncio.create_task(runner.run())
    try:
        await asyncio.sleep(0.2)  # subscribed, found nothing, waiting (for a minute)
        [job_id] = await enqueue(queue, owner)
        async with asyncio.timeout(5):
            await done.wait()
    finally:
        await runner.stop(grace=1)
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    assert (await job_row(services, job_id)).status == "succeeded"


async def test_select_is_by_created_at(services: Services, owner: str, clock: JobClock) -> None:
    """Jobs are taken in the order they were queued, not by id."""
    queue = queue_of(services)
    ids = await enqueue(queue, owner, 3)
    async with services.db.session() as session:
        await session.execute(
            update(models.AIJob)
            .where(models.AIJob.id == ids[2])
            .values(created_at=utcnow() - timedelta(hours=1))
        )
    lease = await queue.claim("w")
    assert lease is not None and lease.job_id == ids[2]


async def test_stopping_hands_unfinished_jobs_back(services: Services, owner: str) -> None:
    queue = queue_of(services)
    [job_id] = await enqueue(queue, owner)
    started = asyncio.Event()

    async def handler(lease: Lease) -> None:
        started.set()
        await asyncio.Event().wait()  # works for ever, unless stopped

    runner = runner_of(queue, handler, worker="stopping")
    running = asyncio.create_task(runner.run())
    try:
        async with asyncio.timeout(5):
            await started.wait()
            await runner.stop(grace=0.1)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    row = await job_row(services, job_id)
    assert (row.status, row.claims, row.lease_token) == ("queued", 0, None)
