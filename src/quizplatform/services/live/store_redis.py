"""``RedisLiveStore``: the live game store on the shared store's Redis (see ``store.py``)."""

from __future__ import annotations

import bisect
import json
import uuid
from collections.abc import Collection, Sequence
from typing import Any

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
from quizplatform.services.live.store_pubsub import ChannelSubscription, GameChannels

# Up to this many players, ``standings`` runs a script; beyond, it reads the board.
SCRIPT_STANDINGS_MAX = 64


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
        self._leave = self._redis.register_script(store_lua.LEAVE)
        self._transition = self._redis.register_script(store_lua.TRANSITION)
        self._answer = self._redis.register_script(store_lua.ANSWER)
        self._standings = self._redis.register_script(store_lua.STANDINGS)
        self._top = self._redis.register_script(store_lua.TOP)
        self._channels = GameChannels(store)

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

    async def leave(self, game_id: str, player_id: str, nick_key: str) -> bool:
        """See ``LiveStore.leave``."""
        async with self._store.command("live_leave"):
            done = await self._leave(
                keys=self._game_keys(game_id), args=[player_id, nick_key, GAME_TTL_MS]
            )
        return bool(done)

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
            after_close=_s(result[5]) == "1",
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
        """See ``LiveStore.standings``.

        A few players: one Lua script (a ZCOUNT each). Many: the whole board in one
        MULTI and the ranks counted here, which costs Redis about a twentieth of the
        script's time for 2,000 players (the script would block it for ~18 ms)."""
        if not player_ids:
            return {}
        keys = [self._k(game_id, p) for p in ("board", "players", f"a:{index}")]
        if len(player_ids) <= SCRIPT_STANDINGS_MAX:
            async with self._store.command("live_standings"):
                flat = await self._standings(keys=keys, args=list(player_ids))
            rows = [[_s(v) for v in flat[k : k + 6]] for k in range(0, len(flat), 6)]
            return {
                pid: Standing(
                    pid,
                    int(score),
                    int(rank),
                    int(streak),
                    kicked == "1",
                    AnswerRecord.from_json(answer) if answer else None,
                )
                for pid, score, rank, streak, kicked, answer in rows
            }
        ids = list(player_ids)
        async with (
            self._store.command("live_standings"),
            self._redis.pipeline(transaction=True) as pipe,
        ):
            pipe.zrange(keys[0], 0, -1, withscores=True)
            pipe.hmget(keys[1], ids)
            pipe.hmget(keys[2], ids)
            board, players, answers = await pipe.execute()
        on_board = {_s(member): int(score) for member, score in board}
        scores = sorted(on_board.values())
        out: dict[str, Standing] = {}
        for pid, raw, answer in zip(ids, players, answers, strict=True):
            if raw is None:
                continue
            player = PlayerRecord.from_json(pid, raw)
            rank = 0
            if pid in on_board:
                rank = 1 + len(scores) - bisect.bisect_right(scores, on_board[pid])
            out[pid] = Standing(
                pid,
                player.score,
                rank,
                player.streak,
                player.kicked,
                AnswerRecord.from_json(answer) if answer is not None else None,
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

    async def subscribe(self, game_id: str, handler: InvalidationHandler) -> ChannelSubscription:
        """See ``LiveStore.subscribe``."""
        return await self._channels.add(self._store.key(f"live:{game_id}"), handler)

    async def close(self) -> None:
        """See ``LiveStore.close``."""
        await self._channels.close()
