"""bench/live_stats.py: the live bench's own scoring (recomputed apart from the app), the
score and position checks, the timeline, the targets and the summary line. bench/ is
not a package: the files are loaded by path."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


_load("exam_stats")
ls = _load("live_stats")


def test_points_follow_the_stated_formula() -> None:
    assert ls.live_points(1.0, 0, 20_000) == 1000
    assert ls.live_points(1.0, 20_000, 20_000) == 500
    assert ls.live_points(1.0, 10_000, 20_000) == 750
    assert ls.live_points(1.0, 99_000, 20_000) == 500  # clamped at the deadline
    assert ls.live_points(1.0, -50, 20_000) == 1000  # and at the start
    assert ls.live_points(0.5, 0, 20_000) == 500  # partial credit scales it
    assert ls.live_points(0.0, 0, 20_000) == 0
    assert ls.live_points(-0.5, 0, 20_000) == 0
    assert ls.live_points(1.0, 3_333, 20_000) == round(1000 * (1 - 0.5 * 3_333 / 20_000))


def test_streak_bonus_grows_by_100_up_to_500() -> None:
    assert [ls.streak_bonus(s) for s in range(8)] == [0, 0, 100, 200, 300, 400, 500, 500]


def test_expected_scores_add_points_and_streaks_in_question_order() -> None:
    right, wrong = 1.0, 0.0
    plays = {
        # right, right, right: 1000 + (1000+100) + (1000+200)
        "a": {0: ls.Play(right, 0), 1: ls.Play(right, 0), 2: ls.Play(right, 0)},
        # right, (question 1 unanswered), right: the run restarts at 1: no bonus
        "b": {2: ls.Play(right, 0), 0: ls.Play(right, 0)},
        # right, wrong, right, right: 1000 + 0 + 1000 + (1000+100)
        "c": {
            0: ls.Play(right, 0),
            1: ls.Play(wrong, 0),
            2: ls.Play(right, 0),
            3: ls.Play(right, 0),
        },
        # partial credit breaks the run and gets no bonus
        "d": {0: ls.Play(right, 0), 1: ls.Play(0.5, 20_000)},
    }
    got = ls.expected_scores(plays, limit_ms=20_000, streak=True)
    assert got == {"a": 3300, "b": 2000, "c": 3100, "d": 1250}
    assert ls.expected_scores(plays, limit_ms=20_000, streak=False)["a"] == 3000


def test_per_answer_mismatches_name_the_wrong_record() -> None:
    plays = {
        "a": {0: ls.Play(1.0, 0, points=1000, bonus=0), 1: ls.Play(1.0, 0, points=1000, bonus=100)},
        "b": {0: ls.Play(1.0, 10_000, points=1000, bonus=0)},  # should be 750
        "c": {0: ls.Play(0.0, 0, points=None)},  # not known: not checked
    }
    count, examples = ls.per_answer_mismatches(plays, limit_ms=20_000, streak=True)
    assert count == 1
    assert examples == [{"player": "b", "index": 0, "expected": [750, 0], "got": [1000, 0]}]


def test_score_check_needs_every_player_exactly() -> None:
    expected = {"a": 3300, "b": 0}
    assert ls.compare_scores(expected, {"a": 3300, "b": 0}).exact
    off = ls.compare_scores(expected, {"a": 3299, "b": 0})
    assert not off.exact and off.mismatched == 1 and off.examples[0]["reported"] == 3299
    gone = ls.compare_scores(expected, {"a": 3300})
    assert not gone.exact and gone.missing == 1
    extra = ls.compare_scores(expected, {"a": 3300, "b": 0, "z": 10})  # z answered nothing
    assert not extra.exact and extra.mismatched == 1
    assert not ls.compare_scores({}, {}).exact  # nothing checked is not a pass


def test_rank_problems_accept_any_tie_order_but_not_a_wrong_order() -> None:
    scores = {"a": 300, "b": 200, "c": 200, "d": 100}
    assert ls.rank_problems(scores, {"a": 1, "b": 2, "c": 3, "d": 4}) == []
    assert ls.rank_problems(scores, {"a": 1, "c": 2, "b": 3, "d": 4}) == []
    assert ls.rank_problems(scores, {"a": 1, "b": 2, "c": 2, "d": 4}) == []  # competition
    wrong = ls.rank_problems(scores, {"a": 2, "b": 1, "c": 3, "d": 4})
    assert wrong and "below" in wrong[0]
    assert "without a position" in ls.rank_problems(scores, {"a": 1, "b": 2, "c": 3})[0]
    assert "position 9 of 4" in ls.rank_problems(scores, {"a": 1, "b": 2, "c": 3, "d": 9})[0]


def test_ack_and_reconnect_summaries() -> None:
    acks = [
        ls.Ack(0.1, 10.0, "accepted"),
        ls.Ack(0.2, 30.0, "already", resent=True),
        ls.Ack(0.3, 5.0, "late"),
        ls.Ack(0.4, math.nan, "unacked"),
    ]
    summary = ls.ack_summary(acks)
    assert summary["count"] == 2 and summary["p50_ms"] == 20.0 and summary["max_ms"] == 30.0
    assert summary["outcomes"] == {"accepted": 1, "already": 1, "late": 1, "unacked": 1}
    assert summary["resent_recorded"] == 1
    outages = [ls.Outage(1.0, 1.5), ls.Outage(2.0, 4.0), ls.Outage(3.0, None)]
    rec = ls.reconnect_summary(outages)
    assert rec == {"outages": 3, "back": 2, "p50_s": 1.25, "p95_s": 1.925, "max_s": 2.0}


def test_timeline_buckets_sends_refusals_and_outages() -> None:
    acks = [ls.Ack(0.5, 10.0, "accepted"), ls.Ack(0.7, 30.0, "accepted"), ls.Ack(2.1, 5, "late")]
    rows = ls.timeline(acks, [ls.Outage(1.2, 3.4)])
    assert [r["t"] for r in rows] == [0.0, 1.0, 2.0, 3.0]
    assert rows[0]["answers_per_s"] == 2 and rows[0]["p50_ms"] == pytest.approx(20.0)
    assert rows[1] == {
        "t": 1.0,
        "answers_per_s": 0,
        "refused": 0,
        "p50_ms": None,
        "p95_ms": None,
        "p99_ms": None,
        "disconnects": 1,
        "reconnects": 0,
    }
    assert rows[2]["refused"] == 1 and rows[2]["p95_ms"] is None
    assert rows[3]["reconnects"] == 1
    assert ls.timeline([], []) == []


def _result(**changes: object) -> dict[str, object]:
    result: dict[str, object] = {
        "players": 2000,
        "players_planned": 2000,
        "instances": 2,
        "p50_ack_ms": 12.0,
        "p95_ack_ms": 60.0,
        "p99_ack_ms": 120.5,
        "lost_answers": 0,
        "answers_acknowledged": 20000,
        "scores_exact": True,
        "reconnects": 0,
        "errors": 0,
    }
    return result | changes


def test_summary_line_and_targets() -> None:
    line = ls.summary_line(_result())
    assert line.startswith("live: 2,000/2,000 players answered every question, 2 instances")
    assert "ack p50 12.0 ms p95 60.0 ms p99 120.5 ms" in line and "scores exact" in line
    assert line.endswith("targets: met")
    missed = ls.summary_line(_result(p99_ack_ms=400.0, lost_answers=1, scores_exact=False))
    assert missed.endswith("missed: 0 lost, scores exact, ack p99 < 250 ms")
    assert "missed: every player" in ls.summary_line(_result(players=1999))
    killed = _result(kill={"question": 5, "affected_players": 1000, "reconnect_p95_s": 6.0})
    assert ls.summary_line(killed).endswith("missed: reconnect p95 < 5 s")
    assert "1000 players affected" in ls.summary_line(killed)
    fine = _result(kill={"question": 5, "affected_players": 1000, "reconnect_p95_s": 1.2})
    assert ls.summary_line(fine).endswith("met")


EXPOSITION = """# HELP quiz_live_answer_ack_seconds From an answer's receipt to its ack
# TYPE quiz_live_answer_ack_seconds histogram
quiz_live_answer_ack_seconds_bucket{le="0.005"} 50.0
quiz_live_answer_ack_seconds_bucket{le="0.01"} 90.0
quiz_live_answer_ack_seconds_bucket{le="0.1"} 99.0
quiz_live_answer_ack_seconds_bucket{le="+Inf"} 100.0
quiz_live_answer_ack_seconds_count 100.0
quiz_live_players_connected 1000.0
quiz_live_answers_total{outcome="accepted"} 98.0
"""


def test_metric_samples_and_histogram_quantiles() -> None:
    assert ls.metric_samples(EXPOSITION, "quiz_live_players_connected") == [({}, 1000.0)]
    assert ls.metric_samples(EXPOSITION, "quiz_live_answers_total") == [
        ({"outcome": "accepted"}, 98.0)
    ]
    buckets = [(0.005, 50.0), (0.01, 90.0), (0.1, 99.0), (math.inf, 100.0)]
    assert ls.histogram_quantile(buckets, 0.5) == pytest.approx(0.005)
    assert ls.histogram_quantile(buckets, 0.7) == pytest.approx(0.0075)
    assert ls.histogram_quantile(buckets, 0.995) == 0.1  # in +Inf: the last finite bound
    assert ls.histogram_quantile([(math.inf, 0.0)], 0.5) is None
    # two instances' histograms add up
    summary = ls.server_ack_summary([EXPOSITION, EXPOSITION])
    assert summary == {"count": 200, "p50_ms": 5.0, "p95_ms": 60.0, "p99_ms": 100.0}


def _pool(counts: tuple[float, float, float]) -> str:
    small, mid, total = counts
    return (
        f'db_pool_wait_seconds_bucket{{database="primary",le="0.001"}} {small}\n'
        f'db_pool_wait_seconds_bucket{{database="primary",le="0.1"}} {mid}\n'
        f'db_pool_wait_seconds_bucket{{database="primary",le="+Inf"}} {total}\n'
        f'redis_command_duration_seconds_bucket{{operation="live_answer",le="0.01"}} {total}\n'
        f'redis_command_duration_seconds_bucket{{operation="live_answer",le="+Inf"}} {total}\n'
    )


def test_server_detail_is_the_difference_over_the_game() -> None:
    before = [_pool((100.0, 100.0, 100.0)), _pool((10.0, 10.0, 10.0))]
    # 100 waits during the game on the first instance: 50 short, 49 under 100 ms, 1 longer
    after = [_pool((150.0, 199.0, 200.0)), _pool((10.0, 10.0, 10.0))]
    detail = ls.server_detail(before, after)
    assert detail["db_pool_wait"] == {"all": {"count": 100, "p50_ms": 1.0, "p99_ms": 100.0}}
    assert detail["redis"]["live_answer"]["count"] == 100
    assert detail["gc_pause"] == {}
    # an instance restarted during the game (its counters went down) counts from 0
    restarted = [_pool((150.0, 199.0, 200.0)), _pool((1.0, 1.0, 1.0))]
    assert ls.server_detail(before, restarted)["db_pool_wait"]["all"]["count"] == 101
