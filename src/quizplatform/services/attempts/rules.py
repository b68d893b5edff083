"""Small rules shared by the attempt modules: deadlines, scoring stored responses, and
when the answers may be shown."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import cast

from quizplatform.db import models
from quizplatform.domain.questions import Question, ShowCorrectAnswers
from quizplatform.domain.scoring import QuestionScore, score_question
from quizplatform.services.attempts.results import ResponseDocument
from quizplatform.services.quizzes import QuizSnapshot


def past(deadline: datetime | None, now: datetime) -> bool:
    """Whether ``deadline`` (if any) has come."""
    return deadline is not None and now >= deadline


def expired(attempt: models.Attempt, now: datetime) -> bool:
    """Whether the attempt's deadline has come."""
    return past(attempt.deadline_at, now)


def deadline_for(snap: QuizSnapshot, now: datetime) -> datetime | None:
    """The deadline of an attempt started ``now``: the time limit or the closing time,
    whichever comes first."""
    candidates = []
    if snap.settings.time_limit_seconds:
        candidates.append(now + timedelta(seconds=snap.settings.time_limit_seconds))
    if snap.settings.closes_at:
        candidates.append(snap.settings.closes_at)
    return min(candidates) if candidates else None


def answers_allowed(snap: QuizSnapshot, now: datetime) -> bool:
    """Whether the quiz's rule lets a student see the correct answers ``now``."""
    rule = snap.settings.show_correct_answers
    if rule is ShowCorrectAnswers.AFTER_SUBMIT:
        return True
    if rule is ShowCorrectAnswers.AFTER_CLOSE:
        return snap.settings.closes_at is not None and now >= snap.settings.closes_at
    return False


def stored_score(question: Question, response: models.Response | None) -> QuestionScore:
    """The score of a saved response (or of none)."""
    if response is None:
        return score_question(question, None)
    return score_question(question, response.payload, response.manual_score)


def score_all(
    attempt: models.Attempt, questions: dict[str, Question], responses: Iterable[models.Response]
) -> dict[str, QuestionScore]:
    """The score of each of the attempt's questions, by question id."""
    by_question = {r.question_id: r for r in responses}
    return {
        qid: stored_score(questions[qid], by_question.get(qid))
        for qid in attempt.question_ids
        if qid in questions
    }


def response_document(payload: dict[str, object]) -> ResponseDocument:
    """A stored payload (validated by ``parse_response`` when it was saved)."""
    return cast(ResponseDocument, payload)
