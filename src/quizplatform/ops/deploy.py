"""Zero-downtime deploys on the one-host stack: blue-green and canary, with rollback.

Both strategies start the new release's instances beside the running ones, run the
(backward-compatible) migrations, wait for readiness and smoke-test the new set through
HAProxy's candidate backend. Traffic then moves through the runtime API, without a reload:
blue-green switches weights in one call; a canary first sends a random share of requests
to the candidate backend (an ACL updated at run time), then switches like blue-green.
The previous release stays warm so that ``rollback`` is a weight switch.
"""

from __future__ import annotations

import contextlib
import math
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import structlog

from quizplatform.ops.haproxy import candidate_key
from quizplatform.ops.process import OpsError
from quizplatform.ops.stack import ACTIVE, CANDIDATE, Instance, Stack

log = structlog.get_logger(__name__)
Progress = Callable[[str], None]
_EPSILON = 1e-9  # a value exactly at a threshold passes, whatever float rounding says


@dataclass(frozen=True)
class CanaryPolicy:
    """When a canary step fails (the seed's rule): error rate more than ``max_error_delta``
    points above stable's, or p99 above ``max_latency_ratio`` x stable's."""

    steps: tuple[int, ...] = (10, 50, 100)
    step_seconds: float = 60.0
    check_interval: float = 5.0
    max_error_delta: float = 2.0  # percentage points
    max_latency_ratio: float = 1.2
    # ...and more than this many seconds slower: at a few ms, the p99 of a small sample
    # moves by whole histogram buckets, which is noise, not a regression.
    min_latency_delta: float = 0.025
    min_requests: int = 20  # per side, before a comparison means anything
    # A p99 of fewer than this many requests is one of the slowest few: the latency rule
    # waits for this many per side (the error rule only for min_requests).
    min_latency_requests: int = 200
    # A new process's first requests are slower whatever the release (CI saw a good
    # canary's p99 at 74 ms against stable's 5 ms 2.4 s after it took traffic, after the
    # warm-up): the latency rule leaves out the first seconds of canary traffic, and
    # rolls back only when it is broken at this many checks in a row (Flagger's
    # "threshold"). The error rule needs neither: one bad check rolls back.
    latency_grace_seconds: float = 3.0
    latency_checks_to_fail: int = 2
    window: str = "30s"  # PromQL range for the rates


@dataclass
class Comparison:
    """Canary against stable over the last window."""

    canary_error_pct: float | None
    stable_error_pct: float | None
    canary_p99: float | None
    stable_p99: float | None
    canary_requests: float
    stable_requests: float
    reasons: list[str] = field(default_factory=list)
    latency_reason: str | None = None  # the p99 rule's reason when broken at this check
    # Requests per side (the fewer) over the latency rule's window, when it is shorter.
    latency_requests: float | None = None

    @property
    def healthy(self) -> bool:
        return not self.reasons


@dataclass
class DeployResult:
    version: str
    strategy: str
    outcome: str  # "deployed" or "rolled back"
    seconds: float
    reason: str = ""
    steps: list[dict[str, Any]] = field(default_factory=list)
    # Canary: seconds from the first user request it could receive to the rollback.
    exposed_seconds: float | None = None


class DeployAborted(OpsError):
    """The new release failed a check before it took any user traffic."""


_DURATION_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def comparison_window(window: str, since_seconds: float | None) -> str:
    """The PromQL range of a comparison: ``window``, or the whole seconds since the
    canary took traffic when fewer (``window`` unchanged when it is not a plain
    Prometheus duration such as ``30s`` or ``1m30s``)."""
    parts = _DURATION_PART.findall(window)
    if since_seconds is None or not parts or "".join(n + u for n, u in parts) != window:
        return window
    seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in parts)
    if since_seconds >= seconds:
        return window
    return f"{max(1, math.ceil(since_seconds))}s"


def latency_window(policy: CanaryPolicy, since_seconds: float | None) -> str | None:
    """The PromQL range of the latency rule: like ``comparison_window`` but without the
    canary's first ``latency_grace_seconds``; ``None`` while less than a second is left."""
    if since_seconds is None:
        return policy.window
    after_grace = since_seconds - policy.latency_grace_seconds
    return None if after_grace < 1 else comparison_window(policy.window, after_grace)


def judge(comparison: Comparison, policy: CanaryPolicy) -> Comparison:
    """Fill ``comparison.reasons`` with every rule the canary breaks (pure)."""
    c = comparison
    enough = c.canary_requests >= policy.min_requests and c.stable_requests >= policy.min_requests
    if not enough:
        return c
    if c.canary_error_pct is not None and c.stable_error_pct is not None:
        delta = c.canary_error_pct - c.stable_error_pct
        if delta > policy.max_error_delta + _EPSILON:
            c.reasons.append(
                f"error rate {c.canary_error_pct:.1f}% vs stable {c.stable_error_pct:.1f}% "
                f"(+{delta:.1f} points > {policy.max_error_delta:g})"
            )
    counted = c.latency_requests
    if counted is None:
        counted = min(c.canary_requests, c.stable_requests)
    measured = counted >= policy.min_latency_requests
    if measured and c.canary_p99 is not None and c.stable_p99 is not None and c.stable_p99 > 0:
        ratio = c.canary_p99 / c.stable_p99
        slower = c.canary_p99 - c.stable_p99
        if ratio > policy.max_latency_ratio + _EPSILON and slower > policy.min_latency_delta:
            c.latency_reason = (
                f"p99 {c.canary_p99 * 1000:.0f} ms vs stable {c.stable_p99 * 1000:.0f} ms "
                f"({ratio:.2f}x > {policy.max_latency_ratio:g}x)"
            )
            c.reasons.append(c.latency_reason)
    return c


def rollback_reasons(history: list[Comparison], policy: CanaryPolicy) -> list[str]:
    """Why the canary must roll back after the last of ``history``'s judged checks (empty:
    it goes on): an error-rate breach at once, a latency breach only when each of the
    last ``policy.latency_checks_to_fail`` checks had one (pure)."""
    if not history:
        return []
    last = history[-1]
    recent = history[-policy.latency_checks_to_fail :]
    latency_holds = len(recent) >= policy.latency_checks_to_fail and all(
        c.latency_reason for c in recent
    )
    if latency_holds:
        return list(last.reasons)
    return [r for r in last.reasons if r != last.latency_reason]


class Deployer:
    """Deploys, rollbacks and the release history of one stack."""

    def __init__(self, stack: Stack, progress: Progress | None = None) -> None:
        self.stack = stack
        self.progress = progress or (lambda _m: None)

    def _say(self, message: str, **fields: Any) -> None:
        log.info("deploy", message=message, **fields)
        self.progress(message)

    # ---------------------------------------------------------------- shared steps ------
    def _prepare(self, version: str) -> tuple[list[Instance], list[Instance]]:
        stack = self.stack
        state = stack.read_state()
        if version == state.active_release:
            raise OpsError(f"release {version} is already active")
        release = stack.releases.get(version)
        stable = stack.active_instances()
        if not stable:
            raise OpsError("no stable instances: run `quiz stack up` first")
        self._retire_leftovers(keep=state.active_release)
        self._say(f"migrating the database with {version}")
        stack.migrate(release)
        stack.releases.set_status(version, "candidate")
        self._say(f"starting {len(stable)} instances of {version}")
        candidate = stack.start_instances(version, len(stable), CANDIDATE)
        stack.set_weight(candidate, 100)
        stack.wait_lb_up(candidate)
        self._say("smoke-testing the candidate through HAProxy")
        try:
            self.smoke_test()
        except OpsError as exc:
            self._say(f"smoke test failed, stopping {version}: {exc}")
            stack.stop_instances(candidate, drain_timeout=5)
            stack.releases.set_status(version, "failed", str(exc))
            raise DeployAborted(str(exc)) from exc
        self._say("warming the candidate up")
        self.warm_up()
        return stable, candidate

    def smoke_test(self) -> None:
        """A few requests to the candidate pool through the TLS front door (the deep
        ``/health`` is not served there; the candidate's instances passed it already)."""
        headers = {"X-Quiz-Pool": candidate_key(self.stack.run_dir)}
        with httpx.Client(base_url=self.stack.url, verify=False, timeout=5) as client:  # noqa: S501 - local CA
            for path in ("/health/ready", "/api/v1/version", "/api/v1/quizzes"):
                answer = client.get(path, headers=headers)
                if answer.status_code >= 500 or (
                    path.startswith("/health") and answer.status_code != 200
                ):
                    raise OpsError(f"smoke test: GET {path} answered {answer.status_code}")

    def warm_up(self, connections: int = 8, rounds: int = 15, seconds: float = 3.0) -> None:
        """Concurrent reads to the candidate pool before it takes user traffic, so that
        its first users do not pay for what a new process does once (database pool
        connections, compiled statements, the near cache). Without it a drill saw a good
        canary's p99 at 60 ms against stable's 8 ms after 2.7 s at 10 %: the canary's
        comparison measured the warm-up, not the release. (The comparison leaves these
        requests out: it starts when the canary takes traffic.) Failures are ignored here:
        the smoke test has judged the release, and the canary's comparison judges it next."""
        headers = {"X-Quiz-Pool": candidate_key(self.stack.run_dir)}
        with httpx.Client(base_url=self.stack.url, verify=False, timeout=5) as client:  # noqa: S501 - local CA
            try:
                listed = client.get("/api/v1/quizzes", headers=headers).json().get("items", [])
            except (httpx.HTTPError, ValueError, AttributeError):
                listed = []
            paths = ["/api/v1/quizzes", "/api/v1/version"]
            paths += [f"/api/v1/quizzes/{item['id']}" for item in listed[:3] if "id" in item]

            deadline = time.monotonic() + seconds  # a slow release must not stall the deploy

            def reads(_: int) -> None:
                for _round in range(rounds):
                    for path in paths:
                        if time.monotonic() > deadline:
                            return
                        with contextlib.suppress(httpx.HTTPError):
                            client.get(path, headers=headers)

            with ThreadPoolExecutor(connections) as pool:
                list(pool.map(reads, range(connections)))

    def _retire_leftovers(self, keep: str | None) -> None:
        """Stop instances of releases other than ``keep`` (the warm previous set)."""
        leftovers = [i for i in self.stack.read_state().instances if i.release != keep]
        if leftovers:
            self._say(f"stopping {len(leftovers)} instances of older releases")
            self.stack.stop_instances(leftovers)
        for release in self.stack.releases.list():
            if release.version != keep and release.status in ("active", "previous", "candidate"):
                self.stack.releases.set_status(release.version, "retired")

    def _promote(self, version: str, candidate: list[Instance], stable: list[Instance]) -> None:
        """Make the candidate set the active one: move it into the app backend's slots
        (same port, already serving there with weight), keep stable warm at weight 0."""
        stack = self.stack
        with stack.locked() as state:
            previous = state.active_release
            state.previous_release = previous
            state.active_release = version
            slots = {i.slot for i in candidate}
            for instance in state.instances:
                if instance.slot in slots:
                    instance.backend = ACTIVE
            stack._write_targets(state)
        for instance in candidate:
            stack.haproxy.disable(CANDIDATE, instance.slot)
        stack.releases.set_status(version, "active")
        if previous:
            stack.releases.set_status(previous, "previous")
        self._restart_worker()

    def _restart_worker(self) -> None:
        stack = self.stack
        if stack.supervisor.state("worker") is not None:
            stack._start_worker()

    def _abort(self, version: str, candidate: list[Instance], reason: str) -> None:
        """No more traffic to the candidate, then stop it; stable never stopped serving."""
        stack = self.stack
        stack.haproxy.set_canary_share(0)
        self._say(f"rolling back: {reason}")
        stack.stop_instances(candidate, drain_timeout=10)
        stack.releases.set_status(version, "rolled-back", reason)

    # ---------------------------------------------------------------- blue-green --------
    def blue_green(self, version: str) -> DeployResult:
        """Start green beside blue, smoke-test it, then switch all traffic at once."""
        started = time.monotonic()
        try:
            stable, candidate = self._prepare(version)
        except DeployAborted as exc:
            return DeployResult(
                version, "blue-green", "rolled back", time.monotonic() - started, str(exc)
            )
        self._say("switching traffic to the new release")
        self._switch(candidate, stable)
        self._promote(version, candidate, stable)
        return DeployResult(version, "blue-green", "deployed", time.monotonic() - started)

    # ---------------------------------------------------------------- canary ------------
    def canary(self, version: str, policy: CanaryPolicy) -> DeployResult:
        """Send a growing random share of requests to the new release, comparing canary
        and stable from Prometheus at each check; the last step switches all traffic
        (as blue-green does). Any failed check rolls back at once."""
        started = time.monotonic()
        try:
            stable, candidate = self._prepare(version)
        except DeployAborted as exc:
            return DeployResult(
                version, "canary", "rolled back", time.monotonic() - started, str(exc)
            )
        stack = self.stack
        steps: list[dict[str, Any]] = []
        stable_release = stack.read_state().active_release or ""
        exposed_at = time.monotonic()
        history: list[Comparison] = []
        for percent in (p for p in policy.steps if p < 100):
            stack.haproxy.set_canary_share(percent)
            self._say(f"canary at {percent}%")
            step_started = time.monotonic()
            while time.monotonic() - step_started < policy.step_seconds:
                time.sleep(policy.check_interval)
                since = time.monotonic() - exposed_at
                compared = self.compare(version, stable_release, policy, since_seconds=since)
                comparison = judge(compared, policy)
                history.append(comparison)
                steps.append({"percent": percent, **comparison.__dict__})
                reasons = rollback_reasons(history, policy)
                if reasons:
                    exposed = time.monotonic() - exposed_at
                    reason = "; ".join(reasons)
                    self._abort(version, candidate, reason)
                    return DeployResult(
                        version,
                        "canary",
                        "rolled back",
                        time.monotonic() - started,
                        reason,
                        steps,
                        exposed_seconds=exposed,
                    )
        self._say("canary at 100%")
        self._switch(candidate, stable)
        stack.haproxy.set_canary_share(0)
        self._promote(version, candidate, stable)
        return DeployResult(version, "canary", "deployed", time.monotonic() - started, "", steps)

    def _switch(self, candidate: list[Instance], stable: list[Instance]) -> None:
        """Put the candidate set in the app backend and move all weight to it at once."""
        stack = self.stack
        for instance in candidate:
            stack.haproxy.enable(ACTIVE, instance.slot, instance.port, weight=0)
        stack.wait_lb_up([Instance(i.slot, i.port, i.release, ACTIVE) for i in candidate])
        weights = {(ACTIVE, i.slot): 100 for i in candidate}
        weights |= {(ACTIVE, i.slot): 0 for i in stable}
        stack.haproxy.set_weights(weights)  # one runtime API call: the atomic switch

    def compare(
        self, canary: str, stable: str, policy: CanaryPolicy, since_seconds: float | None = None
    ) -> Comparison:
        """Error rate (5xx %) and p99 latency of each release over the policy window, or
        over the last ``since_seconds`` when that is shorter (what the canary served since
        it took traffic, not its warm-up)."""
        w = comparison_window(policy.window, since_seconds)
        lw = latency_window(policy, since_seconds)
        traffic = 'route!~"/health.*|/metrics"'

        def value(query: str, release: str) -> float | None:
            result = self.stack.prometheus_query(query.replace("$R", release))
            if not result:
                return None
            number = float(result[0]["value"][1])
            return None if math.isnan(number) else number

        def requests(release: str, window: str = w) -> float:
            return (
                value(
                    f'sum(increase(http_requests_total{{release="$R",{traffic}}}[{window}]))',
                    release,
                )
                or 0.0
            )

        def error_pct(release: str, total: float) -> float | None:
            errors = (
                value(
                    f'sum(increase(http_requests_total{{release="$R",status=~"5..",{traffic}}}[{w}]))',
                    release,
                )
                or 0.0
            )
            return None if total == 0 else 100 * errors / total

        def p99(release: str) -> float | None:
            if lw is None:
                return None  # still within the grace: no latency verdict yet
            return value(
                "histogram_quantile(0.99, sum by (le) (rate("
                f'http_request_duration_seconds_bucket{{release="$R",{traffic}}}[{lw}])))',
                release,
            )

        latency_requests = None if lw is None else min(requests(canary, lw), requests(stable, lw))
        canary_total, stable_total = requests(canary), requests(stable)
        return Comparison(
            canary_error_pct=error_pct(canary, canary_total),
            stable_error_pct=error_pct(stable, stable_total),
            canary_p99=p99(canary),
            stable_p99=p99(stable),
            canary_requests=canary_total,
            stable_requests=stable_total,
            latency_requests=latency_requests,
        )

    # ---------------------------------------------------------------- rollback ----------
    def rollback(self) -> DeployResult:
        """Return to the previous release: a weight switch when it is still warm."""
        started = time.monotonic()
        stack = self.stack
        state = stack.read_state()
        previous, current = state.previous_release, state.active_release
        if previous is None or current is None:
            raise OpsError("no previous release to roll back to")
        warm = [i for i in state.instances if i.release == previous]
        now = [i for i in state.instances if i.release == current]
        if not warm:
            self._say(f"starting {len(now)} instances of {previous}")
            warm = stack.start_instances(previous, max(1, len(now)), ACTIVE)
        else:
            stack.wait_lb_up(warm)
        weights = {(ACTIVE, i.slot): 100 for i in warm}
        weights |= {(ACTIVE, i.slot): 0 for i in now}
        stack.haproxy.set_weights(weights)
        with stack.locked() as st:
            st.active_release, st.previous_release = previous, current
        # The release rolled back from stays warm at weight 0: it is the previous one now.
        stack.releases.set_status(current, "previous", "rolled back from (quiz rollback)")
        stack.releases.set_status(previous, "active", "quiz rollback")
        seconds = time.monotonic() - started
        self._restart_worker()
        return DeployResult(previous, "rollback", "rolled back", seconds)
