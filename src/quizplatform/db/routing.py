"""Read/write split: which database a request's reads may use.

With replicas configured (``QUIZ_DATABASE_REPLICA_URLS``), the request middleware gives
every request a ``ReadRoute`` in a context variable; ``Database.read_session()`` asks it
whether a pure read may go to a replica. Writes, and everything a request reads after it
has written, go to the primary. Read-your-writes across requests (and instances): a
user's unsafe request leaves a marker ``ryw:<user id>`` in the shared store for
``read_your_writes_seconds``; while it exists that user's reads go to the primary.

Without replicas no route is set: ``read_session()`` is the primary's session, and no
request pays a store round trip.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING

import structlog

from quizplatform.db.shared_store import KeyValueStore

if TYPE_CHECKING:
    from quizplatform.db.engine import Database

log = structlog.get_logger(__name__)

#: Methods that never write: their reads may go to a replica, and they leave no marker.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

UserLookup = Callable[[], Awaitable[str | None]]


def marker_key(user_id: str) -> str:
    """The shared-store key that keeps ``user_id``'s reads on the primary."""
    return f"ryw:{user_id}"


class ReadRoute:
    """One request's read routing.

    Decided lazily, on the first read that could use a replica, so a request answered
    without the database (the near cache) costs no store round trip. Once the request
    has written (``pin``), the rest of it reads from the primary.
    """

    __slots__ = ("_allowed", "_store", "_user", "replica", "safe")

    def __init__(self, *, safe: bool, user: UserLookup, store: KeyValueStore) -> None:
        self.safe = safe  # the request writes nothing (it may read a replica with no leader)
        self._allowed: bool | None = None if safe else False
        self._user = user
        self._store = store
        self.replica: Database | None = None  # the replica this request reads from

    def pin(self) -> None:
        """Send the rest of this request's reads to the primary."""
        self._allowed = False

    async def replica_allowed(self) -> bool:
        """Whether this request's pure reads may go to a replica."""
        if self._allowed is None:
            user_id = await self._user()
            if user_id is None:
                self._allowed = True
            else:
                try:
                    self._allowed = not await self._store.exists(marker_key(user_id))
                except Exception:  # unknown: the primary is always right
                    log.warning("read-your-writes marker unreadable", exc_info=True)
                    self._allowed = False
        return self._allowed


_route: ContextVar[ReadRoute | None] = ContextVar("quizplatform_read_route", default=None)


def current_route() -> ReadRoute | None:
    """The read routing of the request being served (None: no split, use the primary)."""
    return _route.get()


def enter_route(route: ReadRoute) -> Token[ReadRoute | None]:
    return _route.set(route)


def exit_route(token: Token[ReadRoute | None]) -> None:
    _route.reset(token)


def pin_to_primary() -> None:
    """The current request writes: its later reads must see that (no-op without split)."""
    route = _route.get()
    if route is not None:
        route.pin()


async def mark_write(store: KeyValueStore, user_id: str, seconds: float) -> None:
    """Keep ``user_id``'s reads on the primary for ``seconds`` (on every instance)."""
    if seconds <= 0:
        return
    try:
        await store.set(marker_key(user_id), b"1", ttl=seconds)
    except Exception:  # the write happened; do not fail its response
        log.warning("read-your-writes marker not set", user_id=user_id, exc_info=True)
