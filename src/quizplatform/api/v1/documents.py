"""The contract's JSON documents, made from the services' typed results.

Each function spells out its document's keys in the contract's order: the JSON the API
returns is decided here, not by the shape of a service's dataclass.
"""

from __future__ import annotations

from typing import Any

from quizplatform.domain.draws import DrawRule
from quizplatform.domain.questions import QuizSettings
from quizplatform.runtime.json import dumps
from quizplatform.services.accounts import SessionInfo
from quizplatform.services.ai import DraftJob, DraftJobRequest
from quizplatform.services.ai_drafting import StepReport
from quizplatform.services.audit import AuditEventView
from quizplatform.services.mfa import Enrolment
from quizplatform.services.quizzes import QuizDocument, QuizSummary


def settings_json(s: QuizSettings) -> dict[str, Any]:
    """A quiz's settings."""
    return {
        "time_limit_seconds": s.time_limit_seconds,
        "max_attempts": s.max_attempts,
        "shuffle_questions": s.shuffle_questions,
        "shuffle_options": s.shuffle_options,
        "opens_at": s.opens_at,
        "closes_at": s.closes_at,
        "show_correct_answers": s.show_correct_answers.value,
    }


def quiz_json(doc: QuizDocument) -> dict[str, Any]:
    """The quiz document (``GET /quizzes/{id}`` and every write that returns the quiz)."""
    return {
        "id": doc.id,
        "title": doc.title,
        "description": doc.description,
        "status": doc.status,
        "tags": list(doc.tags),
        "settings": settings_json(doc.settings),
        "question_count": doc.question_count,
        "max_score": doc.max_score,
        "created_at": doc.created_at,
        "updated_at": doc.updated_at,
        "published_at": doc.published_at,
        "questions": list(doc.questions),
        "questions_hidden": doc.questions_hidden,
        "draws": [draw_json(d) for d in doc.draws],
    }


def draw_json(draw: DrawRule) -> dict[str, Any]:
    """A random draw: its count and points for anyone; id, category and tag for its owner
    (``quiz_document`` leaves them out of everyone else's view)."""
    if draw.id is None:
        return {"count": draw.count, "points": draw.points}
    return {
        "id": draw.id,
        "count": draw.count,
        "points": draw.points,
        "category": draw.category,
        "tag": draw.tag,
    }


def quiz_json_bytes(doc: QuizDocument) -> bytes:
    """``quiz_json`` serialised (what the student view's cache keeps)."""
    return dumps(quiz_json(doc))


def quiz_summary_json(quiz: QuizSummary) -> dict[str, Any]:
    """One item of ``GET /quizzes``."""
    return {
        "id": quiz.id,
        "title": quiz.title,
        "description": quiz.description,
        "status": quiz.status,
        "tags": list(quiz.tags),
        "question_count": quiz.question_count,
        "published_at": quiz.published_at,
        "updated_at": quiz.updated_at,
    }


def job_json(job: DraftJob) -> dict[str, Any]:
    """The job document (``GET /jobs/{id}``): plus timings and what each step did."""
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
        "attempts": job.attempts,
        "worker": job.worker,
        "timings": {
            "queued_seconds": job.timings.queued_seconds,
            "run_seconds": job.timings.run_seconds,
            "total_seconds": job.timings.total_seconds,
        },
        "request": _job_request_json(job.request),
        "steps": [_step_json(step) for step in job.steps],
    }


def _job_request_json(request: DraftJobRequest) -> dict[str, Any]:
    return {
        "num_questions": request.num_questions,
        "question_types": list(request.question_types),
        "topic": request.topic,
        "difficulty": request.difficulty,
        "language": request.language,
        "title": request.title,
        "source_chars": request.source_chars,
    }


def _step_json(step: StepReport) -> dict[str, Any]:
    return {
        "step": step.step,
        "outcome": step.outcome,
        "message": step.message,
        "seconds": round(step.seconds, 3),
        "calls": step.calls,
        "accepted": step.accepted,
        "rejected": step.rejected,
    }


def session_json(session: SessionInfo) -> dict[str, Any]:
    """One signed-in session (``GET /me/sessions``)."""
    return {
        "id": session.id,
        "created_at": session.signed_in_at,
        "ip": session.ip,
        "user_agent": session.user_agent,
        "current": session.current,
    }


def audit_event_json(event: AuditEventView) -> dict[str, Any]:
    """One event of the audit log (``GET /audit``)."""
    return {
        "id": event.id,
        "occurred_at": event.occurred_at,
        "event": event.event,
        "actor_id": event.actor_id,
        "actor": event.actor_display,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "ip": event.ip,
        "request_id": event.request_id,
        "details": event.details,
    }


def enrolment_json(enrolment: Enrolment) -> dict[str, Any]:
    """A new two-step secret (``POST /me/mfa/enrol``)."""
    return {
        "secret": enrolment.secret,
        "otpauth_uri": enrolment.otpauth_uri,
        "qr_svg": enrolment.qr_svg,
    }
