#!/usr/bin/env python3
"""Summarise py-spy's raw (collapsed) stacks: the functions with the most samples.

    .venv/bin/python bench/profile_top.py var/bench/profile-submit-round1.txt [--top 40]

Prints, per function (``name (file:line)`` as py-spy names it, line numbers dropped so a
function counts once), its inclusive share (samples with it anywhere on the stack) and its
self share (samples with it on top). Idle samples (the event loop waiting in
``select``/``epoll``) are counted apart, so the shares are of busy time.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

IDLE = ("epoll", "select (selectors.py", "_run_once (asyncio/base_events.py")
_LINE = re.compile(r":\d+\)$")


def frame_name(frame: str) -> str:
    """``run (uvicorn/server.py:68)`` -> ``run (uvicorn/server.py)``."""
    return _LINE.sub(")", frame.strip())


def read_stacks(paths: list[Path]) -> Counter[tuple[str, ...]]:
    stacks: Counter[tuple[str, ...]] = Counter()
    for path in paths:
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if stack and count.isdigit():
                stacks[tuple(frame_name(f) for f in stack.split(";"))] += int(count)
    return stacks


def package_of(frame: str) -> str:
    """``get (sqlalchemy/orm/session.py)`` -> ``sqlalchemy``; ``(quizplatform/api/x.py)``
    -> ``quizplatform.api``."""
    m = re.search(r"\(([^)]*)\)$", frame)
    if not m or "/" not in m.group(1):
        return "(python)" if m else frame or "(unknown)"
    parts = m.group(1).split("/")
    return ".".join(parts[:2]) if parts[0] == "quizplatform" and len(parts) > 2 else parts[0]


def is_idle(stack: tuple[str, ...]) -> bool:
    return any(marker in stack[-1] for marker in IDLE)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--top", type=int, default=40)
    p.add_argument("--grep", default="", help="only functions whose name contains this")
    p.add_argument(
        "--by-package",
        action="store_true",
        help="self time by the top frame's package (sqlalchemy, asyncpg, quizplatform, ...)",
    )
    args = p.parse_args()
    stacks = read_stacks(args.files)
    busy = {s: n for s, n in stacks.items() if not is_idle(s)}
    total, busy_total = sum(stacks.values()), sum(busy.values())
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for stack, n in busy.items():
        for name in set(stack):
            inclusive[name] += n
        own[stack[-1]] += n
    print(f"{total} samples, {busy_total} busy ({100 * busy_total / max(1, total):.0f} %)")
    if args.by_package:
        packages: Counter[str] = Counter()
        for stack, n in busy.items():
            packages[package_of(stack[-1])] += n
        for name, n in packages.most_common(args.top):
            print(f"{100 * n / busy_total:7.1f}  {name}")
        return
    print(f"{'incl %':>7} {'self %':>7}  function")
    shown = 0
    for name, n in inclusive.most_common():
        if args.grep and args.grep not in name:
            continue
        print(f"{100 * n / busy_total:7.1f} {100 * own[name] / busy_total:7.1f}  {name}")
        shown += 1
        if shown >= args.top:
            break


if __name__ == "__main__":
    main()
