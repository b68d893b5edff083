"""Request bodies of the v1 API. Unknown fields are refused (422), so typos are caught."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from quizplatform.domain.questions import (
    Choice,
    Item,
    NumericAnswer,
    Pair,
    Question,
    QuestionType,
    QuizSettings,
    ShowCorrectAnswers,
    TextAnswer,
)

Text = Annotated[str, Field(max_length=20_000)]
ShortText = Annotated[str, Field(max_length=1_000)]
TagName = Annotated[str, Field(min_length=1, max_length=64)]
Weight = Annotated[float, Field(ge=-100, le=100, allow_inf_nan=False)]


class Strict(BaseModel):
    # strict: a JSON string is not taken for a bool or a number ("yes" is not true, "5" is
    # not 5); the few fields parsed from strings (datetimes, enums) opt out one by one.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False, strict=True)


# -- accounts ------------------------------------------------------------------------------
class RegisterIn(Strict):
    email: Annotated[str, Field(max_length=320)]
    password: Annotated[str, Field(max_length=1024)]
    display_name: Annotated[str, Field(min_length=1, max_length=100)]
    role: Literal["student", "teacher"] = "student"


class TokenIn(Strict):
    email: Annotated[str, Field(max_length=320)]
    password: Annotated[str, Field(max_length=1024)]


# -- questions -----------------------------------------------------------------------------
class _QuestionBase(Strict):
    id: Annotated[str, Field(max_length=64)] | None = None
    prompt: Text
    points: Annotated[float, Field(ge=0, le=1000, allow_inf_nan=False)] = 1.0
    title: ShortText | None = None
    feedback: Text | None = None
    tags: Annotated[list[TagName], Field(max_length=20)] = []
    category: ShortText | None = None
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
    text: ShortText
    correct: bool = False
    weight: Weight | None = None
    feedback: Text | None = None


class MultipleOptionIn(Strict):
    id: Annotated[str, Field(max_length=64)] | None = None
    text: ShortText
    weight: Weight
    feedback: Text | None = None


class SingleChoiceIn(_QuestionBase):
    type: Literal["single_choice"]
    options: Annotated[list[SingleOptionIn], Field(max_length=50)]

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
    options: Annotated[list[MultipleOptionIn], Field(max_length=50)]

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
    text: ShortText
    weight: Weight = 100.0
    feedback: Text | None = None


class ShortAnswerIn(_QuestionBase):
    type: Literal["short_answer"]
    answers: Annotated[list[TextAnswerIn], Field(max_length=50)]
    case_sensitive: bool = False

    def to_domain(self) -> Question:
        q = self._base(QuestionType.SHORT_ANSWER)
        q.text_answers = [TextAnswer(a.text, a.weight, a.feedback) for a in self.answers]
        q.case_sensitive = self.case_sensitive
        return q


class NumericAnswerIn(Strict):
    value: Annotated[float, Field(allow_inf_nan=False)]
    tolerance: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    weight: Weight = 100.0
    feedback: Text | None = None


class NumericIn(_QuestionBase):
    type: Literal["numeric"]
    answers: Annotated[list[NumericAnswerIn], Field(max_length=50)]

    def to_domain(self) -> Question:
        q = self._base(QuestionType.NUMERIC)
        q.numeric_answers = [
            NumericAnswer(a.value, a.tolerance, a.weight, a.feedback) for a in self.answers
        ]
        return q


class PairIn(Strict):
    id: Annotated[str, Field(max_length=64)] | None = None
    left: ShortText
    right: ShortText
    right_id: Annotated[str, Field(max_length=64)] | None = None


class MatchingIn(_QuestionBase):
    type: Literal["matching"]
    pairs: Annotated[list[PairIn], Field(max_length=50)]

    def to_domain(self) -> Question:
        q = self._base(QuestionType.MATCHING)
        q.pairs = [Pair(p.left, p.right, p.id, p.right_id) for p in self.pairs]
        return q


class ItemIn(Strict):
    id: Annotated[str, Field(max_length=64)] | None = None
    text: ShortText


class OrderingIn(_QuestionBase):
    type: Literal["ordering"]
    items: Annotated[list[ItemIn], Field(max_length=50)]

    def to_domain(self) -> Question:
        q = self._base(QuestionType.ORDERING)
        q.items = [Item(i.text, i.id) for i in self.items]
        return q


class EssayIn(_QuestionBase):
    type: Literal["essay"]

    def to_domain(self) -> Question:
        return self._base(QuestionType.ESSAY)


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


# -- quizzes -------------------------------------------------------------------------------
class SettingsIn(Strict):
    time_limit_seconds: Annotated[int, Field(gt=0, le=7 * 24 * 3600)] | None = None
    max_attempts: Annotated[int, Field(gt=0, le=1000)] | None = None
    shuffle_questions: bool = False
    shuffle_options: bool = False
    opens_at: Annotated[AwareDatetime, Field(strict=False)] | None = None
    closes_at: Annotated[AwareDatetime, Field(strict=False)] | None = None
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


Title = Annotated[str, Field(min_length=1, max_length=200)]
Description = Annotated[str, Field(max_length=10_000)]
Questions = Annotated[list[QuestionIn], Field(max_length=500)]
Tags = Annotated[list[TagName], Field(max_length=20)]


class QuizIn(Strict):
    title: Title
    description: Description = ""
    tags: Tags = []
    settings: SettingsIn | None = None
    questions: Questions = []


class QuizPatch(Strict):
    title: Title | None = None
    description: Description | None = None
    tags: Tags | None = None
    settings: SettingsIn | None = None
    questions: Questions | None = None


class GradeIn(Strict):
    score: Annotated[float, Field(allow_inf_nan=False)]


# -- AI drafts -----------------------------------------------------------------------------
DraftType = Literal["single_choice", "multiple_choice", "true_false", "short_answer", "numeric"]


class AIQuizIn(Strict):
    """``POST /ai/quizzes``: a topic, a source text to ground the questions in, or both."""

    topic: Annotated[str, Field(max_length=200)] | None = None
    source_text: Annotated[str, Field(max_length=200_000)] | None = None
    num_questions: Annotated[int, Field(ge=1, le=50)] = 10
    question_types: Annotated[list[DraftType], Field(min_length=1, max_length=5)] | None = None
    difficulty: Literal["easy", "medium", "hard"] | None = None
    language: Annotated[str, Field(min_length=2, max_length=40)] | None = None
    title: Annotated[str, Field(min_length=1, max_length=200)] | None = None
