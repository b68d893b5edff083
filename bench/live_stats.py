"""Pure helpers of the live-game bench (bench/live.py) and drills: the scoring formula
recomputed independently of the app, the score and rank checks, the timeline for the
chart, the targets and the summary line.

No I/O; the only import from the bench is exam_stats (percentiles, lost answers), so
tests/unit/bench can load both files on their own.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from exam_stats import latency_summary, percentile

# The scoring formula of the live games (the issue states it), written out again on purpose:
# the bench checks the app's scores, so it must not import the app's arithmetic.
BASE_POINTS = 1000
STREAK_STEP = 100
STREAK_MAX_STEPS = 5
ACK_P99_TARGET_MS = 250.0
RECONNECT_P95_TARGET_S = 5.0


def live_points(fraction: float, elapsed_ms: int, limit_ms: int) -> int:
    """Points of one answer: 1000 x fraction, down to half of it at the deadline."""
    if fraction <= 0:
        return 0
    share = min(max(elapsed_ms / limit_ms, 0.0), 1.0) if limit_ms > 0 else 1.0
    return round(BASE_POINTS * fraction * (1 - 0.5 * share))


def streak_bonus(streak: int) -> int:
    """100 per fully right answer in a row after the first, at most 500."""
    return min(max(streak - 1, 0), STREAK_MAX_STEPS) * STREAK_STEP


@dataclass(frozen=True)
class Play:
    """One recorded answer: the bench's own verdict on it and the server's stamps."""

    fraction: float  # computed by the bench from what it sent and the quiz it wrote
    elapsed_ms: int  # from the server's record (received - shown)
    points: int | None = None  # what the server recorded, when known
    bonus: int | None = None


def expected_scores(
    plays: Mapping[str, Mapping[int, Play]], *, limit_ms: int, streak: bool
) -> dict[str, int]:
    """Every player's total, recomputed from their answers in question order.

    A fully right answer extends the streak when the player's previous fully right
    answer was the question just before, else starts one at 1; any other answer
    breaks it. The bonus applies only when the game has the streak option on."""
    totals: dict[str, int] = {}
    for player, answers in plays.items():
        total, run, last_right = 0, 0, -2
        for index in sorted(answers):
            play = answers[index]
            total += live_points(play.fraction, play.elapsed_ms, limit_ms)
            if play.fraction >= 1:
                run = run + 1 if last_right == index - 1 else 1
                last_right = index
                if streak:
                    total += streak_bonus(run)
            else:
                run = 0
        totals[player] = total
    return totals


def per_answer_mismatches(
    plays: Mapping[str, Mapping[int, Play]], *, limit_ms: int, streak: bool, max_examples: int = 10
) -> tuple[int, list[dict[str, Any]]]:
    """Answers whose recorded points (or bonus) differ from the recomputed ones."""
    count, examples = 0, list[dict[str, Any]]()
    for player, answers in plays.items():
        run, last_right = 0, -2
        for index in sorted(answers):
            play = answers[index]
            points = live_points(play.fraction, play.elapsed_ms, limit_ms)
            bonus = 0
            if play.fraction >= 1:
                run = run + 1 if last_right == index - 1 else 1
                last_right = index
                bonus = streak_bonus(run) if streak else 0
            else:
                run = 0
            if play.points is None:
                continue
            if play.points == points and play.bonus in (None, bonus):
                continue
            got = [play.points, play.bonus]
            count += 1
            if len(examples) < max_examples:
                examples.append(
                    {"player": player, "index": index, "expected": [points, bonus], "got": got}
                )
    return count, examples


@dataclass
class ScoreCheck:
    """Recomputed totals against the totals the game reported."""

    checked: int = 0
    mismatched: int = 0
    missing: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        """Every player checked, none differs (and there was something to check)."""
        return self.checked > 0 and self.mismatched == 0 and self.missing == 0


def compare_scores(
    expected: Mapping[str, int], reported: Mapping[str, int], max_examples: int = 10
) -> ScoreCheck:
    """Every player of ``expected`` must be reported with exactly that total; a player
    reported without any recorded answer must have 0."""
    out = ScoreCheck()
    for player in sorted(set(expected) | set(reported)):
        want = expected.get(player, 0)
        if player not in reported:
            out.missing += 1
            problem: dict[str, Any] = {"player": player, "problem": "missing", "expected": want}
        elif reported[player] != want:
            out.mismatched += 1
            problem = {"player": player, "expected": want, "reported": reported[player]}
        else:
            out.checked += 1
            continue
        out.checked += 1
        if len(out.examples) < max_examples:
            out.examples.append(problem)
    return out


def rank_problems(scores: Mapping[str, int], ranks: Mapping[str, int]) -> list[str]:
    """Whether the reported positions order the players by score: every rank within
    1..n, and along increasing rank the scores never increase (ties may be broken
    either way)."""
    problems: list[str] = []
    n = len(scores)
    missing = sorted(set(scores) - set(ranks))
    if missing:
        problems.append(f"{len(missing)} players without a position, e.g. {missing[:3]}")
    placed = sorted((r, p) for p, r in ranks.items() if p in scores)
    for rank, player in placed:
        if not 1 <= rank <= n:
            problems.append(f"{player} at position {rank} of {n}")
    for (r1, p1), (r2, p2) in itertools.pairwise(placed):
        if r1 < r2 and scores[p1] < scores[p2]:
            problems.append(f"{p1} (#{r1}, {scores[p1]}) below {p2} (#{r2}, {scores[p2]})")
        if len(problems) >= 10:
            break
    return problems


@dataclass(frozen=True)
class Ack:
    """One answer frame a player sent and what came back."""

    t: float  # when it was sent, s since the run started
    ms: float  # send -> ack (nan when no ack came)
    outcome: str  # "accepted", "already", a refusal reason, or "unacked"
    resent: bool = False

    @property
    def ok(self) -> bool:
        """The answer is recorded: accepted now or earlier (a resend)."""
        return self.outcome in ("accepted", "already")


@dataclass(frozen=True)
class Outage:
    """A player's connection lost at ``closed`` and back (a new state) at ``back``."""

    closed: float  # s since the run started
    back: float | None
    code: int | None = None

    @property
    def seconds(self) -> float | None:
        """How long the player was without a connection."""
        return None if self.back is None else self.back - self.closed


def ack_summary(acks: Iterable[Ack]) -> dict[str, Any]:
    """Latency of the acknowledged sends and a count per outcome."""
    acks = list(acks)
    outcomes: dict[str, int] = defaultdict(int)
    for a in acks:
        outcomes[a.outcome] += 1
    return {
        **latency_summary(a.ms for a in acks if a.ok),
        "outcomes": dict(sorted(outcomes.items())),
        "resent_recorded": sum(1 for a in acks if a.resent and a.ok),
    }


def reconnect_summary(outages: Iterable[Outage]) -> dict[str, Any]:
    """How many outages, how many came back, and their durations in s."""
    outages = list(outages)
    back = [o.seconds for o in outages if o.seconds is not None]

    def r(v: float | None) -> float | None:
        return None if v is None else round(v, 3)

    return {
        "outages": len(outages),
        "back": len(back),
        "p50_s": r(percentile(back, 50)),
        "p95_s": r(percentile(back, 95)),
        "max_s": r(max(back)) if back else None,
    }


def timeline(
    acks: Iterable[Ack], outages: Iterable[Outage], width: float = 1.0
) -> list[dict[str, Any]]:
    """The run in ``width``-s buckets: answers sent per s, p50/p95/p99 of the acks of
    those sends, refusals, connections lost and connections back."""
    acks, outages = list(acks), list(outages)
    times = [a.t for a in acks] + [o.closed for o in outages]
    times += [o.back for o in outages if o.back is not None]
    if not times:
        return []
    last = int(max(times) // width)
    sent: dict[int, list[Ack]] = defaultdict(list)
    for a in acks:
        sent[max(0, int(a.t // width))].append(a)
    lost: dict[int, int] = defaultdict(int)
    back: dict[int, int] = defaultdict(int)
    for o in outages:
        lost[max(0, int(o.closed // width))] += 1
        if o.back is not None:
            back[max(0, int(o.back // width))] += 1
    rows = []
    for k in range(last + 1):
        mine = sent.get(k, [])
        ms = [a.ms for a in mine if a.ok]
        rows.append(
            {
                "t": k * width,
                "answers_per_s": round(len(mine) / width, 2),
                "refused": sum(1 for a in mine if not a.ok),
                "p50_ms": percentile(ms, 50),
                "p95_ms": percentile(ms, 95),
                "p99_ms": percentile(ms, 99),
                "disconnects": lost.get(k, 0),
                "reconnects": back.get(k, 0),
            }
        )
    return rows


def metric_samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """The samples of ``name`` in a Prometheus text exposition: (labels, value)."""
    out = []
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        metric, _, labels = head.partition("{")
        if metric != name:
            continue
        pairs = {}
        for part in labels.rstrip("}").split(","):
            if "=" in part:
                key, _, raw = part.partition("=")
                pairs[key.strip()] = raw.strip().strip('"')
        out.append((pairs, float(value)))
    return out


def histogram_quantile(buckets: Iterable[tuple[float, float]], q: float) -> float | None:
    """The ``q`` (0..1) quantile of a cumulative histogram ((upper bound, count) pairs,
    +Inf included), interpolated linearly within its bucket as Prometheus does; None
    without observations; the highest finite bound when it falls in +Inf."""
    ordered = sorted(buckets)
    if not ordered or ordered[-1][1] <= 0:
        return None
    rank = q * ordered[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in ordered:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count
            )
        lower_bound, lower_count = bound, count
    return lower_bound


def server_ack_summary(texts: Iterable[str]) -> dict[str, Any]:
    """The instances' own receipt -> ack histogram (``quiz_live_answer_ack_seconds``),
    summed over the instances: count and p50/p95/p99 in ms (bucket-interpolated)."""
    total: dict[float, float] = defaultdict(float)
    for text in texts:
        for labels, value in metric_samples(text, "quiz_live_answer_ack_seconds_bucket"):
            total[float(labels["le"])] += value
    pairs = list(total.items())

    def ms(q: float) -> float | None:
        v = histogram_quantile(pairs, q)
        return None if v is None else round(v * 1000, 1)

    return {
        "count": int(max(total.values(), default=0)),
        "p50_ms": ms(0.5),
        "p95_ms": ms(0.95),
        "p99_ms": ms(0.99),
    }


def histogram_detail(
    before: Iterable[str], after: Iterable[str], name: str, by: str | None = None
) -> dict[str, dict[str, Any]]:
    """A histogram ``name`` (e.g. ``db_pool_wait_seconds``) over an interval: each
    instance's buckets after minus before (the texts in the same instance order; a bucket
    that went down, the instance restarted in between, counts from 0), summed over the
    instances, per value of the label ``by`` ("all" without it): count and p50/p99 in ms
    (bucket-interpolated)."""

    def buckets(text: str) -> dict[tuple[str, float], float]:
        out: dict[tuple[str, float], float] = defaultdict(float)
        for labels, value in metric_samples(text, f"{name}_bucket"):
            out[(labels.get(by, "") if by else "all", float(labels["le"]))] += value
        return out

    starts = [buckets(text) for text in before]
    total: dict[tuple[str, float], float] = defaultdict(float)
    for k, text in enumerate(after):
        start = starts[k] if k < len(starts) else {}
        for key, value in buckets(text).items():
            diff = value - start.get(key, 0.0)
            total[key] += value if diff < 0 else diff
    groups: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for (group, bound), value in total.items():
        groups[group].append((bound, value))
    detail: dict[str, dict[str, Any]] = {}
    for group, pairs in sorted(groups.items()):
        count = max((v for _, v in pairs), default=0.0)
        if count <= 0:
            continue
        p50, p99 = histogram_quantile(pairs, 0.5), histogram_quantile(pairs, 0.99)
        detail[group] = {
            "count": int(count),
            "p50_ms": None if p50 is None else round(p50 * 1000, 2),
            "p99_ms": None if p99 is None else round(p99 * 1000, 2),
        }
    return detail


def server_detail(before: Iterable[str], after: Iterable[str]) -> dict[str, Any]:
    """Where an instance waits during the game (from the instances' own histograms,
    ``before`` and ``after`` it): the database pool, its statements, Redis by operation,
    the garbage collector's pauses."""
    before, after = list(before), list(after)
    return {
        "db_pool_wait": histogram_detail(before, after, "db_pool_wait_seconds"),
        "db_query": histogram_detail(before, after, "db_query_duration_seconds", "operation"),
        "redis": histogram_detail(before, after, "redis_command_duration_seconds", "operation"),
        "gc_pause": histogram_detail(before, after, "python_gc_pause_seconds", "generation"),
    }


def target_checks(result: Mapping[str, Any]) -> list[tuple[str, bool]]:
    """(check, passed): every planned player answered everything, 0 lost answers, exact
    scores, ack p99 < 250 ms and, after an instance kill, reconnect p95 < 5 s."""
    p99 = result.get("p99_ack_ms")
    checks = [
        (
            "every player answered every question",
            result.get("players") == result.get("players_planned"),
        ),
        ("0 lost", result.get("lost_answers") == 0),
        ("scores exact", result.get("scores_exact") is True),
        (f"ack p99 < {ACK_P99_TARGET_MS:g} ms", p99 is not None and p99 < ACK_P99_TARGET_MS),
    ]
    kill = result.get("kill")
    if kill:
        p95 = kill.get("reconnect_p95_s")
        checks.append(
            (
                f"reconnect p95 < {RECONNECT_P95_TARGET_S:g} s",
                p95 is not None and p95 < RECONNECT_P95_TARGET_S,
            )
        )
    return checks


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.1f} ms"


def summary_line(result: Mapping[str, Any], label: str = "live") -> str:
    """One line: players, instances, ack percentiles, lost answers, scores, reconnects
    and whether the targets were met."""
    instances = result.get("instances", 1)
    parts = [
        f"{result.get('players', 0):,}/{result.get('players_planned', 0):,} players answered "
        "every question",
        f"{instances} instance{'s' if instances != 1 else ''}",
        f"ack p50 {_ms(result.get('p50_ack_ms'))} p95 {_ms(result.get('p95_ack_ms'))} "
        f"p99 {_ms(result.get('p99_ack_ms'))}",
        f"{result.get('lost_answers', 0):,} lost of {result.get('answers_acknowledged', 0):,}",
        f"scores {'exact' if result.get('scores_exact') else 'NOT exact'}",
        f"{result.get('reconnects', 0):,} reconnects",
        f"{result.get('errors', 0):,} errors",
    ]
    kill = result.get("kill")
    if kill:
        parts.append(
            f"kill at question {kill.get('question')}: {kill.get('affected_players', 0)} "
            f"players affected, reconnect p95 {kill.get('reconnect_p95_s')} s"
        )
    checks = target_checks(result)
    missed = [name for name, ok in checks if not ok]
    verdict = "met" if not missed else "missed: " + ", ".join(missed)
    return f"{label}: " + ", ".join(parts) + f" ... targets: {verdict}"
