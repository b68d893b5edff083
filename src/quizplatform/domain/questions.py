"""The question model shared by authoring, formats, attempts and scoring.

Pure data: no I/O, no framework. One ``Question`` class carries the fields of every
type; ``validate_question`` states which fields each type uses and what must hold.
Ids are optional because questions parsed from a file have none until they are saved.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from quizplatform.domain.limits import LIMITS, QuizLimits

MISSING_WORD_BLANK = "_____"
TEXT_FORMATS = ("moodle", "html", "plain", "markdown")


class QuestionType(StrEnum):
    SINGLE_CHOICE = "single_choice"
    MULTIPLE_CHOICE = "multiple_choice"
    TRUE_FALSE = "true_false"
    SHORT_ANSWER = "short_answer"
    NUMERIC = "numeric"
    MATCHING = "matching"
    ORDERING = "ordering"
    ESSAY = "essay"
    # Text shown between questions (a GIFT "description"); never answered, worth 0 points.
    DESCRIPTION = "description"


class ShowCorrectAnswers(StrEnum):
    NEVER = "never"
    AFTER_SUBMIT = "after_submit"
    AFTER_CLOSE = "after_close"


@dataclass
class Choice:
    """An option of a single or multiple choice question.

    ``weight`` is a percentage of the question's points (-100..100). In a single choice
    question the correct option has weight 100; other options usually 0, but GIFT allows
    partial credit (``~%50%``) which is kept.
    """

    text: str
    weight: float = 0.0
    feedback: str | None = None
    id: str | None = None

    @property
    def correct(self) -> bool:
        return self.weight >= 100


@dataclass
class TextAnswer:
    """An accepted answer of a short answer question."""

    text: str
    weight: float = 100.0
    feedback: str | None = None


@dataclass
class NumericAnswer:
    """An accepted numeric answer: ``abs(response - value) <= tolerance``."""

    value: float
    tolerance: float = 0.0
    weight: float = 100.0
    feedback: str | None = None


@dataclass
class Pair:
    """A matching pair; the student matches each ``left`` with a ``right``.

    A pair with an empty ``left`` is a distractor (Moodle's extra wrong answer, GIFT
    ``= -> Chat``): its ``right`` is offered to the student but matches nothing.
    """

    left: str
    right: str
    id: str | None = None
    # Students see the rights under their own ids, which cannot be linked to the pairs.
    right_id: str | None = None

    @property
    def distractor(self) -> bool:
        return not self.left.strip()


@dataclass
class Item:
    """An ordering item; a question's items are stored in their correct order."""

    text: str
    id: str | None = None


@dataclass
class Question:
    type: QuestionType
    prompt: str
    points: float = 1.0
    title: str | None = None
    feedback: str | None = None  # general feedback, shown after answering
    tags: list[str] = field(default_factory=list)
    category: str | None = None  # GIFT $CATEGORY in force for this question
    text_format: str = "moodle"  # GIFT [moodle|html|plain|markdown]
    # single_choice, multiple_choice
    options: list[Choice] = field(default_factory=list)
    # true_false
    answer: bool | None = None
    wrong_feedback: str | None = None  # shown when the student's true/false answer is wrong
    right_feedback: str | None = None  # shown when it is right
    # short_answer
    text_answers: list[TextAnswer] = field(default_factory=list)
    case_sensitive: bool = False
    # numeric
    numeric_answers: list[NumericAnswer] = field(default_factory=list)
    # short_answer, numeric: feedback for a response that matches no answer (0 credit;
    # GIFT ``~#feedback`` in a numeric block, Moodle's ``*`` answer)
    other_feedback: str | None = None
    # essay: information for graders (Moodle's graderinfo), never shown to students
    grader_info: str | None = None
    # matching
    pairs: list[Pair] = field(default_factory=list)
    # ordering
    items: list[Item] = field(default_factory=list)
    id: str | None = None

    @property
    def max_score(self) -> float:
        return 0.0 if self.type is QuestionType.DESCRIPTION else self.points

    def without_ids(self) -> Question:
        """A copy with every id cleared, for comparing content."""
        return replace(
            self,
            id=None,
            options=[replace(o, id=None) for o in self.options],
            pairs=[replace(p, id=None, right_id=None) for p in self.pairs],
            items=[replace(i, id=None) for i in self.items],
        )


@dataclass
class QuizSettings:
    time_limit_seconds: int | None = None
    max_attempts: int | None = None
    shuffle_questions: bool = False
    shuffle_options: bool = False
    opens_at: datetime | None = None
    closes_at: datetime | None = None
    show_correct_answers: ShowCorrectAnswers = ShowCorrectAnswers.AFTER_SUBMIT


@dataclass
class QuizContent:
    """A quiz's content as the formats read and write it."""

    title: str
    description: str = ""
    questions: list[Question] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    settings: QuizSettings = field(default_factory=QuizSettings)

    def without_ids(self) -> QuizContent:
        return replace(self, questions=[q.without_ids() for q in self.questions])


def _finite(x: float) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


@dataclass(frozen=True)
class Problem:
    """Why a question is unusable, and the field of the contract's question document it
    concerns (``options``, ``answers``, ...; None for the question as a whole)."""

    field: str | None
    message: str


def validate_question(q: Question) -> list[str]:
    """Return the problems that make ``q`` unusable (empty when it is valid)."""
    return [p.message for p in question_problems(q)]


def question_problems(q: Question) -> list[Problem]:
    """The problems that make ``q`` unusable, each with the field it concerns."""
    problems: list[Problem] = []
    if not q.prompt.strip() and q.type is not QuestionType.DESCRIPTION:
        problems.append(Problem("prompt", "prompt must not be empty"))
    if not _finite(q.points) or q.points < 0:
        problems.append(Problem("points", "points must be a number >= 0"))
    if q.text_format not in TEXT_FORMATS:
        problems.append(
            Problem("text_format", f"text_format must be one of {', '.join(TEXT_FORMATS)}")
        )
    checker = _CHECKS.get(q.type)
    if checker is not None:
        field_name, check = checker
        problems.extend(Problem(field_name, message) for message in check(q))
    problems.extend(_size_problems(q))
    return problems


def _size_problems(q: Question, limits: QuizLimits = LIMITS) -> list[Problem]:
    """The limits of ``domain/limits.py`` that ``q`` breaks."""
    problems: list[Problem] = []
    long_texts: tuple[tuple[str, str | None], ...] = (
        ("prompt", q.prompt),
        ("feedback", q.feedback),
        ("other_feedback", q.other_feedback),
        ("grader_info", q.grader_info),
    )
    for name, value in long_texts:
        if value is not None and len(value) > limits.text_chars:
            problems.append(Problem(name, f"{name} is longer than {limits.text_chars} characters"))
    for name, short in (("title", q.title), ("category", q.category)):
        if short is not None and len(short) > limits.question_title_chars:
            problems.append(
                Problem(name, f"{name} is longer than {limits.question_title_chars} characters")
            )
    if len(q.tags) > limits.tags or any(len(t) > limits.tag_chars for t in q.tags):
        problems.append(
            Problem("tags", f"at most {limits.tags} tags of {limits.tag_chars} characters")
        )
    parts: list[tuple[str, list[str]]] = [
        ("options", [o.text for o in q.options]),
        ("answers", [a.text for a in q.text_answers]),
        ("answers", ["" for _ in q.numeric_answers]),
        ("pairs", [side for p in q.pairs for side in (p.left, p.right)]),
        ("items", [i.text for i in q.items]),
    ]
    for name, texts in parts:
        count = len(texts) // 2 if name == "pairs" else len(texts)
        if count > limits.parts:
            problems.append(Problem(name, f"at most {limits.parts} {name} per question"))
        elif any(len(t) > limits.short_text_chars for t in texts):
            problems.append(
                Problem(
                    name, f"each of the {name} has at most {limits.short_text_chars} characters"
                )
            )
    return problems


def quiz_size_problems(quiz: QuizContent, limits: QuizLimits = LIMITS) -> list[Problem]:
    """The quiz-level limits ``quiz`` breaks (its questions are checked one by one)."""
    problems: list[Problem] = []
    if len(quiz.questions) > limits.questions:
        problems.append(Problem("questions", f"at most {limits.questions} questions per quiz"))
    if len(quiz.title) > limits.title_chars:
        problems.append(Problem("title", f"title is longer than {limits.title_chars} characters"))
    if len(quiz.description) > limits.description_chars:
        problems.append(
            Problem(
                "description", f"description is longer than {limits.description_chars} characters"
            )
        )
    if len(quiz.tags) > limits.tags or any(len(t) > limits.tag_chars for t in quiz.tags):
        problems.append(
            Problem("tags", f"at most {limits.tags} tags of {limits.tag_chars} characters")
        )
    return problems


def _check_weights(weights: list[float]) -> list[str]:
    if any(not _finite(w) or not -100 <= w <= 100 for w in weights):
        return ["weights must be between -100 and 100"]
    return []


def _check_single(q: Question) -> list[str]:
    problems = _check_options_present(q)
    problems += _check_weights([o.weight for o in q.options])
    if sum(1 for o in q.options if o.correct) != 1:
        problems.append("a single choice question needs exactly one correct option")
    return problems


def _check_multiple(q: Question) -> list[str]:
    problems = _check_options_present(q)
    problems += _check_weights([o.weight for o in q.options])
    positive = sum(o.weight for o in q.options if o.weight > 0)
    if not problems and abs(positive - 100) > 0.01:
        problems.append(f"the positive weights must sum to 100 (they sum to {positive:g})")
    return problems


def _check_options_present(q: Question) -> list[str]:
    problems = []
    if len(q.options) < 2:
        problems.append("a choice question needs at least two options")
    if any(not o.text.strip() for o in q.options):
        problems.append("option text must not be empty")
    return problems


def _check_true_false(q: Question) -> list[str]:
    if isinstance(q.answer, bool):
        return []
    return ["a true/false question needs answer true or false"]


def _check_short(q: Question) -> list[str]:
    problems = []
    if not q.text_answers:
        problems.append("a short answer question needs at least one answer")
    if any(not a.text.strip() for a in q.text_answers):
        problems.append("answer text must not be empty")
    problems += _check_weights([a.weight for a in q.text_answers])
    if q.text_answers and max(a.weight for a in q.text_answers) <= 0:
        problems.append("at least one answer must have a positive weight")
    return problems


def _check_numeric(q: Question) -> list[str]:
    problems = []
    if not q.numeric_answers:
        problems.append("a numeric question needs at least one answer")
    for a in q.numeric_answers:
        if not _finite(a.value) or not _finite(a.tolerance) or a.tolerance < 0:
            problems.append("numeric answers need a finite value and a tolerance >= 0")
            break
    problems += _check_weights([a.weight for a in q.numeric_answers])
    return problems


def _check_matching(q: Question) -> list[str]:
    problems = []
    if sum(1 for p in q.pairs if not p.distractor) < 2:
        problems.append("a matching question needs at least two pairs")
    if any(not p.right.strip() for p in q.pairs):
        problems.append("the right side of a pair must not be empty")
    return problems


def _check_ordering(q: Question) -> list[str]:
    problems = []
    if len(q.items) < 2:
        problems.append("an ordering question needs at least two items")
    if any(not i.text.strip() for i in q.items):
        problems.append("item text must not be empty")
    return problems


# Each type's check, and the field (as the contract names it) its problems concern.
_CHECKS: dict[QuestionType, tuple[str, Callable[[Question], list[str]]]] = {
    QuestionType.SINGLE_CHOICE: ("options", _check_single),
    QuestionType.MULTIPLE_CHOICE: ("options", _check_multiple),
    QuestionType.TRUE_FALSE: ("answer", _check_true_false),
    QuestionType.SHORT_ANSWER: ("answers", _check_short),
    QuestionType.NUMERIC: ("answers", _check_numeric),
    QuestionType.MATCHING: ("pairs", _check_matching),
    QuestionType.ORDERING: ("items", _check_ordering),
}
