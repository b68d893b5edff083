#!/usr/bin/env python3
"""Live game: N players in one game through the stack (details: bench/README.md,
"Live game").

1. Set-up (not measured): ``quiz stack up`` with ``--instances`` instances behind
   HAProxy/TLS (or ``--stack-dir``: a running one), the live join limits and the player
   cap raised for the run; a teacher and a quiz of single-choice questions with 4
   options; the host creates the game; every player joins over REST (a guest) and
   connects its WebSocket through HAProxy (leastconn spreads them over the instances).
2. Run: the host starts the game and advances after each question closes; every player
   answers every question at a moment drawn uniformly from the first
   ``--answer-seconds`` with a random option; send -> ack is measured on the client.
   ``--kill-instance-at-question K`` SIGKILLs one instance (its PID as supervisord
   tracks it) ``--kill-after`` s into question K: its players reconnect elsewhere.
3. Checks: every acknowledged answer is a response of that player's live attempt (lost
   answers), every score recomputed from the recorded answers equals the final one
   (scores exact), the final positions order the players by score.
4. Writes var/bench/live-latest.json and var/bench/live-latest.png.

Exits 1 when the bench could not run, 2 when answers were lost or scores were wrong,
0 otherwise (latency targets are reported, not enforced).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import live_stats as ls
from live_run import GameRun, Target, run_game
from run import OUT_DIR, ROOT, git_commit

RAISED = "100000000"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def live_env(players: int) -> dict[str, str]:
    """Instance settings for the run: join limits far above one address's N joins, the
    cap on players at least N (the limits stay on: their cost is in the numbers)."""
    return {
        "QUIZ_LIVE_JOIN_PER_IP_PER_MINUTE": RAISED,
        "QUIZ_LIVE_JOIN_PER_GAME_PER_MINUTE": RAISED,
        "QUIZ_LIVE_MAX_PLAYERS": str(max(2000, players)),
    }


@dataclass
class StackHandle:
    target: Target
    directory: Path
    owned: bool


def open_stack(args: argparse.Namespace, work: Path) -> StackHandle:
    """A stack of ``--instances`` instances (bench/stack.py's stack_up), or the running
    one in ``--stack-dir``."""
    import stack as stack_bench

    if args.stack_dir:
        directory, owned = args.stack_dir, False
    else:
        directory, owned = work / "stack", True
        log(f"quiz stack up in {directory} ({args.instances} instances; ~40 s)")
        stack_bench.stack_up(
            directory, instances=args.instances, instance_env=live_env(args.players)
        )
    target = Target.of_stack(directory)
    missing = [k for k in live_env(args.players) if k not in target.instance_env]
    if missing:
        log(f"warning: the stack's instances lack {', '.join(missing)}: joins may be refused")
    return StackHandle(target, directory, owned)


def write_chart(path: Path, result: dict[str, Any], title: str) -> None:
    """Ack latency per 1-s bucket (p50/p95/p99, log scale) over answers sent per second,
    disconnects and reconnects; question starts and the kill marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["timeline"]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 7), sharex=True)
    t = [r["t"] for r in rows]
    for key, style, colour in (
        ("p99_ms", "-", "tab:red"),
        ("p95_ms", "-", "tab:orange"),
        ("p50_ms", "--", "tab:blue"),
    ):
        ys = [float("nan") if r[key] is None else r[key] for r in rows]
        top.plot(t, ys, style, color=colour, label=f"ack {key[:3]}", marker=".", markersize=3)
    top.axhline(ls.ACK_P99_TARGET_MS, color="grey", linewidth=0.8, linestyle=":")
    top.set_yscale("log")
    top.set_ylabel("send -> ack, ms")
    top.grid(True, which="both", alpha=0.3)
    top.set_title(title, fontsize=10, pad=14)
    bottom.bar(t, [r["answers_per_s"] for r in rows], width=0.9, align="edge", label="answers/s")
    bottom.plot(t, [r["disconnects"] for r in rows], color="tab:red", label="connections lost")
    bottom.plot(t, [r["reconnects"] for r in rows], color="tab:green", label="reconnected")
    bottom.set_ylabel("per second")
    bottom.set_xlabel("seconds since the game started (1-s buckets, by send time)")
    bottom.grid(True, alpha=0.3)
    for axis in (top, bottom):
        for k, start in enumerate(result.get("question_starts_s", [])):
            axis.axvline(start, color="grey", linewidth=0.6, alpha=0.6)
            if axis is top:
                axis.text(start, 1.02, f"Q{k + 1}", transform=axis.get_xaxis_transform(),
                          fontsize=7, color="grey")  # fmt: skip
        if result.get("kill"):
            axis.axvline(result["kill"]["at_s"], color="black", linewidth=1.2, label="kill")
    top.legend(fontsize=8, ncol=4)
    bottom.legend(fontsize=8, ncol=4)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--players", type=int, default=2000, help="players (default 2000)")
    p.add_argument("--questions", type=int, default=10, help="questions (default 10)")
    p.add_argument("--question-seconds", type=int, default=20, help="per question (default 20)")
    p.add_argument(
        "--answer-seconds", type=float, default=10.0, help="answers fall in the first N s (10)"
    )
    p.add_argument("--instances", type=int, default=2, help="instances in the stack (default 2)")
    p.add_argument(
        "--kill-instance-at-question",
        type=int,
        default=0,
        metavar="K",
        help="SIGKILL one instance during question K (1-based; 0: never)",
    )
    p.add_argument("--kill-after", type=float, default=2.0, help="s into question K (default 2)")
    p.add_argument("--stack-dir", type=Path, help="use the running stack in this directory")
    p.add_argument("--join-concurrency", type=int, default=32, help="joins in flight (32)")
    p.add_argument("--connect-rate", type=float, default=250.0, help="new sockets/s (250)")
    p.add_argument("--pause", type=float, default=1.0, help="leaderboard pause, s (default 1)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--keep-dir", action="store_true", help="keep the stack's directory (logs)")
    p.add_argument("--output", type=Path, default=OUT_DIR / "live-latest.json", help="JSON")
    args = p.parse_args(argv)
    if args.players < 1 or args.questions < 1 or not 5 <= args.question_seconds <= 120:
        p.error("--players and --questions must be >= 1, --question-seconds within 5..120")
    if not 0 < args.answer_seconds <= args.question_seconds:
        p.error("--answer-seconds must be within (0, --question-seconds]")
    if not 0 <= args.kill_instance_at_question <= args.questions:
        p.error("--kill-instance-at-question must be within 0..--questions")
    if args.kill_instance_at_question and args.instances < 2 and not args.stack_dir:
        p.error("killing an instance needs --instances >= 2 (its players go elsewhere)")
    return args


def raise_fd_limit(needed: int) -> None:
    """Every player holds a socket: lift the soft limit of open files to the hard one."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(needed, soft)), hard))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # tests.e2e.stack_helpers
    raise_fd_limit(args.players * 2 + 256)
    meta: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "cpus": os.cpu_count(),
        "load_avg_at_start": os.getloadavg(),
        "python": platform.python_version(),
        "note": "a shared 2-core machine: the stack and the 2,000 clients share it",
    }
    received: list[str] = []

    def on_signal(signum: int, _frame: Any) -> None:
        received.append(signal.Signals(signum).name)
        raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    work = Path(tempfile.mkdtemp(prefix="quiz-bench-live-"))
    handle: StackHandle | None = None
    code = 0
    result: dict[str, Any] = {}
    try:
        handle = open_stack(args, work)
        log(f"stack at {handle.target.url}, instances {handle.target.instance_pids}")
        game = GameRun(args, handle.target, log)
        bound = 300 + args.players / 20 + args.questions * (args.question_seconds + 20)
        result = asyncio.run(asyncio.wait_for(run_game(game), timeout=bound))
    except KeyboardInterrupt:
        print(f"interrupted ({', '.join(received) or 'SIGINT'})", file=sys.stderr)
        code = 130
    except Exception as exc:  # noqa: BLE001 - any failure of the bench itself: report, exit 1
        print(f"live bench failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        code = 1
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        if handle is not None and handle.owned:
            import stack as stack_bench

            try:
                stack_bench.stack_down(handle.directory)
            except Exception as exc:  # noqa: BLE001 - report it, still remove the rest
                print(f"could not stop the stack in {handle.directory}: {exc}", file=sys.stderr)
                code = code or 1
        elif not args.stack_dir:  # stack_up failed half-way: stop what it started
            import stack as stack_bench

            try:
                stack_bench.stack_down(work / "stack")
            except Exception as exc:  # noqa: BLE001 - report it
                print(f"could not stop the stack in {work / 'stack'}: {exc}", file=sys.stderr)
        if code == 1 or args.keep_dir:
            log(f"scratch directory (stack logs) kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if code:
        return code

    meta["load_avg_at_end"] = os.getloadavg()
    line = ls.summary_line(result)
    out = {**result, "meta": meta, "summary": line, "targets": ls.target_checks(result)}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(out, indent=2, default=str) + "\n")
    chart = args.output.with_suffix(".png")
    title = (
        f"live game: {result['players_planned']} players, {result['instances']} instances, "
        f"{args.questions} x {args.question_seconds} s, commit {meta['commit']}"
    )
    write_chart(chart, result, title)
    errors = Counter(result.get("errors_by_kind", {}))
    if errors:
        print("errors: " + ", ".join(f"{k} x{v}" for k, v in errors.most_common(8)))
    print(f"results: {args.output}, chart: {chart}")
    print(line)
    if result["lost_answers"] or not result["scores_exact"]:
        print("LOST ANSWERS or WRONG SCORES: see lost_detail / score_check_* in the JSON")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
