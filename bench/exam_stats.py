"""Pure helpers of the exam-day scenario (bench/exam.py): percentiles, the lost-answer
comparison, 5-second buckets for the chart, the targets and the summary line.

No I/O and no imports from the rest of the bench, so tests/unit/bench can load this
file on its own.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# The kinds of request a student makes, in the order the summary shows them.
KINDS = ("login", "start", "save", "submit")
# Targets the summary line checks (latency targets are reported, never fatal).
SAVE_P95_TARGET_MS = 100.0
SUBMIT_P95_TARGET_MS = 500.0

AnswerKey = tuple[str, str]  # (attempt id, question id)


@dataclass(frozen=True)
class Event:
    """One request a simulated student made.

    ``t`` is when it was sent, in seconds since the run started; ``outcome`` is the
    HTTP status as text (``"200"``) or a transport failure (``"timeout"``, ``"connect"``...).
    """

    t: float
    kind: str
    ms: float
    outcome: str

    @property
    def ok(self) -> bool:
        """A 2xx answer."""
        return self.outcome.isdigit() and 200 <= int(self.outcome) < 300


def percentile(values: Iterable[float], q: float) -> float | None:
    """The ``q``-th percentile (0..100) with linear interpolation; None for no values."""
    data = sorted(values)
    if not data:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is not within 0..100")
    rank = (len(data) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (rank - low)


def latency_summary(values: Iterable[float]) -> dict[str, float | int | None]:
    """Count, p50, p95, p99 and max of latencies in ms (rounded to 0.1 ms)."""
    data = sorted(values)

    def r(v: float | None) -> float | None:
        return None if v is None else round(v, 1)

    return {
        "count": len(data),
        "p50_ms": r(percentile(data, 50)),
        "p95_ms": r(percentile(data, 95)),
        "p99_ms": r(percentile(data, 99)),
        "max_ms": r(data[-1]) if data else None,
    }


def latencies_by_kind(events: Iterable[Event]) -> dict[str, dict[str, float | int | None]]:
    """Per kind of request, the latency summary of its successful (2xx) requests."""
    by_kind: dict[str, list[float]] = defaultdict(list)
    for e in events:
        if e.ok:
            by_kind[e.kind].append(e.ms)
    return {kind: latency_summary(by_kind.get(kind, [])) for kind in KINDS}


def errors_by_kind(events: Iterable[Event]) -> dict[str, int]:
    """Every non-2xx answer or transport failure, counted as ``"<kind> <outcome>"``."""
    counts = Counter(f"{e.kind} {e.outcome}" for e in events if not e.ok)
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


@dataclass
class LostAnswers:
    """The comparison of acknowledged answers with the stored ones."""

    checked: int = 0
    missing: int = 0
    different: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def lost(self) -> int:
        """Answers the client saw acknowledged that are not stored as sent."""
        return self.missing + self.different


def compare_answers(
    acknowledged: Mapping[AnswerKey, Any],
    stored: Mapping[AnswerKey, Any],
    max_examples: int = 10,
) -> LostAnswers:
    """Check every acknowledged answer (the last one a 2xx acknowledged per question)
    against the stored responses: missing, or stored with another value, is lost.
    Stored responses nobody acknowledged (a save whose answer timed out) do not count."""
    out = LostAnswers()
    for key, sent in acknowledged.items():
        out.checked += 1
        if key not in stored:
            out.missing += 1
            problem = "missing"
        elif stored[key] != sent:
            out.different += 1
            problem = "different"
        else:
            continue
        if len(out.examples) < max_examples:
            out.examples.append(
                {
                    "attempt_id": key[0],
                    "question_id": key[1],
                    "problem": problem,
                    "sent": sent,
                    "stored": stored.get(key),
                }
            )
    return out


def buckets(
    events: Iterable[Event], width: float = 5.0, kinds: Iterable[str] = KINDS
) -> list[dict[str, Any]]:
    """The run in ``width``-second buckets (by send time): requests/s of everything sent
    in the bucket, errors, and p50/p95 of each kind's 2xx latencies (None when it had
    none). Buckets with no requests between the first and the last are included."""
    events = list(events)
    if not events:
        return []
    kinds = tuple(kinds)
    last = max(int(e.t // width) for e in events)
    rows: list[dict[str, Any]] = []
    grouped: dict[int, list[Event]] = defaultdict(list)
    for e in events:
        grouped[max(0, int(e.t // width))].append(e)
    for index in range(last + 1):
        mine = grouped.get(index, [])
        row: dict[str, Any] = {
            "t": index * width,
            "rps": round(len(mine) / width, 2),
            "errors": sum(1 for e in mine if not e.ok),
        }
        for kind in kinds:
            ms = [e.ms for e in mine if e.kind == kind and e.ok]
            row[f"{kind}_n"] = len(ms)
            row[f"{kind}_p50_ms"] = percentile(ms, 50)
            row[f"{kind}_p95_ms"] = percentile(ms, 95)
        rows.append(row)
    return rows


def target_checks(result: Mapping[str, Any]) -> list[tuple[str, bool]]:
    """(check, passed) for 0 errors, 0 lost answers, save p95 and submit p95."""
    save = result.get("p95_save_ms")
    submit = result.get("p95_submit_ms")
    return [
        ("0 errors", result.get("errors") == 0),
        ("0 lost", result.get("lost_answers") == 0),
        (f"save p95 < {SAVE_P95_TARGET_MS:g} ms", save is not None and save < SAVE_P95_TARGET_MS),
        (
            f"submit p95 < {SUBMIT_P95_TARGET_MS:g} ms",
            submit is not None and submit < SUBMIT_P95_TARGET_MS,
        ),
    ]


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.1f} ms"


def summary_line(result: Mapping[str, Any], label: str = "exam") -> str:
    """One line: students, instances, errors, lost answers, the p95s, the auto-submit
    delay and whether the targets were met."""
    instances = result.get("instances", 1)
    parts = [
        f"{result.get('students', 0):,} students",
        f"{instances} instance{'s' if instances != 1 else ''}",
        f"{result.get('errors', 0):,} errors",
        f"{result.get('lost_answers', 0):,} lost answers of "
        f"{result.get('answers_acknowledged', 0):,}",
        f"login p95 {_ms(result.get('p95_login_ms'))}",
        f"start p95 {_ms(result.get('p95_start_ms'))}",
        f"save p95 {_ms(result.get('p95_save_ms'))}",
        f"submit p95 {_ms(result.get('p95_submit_ms'))}",
    ]
    auto = result.get("auto_submit") or {}
    if auto.get("attempts"):
        parts.append(
            f"auto-submit {auto.get('closed', 0)}/{auto['attempts']} closed, "
            f"delay max {auto.get('delay_max_s', 'n/a')} s"
        )
    checks = target_checks(result)
    missed = [name for name, ok in checks if not ok]
    verdict = "met" if not missed else "missed: " + ", ".join(missed)
    names = ", ".join(name for name, _ in checks)
    return f"{label}: " + ", ".join(parts) + f" ... targets ({names}): {verdict}"
