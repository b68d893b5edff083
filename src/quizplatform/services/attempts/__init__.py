"""Attempts: their life (``lifecycle``), grading, leaderboards and the teacher's report,
behind one ``AttemptService``; ``results`` holds the typed results it returns."""

from quizplatform.services.attempts.regrade import RegradedAttempt, RegradedQuestion, RegradePlan
from quizplatform.services.attempts.results import (
    AttemptOutcome,
    AttemptSummary,
    AttemptView,
    AwaitingGrade,
    Leaderboard,
    LeaderboardEntry,
    OptionChoices,
    QuestionReport,
    QuestionResult,
    QuizReport,
    ResponseDocument,
    ReviewItem,
    SavedResponse,
)
from quizplatform.services.attempts.service import AttemptService

__all__ = [
    "AttemptOutcome",
    "AttemptService",
    "AttemptSummary",
    "AttemptView",
    "AwaitingGrade",
    "Leaderboard",
    "LeaderboardEntry",
    "OptionChoices",
    "QuestionReport",
    "QuestionResult",
    "QuizReport",
    "RegradePlan",
    "RegradedAttempt",
    "RegradedQuestion",
    "ResponseDocument",
    "ReviewItem",
    "SavedResponse",
]
