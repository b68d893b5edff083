"""The attempt service's results as the contract's JSON documents (keys in the
contract's order; one function per result, so the shape is written down once)."""

from __future__ import annotations

from typing import Any

from quizplatform.services.attempts import (
    AttemptOutcome,
    AttemptView,
    Leaderboard,
    QuizReport,
    SavedResponse,
)


def attempt_json(view: AttemptView) -> dict[str, Any]:
    """An attempt; a submitted one also carries its scores (and the review, when the
    correct answers may be shown)."""
    data: dict[str, Any] = {
        "id": view.id,
        "quiz_id": view.quiz_id,
        "user_id": view.user_id,
        "status": view.status,
        "started_at": view.started_at,
        "deadline_at": view.deadline_at,
        "submitted_at": view.submitted_at,
        "auto_submitted": view.auto_submitted,
        "questions": list(view.questions),
        "responses": dict(view.responses),
    }
    if view.outcome is not None:
        data.update(_outcome_json(view.outcome))
    return data


def _outcome_json(outcome: AttemptOutcome) -> dict[str, Any]:
    data: dict[str, Any] = {
        "score": outcome.score,
        "max_score": outcome.max_score,
        "percent": outcome.percent,
        "results": [
            {
                "question_id": r.question_id,
                "score": r.score,
                "max_score": r.max_score,
                "correct": r.correct,
            }
            for r in outcome.results
        ],
        "show_correct_answers": outcome.show_correct_answers,
    }
    if outcome.review is not None:
        data["review"] = [
            {
                "question": item.question,
                "response": item.response,
                "score": item.score,
                "max_score": item.max_score,
                "correct": item.correct,
            }
            for item in outcome.review
        ]
    return data


def saved_response_json(saved: SavedResponse) -> dict[str, Any]:
    """A response as it was just saved."""
    return {
        "question_id": saved.question_id,
        "response": saved.response,
        "saved_at": saved.saved_at,
    }


def leaderboard_json(board: Leaderboard) -> dict[str, Any]:
    """The leaderboard (without the web page's ``is_caller`` marks)."""
    return {
        "items": [
            {
                "rank": e.rank,
                "display_name": e.display_name,
                "score": e.score,
                "percent": e.percent,
                "duration_seconds": e.duration_seconds,
            }
            for e in board.entries
        ]
    }


def report_json(report: QuizReport) -> dict[str, Any]:
    """The item analysis of a quiz."""
    return {
        "attempts": report.attempts,
        "mean_percent": report.mean_percent,
        "questions": [
            {
                "question_id": q.question_id,
                "facility": q.facility,
                "discrimination": q.discrimination,
                "mean_score": q.mean_score,
                "max_score": q.max_score,
                "options": [{"id": o.id, "chosen": o.chosen} for o in q.options],
                "attempts": q.attempts,
                "draw_id": q.draw_id,
            }
            for q in report.questions
        ],
        "scores": list(report.scores),
    }
