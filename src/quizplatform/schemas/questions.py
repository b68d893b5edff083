"""A question as a request body (the API's quiz bodies and the web's question editor)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from quizplatform.domain.limits import LIMITS
from quizplatform.domain.questions import (
    Choice,
    Item,
    NumericAnswer,
    Pair,
    Question,
    QuestionType,
    TextAnswer,
)
from quizplatform.schemas.base import (
    Parts,
    PartText,
    QuestionTitle,
    Strict,
    TagName,
    Text,
    Weight,
)


class _QuestionBase(Strict):
    id: Annotated[str, Field(max_length=64)] | None = None
    prompt: Text
    points: Annotated[float, Field(ge=0, le=1000, allow_inf_nan=False)] = 1.0
    title: QuestionTitle | None = None
    feedback: Text | None = None
    tags: Annotated[list[TagName], Field(max_length=LIMITS.tags)] = []
    category: QuestionTitle | None = None
    text_format: Literal["moodle", "html", "plain", "markdown"] = "moodle"

    def _base(self, type_: QuestionType) -> Question:
        return Question(
            id=self.id,
            type=type_,
            prompt=self.prompt,
            points=self.points,
            title=self.title,
            feedback=self.feedback,
            tags=list(self.tags),
            category=self.category,
            text_format=self.text_format,
        )


class SingleOptionIn(Strict):
    id: Annotated[str, Field(max_length=64)] | None = None
    text: PartText
    correct: bool = False
    weight: Weight | None = None
    feedback: Text | None = None


class MultipleOptionIn(Strict):
    id: Annotated[str, Field(max_length=64)] | None = None
    text: PartText
    weight: Weight
    feedback: Text | None = None


class SingleChoiceIn(_QuestionBase):
    type: Literal["single_choice"]
    options: Annotated[list[SingleOptionIn], Parts]

    def to_domain(self) -> Question:
        q = self._base(QuestionType.SINGLE_CHOICE)
        q.options = [
            Choice(
                o.text,
                o.weight if o.weight is not None else (100.0 if o.correct else 0.0),
                o.feedback,
                o.id,
            )
            for o in self.options
        ]
        return q


class MultipleChoiceIn(_QuestionBase):
    type: Literal["multiple_choice"]
    options: Annotated[list[MultipleOptionIn], Parts]

    def to_domain(self) -> Question:
        q = self._base(QuestionType.MULTIPLE_CHOICE)
        q.options = [Choice(o.text, o.weight, o.feedback, o.id) for o in self.options]
        return q


class TrueFalseIn(_QuestionBase):
    type: Literal["true_false"]
    answer: bool
    wrong_feedback: Text | None = None
    right_feedback: Text | None = None

    def to_domain(self) -> Question:
        q = self._base(QuestionType.TRUE_FALSE)
        q.answer, q.wrong_feedback, q.right_feedback = (
            self.answer,
            self.wrong_feedback,
            self.right_feedback,
        )
        return q


class TextAnswerIn(Strict):
    text: PartText
    weight: Weight = 100.0
    feedback: Text | None = None


class ShortAnswerIn(_QuestionBase):
    type: Literal["short_answer"]
    answers: Annotated[list[TextAnswerIn], Parts]
    case_sensitive: bool = False
    other_feedback: Text | None = None

    def to_domain(self) -> Question:
        q = self._base(QuestionType.SHORT_ANSWER)
        q.text_answers = [TextAnswer(a.text, a.weight, a.feedback) for a in self.answers]
        q.case_sensitive = self.case_sensitive
        q.other_feedback = self.other_feedback
        return q


class NumericAnswerIn(Strict):
    value: Annotated[float, Field(allow_inf_nan=False)]
    tolerance: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    weight: Weight = 100.0
    feedback: Text | None = None


class NumericIn(_QuestionBase):
    type: Literal["numeric"]
    answers: Annotated[list[NumericAnswerIn], Parts]
    other_feedback: Text | None = None

    def to_domain(self) -> Question:
        q = self._base(QuestionType.NUMERIC)
        q.numeric_answers = [
            NumericAnswer(a.value, a.tolerance, a.weight, a.feedback) for a in self.answers
        ]
        q.other_feedback = self.other_feedback
        return q


# The left side of a distractor (an extra right that matches nothing) is empty.
DistractorOrPartText = Annotated[str, Field(max_length=LIMITS.short_text_chars)]


class PairIn(Strict):
    id: Annotated[str, Field(max_length=64)] | None = None
    left: DistractorOrPartText
    right: PartText
    right_id: Annotated[str, Field(max_length=64)] | None = None


class MatchingIn(_QuestionBase):
    type: Literal["matching"]
    pairs: Annotated[list[PairIn], Parts]

    def to_domain(self) -> Question:
        q = self._base(QuestionType.MATCHING)
        q.pairs = [Pair(p.left, p.right, p.id, p.right_id) for p in self.pairs]
        return q


class ItemIn(Strict):
    id: Annotated[str, Field(max_length=64)] | None = None
    text: PartText


class OrderingIn(_QuestionBase):
    type: Literal["ordering"]
    items: Annotated[list[ItemIn], Parts]

    def to_domain(self) -> Question:
        q = self._base(QuestionType.ORDERING)
        q.items = [Item(i.text, i.id) for i in self.items]
        return q


class EssayIn(_QuestionBase):
    type: Literal["essay"]
    grader_info: Text | None = None

    def to_domain(self) -> Question:
        q = self._base(QuestionType.ESSAY)
        q.grader_info = self.grader_info
        return q


class DescriptionIn(_QuestionBase):
    type: Literal["description"]
    points: Annotated[float, Field(ge=0, le=0)] = 0.0

    def to_domain(self) -> Question:
        return self._base(QuestionType.DESCRIPTION)


QuestionIn = Annotated[
    SingleChoiceIn
    | MultipleChoiceIn
    | TrueFalseIn
    | ShortAnswerIn
    | NumericIn
    | MatchingIn
    | OrderingIn
    | EssayIn
    | DescriptionIn,
    Field(discriminator="type"),
]
