"""Responses and answer keys in plain words, for the result and review page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from quizplatform.web.rendering import format_number


def describe_response(question: Mapping[str, Any], response: Mapping[str, Any] | None) -> str:
    """What the student answered, as text ("No answer" when nothing was saved)."""
    if not response:
        return "No answer"
    qtype = question["type"]
    if qtype == "single_choice":
        return _option_texts(question, [response.get("option_id")]) or "No answer"
    if qtype == "multiple_choice":
        return _option_texts(question, list(response.get("option_ids", []))) or "None chosen"
    if qtype == "true_false":
        return "True" if response.get("value") else "False"
    if qtype in ("short_answer", "essay"):
        return str(response.get("text", "")).strip() or "No answer"
    if qtype == "numeric":
        return format_number(response.get("value"), digits=6)
    if qtype == "matching":
        rights = {p.get("right_id"): p["right"] for p in question.get("pairs", [])}
        lefts = {p["id"]: p["left"] for p in question.get("pairs", [])}
        matches = response.get("matches", {})
        parts = [f"{lefts[k]} → {rights.get(v, '?')}" for k, v in matches.items() if k in lefts]
        return "; ".join(parts) or "No matches"
    if qtype == "ordering":
        texts = {i["id"]: i["text"] for i in question.get("items", [])}
        return " → ".join(texts.get(i, "?") for i in response.get("item_ids", []))
    return ""


def describe_key(question: Mapping[str, Any]) -> str:
    """The correct answer(s), as text ("" for essays and descriptions)."""
    qtype = question["type"]
    if qtype == "single_choice":
        return "; ".join(o["text"] for o in question.get("options", []) if o.get("correct"))
    if qtype == "multiple_choice":
        return "; ".join(o["text"] for o in question.get("options", []) if o.get("weight", 0) > 0)
    if qtype == "true_false":
        return "True" if question.get("answer") else "False"
    if qtype == "short_answer":
        best = [a["text"] for a in question.get("answers", []) if a.get("weight", 0) >= 100]
        return " or ".join(best or [a["text"] for a in question.get("answers", [])[:1]])
    if qtype == "numeric":
        parts = []
        for a in question.get("answers", []):
            if a.get("weight", 0) < 100:
                continue
            tolerance = a.get("tolerance") or 0
            value = format_number(a["value"], digits=6)
            suffix = f" (± {format_number(tolerance, digits=6)})" if tolerance else ""
            parts.append(value + suffix)
        return " or ".join(parts)
    if qtype == "matching":
        return "; ".join(f"{p['left']} → {p['right']}" for p in question.get("pairs", []))
    if qtype == "ordering":
        return " → ".join(i["text"] for i in question.get("items", []))
    return ""


def _option_texts(question: Mapping[str, Any], ids: list[Any]) -> str:
    texts = {o["id"]: o["text"] for o in question.get("options", [])}
    return "; ".join(texts[i] for i in ids if i in texts)
