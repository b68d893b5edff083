"""How questions look to their owner and to a student (the contract's two views).

The student view never carries ``correct``, ``weight``, ``answer``, ``answers`` or anything
from which the key can be derived: options keep ids and texts only, matching rights get
ids of their own and a shuffled order, ordering items are shuffled.
"""

from __future__ import annotations

import random
from typing import Any

from quizplatform.domain.questions import Question, QuestionType


def owner_question(q: Question) -> dict[str, Any]:
    """The full question, keys included, as the contract's owner view."""
    data = _common(q)
    data.update(
        {
            "title": q.title,
            "feedback": q.feedback,
            "category": q.category,
            "text_format": q.text_format,
        }
    )
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
        data["answers"] = [
            {"text": a.text, "weight": a.weight, "feedback": a.feedback} for a in q.text_answers
        ]
        data["case_sensitive"] = q.case_sensitive
    elif t is QuestionType.NUMERIC:
        data["answers"] = [
            {"value": a.value, "tolerance": a.tolerance, "weight": a.weight, "feedback": a.feedback}
            for a in q.numeric_answers
        ]
    elif t is QuestionType.MATCHING:
        data["pairs"] = [
            {"id": p.id, "left": p.left, "right": p.right, "right_id": p.right_id} for p in q.pairs
        ]
    elif t is QuestionType.ORDERING:
        data["items"] = [{"id": i.id, "text": i.text} for i in q.items]
    return data


def student_question(
    q: Question, rng: random.Random | None = None, shuffle_options: bool = False
) -> dict[str, Any]:
    """The question as a student may see it: no keys, nothing that leads to them.

    ``rng`` fixes the order of shuffled parts (an attempt passes its own seeded generator);
    matching rights and ordering items are always shuffled, options only on request.
    """
    rng = rng or random.Random(q.id)
    data = _common(q)
    if q.type is QuestionType.DESCRIPTION:
        data["title"] = q.title
    t = q.type
    if t in (QuestionType.SINGLE_CHOICE, QuestionType.MULTIPLE_CHOICE):
        options = [{"id": o.id, "text": o.text} for o in q.options]
        if shuffle_options:
            rng.shuffle(options)
        data["options"] = options
    elif t is QuestionType.MATCHING:
        data["lefts"] = [{"id": p.id, "text": p.left} for p in q.pairs]
        rights = [{"id": p.right_id, "text": p.right} for p in q.pairs]
        rng.shuffle(rights)
        data["rights"] = rights
    elif t is QuestionType.ORDERING:
        items = [{"id": i.id, "text": i.text} for i in q.items]
        _shuffle_not_identity(items, rng)
        data["items"] = items
    return data


def _common(q: Question) -> dict[str, Any]:
    return {
        "id": q.id,
        "type": q.type.value,
        "prompt": q.prompt,
        "points": q.points,
        "tags": list(q.tags),
    }


def _shuffle_not_identity(items: list[dict[str, Any]], rng: random.Random) -> None:
    """Shuffle so that the given order is not already the answer (when that is possible)."""
    original = list(items)
    for _ in range(5):
        rng.shuffle(items)
        if items != original:
            return
    items.reverse()
