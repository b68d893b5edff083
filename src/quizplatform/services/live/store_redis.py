"""``RedisLiveStore``: the live game store on the shared store's Redis (see ``store.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Collection, Sequence
from typing import Any, cast

import structlog
from redis.asyncio.client import PubSub

from quizplatform.db.shared_store import InvalidationHandler, RedisStore
from quizplatform.domain.live import Phase
from quizplatform.services.live import store_lua
from quizplatform.services.live.records import (
    GAME_TTL_MS,
    AnswerOutcome,
    AnswerRecord,
    AnswerStatus,
    BoardEntry,
    GameMeta,
    JoinOutcome,
    JoinStatus,
    PlayerRecord,
    Standing,
    TransitionResult,
)

log = structlog.get_logger(__name__)


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _pairs(flat: Sequence[bytes | str]) -> dict[str, str]:
    return {_s(flat[k]): _s(flat[k + 1]) for k in range(0, len(flat) - 1, 2)}


class RedisLiveStore:
    """The live store on ``store``'s connection pool, key prefix and metrics; every
    multi-step change is one Lua script (``store_lua.py``)."""

    def __init__(self, store: RedisStore) -> None:
        self._store = store
        self._redis = store.redis
        self._create = self._redis.register_script(store_lua.CREATE)
        self._join = self._redis.register_script(store_lua.JOIN)
        self._kick = self._redis.register_script(store_lua.KICK)
        self._transition = self._redis.register_script(store_lua.TRANSITION)
        self._answer = self._redis.register_script(store_lua.ANSWER)
        self._standings = self._redis.register_script(store_lua.STANDINGS)
        self._top = self._redis.register_script(store_lua.TOP)
        self._channels = _Channels(store)

    def _k(self, game_id: str, part: str) -> str:
        return self._store.key(f"live:{game_id}:{part}")

    def _game_keys(self, game_id: str) -> list[str]:
        return [self._k(game_id, p) for p in ("meta", "players", "nicks", "board")]

    async def create_game(
        self, game_id: str, pin: str, *, count: int, max_players: int, streak: bool
    ) -> bool:
        """See ``LiveStore.create_game``."""
        async with self._store.command("live_create"):
            done = await self._create(
                keys=[self._store.key(f"live:pin:{pin}"), self._k(game_id, "meta")],
                args=[game_id, pin, count, max_players, int(streak), GAME_TTL_MS],
            )
        return bool(done)

    async def game_of_pin(self, pin: str) -> str | None:
        """See ``LiveStore.game_of_pin``."""
        async with self._store.command("live_pin"):
            value = await self._redis.get(self._store.key(f"live:pin:{pin}"))
        return None if value is None else _s(value)

    async def meta(self, game_id: str) -> GameMeta | None:
        """See ``LiveStore.meta``."""
        async with self._store.command("live_meta"):
            fields = await self._redis.hgetall(self._k(game_id, "meta"))
        if not fields:
            return None
        return GameMeta.from_fields(game_id, {_s(k): _s(v) for k, v in fields.items()})

    async def join(self, game_id: str, player_id: str, nick: str, nick_key: str) -> JoinOutcome:
        """See ``LiveStore.join``."""
        record = PlayerRecord(player_id, nick, 0, 0, -2, False).to_json()
        async with self._store.command("live_join"):
            status, players, version = await self._join(
                keys=self._game_keys(game_id), args=[player_id, nick_key, record, GAME_TTL_MS]
            )
        return JoinOutcome(JoinStatus(_s(status)), int(players), int(version))

    async def kick(self, game_id: str, player_id: str) -> bool:
        """See ``LiveStore.kick``."""
        keys = [self._k(game_id, p) for p in ("meta", "players", "board")]
        async with self._store.command("live_kick"):
            return bool(await self._kick(keys=keys, args=[player_id, GAME_TTL_MS]))

    async def _run_transition(
        self,
        game_id: str,
        expected: Collection[Phase],
        expected_index: int | None,
        mode: str,
        now_ms: int,
        *extra: int,
    ) -> TransitionResult:
        meta = self._k(game_id, "meta")
        async with self._store.command("live_transition"):
            pin = await self._redis.hget(meta, "pin")
            pin_key = self._store.key(f"live:pin:{_s(pin) if pin else ''}")
            # The op id lets a call retried after a lost reply see that it was applied.
            result = await self._transition(
                keys=[*self._game_keys(game_id), pin_key],
                args=[
                    uuid.uuid4().hex,
                    ",".join(p.value for p in expected),
                    "" if expected_index is None else expected_index,
                    mode,
                    now_ms,
                    GAME_TTL_MS,
                    *extra,
                ],
            )
        applied, *flat = result
        fields = _pairs(flat)
        return TransitionResult(
            _s(applied) == "1", GameMeta.from_fields(game_id, fields) if fields else None
        )

    async def start_question(
        self,
        game_id: str,
        index: int,
        *,
        started_ms: int,
        limit_ms: int,
        expected: Collection[Phase] = (Phase.LOBBY, Phase.CLOSED),
    ) -> TransitionResult:
        """See ``LiveStore.start_question``."""
        return await self._run_transition(
            game_id, expected, None, "start", started_ms, index, started_ms, limit_ms
        )

    async def close_question(self, game_id: str, index: int, *, now_ms: int) -> TransitionResult:
        """See ``LiveStore.close_question``."""
        return await self._run_transition(
            game_id, (Phase.QUESTION, Phase.PAUSED), index, "close", now_ms
        )

    async def pause(self, game_id: str, *, now_ms: int) -> TransitionResult:
        """See ``LiveStore.pause``."""
        return await self._run_transition(game_id, (Phase.QUESTION,), None, "pause", now_ms)

    async def resume(self, game_id: str, *, now_ms: int) -> TransitionResult:
        """See ``LiveStore.resume``."""
        return await self._run_transition(game_id, (Phase.PAUSED,), None, "resume", now_ms)

    async def end(self, game_id: str, *, now_ms: int) -> TransitionResult:
        """See ``LiveStore.end``."""
        phases = (Phase.LOBBY, Phase.QUESTION, Phase.CLOSED, Phase.PAUSED)
        return await self._run_transition(game_id, phases, None, "end", now_ms)

    async def answer(
        self,
        game_id: str,
        index: int,
        player_id: str,
        answer: object,
        *,
        fraction: float,
        points: int,
        received_ms: int,
        elapsed_ms: int,
        grace_ms: int,
        dist_keys: Sequence[str],
    ) -> AnswerOutcome:
        """See ``LiveStore.answer``."""
        keys = [
            *(self._k(game_id, p) for p in ("meta", "players", "board")),
            self._k(game_id, f"a:{index}"),
            self._k(game_id, f"dist:{index}"),
        ]
        args: list[Any] = [
            player_id,
            index,
            json.dumps(answer, separators=(",", ":"), allow_nan=False),
            repr(float(min(max(fraction, 0.0), 1.0))),
            int(points),
            int(received_ms),
            int(elapsed_ms),
            int(grace_ms),
            GAME_TTL_MS,
            *dist_keys,
        ]
        async with self._store.command("live_answer"):
            result = await self._answer(keys=keys, args=args)
        status = AnswerStatus(_s(result[0]))
        if len(result) == 1:
            return AnswerOutcome(status)
        return AnswerOutcome(
            status,
            AnswerRecord.from_json(result[1]),
            answered=int(result[2]),
            players=int(result[3]),
            streak=int(result[4]),
        )

    async def player(self, game_id: str, player_id: str) -> PlayerRecord | None:
        """See ``LiveStore.player``."""
        async with self._store.command("live_player"):
            raw = await self._redis.hget(self._k(game_id, "players"), player_id)
        return None if raw is None else PlayerRecord.from_json(player_id, raw)

    async def players(self, game_id: str) -> list[PlayerRecord]:
        """See ``LiveStore.players``."""
        async with self._store.command("live_players"):
            rows = await self._redis.hgetall(self._k(game_id, "players"))
        return [PlayerRecord.from_json(_s(k), v) for k, v in rows.items()]

    async def board_top(self, game_id: str, limit: int) -> list[BoardEntry]:
        """See ``LiveStore.board_top``."""
        if limit <= 0:
            return []
        keys = [self._k(game_id, "board"), self._k(game_id, "players")]
        async with self._store.command("live_board"):
            flat = await self._top(keys=keys, args=[limit])
        return [
            BoardEntry(_s(flat[k]), _s(flat[k + 1]), int(float(_s(flat[k + 2]))))
            for k in range(0, len(flat), 3)
        ]

    async def standings(
        self, game_id: str, player_ids: Sequence[str], index: int
    ) -> dict[str, Standing]:
        """See ``LiveStore.standings``."""
        if not player_ids:
            return {}
        keys = [self._k(game_id, p) for p in ("board", "players", f"a:{index}")]
        async with self._store.command("live_standings"):
            flat = await self._standings(keys=keys, args=list(player_ids))
        out: dict[str, Standing] = {}
        for k in range(0, len(flat), 6):
            pid, score, rank, streak, kicked, answer = (_s(v) for v in flat[k : k + 6])
            out[pid] = Standing(
                pid,
                int(score),
                int(rank),
                int(streak),
                kicked == "1",
                AnswerRecord.from_json(answer) if answer else None,
            )
        return out

    async def answered_count(self, game_id: str, index: int) -> int:
        """See ``LiveStore.answered_count``."""
        async with self._store.command("live_answered"):
            return int(await self._redis.hlen(self._k(game_id, f"a:{index}")))

    async def distribution(self, game_id: str, index: int) -> dict[str, int]:
        """See ``LiveStore.distribution``."""
        async with self._store.command("live_distribution"):
            rows = await self._redis.hgetall(self._k(game_id, f"dist:{index}"))
        return {_s(k): int(v) for k, v in rows.items()}

    async def answers(self, game_id: str, index: int) -> dict[str, AnswerRecord]:
        """See ``LiveStore.answers``."""
        async with self._store.command("live_answers"):
            rows = await self._redis.hgetall(self._k(game_id, f"a:{index}"))
        return {_s(k): AnswerRecord.from_json(v) for k, v in rows.items()}

    async def publish(self, game_id: str, message: str) -> None:
        """See ``LiveStore.publish``."""
        async with self._store.command("live_publish"):
            await self._redis.publish(self._store.key(f"live:{game_id}"), message)

    async def subscribe(self, game_id: str, handler: InvalidationHandler) -> _Subscription:
        """See ``LiveStore.subscribe``."""
        return await self._channels.add(self._store.key(f"live:{game_id}"), handler)

    async def close(self) -> None:
        """See ``LiveStore.close``."""
        await self._channels.close()


class _Subscription:
    def __init__(self, channels: _Channels, channel: str, handler: InvalidationHandler) -> None:
        self._channels, self._channel, self._handler = channels, channel, handler
        self._closed = False

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self._channels.remove(self._channel, self._handler)


class _Channels:
    """Every game channel of one instance on ONE pub/sub connection (a connection per
    game would drain the shared pool), read by one task. The handlers of a channel get
    "*" at each subscribe confirmation: at the start and after redis-py resubscribed
    following a reconnection."""

    def __init__(self, store: RedisStore) -> None:
        self._store = store
        self._handlers: dict[str, list[InvalidationHandler]] = {}
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def add(self, channel: str, handler: InvalidationHandler) -> _Subscription:
        async with self._lock:
            handlers = self._handlers.setdefault(channel, [])
            handlers.append(handler)
            if len(handlers) == 1:
                await self._ensure().subscribe(channel)
            else:
                await _call(handler, "*")
            if self._reader is None or self._reader.done():
                self._reader = asyncio.create_task(self._read())
        return _Subscription(self, channel, handler)

    async def remove(self, channel: str, handler: InvalidationHandler) -> None:
        async with self._lock:
            handlers = self._handlers.get(channel, [])
            if handler in handlers:
                handlers.remove(handler)
            if not handlers and channel in self._handlers:
                del self._handlers[channel]
                if self._pubsub is not None:
                    try:
                        await self._pubsub.unsubscribe(channel)
                    except Exception:  # noqa: BLE001 - the reader resubscribes what is left
                        log.warning("live unsubscribe failed", channel=channel)

    def _ensure(self) -> PubSub:
        if self._pubsub is None:
            self._pubsub = self._store.redis.pubsub()
        return self._pubsub

    async def _read(self) -> None:
        while self._handlers:
            pubsub = self._ensure()
            try:
                message = await pubsub.get_message(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a lost connection must not end the reader
                await self._restart()
                continue
            if message is None:
                continue
            kind, channel = message.get("type"), _s(message.get("channel") or b"")
            data = message.get("data")
            if kind == "subscribe":
                await self._deliver(channel, "*")
            elif kind == "message" and isinstance(data, bytes | str):
                await self._deliver(channel, _s(data))

    async def _deliver(self, channel: str, message: str) -> None:
        for handler in list(self._handlers.get(channel, [])):
            try:
                await _call(handler, message)
            except Exception:  # one failing handler must not stop the others
                log.exception("live channel handler failed", channel=channel)

    async def _restart(self) -> None:
        """After redis-py's own retries gave up: tell every handler messages may be lost,
        wait, and subscribe everything again on a new connection."""
        for channel in list(self._handlers):
            await self._deliver(channel, "*")
        await asyncio.sleep(1.0)
        async with self._lock:
            old, self._pubsub = self._pubsub, None
            if old is not None:
                with contextlib.suppress(Exception):  # it is broken anyway
                    await old.aclose()  # type: ignore[no-untyped-call]  # untyped in redis-py
            if self._handlers:
                try:
                    await self._ensure().subscribe(*self._handlers)
                except Exception:  # noqa: BLE001 - tried again on the next read error
                    log.warning("live resubscribe failed")

    async def close(self) -> None:
        reader, self._reader = self._reader, None
        self._handlers.clear()
        if reader is not None:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        if self._pubsub is not None:
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]  # untyped in redis-py
            self._pubsub = None


async def _call(handler: InvalidationHandler, message: str) -> None:
    result = handler(message)
    if result is not None:
        await cast(Any, result)
