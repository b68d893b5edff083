"""judge(): the canary rules of a deploy step (error-rate delta and p99 ratio), pure."""

from __future__ import annotations

import pytest

from quizplatform.ops.deploy import (
    CanaryPolicy,
    Comparison,
    comparison_window,
    judge,
    latency_window,
    rollback_reasons,
)

POLICY = CanaryPolicy()  # 2.0 points, 1.2x, 20 requests per side


def compare(
    canary_error: float | None = 1.0,
    stable_error: float | None = 1.0,
    canary_p99: float | None = 0.1,
    stable_p99: float | None = 0.1,
    canary_requests: float = 500,
    stable_requests: float = 500,
) -> Comparison:
    return judge(
        Comparison(
            canary_error_pct=canary_error,
            stable_error_pct=stable_error,
            canary_p99=canary_p99,
            stable_p99=stable_p99,
            canary_requests=canary_requests,
            stable_requests=stable_requests,
        ),
        POLICY,
    )


def test_policy_defaults_are_the_seed_rule() -> None:
    assert POLICY.max_error_delta == 2.0
    assert POLICY.max_latency_ratio == 1.2
    assert POLICY.min_requests == 20


def test_same_numbers_are_healthy() -> None:
    result = compare()
    assert result.healthy
    assert result.reasons == []


def test_judge_fills_and_returns_the_same_comparison() -> None:
    comparison = Comparison(9.0, 1.0, None, None, 100, 100)
    assert judge(comparison, POLICY) is comparison
    assert not comparison.healthy


def test_error_delta_exactly_at_threshold_is_healthy() -> None:
    assert compare(canary_error=3.0, stable_error=1.0).healthy  # +2.0 points
    assert compare(canary_error=2.0, stable_error=0.0).healthy


def test_error_delta_just_above_threshold_names_the_points() -> None:
    result = compare(canary_error=3.1, stable_error=1.0)
    assert not result.healthy
    assert len(result.reasons) == 1
    reason = result.reasons[0]
    assert "points" in reason
    assert "+2.1 points" in reason
    assert "3.1%" in reason and "1.0%" in reason


def test_canary_better_than_stable_is_healthy() -> None:
    assert compare(canary_error=0.0, stable_error=50.0, canary_p99=0.01, stable_p99=2.0).healthy


def test_p99_ratio_exactly_at_threshold_is_healthy() -> None:
    assert compare(canary_p99=1.2, stable_p99=1.0).healthy
    assert compare(canary_p99=0.6, stable_p99=0.5).healthy


def test_p99_ratio_just_above_threshold_is_unhealthy() -> None:
    result = compare(canary_p99=1.21, stable_p99=1.0)
    assert not result.healthy
    assert len(result.reasons) == 1
    assert "p99 1210 ms vs stable 1000 ms" in result.reasons[0]
    assert "1.21x > 1.2x" in result.reasons[0]


@pytest.mark.parametrize("stable_p99", [0.0, None])
def test_no_stable_p99_gives_no_latency_verdict(stable_p99: float | None) -> None:
    assert compare(canary_p99=30.0, stable_p99=stable_p99).healthy


def test_no_canary_p99_gives_no_latency_verdict() -> None:
    assert compare(canary_p99=None, stable_p99=0.1).healthy


@pytest.mark.parametrize(("canary_error", "stable_error"), [(None, 1.0), (50.0, None)])
def test_missing_error_rate_gives_no_error_verdict(
    canary_error: float | None, stable_error: float | None
) -> None:
    assert compare(canary_error=canary_error, stable_error=stable_error).healthy


@pytest.mark.parametrize(
    ("canary_requests", "stable_requests"), [(19, 1000), (1000, 19), (0, 0), (19.9, 19.9)]
)
def test_too_few_requests_on_either_side_gives_no_verdict(
    canary_requests: float, stable_requests: float
) -> None:
    result = compare(
        canary_error=100.0,
        stable_error=0.0,
        canary_p99=10.0,
        stable_p99=0.1,
        canary_requests=canary_requests,
        stable_requests=stable_requests,
    )
    assert result.healthy


def test_exactly_min_requests_is_enough() -> None:
    result = compare(canary_error=100.0, stable_error=0.0, canary_requests=20, stable_requests=20)
    assert not result.healthy


def test_both_rules_broken_give_two_reasons() -> None:
    result = compare(canary_error=10.0, stable_error=1.0, canary_p99=0.5, stable_p99=0.1)
    assert not result.healthy
    assert len(result.reasons) == 2
    error_reason, latency_reason = result.reasons
    assert "error rate" in error_reason and "points" in error_reason
    assert latency_reason.startswith("p99 ")
    assert "5.00x" in latency_reason


def test_custom_policy_thresholds() -> None:
    policy = CanaryPolicy(
        max_error_delta=0.5, max_latency_ratio=2.0, min_requests=1, min_latency_requests=1
    )
    assert not judge(Comparison(1.6, 1.0, None, None, 1, 1), policy).healthy
    assert judge(Comparison(1.5, 1.0, 0.2, 0.1, 1, 1), policy).healthy
    assert not judge(Comparison(None, None, 0.21, 0.1, 1, 1), policy).healthy


@pytest.mark.parametrize(
    ("canary_error", "stable_error", "canary_p99", "stable_p99"),
    [(4.4, 2.4, None, None), (None, None, 0.0228, 0.019)],
)
def test_boundary_values_with_float_rounding_are_healthy(
    canary_error: float | None,
    stable_error: float | None,
    canary_p99: float | None,
    stable_p99: float | None,
) -> None:
    result = compare(
        canary_error=canary_error,
        stable_error=stable_error,
        canary_p99=canary_p99,
        stable_p99=stable_p99,
    )
    assert result.healthy, result.reasons


def test_a_few_milliseconds_slower_is_noise_not_a_regression() -> None:
    policy = CanaryPolicy(min_requests=1, min_latency_requests=1)
    # 7 ms against 5 ms is 1.4x but two histogram buckets apart: no verdict.
    assert judge(Comparison(0.0, 0.0, 0.007, 0.005, 100, 100), policy).healthy
    slow = judge(Comparison(0.0, 0.0, 0.200, 0.050, 100, 100), policy)
    assert not slow.healthy and "p99" in slow.reasons[0]


def test_latency_waits_for_enough_requests_to_have_a_p99() -> None:
    # 150 requests: the "p99" is the slowest one or two, e.g. a fresh instance's first.
    few = compare(canary_p99=0.15, stable_p99=0.01, canary_requests=150, stable_requests=900)
    assert few.healthy
    many = compare(canary_p99=0.15, stable_p99=0.01, canary_requests=300, stable_requests=900)
    assert not many.healthy
    # The error rule needs only min_requests.
    errors = compare(canary_error=30.0, stable_error=0.0, canary_requests=50)
    assert not errors.healthy


def test_the_comparison_starts_when_the_canary_took_traffic() -> None:
    # The warm-up before it (a new process's slow first requests) is left out.
    assert comparison_window("30s", 2.3) == "3s"
    assert comparison_window("1m30s", 75.0) == "75s"
    assert comparison_window("1m30s", 95.0) == "1m30s"
    assert comparison_window("30s", 0.01) == "1s"
    assert comparison_window("30s", None) == "30s"
    # Not a plain duration (PromQL would refuse it anyway): left for Prometheus to judge.
    assert comparison_window("30 s", 2.0) == "30 s"
    assert comparison_window("30x", 2.0) == "30x"


def slow_check() -> Comparison:
    return compare(canary_p99=0.074, stable_p99=0.005, canary_requests=700, stable_requests=6000)


def test_one_slow_check_does_not_roll_back_two_in_a_row_do() -> None:
    # CI: a good canary's p99 74 ms vs 5 ms at its first check, after the warm-up.
    assert rollback_reasons([slow_check()], POLICY) == []
    healthy = compare()
    assert rollback_reasons([slow_check(), healthy], POLICY) == []
    assert rollback_reasons([slow_check(), healthy, slow_check()], POLICY) == []
    reasons = rollback_reasons([healthy, slow_check(), slow_check()], POLICY)
    assert len(reasons) == 1 and reasons[0].startswith("p99 74 ms vs stable 5 ms")


def test_an_error_breach_rolls_back_at_once_with_a_latency_breach_listed_when_it_holds() -> None:
    errors = compare(canary_error=30.0, stable_error=0.0)
    assert rollback_reasons([errors], POLICY) == errors.reasons
    both = compare(canary_error=30.0, stable_error=0.0, canary_p99=0.5, stable_p99=0.01)
    assert [r[:5] for r in rollback_reasons([both], POLICY)] == ["error"]
    assert len(rollback_reasons([slow_check(), both], POLICY)) == 2
    assert rollback_reasons([], POLICY) == []


def test_one_latency_check_is_enough_when_the_policy_says_so() -> None:
    policy = CanaryPolicy(latency_checks_to_fail=1)
    assert rollback_reasons([judge(slow_check(), policy)], policy)


def test_the_latency_rule_counts_requests_over_its_own_window() -> None:
    # 900 requests since exposure, but 150 after the grace: no latency verdict yet.
    few = Comparison(0.0, 0.0, 0.15, 0.01, 900, 900, latency_requests=150)
    assert judge(few, POLICY).healthy
    many = Comparison(0.0, 0.0, 0.15, 0.01, 900, 900, latency_requests=250)
    assert judge(many, POLICY).latency_reason


def test_the_latency_rule_leaves_out_the_first_seconds_of_canary_traffic() -> None:
    policy = CanaryPolicy(window="10s", latency_grace_seconds=3.0)
    assert latency_window(policy, 2.1) is None
    assert latency_window(policy, 3.9) is None
    assert latency_window(policy, 4.2) == "2s"
    assert latency_window(policy, 30.0) == "10s"
    assert latency_window(policy, None) == "10s"
