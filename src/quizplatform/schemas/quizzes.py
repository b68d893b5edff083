"""A quiz as a request body (``POST``/``PATCH /quizzes``, the web's quiz editor)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from quizplatform.domain.limits import LIMITS
from quizplatform.domain.questions import QuizSettings, ShowCorrectAnswers
from quizplatform.schemas.bank import Draws
from quizplatform.schemas.base import WHOLE, Strict, TagName, Timestamp
from quizplatform.schemas.questions import QuestionIn


class SettingsIn(Strict):
    time_limit_seconds: Annotated[int, Field(gt=0, le=7 * 24 * 3600), WHOLE] | None = None
    max_attempts: Annotated[int, Field(gt=0, le=1000), WHOLE] | None = None
    shuffle_questions: bool = False
    shuffle_options: bool = False
    opens_at: Timestamp | None = None
    closes_at: Timestamp | None = None
    show_correct_answers: Annotated[ShowCorrectAnswers, Field(strict=False)] = (
        ShowCorrectAnswers.AFTER_SUBMIT
    )

    def merged_into(self, current: QuizSettings) -> QuizSettings:
        """``current`` with the fields this request set."""
        values: dict[str, Any] = {
            "time_limit_seconds": current.time_limit_seconds,
            "max_attempts": current.max_attempts,
            "shuffle_questions": current.shuffle_questions,
            "shuffle_options": current.shuffle_options,
            "opens_at": current.opens_at,
            "closes_at": current.closes_at,
            "show_correct_answers": current.show_correct_answers,
        }
        values.update(self.model_dump(exclude_unset=True))
        return QuizSettings(**values)


Title = Annotated[str, Field(min_length=1, max_length=LIMITS.title_chars)]
Description = Annotated[str, Field(max_length=LIMITS.description_chars)]
Questions = Annotated[list[QuestionIn], Field(max_length=LIMITS.questions)]
Tags = Annotated[list[TagName], Field(max_length=LIMITS.tags)]


class QuizIn(Strict):
    title: Title
    description: Description = ""
    tags: Tags = []
    settings: SettingsIn | None = None
    questions: Questions = []
    draws: Draws = []


class QuizPatch(Strict):
    title: Title | None = None
    description: Description | None = None
    tags: Tags | None = None
    settings: SettingsIn | None = None
    questions: Questions | None = None
    draws: Draws | None = None
