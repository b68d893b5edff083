"""What a database failover looks like from the app, and what may be repeated.

During a failover the write URL (an HAProxy frontend whose one healthy server is the
Patroni leader) refuses or closes new connections, cuts pooled ones, and a demoted server
answers writes with SQLSTATE 25006. ``assess`` sorts such a failure (SQLAlchemy wraps
asyncpg: the driver's exception is ``exc.orig``, its code ``exc.orig.sqlstate``):

==========================  ================================================  ===========
kind                        raised as                                         in flight
==========================  ================================================  ===========
``NO_LEADER``               connecting fails (``OSError`` such as
                            ConnectionRefusedError, asyncpg's "unexpected
                            connection_lost() call", a connect timeout,
                            08xxx, 57P03 cannot_connect_now)                   no
``NO_LEADER``               25006 read_only_sql_transaction (a demoted server)  no
``NO_LEADER``               57P01 admin_shutdown, 57P02 crash_shutdown          yes
``CUT``                     asyncpg ``InterfaceError`` "... connection is
                            closed": a pooled connection cut while idle,
                            noticed before anything was sent                   no
``CUT``                     08xxx (asyncpg ``ConnectionDoesNotExistError``
                            "connection was closed in the middle of
                            operation"), ``OSError`` during a statement        yes
``CONFLICT``                40001 serialization_failure, 40P01 deadlock         no
==========================  ================================================  ===========

Anything else (SQLite's "database is locked", a pool timeout, a constraint violation) is
not a failover matter: ``assess`` returns None and it is handled as before.

"In flight" means the server may have run the statement. Inside a transaction that does
not matter: a transaction whose connection dies before COMMIT is rolled back. It matters
for the COMMIT itself and for an autocommit statement (it commits by itself): then the
outcome is unknown (``CommitOutcomeUnknown``; a COMMIT waiting for a synchronous standby
when its connection is terminated has committed locally). Every other verdict is
``WriteAborted``: nothing of that transaction happened, so the request may be run again.

``RequestCommits`` (a context variable set per request by ``api/retry.py``) records
whether a transaction of the current request has committed or may have: once one has, the
request is not repeated, whatever failed later.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.exc import DBAPIError

from quizplatform.runtime.request_context import RequestContext

#: After a commit, a request may wait this many leader waits more to produce its answer.
POST_COMMIT_WAIT_FACTOR = 2

#: Seconds a client is told to wait (Retry-After) after a failover answer.
RETRY_AFTER_SECONDS = 5

READ_ONLY_MESSAGE = (
    "Saving is paused for a moment while the database switches over. Nothing was saved; "
    "try again in a few seconds."
)
READ_ONLY_PARTLY_SAVED_MESSAGE = (
    "The database switched over while this request was being answered. Your change was "
    "saved, but the answer could not be produced; check what is there before you try again."
)
COMMIT_UNKNOWN_MESSAGE = (
    "The database switched over while your change was being saved, so it may or may not "
    "have been saved. Check whether it is there before you try again."
)
CONFLICT_MESSAGE = (
    "The database was too busy with conflicting changes to save this. Nothing was saved; "
    "try again in a moment."
)

_NO_LEADER_STATES = frozenset({"25006", "57P03"})
_SHUTDOWN_STATES = frozenset({"57P01", "57P02"})
_CONFLICT_STATES = frozenset({"40001", "40P01"})
_CLOSED_BEFORE_SENDING = "connection is closed"  # asyncpg's check before it sends anything


class Kind(StrEnum):
    NO_LEADER = "no_leader"  # the write URL has no writable server right now
    CUT = "cut"  # this connection was cut (the server or the proxy closed it)
    CONFLICT = "conflict"  # the server rolled the transaction back: run it again


@dataclass(frozen=True)
class Verdict:
    kind: Kind
    in_flight: bool  # the server may have run the statement that failed


def assess(exc: BaseException, *, connecting: bool = False) -> Verdict | None:
    """Classify a database failure (see the module docstring); None: not a failover.

    ``connecting``: the failure happened while a connection was being opened (so
    nothing of the caller's work was sent).
    """
    if not _from_database(exc):
        return None  # e.g. a Redis error raised inside a session: not ours to judge
    errors = list(_chain(exc))
    for error in errors:
        state = getattr(error, "sqlstate", None)
        verdict = _by_state(state, connecting) if isinstance(state, str) else None
        if verdict is not None:
            return verdict
        if _is_closed_before_sending(error):
            return Verdict(Kind.CUT, in_flight=False)
    invalidated = isinstance(exc, DBAPIError) and exc.connection_invalidated
    if invalidated or any(isinstance(e, (OSError, TimeoutError)) for e in errors):
        return Verdict(Kind.NO_LEADER if connecting else Kind.CUT, in_flight=not connecting)
    return None


def _by_state(state: str, connecting: bool) -> Verdict | None:
    if state in _NO_LEADER_STATES:
        return Verdict(Kind.NO_LEADER, in_flight=False)
    if state in _SHUTDOWN_STATES:
        return Verdict(Kind.NO_LEADER, in_flight=not connecting)
    if state in _CONFLICT_STATES:
        return Verdict(Kind.CONFLICT, in_flight=False)
    if state.startswith("08"):  # connection_exception
        return Verdict(Kind.NO_LEADER if connecting else Kind.CUT, in_flight=not connecting)
    return None


def _is_closed_before_sending(error: BaseException) -> bool:
    # asyncpg checks its connection before it sends: "connection is closed", "cannot call
    # PreparedStatement.fetch(): the underlying connection is closed". A connection lost
    # later is ConnectionDoesNotExistError (08003) instead. SQLAlchemy's adapter keeps
    # asyncpg's class name and text.
    return type(error).__name__ == "InterfaceError" and _CLOSED_BEFORE_SENDING in str(error)


def _from_database(error: BaseException) -> bool:
    """SQLAlchemy's or asyncpg's exceptions, or a socket error (which asyncpg lets
    through when a connection cannot be opened)."""
    module = type(error).__module__
    return module.startswith(("sqlalchemy", "asyncpg")) or isinstance(
        error, (OSError, TimeoutError)
    )


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it wraps (``orig``, ``__cause__``, ``__context__``), following
    only database exceptions."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        error = pending.pop(0)
        if error is None or id(error) in seen or not _from_database(error):
            continue
        seen.add(id(error))
        yield error
        pending.extend((getattr(error, "orig", None), error.__cause__, error.__context__))


# -- what the request layer is told -------------------------------------------------------
class DatabaseFailover(Exception):
    """A failure caused by a database failover; ``code``, ``message`` and ``retry_after``
    are what the client is told (503)."""

    code = "read_only"
    message = READ_ONLY_MESSAGE
    retry_after = RETRY_AFTER_SECONDS


class WriteAborted(DatabaseFailover):
    """Nothing of the failed transaction happened: the request may be run again."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(f"database write aborted ({verdict.kind})")
        self.verdict = verdict
        if verdict.kind is Kind.CONFLICT:
            self.code, self.message, self.retry_after = "unavailable", CONFLICT_MESSAGE, 1


class CommitOutcomeUnknown(DatabaseFailover):
    """The connection was lost while a COMMIT (or an autocommit statement) was in
    flight: it may have been saved. Never repeated by the server."""

    code = "commit_unknown"
    message = COMMIT_UNKNOWN_MESSAGE

    def __init__(self) -> None:
        super().__init__("the connection was lost while a commit was in flight")


class PartlySaved(CommitOutcomeUnknown):
    """A transaction of the request committed, then a later step failed: part of the
    request's work is saved and the request cannot run again."""

    message = READ_ONLY_PARTLY_SAVED_MESSAGE


# -- per request: has anything committed? ------------------------------------------------
class RequestCommits:
    """What the current request has committed (whether it may still be run again), and
    until when it may wait for a database leader."""

    __slots__ = ("committed", "deadline", "in_doubt")

    def __init__(self) -> None:
        self.committed = False  # a transaction (or autocommit statement) committed
        self.in_doubt = False  # a commit's outcome is unknown
        self.deadline: float | None = None  # set by the request's first failover failure

    @property
    def repeatable(self) -> bool:
        return not (self.committed or self.in_doubt)

    def remaining(self, wait_seconds: float) -> float:
        """Seconds this request may still wait for a leader: ``wait_seconds`` from its
        first failover failure, shared by every wait of the request (a connection
        waiting for a leader, the request run again). A request that has committed waits
        up to three times as long: its change is made, and answering ``read_only`` is no
        longer possible; only the answer (a read after the write) still needs the
        database."""
        now = time.monotonic()
        if self.deadline is None:
            self.deadline = now + wait_seconds
        extra = POST_COMMIT_WAIT_FACTOR * wait_seconds if self.committed else 0.0
        return max(0.0, self.deadline + extra - now)


class Backoff:
    """Exponential backoff with jitter: ``first`` doubling up to ``cap``, each wait
    between half of that and all of it (so instances do not retry in step).

    Hand-written rather than tenacity's: the waits are taken by an ASGI layer deciding
    from recorded state and by a connection loop with a shared deadline, not by a
    function call to wrap; only these three lines would be borrowed."""

    def __init__(self, first: float = 0.05, cap: float = 1.0) -> None:
        self._next = first
        self._cap = cap

    def delay(self, remaining: float) -> float:
        """The next wait, never past ``remaining`` seconds."""
        step = self._next
        self._next = min(self._cap, step * 2)
        return max(0.0, min(remaining, step / 2 + random.uniform(0, step / 2)))


_commits: ContextVar[RequestCommits | None] = ContextVar("quizplatform_commits", default=None)


def track_commits() -> tuple[RequestCommits, Token[RequestCommits | None]]:
    """Start recording the current request's commits (``api/retry.py``)."""
    commits = RequestCommits()
    return commits, _commits.set(commits)


def stop_tracking(token: Token[RequestCommits | None]) -> None:
    _commits.reset(token)


def current_commits() -> RequestCommits | None:
    """The current request's record (None outside requests and without the retry layer)."""
    return _commits.get()


def note_commit() -> None:
    """A transaction of the current request committed."""
    commits = _commits.get()
    if commits is not None:
        commits.committed = True


def note_commit_in_doubt() -> None:
    commits = _commits.get()
    if commits is not None:
        commits.in_doubt = True


def record_failover(context: RequestContext, exc: DatabaseFailover) -> DatabaseFailover:
    """Note the failover in the request's context (the retry layer decides from it
    whether this answer is sent or the request runs again) and return what the client is
    told. A request that has committed part of its work and then failed is not told
    ``read_only`` ("nothing was saved") but ``commit_unknown``: something was saved, so
    it must check before it tries again."""
    commits = _commits.get()
    if isinstance(exc, WriteAborted) and commits is not None and commits.committed:
        exc = PartlySaved()
    context.failover = exc
    return exc


@contextmanager
def failover_errors(*, connecting: bool = False, committing: bool = False) -> Iterator[None]:
    """Turn a failover failure raised inside into ``WriteAborted`` or
    ``CommitOutcomeUnknown`` (``committing``: a COMMIT or an autocommit statement runs
    inside); anything else goes through unchanged."""
    try:
        yield
    except DatabaseFailover:
        raise
    except Exception as exc:
        verdict = assess(exc, connecting=connecting)
        if verdict is None:
            raise
        if committing and verdict.in_flight:
            note_commit_in_doubt()
            raise CommitOutcomeUnknown() from exc
        raise WriteAborted(verdict) from exc
