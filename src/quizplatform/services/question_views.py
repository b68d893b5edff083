"""How questions look to their owner and to a student (the contract's two views).

The student view never carries ``correct``, ``weight``, ``answer``, ``answers`` or anything
from which the key can be derived: options keep ids and texts only, matching rights get
ids of their own, and neither their order nor the order of ordering items says anything
about the key:

- inside an attempt they are shuffled with a generator seeded from the attempt's secret
  ``order_key`` (256 random bits kept in the database, never sent) and the question's id,
  so every attempt sees its own uniformly random order;
- outside an attempt (the quiz document anyone may read) they are sorted by their text, a
  function of the set of texts alone. (Seeding a shuffle with public data such as the
  question's id let anyone replay it and undo it.)

Uniform means the correct order itself is shown now and then (1 in n!): refusing it would
tell a student who sees many attempts which order is never shown.
"""

from __future__ import annotations

import hashlib
import hmac
import random
from typing import NotRequired, TypedDict

from quizplatform.domain.questions import Question, QuestionType


class QuestionDocument(TypedDict):
    """What both views of a question carry."""

    id: str | None
    type: str  # a ``QuestionType`` value
    prompt: str
    points: float
    tags: list[str]


class Part(TypedDict):
    """An option, a matching side or an ordering item: an id and a text."""

    id: str | None
    text: str


class StudentQuestion(QuestionDocument):
    """A question as a student sees it (no keys); the keys present depend on its type."""

    text_format: str  # how to show prompt and options: moodle, html, plain, markdown
    title: NotRequired[str | None]
    options: NotRequired[list[Part]]
    lefts: NotRequired[list[Part]]
    rights: NotRequired[list[Part]]
    items: NotRequired[list[Part]]


class OwnerOption(TypedDict):
    """A choice with its credit (``correct`` on single-choice questions only)."""

    id: str | None
    text: str
    correct: NotRequired[bool]
    weight: float
    feedback: str | None


class TextAnswerDocument(TypedDict):
    text: str
    weight: float
    feedback: str | None


class NumericAnswerDocument(TypedDict):
    value: float
    tolerance: float
    weight: float
    feedback: str | None


class PairDocument(TypedDict):
    id: str | None
    left: str
    right: str
    right_id: str | None


class OwnerQuestion(QuestionDocument):
    """The full question, keys included; the keys present depend on its type."""

    title: str | None
    feedback: str | None
    category: str | None
    text_format: str
    options: NotRequired[list[OwnerOption]]
    answer: NotRequired[bool | None]
    wrong_feedback: NotRequired[str | None]
    right_feedback: NotRequired[str | None]
    answers: NotRequired[list[TextAnswerDocument] | list[NumericAnswerDocument]]
    case_sensitive: NotRequired[bool]
    other_feedback: NotRequired[str | None]
    grader_info: NotRequired[str | None]
    pairs: NotRequired[list[PairDocument]]
    items: NotRequired[list[Part]]


def type_of(document: QuestionDocument) -> QuestionType:
    """The type of a question document, as the enum."""
    return QuestionType(document["type"])


def owner_question(q: Question) -> OwnerQuestion:
    """The full question, keys included, as the contract's owner view."""
    common = _common(q)
    data: OwnerQuestion = {
        "id": common["id"],
        "type": common["type"],
        "prompt": common["prompt"],
        "points": common["points"],
        "tags": common["tags"],
        "title": q.title,
        "feedback": q.feedback,
        "category": q.category,
        "text_format": q.text_format,
    }
    t = q.type
    if t is QuestionType.SINGLE_CHOICE:
        data["options"] = [
            {
                "id": o.id,
                "text": o.text,
                "correct": o.correct,
                "weight": o.weight,
                "feedback": o.feedback,
            }
            for o in q.options
        ]
    elif t is QuestionType.MULTIPLE_CHOICE:
        data["options"] = [
            {"id": o.id, "text": o.text, "weight": o.weight, "feedback": o.feedback}
            for o in q.options
        ]
    elif t is QuestionType.TRUE_FALSE:
        data["answer"] = q.answer
        data["wrong_feedback"] = q.wrong_feedback
        data["right_feedback"] = q.right_feedback
    elif t is QuestionType.SHORT_ANSWER:
        text_answers: list[TextAnswerDocument] = [
            {"text": a.text, "weight": a.weight, "feedback": a.feedback} for a in q.text_answers
        ]
        data["answers"] = text_answers
        data["case_sensitive"] = q.case_sensitive
        data["other_feedback"] = q.other_feedback
    elif t is QuestionType.NUMERIC:
        numeric_answers: list[NumericAnswerDocument] = [
            {"value": a.value, "tolerance": a.tolerance, "weight": a.weight, "feedback": a.feedback}
            for a in q.numeric_answers
        ]
        data["answers"] = numeric_answers
        data["other_feedback"] = q.other_feedback
    elif t is QuestionType.MATCHING:
        data["pairs"] = [
            {"id": p.id, "left": p.left, "right": p.right, "right_id": p.right_id} for p in q.pairs
        ]
    elif t is QuestionType.ORDERING:
        data["items"] = [{"id": i.id, "text": i.text} for i in q.items]
    elif t is QuestionType.ESSAY:
        data["grader_info"] = q.grader_info
    return data


def attempt_rng(order_key: str, purpose: str) -> random.Random:
    """A generator for one attempt and one purpose (a question's id, or "questions"),
    seeded with HMAC-SHA256 of the attempt's secret key: unpredictable without the key,
    and the same every time the attempt is shown."""
    digest = hmac.new(order_key.encode(), purpose.encode(), hashlib.sha256).digest()
    return random.Random(int.from_bytes(digest, "big"))


def student_question(
    q: Question, rng: random.Random | None = None, shuffle_options: bool = False
) -> StudentQuestion:
    """The question as a student may see it: no keys, nothing that leads to them.

    With ``rng`` (an attempt's generator) matching rights and ordering items are shuffled,
    options too when ``shuffle_options``; without it (outside an attempt) they are sorted
    by text and options keep the author's order.
    """
    common = _common(q)
    data: StudentQuestion = {
        "id": common["id"],
        "type": common["type"],
        "prompt": common["prompt"],
        "points": common["points"],
        "tags": common["tags"],
        "text_format": q.text_format,
    }
    if q.type is QuestionType.DESCRIPTION:
        data["title"] = q.title
    t = q.type
    if t in (QuestionType.SINGLE_CHOICE, QuestionType.MULTIPLE_CHOICE):
        options: list[Part] = [{"id": o.id, "text": o.text} for o in q.options]
        if shuffle_options and rng is not None:
            rng.shuffle(options)
        data["options"] = options
    elif t is QuestionType.MATCHING:
        data["lefts"] = [{"id": p.id, "text": p.left} for p in q.pairs if not p.distractor]
        data["rights"] = _unrevealing([{"id": p.right_id, "text": p.right} for p in q.pairs], rng)
    elif t is QuestionType.ORDERING:
        data["items"] = _unrevealing([{"id": i.id, "text": i.text} for i in q.items], rng)
    return data


def _unrevealing(parts: list[Part], rng: random.Random | None) -> list[Part]:
    """``parts`` in an order that says nothing about the key (see the module docstring)."""
    if rng is None:
        return sorted(parts, key=lambda part: (part["text"].casefold(), str(part["id"])))
    rng.shuffle(parts)
    return parts


def _common(q: Question) -> QuestionDocument:
    return {
        "id": q.id,
        "type": q.type.value,
        "prompt": q.prompt,
        "points": q.points,
        "tags": list(q.tags),
    }
