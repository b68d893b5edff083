"""``GroupWriter`` (services/live/batch.py): the live answers' group commit. Each caller
returns only once its own row is written; rows that arrive during a write share the next
one; a failed write fails exactly the callers whose rows it carried."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from quizplatform.services.live.batch import GroupWriter


class SlowTable:
    """A table whose writes take until ``release`` is set; records each write's rows."""

    def __init__(self) -> None:
        self.writes: list[list[int]] = []
        self.rows: set[int] = set()
        self.release = asyncio.Event()
        self.fail: set[int] = set()  # a write carrying one of these raises

    async def flush(self, rows: Sequence[int]) -> None:
        self.writes.append(list(rows))
        await self.release.wait()
        if self.fail & set(rows):
            raise ConnectionError("database gone")
        self.rows.update(rows)


async def test_a_caller_returns_only_after_its_row_is_written() -> None:
    table = SlowTable()
    writer = GroupWriter(table.flush, max_writes=1)
    first = asyncio.create_task(writer.write(1))
    await asyncio.sleep(0.01)
    assert table.writes == [[1]]
    assert not first.done()  # the write is in flight: no acknowledgement yet
    table.release.set()
    await first
    assert table.rows == {1}


async def test_rows_arriving_during_a_write_share_the_next_one() -> None:
    table = SlowTable()
    writer = GroupWriter(table.flush, max_writes=1)
    first = asyncio.create_task(writer.write(0))
    await asyncio.sleep(0.01)
    rest = [asyncio.create_task(writer.write(k)) for k in range(1, 50)]
    await asyncio.sleep(0.01)
    assert not any(task.done() for task in rest)
    table.release.set()
    await asyncio.gather(first, *rest)
    assert table.writes == [[0], list(range(1, 50))]  # two statements for 50 rows
    assert table.rows == set(range(50))


async def test_batches_are_bounded_and_writes_run_side_by_side() -> None:
    table = SlowTable()
    writer = GroupWriter(table.flush, max_batch=10, max_writes=2)
    tasks = [asyncio.create_task(writer.write(k)) for k in range(35)]
    await asyncio.sleep(0.01)
    assert len(table.writes) == 2  # two in flight at once, each with its own rows
    table.release.set()
    await asyncio.gather(*tasks)
    assert all(len(rows) <= 10 for rows in table.writes)
    assert sorted(r for rows in table.writes for r in rows) == list(range(35))


async def test_a_failed_write_fails_its_own_callers_only() -> None:
    table = SlowTable()
    table.fail = {1}
    writer = GroupWriter(table.flush, max_writes=1)
    first = asyncio.create_task(writer.write(0))
    await asyncio.sleep(0.01)
    doomed = [asyncio.create_task(writer.write(k)) for k in (1, 2)]
    await asyncio.sleep(0.01)
    table.release.set()
    await first
    for task in doomed:
        with pytest.raises(ConnectionError):
            await task
    table.fail = set()
    await writer.write(2)  # written again (the caller's resend): fine
    assert table.rows == {0, 2}


async def test_a_caller_going_away_does_not_cancel_the_write() -> None:
    table = SlowTable()
    writer = GroupWriter(table.flush, max_writes=1)
    gone = asyncio.create_task(writer.write(7))
    stays = asyncio.create_task(writer.write(8))
    await asyncio.sleep(0.01)
    gone.cancel()
    await asyncio.sleep(0.01)
    table.release.set()
    await stays
    assert table.rows == {7, 8}
