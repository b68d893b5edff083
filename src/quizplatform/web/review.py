"""Responses and answer keys in plain words, for the result and review page."""

from __future__ import annotations

from typing import cast

from quizplatform.domain.questions import QuestionType
from quizplatform.services.attempts import ResponseDocument
from quizplatform.services.question_views import (
    NumericAnswerDocument,
    OwnerQuestion,
    TextAnswerDocument,
    type_of,
)
from quizplatform.web.rendering import format_number


def describe_response(question: OwnerQuestion, response: ResponseDocument | None) -> str:
    """What the student answered, as text ("No answer" when nothing was saved)."""
    if not response:
        return "No answer"
    qtype = type_of(question)
    if qtype is QuestionType.SINGLE_CHOICE:
        return _option_texts(question, [response.get("option_id")]) or "No answer"
    if qtype is QuestionType.MULTIPLE_CHOICE:
        return _option_texts(question, list(response.get("option_ids", []))) or "None chosen"
    if qtype is QuestionType.TRUE_FALSE:
        return "True" if response.get("value") else "False"
    if qtype in (QuestionType.SHORT_ANSWER, QuestionType.ESSAY):
        return str(response.get("text", "")).strip() or "No answer"
    if qtype is QuestionType.NUMERIC:
        return format_number(response.get("value"), digits=6)
    if qtype is QuestionType.MATCHING:
        rights = {p.get("right_id"): p["right"] for p in question.get("pairs", [])}
        lefts = {p["id"]: p["left"] for p in question.get("pairs", [])}
        matches = response.get("matches", {})
        parts = [f"{lefts[k]} → {rights.get(v, '?')}" for k, v in matches.items() if k in lefts]
        return "; ".join(parts) or "No matches"
    if qtype is QuestionType.ORDERING:
        texts = {i["id"]: i["text"] for i in question.get("items", [])}
        return " → ".join(texts.get(i, "?") for i in response.get("item_ids", []))
    return ""


def describe_key(question: OwnerQuestion) -> str:
    """The correct answer(s), as text ("" for essays and descriptions)."""
    qtype = type_of(question)
    if qtype is QuestionType.SINGLE_CHOICE:
        return "; ".join(o["text"] for o in question.get("options", []) if o.get("correct"))
    if qtype is QuestionType.MULTIPLE_CHOICE:
        return "; ".join(o["text"] for o in question.get("options", []) if o.get("weight", 0) > 0)
    if qtype is QuestionType.TRUE_FALSE:
        return "True" if question.get("answer") else "False"
    if qtype is QuestionType.SHORT_ANSWER:
        answers = cast(list[TextAnswerDocument], question.get("answers", []))
        best = [a["text"] for a in answers if a.get("weight", 0) >= 100]
        return " or ".join(best or [a["text"] for a in answers[:1]])
    if qtype is QuestionType.NUMERIC:
        return " or ".join(
            _numeric_key(cast(list[NumericAnswerDocument], question.get("answers", [])))
        )
    if qtype is QuestionType.MATCHING:
        pairs = question.get("pairs", [])
        return "; ".join(f"{p['left']} → {p['right']}" for p in pairs if p["left"].strip())
    if qtype is QuestionType.ORDERING:
        return " → ".join(i["text"] for i in question.get("items", []))
    return ""


def _numeric_key(answers: list[NumericAnswerDocument]) -> list[str]:
    parts = []
    for a in answers:
        if a.get("weight", 0) < 100:
            continue
        tolerance = a.get("tolerance") or 0
        value = format_number(a["value"], digits=6)
        suffix = f" (± {format_number(tolerance, digits=6)})" if tolerance else ""
        parts.append(value + suffix)
    return parts


def _option_texts(question: OwnerQuestion, ids: list[object]) -> str:
    texts = {o["id"]: o["text"] for o in question.get("options", [])}
    return "; ".join(texts[i] for i in ids if i in texts)
