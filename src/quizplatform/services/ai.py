"""AI quiz drafts, part two: the draft jobs and the daily quota.

``AIDraftService`` is the use case behind ``POST /ai/quizzes`` and ``GET /jobs/{id}``:
it checks the daily quota, queues a job (``services/jobs.py``), and its ``run_job`` —
called by a worker — generates the draft (``services/ai_drafting.py``) and saves it as a
draft quiz of the teacher in the same transaction that marks the job done.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from quizplatform.ai.base import DraftRequest, Usage
from quizplatform.ai.providers import CACHE
from quizplatform.db import models
from quizplatform.db.engine import Database
from quizplatform.domain.drafts import DRAFT_TYPES
from quizplatform.domain.questions import QuizContent
from quizplatform.runtime.clock import utcnow
from quizplatform.runtime.metrics import Metrics
from quizplatform.runtime.settings import Settings
from quizplatform.services.accounts import Principal, Role
from quizplatform.services.ai_drafting import DraftGenerator, DraftResult, StepReport
from quizplatform.services.errors import ErrorDetail, Forbidden, Invalid, NotFound, RateLimited
from quizplatform.services.jobs import KIND, JobQueue, Lease
from quizplatform.services.quizzes import QuizService

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class DraftJobRequest:
    """What the teacher asked for, as the job shows it: the source text by its length."""

    num_questions: int
    question_types: tuple[str, ...]
    topic: str | None
    difficulty: str | None
    language: str | None
    title: str | None
    source_chars: int


@dataclass(frozen=True, slots=True)
class JobTimings:
    """Seconds spent waiting for a worker, running, and in all (None until known)."""

    queued_seconds: float | None
    run_seconds: float | None
    total_seconds: float | None


@dataclass(frozen=True, slots=True)
class DraftJob:
    """A draft job: its status and result, timings, and what each step of the chain did."""

    id: str
    status: str
    quiz_id: str | None
    provider: str | None
    degraded: bool
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    attempts: int
    worker: str | None
    timings: JobTimings
    request: DraftJobRequest
    steps: tuple[StepReport, ...]


def draft_job(job: models.AIJob) -> DraftJob:
    """The job row as the service shows it."""
    details = job.details or {}
    return DraftJob(
        id=job.id,
        status=job.status,
        quiz_id=job.quiz_id,
        provider=job.provider,
        degraded=job.degraded,
        error=job.error,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        attempts=job.claims,
        worker=job.worker,
        timings=_timings(job),
        request=_shown_request(job.request),
        steps=tuple(_step_from_record(step) for step in details.get("steps", [])),
    )


def _shown_request(stored: Mapping[str, Any]) -> DraftJobRequest:
    source = stored.get("source_text")
    return DraftJobRequest(
        num_questions=stored.get("num_questions", 0),
        question_types=tuple(stored.get("question_types", ())),
        topic=stored.get("topic"),
        difficulty=stored.get("difficulty"),
        language=stored.get("language"),
        title=stored.get("title"),
        source_chars=len(source) if source else 0,
    )


def _timings(job: models.AIJob) -> JobTimings:
    def between(a: datetime | None, b: datetime | None) -> float | None:
        return None if a is None or b is None else round((b - a).total_seconds(), 3)

    return JobTimings(
        queued_seconds=between(job.created_at, job.started_at),
        run_seconds=between(job.started_at, job.finished_at),
        total_seconds=between(job.created_at, job.finished_at),
    )


def _step_record(report: StepReport) -> dict[str, Any]:
    """A step as the job's details store it."""
    return {
        "step": report.step,
        "outcome": report.outcome,
        "message": report.message,
        "seconds": round(report.seconds, 3),
        "calls": report.calls,
        "accepted": report.accepted,
        "rejected": report.rejected,
    }


def _step_from_record(record: Mapping[str, Any]) -> StepReport:
    return StepReport(
        step=record.get("step", ""),
        outcome=record.get("outcome", ""),
        message=record.get("message", ""),
        seconds=record.get("seconds", 0.0),
        calls=record.get("calls", 0),
        accepted=record.get("accepted", 0),
        rejected=dict(record.get("rejected", {})),
    )


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
    """Draft jobs: asking (with the daily quota), following, and running them."""

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
    async def request_draft(self, caller: Principal, request: DraftRequest) -> DraftJob:
        """Queue a draft job for ``caller``; the job document (status "queued")."""
        if not caller.can_author:
            raise Forbidden("only teachers can ask for AI drafts")
        self._check_request(request)
        await self._check_quota(caller, request)
        job = await self.queue.enqueue(caller.user_id, request)
        log.info(
            "AI draft queued",
            job_id=job.id,
            questions=request.num_questions,
            source_chars=len(request.source_text or ""),
        )
        return draft_job(job)

    def _check_request(self, request: DraftRequest) -> None:
        details: list[ErrorDetail] = []
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

    async def job(self, caller: Principal, job_id: str) -> DraftJob:
        """The job, for its owner or an admin (404 for anyone else)."""
        async with self.db.read_session(fresh=True) as session:
            job = await session.get(models.AIJob, job_id)
        if job is None or not (caller.is_admin or job.owner_id == caller.user_id):
            raise NotFound("job not found")
        return draft_job(job)

    async def jobs(self, caller: Principal, page: int, per_page: int) -> tuple[list[DraftJob], int]:
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
            return [draft_job(row) for row in rows], total

    # -- the worker's side -------------------------------------------------------------
    async def run_job(self, lease: Lease) -> None:
        """Generate the draft of a claimed job and save it (the job runner's handler)."""
        request = DraftRequest.from_json(dict(lease.request))
        owner = await self._owner(lease.owner_id)
        seed = int(lease.job_id[:8], 16)

        async def record(provider: str, model: str, outcome: str, usage: Usage) -> None:
            await self._record_usage(lease, provider, model, outcome, usage)

        result = await self.generator.generate(request, seed=seed, record_usage=record)
        details = {"steps": [_step_record(s) for s in result.steps]}
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
