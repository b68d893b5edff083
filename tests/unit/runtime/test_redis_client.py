"""The store's Redis client: FailoverRetry (retries for a time after the first failure,
shared by nested retries) and NewestMasterSentinel (the newest epoch wins)."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.asyncio.sentinel import MasterNotFoundError
from redis.backoff import ConstantBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from quizplatform.db.redis_retry import FailoverRetry
from quizplatform.db.sentinel import NewestMasterSentinel
from quizplatform.db.shared_store import RETRY_ON, retry_policy

BUDGET = 0.4
SLACK = 0.25  # scheduling on a busy machine; still well under 2 x BUDGET


def policy() -> FailoverRetry:
    return FailoverRetry(ConstantBackoff(0.02), BUDGET, supported_errors=RETRY_ON)


async def noop(*_: object) -> None:
    return None


async def test_gives_up_about_the_budget_after_the_first_failure() -> None:
    attempts = []

    async def down() -> None:
        attempts.append(time.monotonic())
        raise RedisConnectionError("refused")

    started = time.monotonic()
    with pytest.raises(RedisConnectionError, match="refused"):
        await policy().call_with_retry(down, noop)
    took = time.monotonic() - started
    assert BUDGET - 0.03 <= took <= BUDGET + SLACK
    assert len(attempts) > 5


async def test_the_clock_starts_at_the_first_failure_not_at_the_call() -> None:
    calls = 0

    async def slow_then_failing() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.sleep(BUDGET * 2)  # a long wait is no failure (a pub/sub read)
            raise RedisConnectionError("gone")
        if calls < 4:
            raise RedisConnectionError("still gone")
        return "back"

    assert await policy().call_with_retry(slow_then_failing, noop) == "back"


async def test_a_nested_retry_keeps_to_the_outer_deadline() -> None:
    retry = policy()

    async def reconnect() -> None:
        raise RedisConnectionError("refused")

    async def command() -> None:  # a command whose reconnection retries by itself
        await retry.call_with_retry(reconnect, noop)

    started = time.monotonic()
    with pytest.raises(RedisConnectionError):
        await retry.call_with_retry(command, noop)
    assert time.monotonic() - started <= BUDGET + SLACK  # not twice the budget


async def test_other_errors_and_success_pass_through() -> None:
    failures: list[tuple[Exception, int]] = []

    async def record(error: Exception, count: int) -> None:
        failures.append((error, count))

    async def wrong() -> None:
        raise ResponseError("WRONGTYPE")

    with pytest.raises(ResponseError):
        await policy().call_with_retry(wrong, record, with_failure_count=True)
    assert failures == []

    outcomes: list[Exception | str] = [RedisConnectionError("a"), RedisConnectionError("b"), "ok"]

    async def flaky() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert await policy().call_with_retry(flaky, record, with_failure_count=True) == "ok"
    assert [count for _, count in failures] == [1, 2]


def test_the_store_policy_retries_connection_timeout_and_read_only_errors() -> None:
    retry = retry_policy(5.0)
    assert retry.budget == 5.0
    names = {e.__name__ for e in retry._supported_errors}
    assert {"ConnectionError", "TimeoutError", "ReadOnlyError"} <= names


# -- NewestMasterSentinel -----------------------------------------------------------------
class FakeSentinel:
    def __init__(self, answer: dict[str, object] | Exception) -> None:
        self.answer = answer

    async def sentinel_master(self, service: str) -> dict[str, object]:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def state(port: int, epoch: int, **flags: bool) -> dict[str, object]:
    return {
        "ip": "127.0.0.1",
        "port": port,
        "config-epoch": epoch,
        "is_master": True,
        "is_sdown": flags.get("sdown", False),
        "is_odown": False,
        "num-other-sentinels": 2,
    }


def sentinel_with(*answers: dict[str, object] | Exception) -> NewestMasterSentinel:
    sentinel = NewestMasterSentinel([])  # type: ignore[no-untyped-call]
    sentinel.sentinels = [FakeSentinel(a) for a in answers]  # type: ignore[misc]
    return sentinel


async def test_the_master_named_with_the_newest_epoch_wins() -> None:
    sentinel = sentinel_with(
        state(7001, 1), RedisConnectionError("refused"), state(7002, 2), state(7001, 1)
    )
    assert await sentinel.discover_master("quiz") == ("127.0.0.1", 7002)


async def test_no_master_up_is_a_connection_error_to_retry() -> None:
    sentinel = sentinel_with(state(7001, 1, sdown=True), RedisConnectionError("refused"))
    with pytest.raises(MasterNotFoundError, match="No master found for 'quiz'") as err:
        await sentinel.discover_master("quiz")
    assert isinstance(err.value, RedisConnectionError)
