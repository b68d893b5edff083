"""The live-game drills' shared part: a small game played by bench/live_run.py (the code
of ``bench/live.py``) against instances started here or a drill stack."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[2]
# Raised for the drills: every player joins from one loopback address within seconds.
LIVE_DRILL_ENV = {
    "QUIZ_LIVE_JOIN_PER_IP_PER_MINUTE": "1000000",
    "QUIZ_LIVE_JOIN_PER_GAME_PER_MINUTE": "1000000",
}


def bench_module(name: str) -> ModuleType:
    """A module of bench/ (not a package: its directory goes on the path, last)."""
    bench = str(REPO / "bench")
    if bench not in sys.path:
        sys.path.append(bench)
    return importlib.import_module(name)


def drill_args(**changes: Any) -> argparse.Namespace:
    """bench/live.py's options for a drill-sized game (200 players, 3 questions of 6 s,
    answers within the first 3 s)."""
    values: dict[str, Any] = {
        "players": 200,
        "questions": 3,
        "question_seconds": 6,
        "answer_seconds": 3.0,
        "kill_instance_at_question": 0,
        "kill_after": 1.0,
        "join_concurrency": 16,
        "connect_rate": 400.0,
        "pause": 0.5,
        "seed": 7,
        "drop_at": None,
    }
    values.update(changes)
    return argparse.Namespace(**values)


def play(target: Any, args: argparse.Namespace, within: float = 120) -> dict[str, Any]:
    """One game, bounded in time; the result as bench/live.py writes it."""
    live_run = bench_module("live_run")
    game = live_run.GameRun(args, target, lambda message: print(f"live drill: {message}"))
    result: dict[str, Any] = asyncio.run(asyncio.wait_for(live_run.run_game(game), within))
    return result


def brief(result: dict[str, Any]) -> str:
    """What to print when a drill assertion fails."""
    keys = (
        "players",
        "players_planned",
        "lost_answers",
        "lost_detail",
        "scores_exact",
        "score_check_final_state",
        "score_check_redis_board",
        "answer_points_examples",
        "rank_problems",
        "errors_by_kind",
        "reconnect",
        "dropped",
        "kill",
        "ack",
    )
    return repr({k: result.get(k) for k in keys})
