"""What the offline drafter makes of short texts, for a person to judge (run on demand).

    .venv/bin/python bench/offline_drafts.py [--count 10] [--seed 1] [files...]

Drafts up to ``--count`` questions from each text of ``bench/offline_corpus`` (4-6
sentence paragraphs on science, history, geography and literature; English, French,
German, Spanish) and prints them with their answers, so that a teacher can count the ones
they would reject. Also prints what the language tools cost: the time and memory (RSS)
of their first use, and the time of one draft once they are loaded. Not part of
``make test``: the output is for reading, not for asserting.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

CORPUS = ROOT / "bench" / "offline_corpus"


def rss_mb() -> float:
    """The resident set size of this process now, in MB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def answer_of(item: dict[str, Any]) -> str:
    kind = item["type"]
    if kind in ("single_choice", "multiple_choice"):
        options = [("*" if o in item["correct_options"] else " ") + o for o in item["options"]]
        return "\n        ".join(options)
    if kind == "true_false":
        return str(item["true_false_answer"])
    if kind == "short_answer":
        return " / ".join(item["accepted_answers"])
    return f"{item['numeric_answer']:g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    files = args.files or sorted(CORPUS.glob("*.txt"))

    start_rss = rss_mb()
    started = time.perf_counter()
    from quizplatform.ai import offline

    import_offline = time.perf_counter() - started
    offline_rss = rss_mb()
    started = time.perf_counter()
    from quizplatform.ai.offline_language import profile_text

    profile_text("Warm the language tools up: detection, keyphrases, frequencies.", 1)
    first_use = time.perf_counter() - started
    tools_rss = rss_mb()

    per_text: list[int] = []
    seconds: list[float] = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        from quizplatform.ai.offline_text import analyse_text

        language = analyse_text(text).language
        started = time.perf_counter()
        try:
            items = offline.draft_from_text(text, args.count, [], seed=args.seed)
        except offline.OfflineDraftError as exc:
            items = []
            print(f"\n### {path.name} [{language}]: REFUSED: {exc}")
        seconds.append(time.perf_counter() - started)
        per_text.append(len(items))
        if items:
            print(f"\n### {path.name} [{language}]: {len(items)} questions")
        for number, item in enumerate(items, 1):
            print(f"  {number:2d}. [{item['type']}] {item['prompt']}")
            print(f"        {answer_of(item)}")

    print("\n--- summary")
    print(f"texts: {len(per_text)}, questions: {sum(per_text)}")
    print(f"questions per text: {per_text}")
    print(f"min {min(per_text)}, median {statistics.median(per_text)}, max {max(per_text)}")
    print(
        f"import quizplatform.ai.offline: {import_offline:.2f} s, "
        f"+{offline_rss - start_rss:.0f} MB RSS"
    )
    print(
        f"first use of the language tools (imports, models): {first_use:.2f} s, "
        f"+{tools_rss - offline_rss:.0f} MB RSS"
    )
    print(
        f"one draft, tools loaded: median {1000 * statistics.median(seconds):.0f} ms, "
        f"max {1000 * max(seconds):.0f} ms; RSS now {rss_mb():.0f} MB"
    )


if __name__ == "__main__":
    main()
