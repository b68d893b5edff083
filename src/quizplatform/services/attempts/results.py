"""What the attempt service hands to its adapters: frozen, typed results.

The API turns them into the contract's JSON (``api/v1/attempt_json.py``), the web pages
into HTML. Questions inside them are the JSON documents of ``question_views``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TypedDict

from quizplatform.services.question_views import OwnerQuestion, StudentQuestion


class ResponseDocument(TypedDict, total=False):
    """A saved response, as the contract shapes it; which key it has depends on the
    question's type (``domain.scoring.parse_response`` checks it)."""

    option_id: str
    option_ids: list[str]
    value: bool | float
    text: str
    matches: dict[str, str]
    item_ids: list[str]


@dataclass(frozen=True, slots=True)
class SavedResponse:
    """One response as it was just saved."""

    question_id: str
    response: ResponseDocument
    saved_at: datetime


@dataclass(frozen=True, slots=True)
class QuestionResult:
    """How one question of a submitted attempt scored (``correct`` None: not graded)."""

    question_id: str
    score: float
    max_score: float
    correct: bool | None


@dataclass(frozen=True, slots=True)
class ReviewItem:
    """One question of a submitted attempt with its key, the response and the score."""

    question: OwnerQuestion
    response: ResponseDocument | None
    score: float
    max_score: float
    correct: bool | None


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    """The result of a submitted attempt; ``review`` is None unless the answers may be
    shown to the viewer."""

    score: float | None
    max_score: float | None
    percent: float | None
    results: tuple[QuestionResult, ...]
    show_correct_answers: bool
    review: tuple[ReviewItem, ...] | None


@dataclass(frozen=True, slots=True)
class AttemptView:
    """An attempt as its student (or the quiz's owner) sees it; ``outcome`` is set once
    it has been submitted."""

    id: str
    quiz_id: str
    user_id: str
    status: str  # in_progress or submitted
    started_at: datetime
    deadline_at: datetime | None
    submitted_at: datetime | None
    auto_submitted: bool
    questions: tuple[StudentQuestion, ...]
    responses: Mapping[str, ResponseDocument]
    outcome: AttemptOutcome | None


@dataclass(frozen=True, slots=True)
class AttemptSummary:
    """An attempt as the dashboards list it. ``status`` is ``time_up`` for one still in
    progress past its deadline (opening it submits it, as any access does); ``student``
    is set on the teacher's list only."""

    id: str
    quiz_id: str
    quiz_title: str
    status: str
    started_at: datetime
    deadline_at: datetime | None
    submitted_at: datetime | None
    score: float | None
    max_score: float | None
    percent: float | None
    student: str | None = None


@dataclass(frozen=True, slots=True)
class AwaitingGrade:
    """A submitted attempt with ``ungraded`` essay answers waiting for the teacher."""

    attempt_id: str
    student: str
    submitted_at: datetime | None
    ungraded: int


@dataclass(frozen=True, slots=True)
class LeaderboardEntry:
    """One student's best attempt; ``is_caller`` marks the viewer's own row."""

    rank: int
    display_name: str
    score: float
    percent: float | None
    duration_seconds: int
    is_caller: bool


@dataclass(frozen=True, slots=True)
class Leaderboard:
    """The best attempt per student, best first."""

    entries: tuple[LeaderboardEntry, ...]


@dataclass(frozen=True, slots=True)
class OptionChoices:
    """How many submitted attempts chose one option."""

    id: str
    chosen: int


@dataclass(frozen=True, slots=True)
class QuestionReport:
    """Item analysis of one question (None where there is too little to say)."""

    question_id: str
    facility: float | None
    discrimination: float | None
    mean_score: float | None
    max_score: float
    options: tuple[OptionChoices, ...]
    attempts: int = 0  # the submitted attempts that saw it (all, unless drawn)
    draw_id: str | None = None  # the random draw that picked it (None: a fixed question)


@dataclass(frozen=True, slots=True)
class QuizReport:
    """The teacher's report: item analysis and the sorted percent of every attempt."""

    attempts: int
    mean_percent: float | None
    questions: tuple[QuestionReport, ...]
    scores: tuple[float, ...]
