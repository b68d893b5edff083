"""After a live game (bench/live.py, the live drills): read what the game recorded from
the database and Redis, and check it against what the players saw.

- lost answers: every answer a player saw acknowledged must be a response of that
  player's live attempt, stored as sent;
- scores: every player's points recomputed from the recorded answers (the bench's own
  verdict on each answer, the server's elapsed time, the formula in live_stats) must
  equal the score in the player's final state and on the Redis board;
- positions: the final ranks order the players by score.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import asyncpg

import exam_stats
import live_stats as ls
from live_client import LivePlayer


@dataclass
class Recorded:
    """What the game recorded, read once it ended."""

    game_id: str
    question_ids: list[str] = field(default_factory=list)
    attempts: dict[str, str] = field(default_factory=dict)  # player id -> attempt id
    responses: dict[tuple[str, str], Any] = field(default_factory=dict)
    answers: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)  # Redis
    meta: dict[str, str] = field(default_factory=dict)
    board: dict[str, int] = field(default_factory=dict)
    status: str = ""
    results: Any = None
    redis_prefix: str | None = None

    @property
    def limit_ms(self) -> int:
        return int(self.meta.get("limit_ms") or 0)

    @property
    def streak(self) -> bool:
        return self.meta.get("streak", "0") not in ("0", "false", "False", "")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def read_redis(redis: Any, game_id: str, count: int) -> tuple[str | None, dict[str, Any]]:
    """The game's keys under whatever prefix the instances use: (prefix, {"meta",
    "answers" (index -> player -> record), "board"})."""
    suffix = f"live:{game_id}:meta"
    prefix = None
    async for key in redis.scan_iter(match=f"*{suffix}", count=1000):
        prefix = _text(key)[: -len(suffix)]
        break
    if prefix is None:
        return None, {}
    base = f"{prefix}live:{game_id}"
    meta = {_text(k): _text(v) for k, v in (await redis.hgetall(f"{base}:meta")).items()}
    answers = {}
    for index in range(count):
        raw = await redis.hgetall(f"{base}:a:{index}")
        answers[index] = {_text(k): json.loads(v) for k, v in raw.items()}
    board = {
        _text(member): round(score)
        for member, score in await redis.zrange(f"{base}:board", 0, -1, withscores=True)
    }
    return prefix, {"meta": meta, "answers": answers, "board": board}


async def read_recorded(
    db_url: str, redis: Any, game_id: str, players: Iterable[LivePlayer], count: int
) -> Recorded:
    """The database's view (game row, attempts, responses) and Redis' (meta, answer
    records, board) of one game."""
    out = Recorded(game_id)
    by_nick = {p.nickname: p.player_id for p in players}
    conn = await asyncpg.connect(db_url)
    try:
        game = await conn.fetchrow(
            "SELECT status, question_ids::text AS q, results::text AS r FROM live_games"
            " WHERE id = $1",
            game_id,
        )
        if game is not None:
            out.status = game["status"]
            out.question_ids = json.loads(game["q"])
            out.results = json.loads(game["r"]) if game["r"] else None
        rows = await conn.fetch(
            "SELECT a.id, a.user_id, u.display_name FROM attempts a JOIN users u"
            " ON u.id = a.user_id WHERE a.live_game_id = $1",
            game_id,
        )
        known = set(by_nick.values())
        for row in rows:
            # The player id may be the attempt's id, its user's, or only the nickname
            # (the guest's display name) ties them.
            for candidate in (row["id"], row["user_id"], by_nick.get(row["display_name"])):
                if candidate in known:
                    out.attempts[candidate] = row["id"]
                    break
        responses = await conn.fetch(
            "SELECT attempt_id, question_id, payload::text AS payload FROM responses"
            " WHERE attempt_id = any($1::text[])",
            [r["id"] for r in rows],
        )
        out.responses = {
            (r["attempt_id"], r["question_id"]): json.loads(r["payload"]) for r in responses
        }
    finally:
        await conn.close()
    out.redis_prefix, data = await read_redis(redis, game_id, count)
    if data:
        out.meta = data["meta"]
        out.board = data["board"]
        for index, records in data["answers"].items():
            for player, record in records.items():
                out.answers.setdefault(player, {})[index] = record
    return out


# (index, the recorded answer payload) -> the bench's own fraction for it
Verdict = Callable[[int, Any], float]


def check_game(
    players: list[LivePlayer], recorded: Recorded, verdict: Verdict, count: int
) -> dict[str, Any]:
    """Lost answers, exact scores and positions: the result fields of the checks."""
    acknowledged: dict[exam_stats.AnswerKey, Any] = {}
    unmapped = 0
    redis_missing = 0
    for p in players:
        attempt = recorded.attempts.get(p.player_id)
        for index, payload in p.acknowledged.items():
            if index not in recorded.answers.get(p.player_id, {}):
                redis_missing += 1
            if attempt is None or index >= len(recorded.question_ids):
                unmapped += 1
                key = (f"player:{p.player_id}", f"index:{index}")
            else:
                key = (attempt, recorded.question_ids[index])
            acknowledged[key] = payload
    lost = exam_stats.compare_answers(acknowledged, recorded.responses)

    plays: dict[str, dict[int, ls.Play]] = {}
    for player, answers in recorded.answers.items():
        plays[player] = {
            index: ls.Play(
                fraction=verdict(index, rec.get("answer")),
                elapsed_ms=int(rec.get("elapsed_ms", 0)),
                points=rec.get("points"),
                bonus=rec.get("bonus"),
            )
            for index, rec in answers.items()
        }
    expected = ls.expected_scores(plays, limit_ms=recorded.limit_ms, streak=recorded.streak)
    for p in players:
        expected.setdefault(p.player_id, 0)
    final = {
        p.player_id: int(p.final["you"]["score"])
        for p in players
        if p.final and isinstance(p.final.get("you"), dict)
    }
    ranks = {
        p.player_id: int(p.final["you"]["rank"])
        for p in players
        if p.final and isinstance(p.final.get("you"), dict) and p.final["you"].get("rank")
    }
    by_final = ls.compare_scores(expected, final)
    by_board = ls.compare_scores(expected, recorded.board) if recorded.board else None
    answer_mismatches, answer_examples = ls.per_answer_mismatches(
        plays, limit_ms=recorded.limit_ms, streak=recorded.streak
    )
    answered_all = sum(1 for p in players if len(p.acknowledged) == count)
    return {
        "players": answered_all,
        "lost_answers": lost.lost,
        "answers_acknowledged": lost.checked,
        "lost_detail": asdict(lost),
        "acknowledged_not_in_redis": redis_missing,
        "acknowledged_without_attempt": unmapped,
        # A player without a final state (gave up) is missing here, and counted in
        # "players" and "errors"; the board has every player's score.
        "scores_exact": by_final.checked > by_final.missing
        and by_final.mismatched == 0
        and (by_board is None or by_board.exact),
        "score_check_final_state": asdict(by_final) | {"exact": by_final.exact},
        "score_check_redis_board": None
        if by_board is None
        else asdict(by_board) | {"exact": by_board.exact},
        "answer_points_mismatched": answer_mismatches,
        "answer_points_examples": answer_examples,
        "rank_problems": ls.rank_problems(final, ranks),
        "positions": sorted(
            (
                {
                    "nickname": p.nickname,
                    "score": final.get(p.player_id),
                    "rank": ranks.get(p.player_id),
                }
                for p in players
            ),
            key=lambda row: (row["rank"] is None, row["rank"] or 0),
        ),
        "limit_ms": recorded.limit_ms,
        "streak": recorded.streak,
        "game_status_in_database": recorded.status,
        "redis_prefix": recorded.redis_prefix,
    }


def option_verdict(
    questions: Mapping[int, dict[str, Any]], correct_text: Mapping[str, str]
) -> Verdict:
    """A verdict for single-choice answers ``{"option_id": id}``: 1 when the option's
    text is the one the bench wrote as correct for that prompt, else 0."""

    def verdict(index: int, payload: Any) -> float:
        question = questions.get(index)
        if question is None or not isinstance(payload, dict):
            return 0.0
        texts = {o["id"]: o["text"] for o in question.get("options", [])}
        right = correct_text.get(question.get("prompt", ""))
        return 1.0 if right is not None and texts.get(payload.get("option_id")) == right else 0.0

    return verdict
