"""CPU autoscaling: a pure policy (:func:`decide`) and the loop that applies it.

The policy looks at the **mean** CPU per instance (percent of one core, so 100 = one busy
core) averaged over a sliding window: up by ``step_up`` when the mean over ``up_window``
is above ``scale_up_cpu``, down by one when the mean over ``down_window`` is below
``scale_down_cpu``. It decides on the mean of the window, not on "every sample above the
threshold": one quiet sample does not veto a busy window, one spike does not make one.

Flapping is prevented in three ways:

* a window only counts once it is *covered*: its oldest sample is at least
  ``WINDOW_COVERAGE`` (90 %) of the window old, so no decision is made on partial data;
* only samples taken *after* the last action count, so each action restarts both windows
  (the load measured on the old instance count says nothing about the new one);
* no action at all within ``cooldown`` seconds of the last one.

An instance count outside ``[min_instances, max_instances]`` is corrected at once,
whatever the windows and the cooldown say.

:func:`run_autoscaler` samples the serving instances every ``interval`` seconds, calls
:func:`decide`, logs every decision and asks a :class:`Scaler` to apply ups and downs.
Importing this module has no side effects.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from statistics import fmean
from typing import Literal, Protocol
from wsgiref.simple_server import WSGIServer

import psutil
import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

log = structlog.get_logger(__name__)

Action = Literal["up", "down", "hold"]
ACTIONS: tuple[Action, ...] = ("up", "down", "hold")
WINDOW_COVERAGE = 0.9
"""A window counts once its oldest sample is at least this fraction of the window old."""
SAMPLE_RETENTION = 1.5
"""The loop keeps samples for this many times the longer window."""


# ------------------------------------------------------------------------------ policy


@dataclass(frozen=True)
class Policy:
    """Autoscaling thresholds; CPU is the mean percent per instance (100 = one core)."""

    min_instances: int = 2
    max_instances: int = 10
    scale_up_cpu: float = 70.0
    scale_down_cpu: float = 30.0
    up_window: float = 300.0
    down_window: float = 900.0
    cooldown: float = 120.0
    step_up: int = 1

    def __post_init__(self) -> None:
        problems = _policy_problems(self)
        if problems:
            raise ValueError("invalid autoscaling policy: " + "; ".join(problems))


def _policy_problems(policy: Policy) -> list[str]:
    checks = [
        (policy.min_instances >= 1, "min_instances must be at least 1"),
        (policy.max_instances >= policy.min_instances, "max_instances must be >= min_instances"),
        (policy.step_up >= 1, "step_up must be at least 1"),
        (policy.scale_down_cpu >= 0, "scale_down_cpu must not be negative"),
        (policy.scale_down_cpu < policy.scale_up_cpu, "scale_down_cpu must be < scale_up_cpu"),
        (policy.up_window > 0 and policy.down_window > 0, "windows must be positive"),
        (policy.cooldown >= 0, "cooldown must not be negative"),
    ]
    return [message for ok, message in checks if not ok]


@dataclass(frozen=True)
class Sample:
    """Mean CPU percent per instance measured at ``at`` (clock seconds) over ``instances``."""

    at: float
    mean_cpu: float
    instances: int


@dataclass(frozen=True)
class Decision:
    """What to do: ``target`` instances, why (a sentence with the numbers) and from what."""

    target: int
    action: Action
    reason: str
    inputs: dict[str, float]


@dataclass(frozen=True)
class _Window:
    """The samples of one window: their mean, count and how long the window was observed."""

    length: float
    mean: float
    count: int
    observed: float

    @property
    def covered(self) -> bool:
        return self.observed >= WINDOW_COVERAGE * self.length

    def describe(self) -> str:
        return f"mean CPU {self.mean:.1f} % over the last {self.length:.0f} s"


def _window(
    samples: Sequence[Sample], now: float, length: float, since: float | None
) -> _Window | None:
    start = now - length
    eligible = [s for s in samples if s.at <= now and (since is None or s.at > since)]
    inside = [s for s in eligible if s.at >= start]
    if not inside:
        return None
    # Observed since the first eligible sample, not the oldest one inside the window:
    # samples arrive a little more than an interval apart, so the oldest inside a window
    # may never be old enough although the window has been watched throughout.
    observed = now - min(s.at for s in eligible)
    return _Window(length, fmean(s.mean_cpu for s in inside), len(inside), observed)


def decide(
    policy: Policy,
    samples: Sequence[Sample],
    current: int,
    now: float,
    last_action_at: float | None,
) -> Decision:
    """Decide the instance count; pure (no clock, no I/O), so it is tested with a fake clock.

    Order: bounds (an out-of-range ``current`` is brought back into range at once), then
    cooldown, then scale up (the mean over ``up_window`` above ``scale_up_cpu``), then scale
    down (the mean over ``down_window`` below ``scale_down_cpu``), else hold. Only covered
    windows made of samples taken after ``last_action_at`` count.
    """
    inputs = _base_inputs(policy, current, now, last_action_at)
    bounded = _bring_within_bounds(policy, current, inputs)
    if bounded is not None:
        return bounded
    if last_action_at is not None and now - last_action_at < policy.cooldown:
        reason = (
            f"cooling down: the last action was {now - last_action_at:.0f} s ago and the "
            f"cooldown is {policy.cooldown:.0f} s; holding at {current} instances"
        )
        return Decision(current, "hold", reason, inputs)
    up = _window(samples, now, policy.up_window, last_action_at)
    down = _window(samples, now, policy.down_window, last_action_at)
    inputs |= _window_inputs("up", up) | _window_inputs("down", down)
    return (
        _scale_up(policy, up, current, inputs)
        or _scale_down(policy, down, current, inputs)
        or _hold(policy, up, down, current, inputs)
    )


def _base_inputs(
    policy: Policy, current: int, now: float, last_action_at: float | None
) -> dict[str, float]:
    inputs = {
        "current": float(current),
        "min_instances": float(policy.min_instances),
        "max_instances": float(policy.max_instances),
        "now": now,
    }
    if last_action_at is not None:
        inputs["seconds_since_last_action"] = now - last_action_at
    return inputs


def _window_inputs(name: str, window: _Window | None) -> dict[str, float]:
    if window is None:
        return {f"{name}_samples": 0.0}
    return {
        f"{name}_mean_cpu": window.mean,
        f"{name}_samples": float(window.count),
        f"{name}_observed_seconds": window.observed,
    }


def _bring_within_bounds(policy: Policy, current: int, inputs: dict[str, float]) -> Decision | None:
    if current < policy.min_instances:
        reason = (
            f"{current} instances is below the minimum of {policy.min_instances}: "
            f"scaling up to {policy.min_instances}"
        )
        return Decision(policy.min_instances, "up", reason, inputs)
    if current > policy.max_instances:
        reason = (
            f"{current} instances is above the maximum of {policy.max_instances}: "
            f"scaling down to {policy.max_instances}"
        )
        return Decision(policy.max_instances, "down", reason, inputs)
    return None


def _scale_up(
    policy: Policy, up: _Window | None, current: int, inputs: dict[str, float]
) -> Decision | None:
    if up is None or not up.covered or up.mean <= policy.scale_up_cpu:
        return None
    busy = f"{up.describe()} ({up.count} samples) is above {policy.scale_up_cpu:.1f} %"
    if current >= policy.max_instances:
        reason = f"at maximum ({policy.max_instances} instances): {busy}, holding"
        return Decision(current, "hold", reason, inputs)
    target = min(current + policy.step_up, policy.max_instances)
    return Decision(target, "up", f"{busy}: scaling up from {current} to {target}", inputs)


def _scale_down(
    policy: Policy, down: _Window | None, current: int, inputs: dict[str, float]
) -> Decision | None:
    if down is None or not down.covered or down.mean >= policy.scale_down_cpu:
        return None
    idle = f"{down.describe()} ({down.count} samples) is below {policy.scale_down_cpu:.1f} %"
    if current <= policy.min_instances:
        reason = f"at minimum ({policy.min_instances} instances): {idle}, holding"
        return Decision(current, "hold", reason, inputs)
    target = current - 1
    return Decision(target, "down", f"{idle}: scaling down from {current} to {target}", inputs)


def _hold(
    policy: Policy,
    up: _Window | None,
    down: _Window | None,
    current: int,
    inputs: dict[str, float],
) -> Decision:
    up_text = _window_status(up, policy.up_window, "up", f"not above {policy.scale_up_cpu:.1f} %")
    down_text = _window_status(
        down, policy.down_window, "down", f"not below {policy.scale_down_cpu:.1f} %"
    )
    reason = f"holding at {current} instances: {up_text}; {down_text}"
    return Decision(current, "hold", reason, inputs)


def _window_status(window: _Window | None, length: float, name: str, verdict: str) -> str:
    if window is None:
        return f"no CPU samples yet in the {length:.0f} s {name} window"
    if not window.covered:
        return (
            f"only {window.observed:.0f} s of the {length:.0f} s {name} window observed "
            f"since the last action (mean CPU {window.mean:.1f} % so far)"
        )
    return f"{window.describe()} is {verdict}"


# ------------------------------------------------------------------------------ sampling


class CpuSampler:
    """Mean CPU percent (100 = one core) over a set of PIDs, measured between two calls.

    One ``psutil.Process`` is kept per PID across calls: the first call for a PID only
    primes its counter and is left out of that sample. PIDs that disappear are forgotten.
    """

    def __init__(self) -> None:
        self._processes: dict[int, psutil.Process] = {}

    def __call__(self, pids: list[int]) -> float | None:
        """The mean CPU percent of the PIDs that have a reading, or None when none has."""
        self._forget_all_but(set(pids))
        readings = [reading for pid in pids if (reading := self._read(pid)) is not None]
        return fmean(readings) if readings else None

    def _forget_all_but(self, pids: set[int]) -> None:
        for pid in set(self._processes) - pids:
            del self._processes[pid]

    def _read(self, pid: int) -> float | None:
        process = self._processes.get(pid)
        try:
            if process is None or not process.is_running():
                self._processes[pid] = process = psutil.Process(pid)
                process.cpu_percent(interval=None)
                return None
            return process.cpu_percent(interval=None)
        except psutil.Error:
            self._processes.pop(pid, None)
            return None


# ------------------------------------------------------------------------------ metrics


class AutoscalerMetrics:
    """The autoscaler's Prometheus metrics, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry(auto_describe=True)
        self.instances = Gauge(
            "autoscaler_instances", "Serving instances seen by the autoscaler", registry=r
        )
        self.mean_cpu = Gauge(
            "autoscaler_mean_cpu_percent",
            "Latest mean CPU percent per serving instance (100 = one core)",
            registry=r,
        )
        self.decisions = Counter(
            "autoscaler_decisions", "Autoscaler decisions by action", ["action"], registry=r
        )
        self.target = Gauge(
            "autoscaler_target_instances", "Instance count of the latest decision", registry=r
        )
        self.last_action = Gauge(
            "autoscaler_last_action_timestamp_seconds",
            "Unix time at which the last scaling action completed",
            registry=r,
        )
        self.failures = Counter(
            "autoscaler_scale_failures", "Scaling actions that raised an error", registry=r
        )
        for action in ACTIONS:
            self.decisions.labels(action=action)

    def record_decision(self, decision: Decision, current: int, mean_cpu: float | None) -> None:
        """Count a decision and update the instance, CPU and target gauges."""
        self.instances.set(current)
        if mean_cpu is not None:
            self.mean_cpu.set(mean_cpu)
        self.target.set(decision.target)
        self.decisions.labels(action=decision.action).inc()

    def start_metrics_server(self, port: int) -> WSGIServer:
        """Serve these metrics on http://127.0.0.1:<port>/ in a daemon thread."""
        server, _thread = start_http_server(port, addr="127.0.0.1", registry=self.registry)
        return server


# ------------------------------------------------------------------------------ loop


class Scaler(Protocol):
    """The instances the autoscaler manages."""

    def instance_pids(self) -> list[int]:
        """PIDs of the serving instances of the active release."""
        ...

    def scale_to(self, count: int, reason: str) -> None:
        """Run ``count`` instances; blocks until new ones are ready and removed ones drained."""
        ...


Sampler = Callable[[list[int]], float | None]


@dataclass
class _Loop:
    """The state of one autoscaler loop between ticks."""

    scaler: Scaler
    policy: Policy
    clock: Callable[[], float]
    sampler: Sampler
    metrics: AutoscalerMetrics | None
    samples: deque[Sample] = field(default_factory=deque)
    last_action_at: float | None = None
    retry_not_before: float | None = None

    def tick(self) -> None:
        """One sample, one decision, and the action it calls for."""
        pids = self.scaler.instance_pids()
        now = self.clock()
        mean_cpu = self.sampler(pids)
        if mean_cpu is not None:
            self.samples.append(Sample(now, mean_cpu, len(pids)))
        self._trim(now)
        decision = decide(self.policy, self.samples, len(pids), now, self.last_action_at)
        _log_decision(decision, len(pids))
        if self.metrics is not None:
            self.metrics.record_decision(decision, len(pids), mean_cpu)
        if decision.action != "hold":
            self._act(decision, now)

    def _trim(self, now: float) -> None:
        horizon = now - SAMPLE_RETENTION * max(self.policy.up_window, self.policy.down_window)
        while self.samples and self.samples[0].at < horizon:
            self.samples.popleft()

    def _act(self, decision: Decision, now: float) -> None:
        if self.retry_not_before is not None and now < self.retry_not_before:
            log.info("autoscaler action postponed after a failure", retry_at=self.retry_not_before)
            return
        try:
            self.scaler.scale_to(decision.target, decision.reason)
        except Exception:  # a failed action must not end the loop
            log.exception("autoscaler scale_to failed", target=decision.target)
            self.retry_not_before = self.clock() + self.policy.cooldown
            if self.metrics is not None:
                self.metrics.failures.inc()
            return
        self.last_action_at = self.clock()
        self.retry_not_before = None
        if self.metrics is not None:
            self.metrics.last_action.set_to_current_time()


def _log_decision(decision: Decision, current: int) -> None:
    emit = log.debug if decision.action == "hold" else log.info
    emit(
        "autoscaler decision",
        action=decision.action,
        target=decision.target,
        current=current,
        reason=decision.reason,
        inputs=decision.inputs,
    )


def run_autoscaler(
    scaler: Scaler,
    policy: Policy,
    *,
    interval: float = 5.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    metrics: AutoscalerMetrics | None = None,
    stop: threading.Event | None = None,
    sampler: Sampler | None = None,
) -> None:
    """Sample, decide and scale every ``interval`` seconds until ``stop`` is set.

    ``last_action_at`` is taken from ``clock`` after ``scale_to`` returns, so the cooldown
    and the new windows start once the new instances serve. A ``scale_to`` that raises is
    logged and retried no sooner than ``policy.cooldown`` later (the windows keep their
    samples); any other error in a tick is logged and the loop goes on.
    """
    if interval <= 0:
        raise ValueError("interval must be positive")
    stop = stop if stop is not None else threading.Event()
    loop = _Loop(scaler, policy, clock, sampler if sampler is not None else CpuSampler(), metrics)
    log.info("autoscaler started", interval=interval, policy=asdict(policy))
    while not stop.is_set():
        try:
            loop.tick()
        except Exception:  # a failed tick must not end the loop
            log.exception("autoscaler tick failed")
        if not stop.is_set():
            sleep(interval)
    log.info("autoscaler stopped")
