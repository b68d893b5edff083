"""A question's form fields -> the contract's response shape (and back, for display).

The form says which question type it answers (a hidden ``qtype`` field), so saving an
answer needs no extra look-up; ``AttemptService.save_response`` validates the result
against the real question anyway, so a forged type only earns a 422.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import FormData

from quizplatform.domain.questions import QuestionType
from quizplatform.services.attempts import ResponseDocument
from quizplatform.services.question_views import Part, StudentQuestion

MAX_ANSWER_CHARS = 10_000


@dataclass(frozen=True)
class FormAnswer:
    """What a question form holds: a response to save, nothing yet, or a problem."""

    payload: dict[str, Any] | None = None
    problem: str | None = None  # shown next to the question (422)
    empty_message: str | None = None  # nothing to save yet, said politely


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value[:MAX_ANSWER_CHARS] if isinstance(value, str) else ""


def _values(form: FormData, name: str) -> list[str]:
    return [v for v in form.getlist(name) if isinstance(v, str) and v]


def parse_number(text: str) -> float | None:
    """``"3,14"`` or ``" 3.14 "`` -> 3.14; None when it is not a finite number."""
    cleaned = text.strip().replace(" ", "").replace(",", ".")
    try:
        value = float(cleaned)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def question_type(text: str) -> QuestionType | None:
    """The question type a form names (None for anything else)."""
    try:
        return QuestionType(text)
    except ValueError:
        return None


def answer_from_form(qtype: QuestionType | None, form: FormData) -> FormAnswer:
    """The response a question's form holds (see the module docstring)."""
    if qtype is QuestionType.SINGLE_CHOICE:
        chosen = _text(form, "option_id")
        if not chosen:
            return FormAnswer(empty_message="No option chosen yet.")
        return FormAnswer({"option_id": chosen})
    if qtype is QuestionType.MULTIPLE_CHOICE:
        return FormAnswer({"option_ids": _values(form, "option_ids")})
    if qtype is QuestionType.TRUE_FALSE:
        value = _text(form, "value")
        if value not in ("true", "false"):
            return FormAnswer(empty_message="Choose True or False.")
        return FormAnswer({"value": value == "true"})
    if qtype in (QuestionType.SHORT_ANSWER, QuestionType.ESSAY):
        return FormAnswer({"text": _text(form, "text")})
    if qtype is QuestionType.NUMERIC:
        raw = _text(form, "value")
        if not raw.strip():
            return FormAnswer(empty_message="Enter a number to answer.")
        number = parse_number(raw)
        if number is None:
            return FormAnswer(problem="Enter a number, such as 42, 3.14 or -0.5.")
        return FormAnswer({"value": int(number) if number.is_integer() else number})
    if qtype is QuestionType.MATCHING:
        matches = {
            key.removeprefix("match."): value
            for key, value in form.multi_items()
            if key.startswith("match.") and isinstance(value, str) and value
        }
        return FormAnswer({"matches": matches})
    if qtype is QuestionType.ORDERING:
        return FormAnswer({"item_ids": _values(form, "item_ids")})
    return FormAnswer(problem="This item takes no answer.")


def apply_move(order: list[str], move: str) -> tuple[list[str], int | None]:
    """``move`` is ``"<item id>:up"`` or ``":down"``; returns the new order and the
    item's new position (1-based), or None for an unknown item. Moving past either end
    leaves the order as it is."""
    item_id, _, direction = move.rpartition(":")
    if item_id not in order or direction not in ("up", "down"):
        return order, None
    index = order.index(item_id)
    target = index - 1 if direction == "up" else index + 1
    if 0 <= target < len(order):
        order = list(order)
        order[index], order[target] = order[target], order[index]
        index = target
    return order, index + 1


def is_answered(question: StudentQuestion, response: ResponseDocument | None) -> bool:
    """Whether a saved response counts as an answer worth telling the student about."""
    if response is None:
        return False
    if "text" in response:
        return bool(str(response["text"]).strip())
    if "option_ids" in response:
        return bool(response["option_ids"])
    if "matches" in response:
        return bool(response["matches"])
    return True


def ordered_items(question: StudentQuestion, response: ResponseDocument | None) -> list[Part]:
    """An ordering question's items in the student's saved order (else as shown)."""
    items = list(question.get("items", []))
    if response and isinstance(response.get("item_ids"), list):
        by_id = {i["id"]: i for i in items}
        saved = [by_id[i] for i in response["item_ids"] if i in by_id]
        if len(saved) == len(items):
            return saved
    return items
