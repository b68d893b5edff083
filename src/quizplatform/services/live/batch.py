"""Group commit for live answers: the rows that arrive while a write is in flight go to
the database together, in the next write (one statement, one commit).

Every caller still waits until its own row is committed (or the write failed, which it
then raises): an answer is stored before it is acknowledged. What changes is the number of
commits: at the start of a question hundreds of answers arrive within a second, and each
commit waits for the synchronous standby; one connection per row would queue them on the
instance's small database pool.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Row = TypeVar("Row")

#: Rows per statement (a bound on the statement's size; beyond, the next write takes them).
MAX_BATCH = 500
#: Writes in flight at once (each holds one pooled connection while it runs).
MAX_WRITES = 2


class GroupWriter(Generic[Row]):
    """``await writer.write(row)`` returns once ``row`` is written by ``flush(rows)``,
    called with the rows queued so far (at most ``max_batch``; at most ``max_writes``
    calls at once). A failed ``flush`` fails every row it was given."""

    def __init__(
        self,
        flush: Callable[[Sequence[Row]], Awaitable[None]],
        *,
        max_batch: int = MAX_BATCH,
        max_writes: int = MAX_WRITES,
    ) -> None:
        self._flush = flush
        self.max_batch = max_batch
        self.max_writes = max_writes
        self._queue: deque[tuple[Row, asyncio.Future[None]]] = deque()
        self._writers: set[asyncio.Task[None]] = set()

    async def write(self, row: Row) -> None:
        """Queue ``row`` and wait until it is written (raises what the write raised)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.add_done_callback(_retrieved)
        self._queue.append((row, done))
        if len(self._writers) < self.max_writes:
            task = asyncio.create_task(self._drain())
            self._writers.add(task)
            task.add_done_callback(self._writers.discard)
        # Shielded: a caller that goes away (its socket closed) does not cancel the write
        # of the other rows of its batch.
        await asyncio.shield(done)

    async def _drain(self) -> None:
        while self._queue:
            batch = [self._queue.popleft() for _ in range(min(len(self._queue), self.max_batch))]
            try:
                await self._flush([row for row, _ in batch])
            except Exception as exc:  # noqa: BLE001 - handed to each caller of the batch
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
            except BaseException:
                for _, done in batch:
                    done.cancel()
                raise
            else:
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)


def _retrieved(done: asyncio.Future[None]) -> None:
    """Mark a failure as seen: its caller may have gone away (no "never retrieved")."""
    if not done.cancelled():
        done.exception()
