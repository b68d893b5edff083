"""Validation messages for people: pydantic's errors and the services' short messages
turned into sentences shown beside form fields."""

from __future__ import annotations

from typing import Any


def friendly_message(problem: Any) -> str:
    """A request model's (pydantic) error as a sentence for a person."""
    kind, ctx = problem.get("type", ""), problem.get("ctx") or {}
    if kind == "string_too_long":
        return f"Use at most {ctx.get('max_length')} characters."
    if kind == "too_long":
        return f"Use at most {ctx.get('max_length')} entries."
    if kind == "string_too_short":
        return "This must not be empty."
    if kind == "greater_than_equal":
        return f"Enter a number of at least {ctx.get('ge')}."
    if kind == "greater_than":
        return f"Enter a number greater than {ctx.get('gt')}."
    if kind in ("less_than_equal", "less_than"):
        return f"Enter a number of at most {ctx.get('le', ctx.get('lt'))}."
    return sentence(str(problem.get("msg", "This value is not valid")))


def sentence(text: str) -> str:
    """``must be > 0`` -> ``Must be > 0.``"""
    text = text.strip()
    if text and not text.endswith((".", "!", "?")):
        text += "."
    return text[:1].upper() + text[1:]
