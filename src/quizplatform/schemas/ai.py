"""An AI draft request (``POST /ai/quizzes``, the web's AI draft form)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from quizplatform.schemas.base import WHOLE, Strict

DraftType = Literal["single_choice", "multiple_choice", "true_false", "short_answer", "numeric"]


class AIQuizIn(Strict):
    """``POST /ai/quizzes``: a topic, a source text to ground the questions in, or both."""

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": [name], "properties": {name: {"type": "string", "pattern": r"\S"}}}
                for name in ("topic", "source_text")
            ]
        }
    )

    topic: Annotated[str, Field(max_length=200)] | None = None
    source_text: Annotated[str, Field(max_length=200_000)] | None = None
    num_questions: Annotated[int, Field(ge=1, le=50), WHOLE] = 10
    question_types: Annotated[list[DraftType], Field(min_length=1, max_length=5)] | None = None
    difficulty: Literal["easy", "medium", "hard"] | None = None
    language: Annotated[str, Field(min_length=2, max_length=40)] | None = None
    title: Annotated[str, Field(min_length=1, max_length=200)] | None = None
