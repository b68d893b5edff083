"""How an attempt is shown: its questions in the attempt's own order, the responses and,
once submitted, the scores and the review the quiz's rule allows."""

from __future__ import annotations

import random
from datetime import datetime

from quizplatform.db import models
from quizplatform.domain.questions import Question
from quizplatform.runtime.clock import utcnow
from quizplatform.services.attempts.results import (
    AttemptOutcome,
    AttemptSummary,
    AttemptView,
    QuestionResult,
    ReviewItem,
)
from quizplatform.services.attempts.rules import (
    answers_allowed,
    expired,
    response_document,
    stored_score,
)
from quizplatform.services.question_views import attempt_rng, owner_question, student_question
from quizplatform.services.quizzes import QuizSnapshot


def attempt_view(
    attempt: models.Attempt,
    snap: QuizSnapshot,
    responses: dict[str, models.Response],
    *,
    for_owner: bool,
    questions: dict[str, Question] | None = None,
) -> AttemptView:
    """The attempt as its student (or, ``for_owner``, the quiz's owner) sees it."""
    questions = questions or snap.by_id
    key = attempt.order_key
    # An attempt started before order keys: one generator for the whole view, as then.
    legacy = None if key else random.Random(attempt.seed)
    shown = tuple(
        student_question(
            questions[qid],
            attempt_rng(key, qid) if key else legacy,
            snap.settings.shuffle_options,
        )
        for qid in attempt.question_ids
        if qid in questions
    )
    return AttemptView(
        id=attempt.id,
        quiz_id=attempt.quiz_id,
        user_id=attempt.user_id,
        status=attempt.status,
        started_at=attempt.started_at,
        deadline_at=attempt.deadline_at,
        submitted_at=attempt.submitted_at,
        auto_submitted=attempt.auto_submitted,
        questions=shown,
        responses={qid: response_document(r.payload) for qid, r in responses.items()},
        outcome=_outcome(attempt, snap, responses, questions, for_owner)
        if attempt.status == "submitted"
        else None,
    )


def _outcome(
    attempt: models.Attempt,
    snap: QuizSnapshot,
    responses: dict[str, models.Response],
    questions: dict[str, Question],
    for_owner: bool,
) -> AttemptOutcome:
    scores = {
        qid: stored_score(questions[qid], responses.get(qid))
        for qid in attempt.question_ids
        if qid in questions
    }
    shows_answers = for_owner or answers_allowed(snap, utcnow())
    review = None
    if shows_answers:
        review = tuple(
            ReviewItem(
                question=owner_question(questions[qid]),
                response=response_document(responses[qid].payload) if qid in responses else None,
                score=s.score,
                max_score=s.max_score,
                correct=s.correct,
            )
            for qid, s in scores.items()
        )
    return AttemptOutcome(
        score=attempt.score,
        max_score=attempt.max_score,
        percent=attempt.percent,
        results=tuple(
            QuestionResult(question_id=qid, score=s.score, max_score=s.max_score, correct=s.correct)
            for qid, s in scores.items()
        ),
        show_correct_answers=shows_answers,
        review=review,
    )


def attempt_summary(
    attempt: models.Attempt, now: datetime, quiz_title: str, student: str | None = None
) -> AttemptSummary:
    """An attempt as the dashboards list it (see ``AttemptSummary``)."""
    status = attempt.status
    if status == "in_progress" and expired(attempt, now):
        status = "time_up"
    return AttemptSummary(
        id=attempt.id,
        quiz_id=attempt.quiz_id,
        quiz_title=quiz_title,
        status=status,
        started_at=attempt.started_at,
        deadline_at=attempt.deadline_at,
        submitted_at=attempt.submitted_at,
        score=attempt.score,
        max_score=attempt.max_score,
        percent=attempt.percent,
        student=student,
    )
