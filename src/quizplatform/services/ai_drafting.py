"""AI quiz drafts, part one: the provider chain with its safeguards.

``DraftGenerator`` turns a request into validated questions. It walks the chain the
settings name (``QUIZ_AI_PROVIDER`` then ``QUIZ_AI_FALLBACKS``, e.g. gemini → cache →
offline) and for each step:

- a **remote provider** is called behind its circuit breaker (shared by all instances),
  each call with a deadline (``QUIZ_AI_TIMEOUT_SECONDS``) and retried on timeouts, 429 and
  5xx with exponential backoff and full jitter (``Retry-After`` honoured); its answer is
  validated (``domain/drafts.py``) and the missing questions asked for again, for at most
  ``QUIZ_AI_VALIDATION_ROUNDS`` requests; a full set is stored in the draft cache;
- **cache** serves an earlier full set for the same normalised request;
- **offline** drafts without network from the source text or the bundled bank.

The first step that yields the requested number of valid questions wins; when it is not
the first of the chain the result is ``degraded``. When none does, the draft fails with
every step's reason. The draft jobs that use it are in ``services/ai.py``.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog
from redis.exceptions import RedisError

from quizplatform.ai.base import (
    Ask,
    DraftRequest,
    Generation,
    Provider,
    ProviderBadOutput,
    ProviderError,
    ProviderTimeout,
    Usage,
)
from quizplatform.ai.providers import CACHE
from quizplatform.db.shared_store import KeyValueStore
from quizplatform.domain.drafts import item_to_question, plan_types, validate_items
from quizplatform.domain.questions import Question
from quizplatform.runtime.metrics import Metrics
from quizplatform.runtime.resilience import (
    BreakerOpen,
    BreakerPolicy,
    BreakerState,
    CircuitBreaker,
    Permit,
    RetryPolicy,
    retrying,
)
from quizplatform.runtime.settings import Settings

log = structlog.get_logger(__name__)

MAX_ASK = 50  # questions in one request to a provider
UsageSink = Callable[[str, str, str, Usage], Awaitable[None]]


@dataclass
class StepReport:
    """What one step of the chain did, for the job's details."""

    step: str
    outcome: str  # "ok" or the reason it was given up
    message: str = ""
    seconds: float = 0.0
    calls: int = 0
    accepted: int = 0
    rejected: dict[str, int] = field(default_factory=dict)


@dataclass
class DraftResult:
    """What the chain made: the questions and which step made them, or ``error``."""

    questions: list[Question]
    steps: list[StepReport]
    provider: str | None = None
    model: str | None = None
    degraded: bool = False
    error: str | None = None


class StepFailed(Exception):
    """A step of the chain gave up: ``reason`` names why (for metrics), ``message`` says it."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


async def _no_usage(provider: str, model: str, outcome: str, usage: Usage) -> None:
    return None


class DraftGenerator:
    """The provider chain with breakers, retries, timeouts, validation and the cache."""

    def __init__(
        self,
        settings: Settings,
        providers: dict[str, Provider],
        store: KeyValueStore,
        metrics: Metrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.chain = settings.ai_chain
        self.providers = providers
        self.store = store
        self.metrics = metrics
        policy = BreakerPolicy(
            failures=settings.ai_breaker_failures,
            window=settings.ai_breaker_window_seconds,
            reset_after=settings.ai_breaker_reset_seconds,
            probe_timeout=settings.ai_timeout_seconds,
        )
        self.breakers = {
            name: CircuitBreaker(name, store, policy, observer=metrics, clock=clock)
            for name, provider in providers.items()
            if provider.remote
        }
        self.retry_policy = RetryPolicy(
            attempts=settings.ai_max_attempts,
            base=settings.ai_retry_base_seconds,
            cap=settings.ai_retry_max_seconds,
        )

    async def breaker_states(self) -> dict[str, BreakerState]:
        """Each remote provider's shared breaker state (and the gauges set to it)."""
        return {name: await breaker.state() for name, breaker in self.breakers.items()}

    async def generate(
        self, request: DraftRequest, *, seed: int, record_usage: UsageSink = _no_usage
    ) -> DraftResult:
        """Walk the chain until a step yields ``request.num_questions`` valid questions."""
        steps: list[StepReport] = []
        for position, name in enumerate(self.chain):
            report = StepReport(step=name, outcome="ok")
            started = time.perf_counter()
            provider_name: str
            try:
                if name == CACHE:
                    items = await self._from_cache(request, report)
                    provider_name, model = CACHE, "cache"
                else:
                    provider = self.providers[name]
                    items = await self._from_provider(provider, request, seed, report, record_usage)
                    provider_name, model = provider.name, provider.model
                    if provider.remote:
                        await self._store_cache(request, items)
            except StepFailed as exc:
                report.outcome, report.message = exc.reason, exc.message
                report.seconds = time.perf_counter() - started
                steps.append(report)
                self.metrics.ai_fallbacks.labels(name, exc.reason).inc()
                log.info("draft step gave up", step=name, reason=exc.reason, detail=exc.message)
                continue
            report.seconds = time.perf_counter() - started
            steps.append(report)
            return DraftResult(
                questions=[item_to_question(item) for item in items],
                steps=steps,
                provider=provider_name,
                model=model,
                degraded=position > 0,
            )
        reasons = "; ".join(f"{s.step}: {s.message}" for s in steps)
        return DraftResult([], steps, error=f"no draft could be made ({reasons})")

    # -- steps -----------------------------------------------------------------------------
    async def _from_provider(
        self,
        provider: Provider,
        request: DraftRequest,
        seed: int,
        report: StepReport,
        record_usage: UsageSink,
    ) -> list[dict[str, Any]]:
        wanted = request.num_questions
        types = request.question_types
        accepted: list[dict[str, Any]] = []
        rejected: Counter[str] = Counter()
        for round_ in range(self.settings.ai_validation_rounds):
            missing = wanted - len(accepted)
            if missing <= 0:
                break
            # Asking again, ask for a few more than missing: some will fail validation too.
            extra = 0 if round_ == 0 or not provider.remote else (missing + 1) // 2
            ask = Ask(
                plan=plan_types(types, min(MAX_ASK, missing + extra)),
                avoid=tuple(item["prompt"] for item in accepted),
                seed=seed,
            )
            try:
                generation = await self._call(provider, request, ask, report, record_usage)
            except ProviderBadOutput as exc:
                rejected["bad_output"] += 1
                report.message = exc.message
                continue  # the next round asks again
            except BreakerOpen as exc:
                raise StepFailed("breaker_open", str(exc)) from exc
            except ProviderError as exc:
                raise StepFailed(exc.reason, exc.message) from exc
            result = validate_items(
                generation.items,
                allowed_types=types,
                seen_prompts=[item["prompt"] for item in accepted],
                limit=missing,
            )
            for rejection in result.rejections:
                rejected[rejection.reason] += 1
                self.metrics.ai_items_rejected.labels(provider.name, rejection.reason).inc()
            accepted += result.items
            if not provider.remote and not result.items:
                break  # the offline drafter has nothing more to give
        report.accepted = len(accepted)
        report.rejected = dict(rejected)
        if len(accepted) < wanted:
            dropped = ", ".join(f"{n} {reason}" for reason, n in rejected.most_common())
            hint = "" if provider.remote else "; give more text (or a topic) or ask for fewer"
            raise StepFailed(
                "not_enough",
                f"{provider.name} gave {len(accepted)} usable question(s) of the {wanted} "
                f"asked for in {report.calls} request(s)"
                + (f" (dropped: {dropped})" if dropped else "")
                + (f"; last problem: {report.message}" if report.message else "")
                + hint,
            )
        return accepted

    async def _call(
        self,
        provider: Provider,
        request: DraftRequest,
        ask: Ask,
        report: StepReport,
        record_usage: UsageSink,
    ) -> Generation:
        if not provider.remote:
            return await self._one_call(provider, request, ask, None, report, record_usage)
        breaker = self.breakers[provider.name]
        tries = 0
        async for attempt in retrying(self.retry_policy):
            with attempt:
                tries += 1
                if tries > 1:
                    self.metrics.ai_retries.labels(provider.name).inc()
                try:
                    permit = await breaker.acquire()
                except BreakerOpen:
                    self.metrics.ai_calls.labels(provider.name, "breaker_open").inc()
                    raise
                return await self._one_call(provider, request, ask, permit, report, record_usage)
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    async def _one_call(
        self,
        provider: Provider,
        request: DraftRequest,
        ask: Ask,
        permit: Permit | None,
        report: StepReport,
        record_usage: UsageSink,
    ) -> Generation:
        report.calls += 1
        timeout = self.settings.ai_timeout_seconds
        started = time.perf_counter()
        error: ProviderError | None = None
        generation: Generation | None = None
        try:
            async with asyncio.timeout(timeout):
                generation = await provider.generate(request, ask)
        except TimeoutError:
            error = ProviderTimeout(f"{provider.name} did not answer within {timeout:g} s")
        except ProviderError as exc:
            error = exc
        except Exception as exc:  # a bug in a provider must cost a fallback, not the job
            log.exception("AI provider raised an unexpected error", provider=provider.name)
            error = ProviderBadOutput(f"{provider.name} failed: {type(exc).__name__}")
        seconds = time.perf_counter() - started
        self.metrics.ai_call_duration.labels(provider.name).observe(seconds)
        outcome = "ok" if error is None else error.reason
        self.metrics.ai_calls.labels(provider.name, outcome).inc()
        usage = generation.usage if generation is not None else (error.usage if error else Usage())
        self._count_usage(provider.name, usage)
        await record_usage(provider.name, provider.model, outcome, usage)
        breaker = self.breakers.get(provider.name)
        if breaker is not None and permit is not None:
            if error is None:
                await breaker.record_success(permit)
            elif error.reason != "cannot_draft":
                await breaker.record_failure(permit)
        if error is not None:
            log.info("AI call failed", provider=provider.name, reason=error.reason, seconds=seconds)
            raise error
        assert generation is not None
        return generation

    def _count_usage(self, provider: str, usage: Usage) -> None:
        chars = self.metrics.ai_usage_chars
        chars.labels(provider, "prompt").inc(usage.prompt_chars)
        chars.labels(provider, "output").inc(usage.output_chars)
        tokens = self.metrics.ai_usage_tokens
        if usage.prompt_tokens:
            tokens.labels(provider, "prompt").inc(usage.prompt_tokens)
        if usage.output_tokens:
            tokens.labels(provider, "output").inc(usage.output_tokens)

    async def _from_cache(self, request: DraftRequest, report: StepReport) -> list[dict[str, Any]]:
        try:
            raw = await self.store.get(request.cache_key())
        except RedisError as exc:
            raise StepFailed("cache_unavailable", f"the cache is unavailable ({exc})") from exc
        if raw is None:
            self.metrics.ai_cache.labels("miss").inc()
            raise StepFailed("cache_miss", "no earlier draft of this request is cached")
        result = validate_items(
            orjson.loads(raw), allowed_types=request.question_types, limit=request.num_questions
        )
        if len(result.items) < request.num_questions:
            self.metrics.ai_cache.labels("miss").inc()
            raise StepFailed("cache_miss", "the cached draft no longer passes validation")
        self.metrics.ai_cache.labels("hit").inc()
        report.accepted = len(result.items)
        return result.items

    async def _store_cache(self, request: DraftRequest, items: list[dict[str, Any]]) -> None:
        ttl = self.settings.ai_cache_ttl_seconds
        if ttl <= 0:
            return
        try:
            await self.store.set(request.cache_key(), orjson.dumps(items), ttl)
        except RedisError:
            log.warning("could not store the draft in the cache")
            return
        self.metrics.ai_cache.labels("stored").inc()

    async def close(self) -> None:
        for provider in self.providers.values():
            await provider.close()
