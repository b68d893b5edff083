"""Prometheus metrics: one registry per instance (one process per instance, so no
multiprocess mode). Every family is documented in docs/operations.md."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# Live answer acknowledgements: fine around the 250 ms alert threshold.
ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.5, 1.0, 2.5, 5.0)
SIZE_BUCKETS = (64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 5242880)


class Metrics:
    """The metric families of one instance."""

    def __init__(self, version: str, commit: str, environment: str) -> None:
        self.registry = r = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=r)
        GCCollector(registry=r)
        PlatformCollector(registry=r)

        self.gc_pause = Histogram(
            "python_gc_pause_seconds",
            "Garbage collection pauses by generation (runtime/lifecycle.py::watch_gc)",
            ["generation"],
            buckets=FAST_BUCKETS,
            registry=r,
        )

        # -- HTTP (golden signals) --------------------------------------------------------
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests by method, route template and status",
            ["method", "route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency by route template",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "http_requests_in_flight", "HTTP requests being served right now", registry=r
        )
        self.request_size = Histogram(
            "http_request_size_bytes",
            "Request body sizes by route template",
            ["route"],
            buckets=SIZE_BUCKETS,
            registry=r,
        )
        self.response_size = Histogram(
            "http_response_size_bytes",
            "Response body sizes by route template",
            ["route"],
            buckets=SIZE_BUCKETS,
            registry=r,
        )
        self.rate_limited = Counter(
            "http_rate_limited_total",
            "Requests refused by a rate limit, by route group and key",
            ["group", "scope"],
            registry=r,
        )
        self.draining = Gauge(
            "app_draining", "1 while the instance drains before shutting down", registry=r
        )
        self.process_recycles = Counter(
            "process_recycles_total",
            "Drains this process started itself so that its supervisor starts a fresh one, "
            "by reason (memory: RSS above QUIZ_MEMORY_LIMIT_MB)",
            ["reason"],
            registry=r,
        )
        self.process_recycles.labels("memory")  # exported as 0 until it happens

        # -- database -------------------------------------------------------------------
        self.db_pool_size = Gauge(
            "db_pool_size", "Configured connections in the pool", ["database"], registry=r
        )
        self.db_pool_checked_out = Gauge(
            "db_pool_checked_out", "Connections in use", ["database"], registry=r
        )
        self.db_pool_overflow = Gauge(
            "db_pool_overflow", "Connections open beyond the pool size", ["database"], registry=r
        )
        self.db_pool_wait = Histogram(
            "db_pool_wait_seconds",
            "Time spent waiting for a pooled connection",
            ["database"],
            buckets=FAST_BUCKETS,
            registry=r,
        )
        self.db_query = Histogram(
            "db_query_duration_seconds",
            "SQL statement duration by operation",
            ["database", "operation"],
            buckets=FAST_BUCKETS,
            registry=r,
        )
        self.db_errors = Counter(
            "db_errors_total", "SQL statements that failed", ["database"], registry=r
        )
        self.db_replica_lag = Gauge(
            "db_replica_lag_seconds",
            "How far each replica's replay is behind (0 when it has replayed all it received)",
            ["database"],
            registry=r,
        )
        self.db_route = Counter(
            "db_route_total",
            "Database sessions by where they went: primary_write, primary_read, "
            "replica_read, replica_fallback, replica_no_leader",
            ["target"],
            registry=r,
        )
        # -- database failover (db/leader.py, api/retry.py) ---------------------------------
        self.db_read_only = Gauge(
            "db_read_only",
            "1 while this instance has no database leader for writes (read-only mode)",
            registry=r,
        )
        self.db_read_only_seconds = Counter(
            "db_read_only_seconds_total",
            "Seconds this instance has spent in read-only mode",
            registry=r,
        )
        self.db_write_retries = Counter(
            "db_write_retries_total",
            "Requests that met a database failover, by how they ended: recovered, "
            "read_only, commit_unknown, conflict",
            ["outcome"],
            registry=r,
        )

        # -- cache and Redis ------------------------------------------------------------
        self.cache_requests = Counter(
            "cache_requests_total",
            "Near-cache look-ups by cache and result",
            ["cache", "result"],
            registry=r,
        )
        self.cache_invalidations = Counter(
            "cache_invalidations_total",
            "Near-cache invalidations received or sent",
            ["direction"],
            registry=r,
        )
        self.redis_duration = Histogram(
            "redis_command_duration_seconds",
            "Redis operations by operation name",
            ["operation"],
            buckets=FAST_BUCKETS,
            registry=r,
        )
        self.redis_errors = Counter(
            "redis_errors_total", "Redis operations that failed", ["operation"], registry=r
        )

        # -- business -------------------------------------------------------------------
        self.attempts_started = Counter(
            "quiz_attempts_started_total", "Attempts started", registry=r
        )
        self.attempts_submitted = Counter(
            "quiz_attempts_submitted_total",
            "Attempts submitted, by how: student, deadline (on access) or sweep",
            ["how"],
            registry=r,
        )
        self.responses_saved = Counter("quiz_responses_saved_total", "Responses saved", registry=r)
        self.quizzes_published = Counter(
            "quiz_quizzes_published_total", "Quizzes published", registry=r
        )
        self.quizzes_imported = Counter(
            "quiz_quizzes_imported_total", "Quizzes imported, by format", ["format"], registry=r
        )
        self.import_errors = Counter(
            "quiz_import_errors_total",
            "Imports refused for errors in the file, by format",
            ["format"],
            registry=r,
        )
        self.logins = Counter(
            "auth_logins_total",
            "Sign-in attempts by outcome (ok, failed, locked)",
            ["outcome"],
            registry=r,
        )
        self.lockouts = Counter(
            "auth_lockouts_total",
            "Sign-ins refused by lockout, by scope (account, ip)",
            ["scope"],
            registry=r,
        )
        self.registrations = Counter(
            "auth_registrations_total", "Accounts created, by role", ["role"], registry=r
        )
        self.background_runs = Counter(
            "background_task_runs_total",
            "Background task runs by task and outcome",
            ["task", "outcome"],
            registry=r,
        )
        # -- AI drafts and background jobs ------------------------------------------------
        self.ai_breaker_state = Gauge(
            "quiz_ai_breaker_state",
            "Circuit breaker per AI provider: 0 closed, 1 half-open (probing), 2 open",
            ["provider"],
            registry=r,
        )
        self.ai_breaker_transitions = Counter(
            "quiz_ai_breaker_transitions_total",
            "Circuit breaker transitions this process made, by provider and new state",
            ["provider", "to"],
            registry=r,
        )
        self.ai_calls = Counter(
            "quiz_ai_calls_total",
            "Calls to AI providers by outcome: ok, timeout, unavailable, rate_limited, "
            "rejected, bad_output, cannot_draft, breaker_open",
            ["provider", "outcome"],
            registry=r,
        )
        self.ai_call_duration = Histogram(
            "quiz_ai_call_duration_seconds",
            "Duration of calls to AI providers (failed ones included)",
            ["provider"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0),
            registry=r,
        )
        self.ai_retries = Counter(
            "quiz_ai_retries_total",
            "Calls repeated after a retryable failure",
            ["provider"],
            registry=r,
        )
        self.ai_fallbacks = Counter(
            "quiz_ai_fallbacks_total",
            "Drafts that moved down the provider chain, by the step given up and the reason",
            ["provider", "reason"],
            registry=r,
        )
        self.ai_items_rejected = Counter(
            "quiz_ai_items_rejected_total",
            "Drafted questions dropped by validation, by provider and reason",
            ["provider", "reason"],
            registry=r,
        )
        self.ai_cache = Counter(
            "quiz_ai_cache_requests_total",
            "Draft cache look-ups and stores: hit, miss, stored",
            ["result"],
            registry=r,
        )
        self.ai_usage_chars = Counter(
            "quiz_ai_usage_characters_total",
            "Characters sent to and received from AI providers",
            ["provider", "direction"],
            registry=r,
        )
        self.ai_usage_tokens = Counter(
            "quiz_ai_usage_tokens_total",
            "Tokens the AI providers reported, by direction",
            ["provider", "direction"],
            registry=r,
        )
        self.ai_quota_refusals = Counter(
            "quiz_ai_quota_refusals_total",
            "AI draft requests refused by the daily quota, by kind (jobs, characters)",
            ["kind"],
            registry=r,
        )
        self.jobs_enqueued = Counter(
            "quiz_jobs_enqueued_total", "Background jobs queued, by kind", ["kind"], registry=r
        )
        self.jobs_finished = Counter(
            "quiz_jobs_finished_total",
            "Background jobs finished, by kind, outcome (succeeded, failed) and provider",
            ["kind", "outcome", "provider"],
            registry=r,
        )
        self.jobs_claims = Counter(
            "quiz_jobs_claims_total",
            "Jobs claimed by this process: first (queued) or takeover (lease expired)",
            ["kind", "claim"],
            registry=r,
        )
        self.jobs_running = Gauge(
            "quiz_jobs_running", "Jobs this process is running now", ["kind"], registry=r
        )
        self.job_duration = Histogram(
            "quiz_job_duration_seconds",
            "Time from claim to finish of a job",
            ["kind"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0),
            registry=r,
        )
        self.job_queue_wait = Histogram(
            "quiz_job_queue_wait_seconds",
            "Time from enqueue to first claim of a job",
            ["kind"],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
            registry=r,
        )
        self.jobs_lost_leases = Counter(
            "quiz_jobs_lost_leases_total",
            "Jobs this process stopped because another worker took them over",
            ["kind"],
            registry=r,
        )
        # -- live games (services/live/hub.py, api/live_socket.py) ----------------------
        self.live_games = Gauge(
            "quiz_live_games",
            "Live games this instance serves (with a socket or a long poll here)",
            registry=r,
        )
        self.live_players = Gauge(
            "quiz_live_players_connected",
            "Players connected to this instance by WebSocket",
            registry=r,
        )
        self.live_answers = Counter(
            "quiz_live_answers_total",
            "Live game answers by outcome (accepted, already, late, not_open, invalid, ...)",
            ["outcome"],
            registry=r,
        )
        self.live_ack_latency = Histogram(
            "quiz_live_answer_ack_seconds",
            "From an answer's receipt to its acknowledgement being handed to the socket",
            buckets=ACK_BUCKETS,
            registry=r,
        )
        self.live_reconnects = Counter(
            "quiz_live_reconnects_total",
            "Hellos for a seat that had said hello before (on any instance)",
            registry=r,
        )

        self.info = Gauge(
            "app_info",
            "Build and environment of this instance",
            ["version", "commit", "environment"],
            registry=r,
        )
        self.info.labels(version, commit, environment).set(1)
        self._request_children: dict[tuple[str, str, int], tuple[Any, Any, Any, Any]] = {}
        self.started = Gauge(
            "app_start_time_seconds", "When this instance started (Unix time)", registry=r
        )
        self.started.set(time.time())

    def observe_request(
        self,
        method: str,
        route: str,
        status: int,
        seconds: float,
        request_bytes: int,
        response_bytes: int,
    ) -> None:
        # Labelled children are looked up once per (method, route, status): labels() on
        # every request costs more than the observations themselves.
        key = (method, route, status)
        children = self._request_children.get(key)
        if children is None:
            children = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(method, route),
                self.request_size.labels(route),
                self.response_size.labels(route),
            )
            self._request_children[key] = children
        count, latency, request_size, response_size = children
        count.inc()
        latency.observe(seconds)
        request_size.observe(request_bytes)
        response_size.observe(response_bytes)

    @contextmanager
    def redis_timer(self, operation: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        except Exception:
            self.redis_errors.labels(operation).inc()
            raise
        finally:
            self.redis_duration.labels(operation).observe(time.perf_counter() - started)

    def watch_pool(
        self,
        database: str,
        size: Callable[[], int],
        checked_out: Callable[[], int],
        overflow: Callable[[], int],
    ) -> None:
        """Read the pool's gauges at scrape time."""
        self.db_pool_size.labels(database).set_function(size)
        self.db_pool_checked_out.labels(database).set_function(checked_out)
        self.db_pool_overflow.labels(database).set_function(lambda: max(0, overflow()))

    # -- circuit breaker observer (runtime.resilience.BreakerObserver) -------------------
    def breaker_state(self, name: str, state: int) -> None:
        self.ai_breaker_state.labels(name).set(int(state))

    def breaker_transition(self, name: str, to: Any) -> None:
        self.ai_breaker_transitions.labels(name, getattr(to, "label", str(to))).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
