"""Capacity planning from this machine's measured figures: a pure planner.

:func:`plan` takes what an operator expects (:class:`Workload`), what the benchmarks
measured (:class:`Measurements`, read by :mod:`quizplatform.ops.capacity_inputs`) and the
deployment's settings (:class:`Deployment`), and returns a :class:`Plan`: instances, CPU
cores per component, database connections, Redis memory and the cost per 1,000 students.
No I/O here: every figure comes in through the dataclasses, every assumption goes out in
``Plan.assumptions``.

The model. An exam has three peaks, and the busiest one sizes the deployment:

* **start**: the online students sign in (an argon2 check each), read the quiz and start
  an attempt within the start window;
* **steady**: every online student saves an answer every autosave interval (or every
  answer) and reads the quiz once per question (navigation, reloads);
* **deadline**: every online student submits within the submit window, saves go on.

Each request costs the CPU measured per request by ``make bench`` for its route (the
instance's own CPU) plus the CPU the rest of the machine spent per request during that
route's runs (PostgreSQL and Redis; wrk's share, measured on the hello route, taken off).
Cores are sized so that the peak times ``headroom`` keeps each component at
``target_utilisation`` (the autoscaler's scale-up threshold).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

HOURS_PER_MONTH = 730.0
REQUIRED_ROUTES = ("hello_mw", "get_quiz", "put_response", "submit")

# Used when var/bench/capacity-probe.json is missing: what bench/capacity_probe.py
# measured here on 2026-12-05 (commit d1941f1, Redis 7.0.15, argon2-cffi defaults).
DEFAULT_LOGIN_CPU_MS = 168.0
DEFAULT_LOGIN_WALL_MS = 206.0
DEFAULT_REDIS_BYTES: Mapping[str, float] = {
    "token": 296.0,
    "sessions_index": 360.0,
    "token_epoch": 104.0,
    "rate_limit_read": 120.0,
    "rate_limit_read_prev": 120.0,
    "rate_limit_write": 120.0,
    "rate_limit_write_prev": 120.0,
    "read_your_writes": 104.0,
    "leaderboard_entry": 382.0,
}
DEFAULT_HAPROXY_CPU_MS = 0.05
ARGON2_MIB = 64  # memory of one argon2 check (runtime/cpu.py)
REDIS_BASE_MB = 5.0  # an empty Redis process's own used_memory, with room for scripts


class CapacityInputError(ValueError):
    """An input the planner cannot use; the message says which and why."""


@dataclass(frozen=True)
class Source:
    """Where a measured figure comes from."""

    path: str
    started_at: str
    commit: str

    def describe(self) -> str:
        """``path (started_at, commit C)``."""
        return f"{self.path} ({self.started_at}, commit {self.commit})"


@dataclass(frozen=True)
class RouteCost:
    """Measured medians of one ``make bench`` route."""

    rps: float
    p99_ms: float
    instance_cpu_ms: float
    backend_cpu_ms: float | None = None  # PostgreSQL + Redis per request, when derivable


@dataclass(frozen=True)
class ExamRun:
    """An exam-scenario result (``var/bench/exam-latest.json`` or the stack's)."""

    source: Source
    students: int
    instances: int
    errors: int
    lost_answers: int
    p95_save_ms: float | None
    p95_submit_ms: float | None


@dataclass(frozen=True)
class Measurements:
    """What the benchmarks measured, with their sources."""

    routes: Mapping[str, RouteCost]
    instance_rss_mb: float
    cpus: int
    source: Source
    login_cpu_ms: float = DEFAULT_LOGIN_CPU_MS
    login_wall_ms: float = DEFAULT_LOGIN_WALL_MS
    redis_bytes: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_REDIS_BYTES))
    probe_source: Source | None = None
    haproxy_cpu_ms: float = DEFAULT_HAPROXY_CPU_MS
    haproxy_source: Source | None = None
    exams: tuple[ExamRun, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Workload:
    """What the operator expects."""

    students: int
    online_share: float = 0.3
    questions: int = 20
    autosave_seconds: float = 30.0  # 0: a save with every answer
    exam_minutes: float = 60.0
    start_window_minutes: float = 5.0
    submit_window_seconds: float = 60.0
    headroom: float = 2.0
    target_utilisation: float = 0.7
    price_per_core_hour: float = 0.05
    peak_hours_per_month: float = 40.0

    def check(self) -> None:
        """Raise :class:`CapacityInputError` for values no plan can be made for."""
        problems = [
            (self.students < 1, "--students must be at least 1"),
            (not 0 < self.online_share <= 1, "--online-share must be in (0, 1]"),
            (self.questions < 1, "--questions must be at least 1"),
            (self.autosave_seconds < 0, "--autosave-seconds must be 0 (every answer) or more"),
            (self.exam_minutes <= 0, "--exam-minutes must be more than 0"),
            (self.start_window_minutes <= 0, "--start-window-minutes must be more than 0"),
            (self.submit_window_seconds <= 0, "--submit-window-seconds must be more than 0"),
            (self.headroom < 1, "--headroom must be at least 1"),
            (not 0 < self.target_utilisation <= 1, "--target-utilisation must be in (0, 1]"),
            (self.price_per_core_hour < 0, "--price-per-core-hour must not be negative"),
            (not 0 <= self.peak_hours_per_month <= HOURS_PER_MONTH, "--peak-hours out of 0..730"),
        ]
        bad = [message for failed, message in problems if failed]
        if bad:
            raise CapacityInputError("; ".join(bad))

    @property
    def online(self) -> float:
        """Students online at the peak."""
        return self.students * self.online_share


@dataclass(frozen=True)
class Deployment:
    """Settings of the deployment the plan is for."""

    pool_size: int = 20
    max_overflow: int = 0
    max_connections: int = 200
    # superuser_reserved_connections (3), Patroni, pgBackRest, monitoring, an admin's psql
    extra_connections: int = 8
    min_instances: int = 2
    max_instances: int = 10
    cpu_slots: int = 2

    @property
    def other_connections(self) -> int:
        """Connections that are not the instances': the worker's pool (the same settings)
        and ``extra_connections``."""
        return self.pool_size + self.max_overflow + self.extra_connections


@dataclass(frozen=True)
class Phase:
    """One peak: requests per second by route and the CPU they need."""

    name: str
    rates: Mapping[str, float]
    instance_cores: float
    backend_cores: float
    haproxy_cores: float


@dataclass(frozen=True)
class Plan:
    """The answer: what to run for the workload, what it costs, and why."""

    workload: Workload
    deployment: Deployment
    phases: tuple[Phase, ...]
    peak: str
    instances: int
    cores: Mapping[str, float]
    instance_ram_mb: float
    connections_per_instance: int
    connections_total: int
    pool_fits: bool
    pool_size_that_fits: int
    redis_mb: float
    redis_maxmemory_mb: float
    cost_always_on: float
    cost_scaled: float
    assumptions: tuple[str, ...]
    sources: Mapping[str, str]
    warnings: tuple[str, ...]
    cross_checks: tuple[str, ...]

    @property
    def total_cores(self) -> float:
        """Every component's cores."""
        return sum(self.cores.values())

    def per_thousand(self, cost: float) -> float:
        """``cost`` per 1,000 students."""
        return cost / self.workload.students * 1000


def _need(m: Measurements, route: str) -> RouteCost:
    try:
        return m.routes[route]
    except KeyError:
        raise CapacityInputError(f"the measurements have no {route!r} route") from None


def phases(w: Workload, m: Measurements) -> tuple[Phase, ...]:
    """The three peaks' request rates and CPU (cores at 100 %, before headroom)."""
    online = w.online
    exam_s = w.exam_minutes * 60
    reads = online * w.questions / exam_s
    saves = reads if w.autosave_seconds == 0 else online / w.autosave_seconds
    start_s = w.start_window_minutes * 60
    shapes = {
        "start": {"login": online / start_s, "get_quiz": reads + online / start_s,
                  "start_attempt": online / start_s},
        "steady": {"get_quiz": reads, "put_response": saves},
        "deadline": {"put_response": saves, "submit": online / w.submit_window_seconds},
    }  # fmt: skip
    return tuple(_phase(name, rates, m) for name, rates in shapes.items())


def _phase(name: str, rates: Mapping[str, float], m: Measurements) -> Phase:
    instance = backend = 0.0
    for route, rate in rates.items():
        ms, other = _cost(route, m)
        instance += rate * ms / 1000
        backend += rate * other / 1000
    total_rate = sum(rates.values())
    return Phase(name, dict(rates), instance, backend, total_rate * m.haproxy_cpu_ms / 1000)


def _cost(route: str, m: Measurements) -> tuple[float, float]:
    """(instance CPU ms, PostgreSQL + Redis CPU ms) of one request of ``route``."""
    if route == "login":
        # The argon2 check plus a request through the middleware, a token write to Redis.
        mw = _need(m, "hello_mw")
        return m.login_cpu_ms + mw.instance_cpu_ms, _backend(_need(m, "put_response"))
    if route == "start_attempt":  # one INSERT-like write: costed as an answer save
        route = "put_response"
    cost = _need(m, route)
    return cost.instance_cpu_ms, _backend(cost)


def _backend(cost: RouteCost) -> float:
    # Not derivable (no per-run machine figures): as much again as the instance's own.
    return cost.backend_cpu_ms if cost.backend_cpu_ms is not None else cost.instance_cpu_ms


def _cores(load: float, w: Workload, floor: float = 0.0) -> float:
    """Whole cores that keep ``load`` x headroom at the target utilisation."""
    return max(floor, float(math.ceil(load * w.headroom / w.target_utilisation - 1e-9)))


def login_slots_instances(w: Workload, m: Measurements, d: Deployment) -> int:
    """Instances whose ``cpu_slots`` argon2 threads keep up with the start window's
    sign-ins (x headroom): each slot checks one password per ``login_wall_ms``."""
    logins_per_s = w.online / (w.start_window_minutes * 60)
    busy_slots = logins_per_s * m.login_wall_ms / 1000 * w.headroom
    return math.ceil(busy_slots / d.cpu_slots - 1e-9)


def redis_megabytes(w: Workload, m: Measurements) -> float:
    """Redis memory: per online student's keys, one leaderboard entry per student."""
    per_student = sum(v for k, v in m.redis_bytes.items() if k != "leaderboard_entry")
    board = m.redis_bytes.get("leaderboard_entry", 0.0) * w.students
    return REDIS_BASE_MB + (per_student * w.online + board) / 2**20


def plan(w: Workload, m: Measurements, d: Deployment | None = None) -> Plan:
    """The capacity plan for ``w`` from the measurements ``m`` on deployment ``d``."""
    w.check()
    d = d or Deployment()
    peaks = phases(w, m)
    busiest = max(peaks, key=lambda p: p.instance_cores)
    instances = max(
        int(_cores(busiest.instance_cores, w, d.min_instances)), login_slots_instances(w, m, d)
    )
    backend = _cores(max(p.backend_cores for p in peaks), w, 1.0)
    cores = {
        "app instances": float(instances),
        "PostgreSQL primary (+ Redis work)": backend,
        "PostgreSQL synchronous standby": backend,
        "Redis": 1.0,
        "HAProxy": _cores(max(p.haproxy_cores for p in peaks), w, 1.0),
    }
    per_instance = d.pool_size + d.max_overflow
    total_conn = instances * per_instance + d.other_connections
    fits = max(0, (d.max_connections - d.other_connections) // instances)
    redis_mb = redis_megabytes(w, m)
    floor = sum(cores.values()) - instances + d.min_instances
    always_on = sum(cores.values()) * HOURS_PER_MONTH * w.price_per_core_hour
    scaled = (
        floor * HOURS_PER_MONTH + (instances - d.min_instances) * w.peak_hours_per_month
    ) * w.price_per_core_hour
    return Plan(
        workload=w,
        deployment=d,
        phases=peaks,
        peak=busiest.name,
        instances=instances,
        cores=cores,
        instance_ram_mb=m.instance_rss_mb + ARGON2_MIB * d.cpu_slots,
        connections_per_instance=per_instance,
        connections_total=total_conn,
        pool_fits=total_conn <= d.max_connections,
        pool_size_that_fits=fits,
        redis_mb=redis_mb,
        redis_maxmemory_mb=float(math.ceil(redis_mb * w.headroom)),
        cost_always_on=always_on,
        cost_scaled=scaled,
        assumptions=assumptions(w, m, d),
        sources=sources(m),
        warnings=warnings(m, d, instances, total_conn, busiest.name),
        cross_checks=cross_checks(w, m),
    )


def assumptions(w: Workload, m: Measurements, d: Deployment) -> tuple[str, ...]:
    """Every assumption the plan rests on, in words."""
    save = (
        "a save with every answer"
        if w.autosave_seconds == 0
        else f"a save every {w.autosave_seconds:g} s"
    )
    backend_note = (
        "PostgreSQL + Redis CPU per request: the machine's busy time during each route's "
        "runs minus the instance, the background measured before the run and wrk's share "
        "(from the hello route)"
        if all(r.backend_cpu_ms is not None for r in m.routes.values())
        else "PostgreSQL + Redis CPU per request: as much again as the instance's "
        "(the bench file has no per-run machine figures)"
    )
    return (
        f"{w.online_share:.0%} of the {w.students:,} students online at the peak "
        f"({w.online:,.0f}); use --online-share 1 when everyone sits the exam at once",
        f"exam of {w.questions} questions in {w.exam_minutes:g} min; {save}; "
        "one quiz read per question (navigation, reloads)",
        f"start: every online student signs in, reads the quiz and starts within "
        f"{w.start_window_minutes:g} min",
        f"deadline: every online student submits within {w.submit_window_seconds:g} s",
        "a sign-in costs one argon2 check (the probe's CPU ms) + a middleware request; "
        "starting an attempt costs an answer save",
        "the instances are up before the exam starts (`quiz stack scale N`): the "
        "autoscaler needs minutes of high CPU to act, as long as the start window",
        f"an instance checks at most {d.cpu_slots} passwords at once (cpu_slots), each "
        f"taking {m.login_wall_ms:.0f} ms: instances are also sized for that",
        backend_note,
        f"headroom x{w.headroom:g} on the peak; each component at most "
        f"{w.target_utilisation:.0%} busy (the autoscaler's scale-up threshold)",
        "an app instance is one process on one core (argon2 runs in threads and may use "
        f"more); at least {d.min_instances} instances for failover",
        "the synchronous standby gets as many cores as the primary (it takes over); "
        "Redis is single-threaded: one core",
        f"HAProxy: {m.haproxy_cpu_ms:.3f} CPU ms per request (TLS, keep-alive)",
        f"instance RAM: the bench's max RSS + {d.cpu_slots} x {ARGON2_MIB} MiB "
        "for concurrent argon2 checks",
        f"connections: {d.pool_size} + {d.max_overflow} overflow per instance; "
        f"{d.other_connections} others: the worker's pool (same settings) and "
        f"{d.extra_connections} for superuser-reserved, Patroni, pgBackRest, monitoring, "
        f"admin; PostgreSQL max_connections {d.max_connections} (each read replica gets "
        "the same pools and needs the same max_connections)",
        "Redis: each online student's token, sessions index, token epoch, 4 rate-limit "
        "counters and read-your-writes marker; one leaderboard entry per student; "
        f"+{REDIS_BASE_MB:g} MB base; per-IP counters not counted (shared behind NAT)",
        f"cost: always on = every core {HOURS_PER_MONTH:g} h/month; scaled = the floor "
        f"({d.min_instances} instances + database, Redis, HAProxy) always on and the "
        f"extra instances {w.peak_hours_per_month:g} h/month; price "
        f"{w.price_per_core_hour:g} per core-hour; RAM, disk, traffic and backups not priced",
    )


def sources(m: Measurements) -> dict[str, str]:
    """Which file each measured figure came from."""
    probe = m.probe_source.describe() if m.probe_source else "built-in (measured 2026-12-05)"
    found = {
        "CPU ms per request, RSS (make bench)": m.source.describe(),
        "sign-in CPU, Redis bytes per key (capacity probe)": probe,
        "HAProxy CPU per request (make bench-stack)": (
            m.haproxy_source.describe() if m.haproxy_source else "assumed"
        ),
    }
    for exam in m.exams:
        found[f"exam scenario ({exam.instances} instance(s))"] = exam.source.describe()
    return found


def warnings(
    m: Measurements, d: Deployment, instances: int, total_conn: int, peak: str
) -> tuple[str, ...]:
    """What the operator must act on or be wary of."""
    out = list(m.warnings)
    fits = (d.max_connections - d.other_connections) // instances
    if total_conn > d.max_connections:
        lower = (
            f"lower db_pool_size to {fits}"
            if fits >= 1
            else "(no pool size fits: 1 each is too many)"
        )
        out.append(
            f"{instances} instances x {d.pool_size + d.max_overflow} connections + "
            f"{d.other_connections} = {total_conn} > max_connections {d.max_connections}: "
            f"raise max_connections to {total_conn}, {lower}, or put pgbouncer in front"
        )
    if instances > d.max_instances:
        out.append(
            f"{instances} instances > the autoscaler's max_instances {d.max_instances}: "
            f"raise it (and scale up before the exam: it reacts in minutes) or the {peak} "
            "peak will queue"
        )
    return tuple(out)


def cross_checks(w: Workload, m: Measurements) -> tuple[str, ...]:
    """Measured exam runs next to what the model says one instance carries."""
    steady = next(p for p in phases(w, m) if p.name == "steady")
    per_student = steady.instance_cores / w.online
    carried = w.target_utilisation / per_student if per_student else math.inf
    lines = [
        f"model: one instance carries {carried:,.0f} online students in the steady "
        f"phase at {w.target_utilisation:.0%} CPU (before headroom)"
    ]
    for exam in m.exams:
        p95 = "?" if exam.p95_save_ms is None else f"{exam.p95_save_ms:.0f}"
        p95s = "?" if exam.p95_submit_ms is None else f"{exam.p95_submit_ms:.0f}"
        lines.append(
            f"measured: {exam.students:,} students on {exam.instances} instance(s): "
            f"p95 save {p95} ms, p95 submit {p95s} ms, {exam.errors} errors, "
            f"{exam.lost_answers} lost answers"
        )
    return tuple(lines)
