"""AI quiz drafts: the provider chain with its safeguards, and the draft jobs.

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
every step's reason.

``AIDraftService`` is the use case behind ``POST /ai/quizzes`` and ``GET /jobs/{id}``:
it checks the daily quota, queues a job (``services/jobs.py``), and its ``run_job`` —
called by a worker — generates the draft and saves it as a draft quiz of the teacher in
the same transaction that marks the job done.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
import structlog
from redis.exceptions import RedisError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

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
from quizplatform.db import models
from quizplatform.db.engine import Database
from quizplatform.db.kv import KeyValueStore
from quizplatform.domain.drafts import DRAFT_TYPES, item_to_question, plan_types, validate_items
from quizplatform.domain.questions import Question, QuizContent
from quizplatform.runtime.clock import utcnow
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
from quizplatform.services.accounts import Principal, Role
from quizplatform.services.errors import Forbidden, Invalid, NotFound, RateLimited
from quizplatform.services.jobs import KIND, JobQueue, Lease
from quizplatform.services.quizzes import QuizService

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

    def view(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "outcome": self.outcome,
            "message": self.message,
            "seconds": round(self.seconds, 3),
            "calls": self.calls,
            "accepted": self.accepted,
            "rejected": self.rejected,
        }


@dataclass
class DraftResult:
    questions: list[Question]
    items: list[dict[str, Any]]
    steps: list[StepReport]
    provider: str | None = None
    model: str | None = None
    degraded: bool = False
    error: str | None = None


class StepFailed(Exception):
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
                items=items,
                steps=steps,
                provider=provider_name,
                model=model,
                degraded=position > 0,
            )
        reasons = "; ".join(f"{s.step}: {s.message}" for s in steps)
        return DraftResult([], [], steps, error=f"no draft could be made ({reasons})")

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


# -- the use case -------------------------------------------------------------------------


def job_view(job: models.AIJob) -> dict[str, Any]:
    """The contract's job document (plus timings and what each step did)."""
    request = dict(job.request)
    source = request.pop("source_text", None)
    request["source_chars"] = len(source) if source else 0
    details = job.details or {}
    return {
        "id": job.id,
        "status": job.status,
        "quiz_id": job.quiz_id,
        "provider": job.provider,
        "degraded": job.degraded,
        "error": job.error,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "attempts": job.claims,
        "worker": job.worker,
        "timings": _timings(job),
        "request": request,
        "steps": details.get("steps", []),
    }


def _timings(job: models.AIJob) -> dict[str, float | None]:
    def between(a: datetime | None, b: datetime | None) -> float | None:
        return None if a is None or b is None else round((b - a).total_seconds(), 3)

    return {
        "queued_seconds": between(job.created_at, job.started_at),
        "run_seconds": between(job.started_at, job.finished_at),
        "total_seconds": between(job.created_at, job.finished_at),
    }


def draft_title(request: DraftRequest) -> str:
    """A title for the draft: the teacher's, the topic, or the start of the text."""
    if request.title and request.title.strip():
        return request.title.strip()[:200]
    if request.topic and request.topic.strip():
        topic = request.topic.strip()
        return (topic[0].upper() + topic[1:])[:200]
    text = " ".join((request.source_text or "").split())
    words = text[:80].rsplit(" ", 1)[0] if len(text) > 80 else text
    return f"Draft: {words}…" if len(text) > 80 else f"Draft: {words}"


def _seconds_to_midnight(now: datetime) -> int:
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, int((tomorrow - now).total_seconds()))


class AIDraftService:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        quizzes: QuizService,
        generator: DraftGenerator,
        queue: JobQueue,
        metrics: Metrics,
    ) -> None:
        self.settings = settings
        self.db = db
        self.quizzes = quizzes
        self.generator = generator
        self.queue = queue
        self.metrics = metrics

    # -- requests --------------------------------------------------------------------
    async def request_draft(self, caller: Principal, request: DraftRequest) -> dict[str, Any]:
        """Queue a draft job for ``caller``; the job document (status "queued")."""
        if not caller.can_author:
            raise Forbidden("only teachers can ask for AI drafts")
        self._check_request(request)
        await self._check_quota(caller, request)
        job = await self.queue.enqueue(caller.user_id, request.to_json())
        log.info(
            "AI draft queued",
            job_id=job.id,
            questions=request.num_questions,
            source_chars=len(request.source_text or ""),
        )
        return job_view(job)

    def _check_request(self, request: DraftRequest) -> None:
        details = []
        if not (request.topic or "").strip() and not (request.source_text or "").strip():
            details.append(
                {"loc": ["body", "topic"], "message": "give a topic, a source_text, or both"}
            )
        if request.source_text and len(request.source_text) > self.settings.ai_max_source_chars:
            details.append(
                {
                    "loc": ["body", "source_text"],
                    "message": f"at most {self.settings.ai_max_source_chars} characters",
                }
            )
        unknown = [t for t in request.question_types if t not in DRAFT_TYPES]
        if unknown or not request.question_types:
            details.append(
                {
                    "loc": ["body", "question_types"],
                    "message": f"AI drafts can use {', '.join(DRAFT_TYPES)}",
                }
            )
        if details:
            raise Invalid("the draft request is not valid", details)

    async def _check_quota(self, caller: Principal, request: DraftRequest) -> None:
        if caller.is_admin:
            return
        now = utcnow()
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        retry = _seconds_to_midnight(now)
        resets = f"the quota resets at 00:00 UTC, in {retry // 3600} h {retry % 3600 // 60} min"
        limit = self.settings.ai_daily_jobs_per_teacher
        async with self.db.read_session(fresh=True) as session:
            jobs = await session.scalar(
                select(func.count(models.AIJob.id)).where(
                    models.AIJob.owner_id == caller.user_id, models.AIJob.created_at >= day
                )
            )
            chars = await session.scalar(
                select(
                    func.coalesce(
                        func.sum(models.AIUsage.prompt_chars + models.AIUsage.output_chars), 0
                    )
                ).where(
                    models.AIUsage.user_id == caller.user_id,
                    models.AIUsage.created_at >= day,
                    models.AIUsage.provider != "offline",
                )
            )
        if limit and (jobs or 0) >= limit:
            self.metrics.ai_quota_refusals.labels("jobs").inc()
            raise RateLimited(
                f"you have used your {limit} AI drafts for today; {resets}", retry_after=retry
            )
        char_limit = self.settings.ai_daily_chars_per_teacher
        remote = any(self.generator.providers[n].remote for n in self.generator.providers)
        planned = len(request.source_text or "")
        if remote and char_limit and int(chars or 0) + planned > char_limit:
            self.metrics.ai_quota_refusals.labels("characters").inc()
            raise RateLimited(
                f"this draft would take your AI use today past {char_limit:,} characters "
                f"(used: {int(chars or 0):,}); send a shorter text or wait: {resets}",
                retry_after=retry,
            )

    async def job(self, caller: Principal, job_id: str) -> dict[str, Any]:
        """The job, for its owner or an admin (404 for anyone else)."""
        async with self.db.read_session(fresh=True) as session:
            job = await session.get(models.AIJob, job_id)
        if job is None or not (caller.is_admin or job.owner_id == caller.user_id):
            raise NotFound("job not found")
        return job_view(job)

    async def jobs(
        self, caller: Principal, page: int, per_page: int
    ) -> tuple[list[dict[str, Any]], int]:
        """The caller's jobs, newest first."""
        mine = models.AIJob.owner_id == caller.user_id
        async with self.db.read_session(fresh=True) as session:
            total = await session.scalar(select(func.count(models.AIJob.id)).where(mine)) or 0
            rows = await session.scalars(
                select(models.AIJob)
                .where(mine)
                .order_by(models.AIJob.created_at.desc(), models.AIJob.id)
                .offset((page - 1) * per_page)
                .limit(per_page)
            )
            return [job_view(row) for row in rows], total

    # -- the worker's side -------------------------------------------------------------
    async def run_job(self, lease: Lease) -> None:
        """Generate the draft of a claimed job and save it (the job runner's handler)."""
        request = DraftRequest.from_json(lease.request)
        owner = await self._owner(lease.owner_id)
        seed = int(lease.job_id[:8], 16)

        async def record(provider: str, model: str, outcome: str, usage: Usage) -> None:
            await self._record_usage(lease, provider, model, outcome, usage)

        result = await self.generator.generate(request, seed=seed, record_usage=record)
        details = {"steps": [s.view() for s in result.steps]}
        if result.error is not None or owner is None:
            error = result.error or "the account that asked for this draft no longer exists"
            await self.queue.fail(lease, error, details=details, provider=None)
            self.metrics.jobs_finished.labels(KIND, "failed", "none").inc()
            log.info("AI draft failed", error=error)
            return
        content = QuizContent(
            title=draft_title(request),
            description=self._description(result, request),
            questions=result.questions,
            tags=["ai-draft"],
        )

        async def finish(session: AsyncSession, quiz_id: str) -> None:
            await self.queue.complete_in(
                session,
                lease,
                quiz_id=quiz_id,
                provider=result.provider,
                degraded=result.degraded,
                details=details,
                error=None,
            )

        snap = await self.quizzes.create(owner, content, in_transaction=finish)
        self.metrics.jobs_finished.labels(KIND, "succeeded", result.provider or "none").inc()
        log.info(
            "AI draft ready",
            quiz_id=snap.id,
            provider=result.provider,
            degraded=result.degraded,
            questions=len(result.questions),
        )

    async def _owner(self, user_id: str) -> Principal | None:
        async with self.db.read_session(fresh=True) as session:
            user = await session.get(models.User, user_id)
        if user is None or not user.is_active:
            return None
        return Principal(user.id, Role(user.role), user.display_name)

    async def _record_usage(
        self, lease: Lease, provider: str, model: str, outcome: str, usage: Usage
    ) -> None:
        async with self.db.session() as session:
            session.add(
                models.AIUsage(
                    user_id=lease.owner_id,
                    job_id=lease.job_id,
                    provider=provider,
                    model=model[:100],
                    outcome=outcome,
                    prompt_chars=usage.prompt_chars,
                    output_chars=usage.output_chars,
                    prompt_tokens=usage.prompt_tokens,
                    output_tokens=usage.output_tokens,
                )
            )

    def _description(self, result: DraftResult, request: DraftRequest) -> str:
        labels: dict[str, str] = {
            CACHE: "reusing an earlier draft of the same request",
            "offline": "the offline drafter (no AI service)",
        }
        by = labels.get(result.provider or "", f"{result.provider} ({result.model})")
        made = f"Drafted by {by} on {utcnow():%Y-%m-%d}"
        if request.source_text:
            made += f" from {len(request.source_text):,} characters of text"
        text = made + ". Review every question before publishing."
        if result.degraded:
            primary = self.generator.chain[0]
            text += f" The AI provider ({primary}) was unavailable, so this draft is a fallback."
        return text
