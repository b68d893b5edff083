"""AI-drafted questions: the one item shape every provider returns, and its validation.

Providers (Gemini, OpenAI-compatible, offline) answer with a list of *draft items*::

    {"type": "single_choice", "prompt": "...", "options": ["...", ...],
     "correct_options": ["..."], "explanation": "...", "source_quote": "..."}

with ``true_false_answer`` for true/false, ``accepted_answers`` for short answers and
``numeric_answer`` / ``numeric_tolerance`` for numeric questions. Validation happens in
two steps: the shape (types and fields, like a JSON schema) and then the meaning (the key
is among the options, options distinct and of similar length, no "all/none of the above",
only the requested types, no repeated prompts). Invalid items are dropped with a reason;
the caller asks the provider again for the missing ones.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from quizplatform.domain.questions import (
    Choice,
    NumericAnswer,
    Question,
    QuestionType,
    TextAnswer,
    validate_question,
)

DRAFT_TYPES: tuple[str, ...] = (
    QuestionType.SINGLE_CHOICE.value,
    QuestionType.MULTIPLE_CHOICE.value,
    QuestionType.TRUE_FALSE.value,
    QuestionType.SHORT_ANSWER.value,
    QuestionType.NUMERIC.value,
)
DIFFICULTIES = ("easy", "medium", "hard")
MAX_PROMPT_CHARS = 2_000
MAX_OPTION_CHARS = 300
MAX_EXPLANATION_CHARS = 2_000
MIN_OPTIONS, MAX_OPTIONS = 2, 8
# An option this much longer than the shortest one gives the key away (or hides it).
OPTION_LENGTH_RATIO, OPTION_LENGTH_SLACK = 3.0, 15

_SPACES = re.compile(r"\s+")
# "All of the above", "none of these", "both A and B", "neither": options that refer to
# the other options instead of standing on their own.
_CATCH_ALL = re.compile(
    r"^(all|none|both|neither)\b(.*\b(above|these|options|answers|choices)\b.*)?[.!]?$"
    r"|^(both|neither) [a-f]\)? (and|nor) [a-f]\)?[.!]?$"
)


class DraftFormatError(ValueError):
    """The provider's text is not the JSON shape asked for (truncated, prose, wrong top)."""


@dataclass(frozen=True)
class Rejection:
    """An item that was dropped, and why (for the job's details and the metrics)."""

    index: int
    reason: str  # a short machine-friendly code: "shape", "key_not_in_options", ...
    message: str


@dataclass
class Validated:
    """The outcome of validating one provider answer."""

    questions: list[Question] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)  # the accepted items, cleaned
    rejections: list[Rejection] = field(default_factory=list)


def normalise(text: str) -> str:
    """Case-folded, accents kept, whitespace collapsed: what "the same text" means here."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text)).strip().casefold()


def parse_draft_text(text: str) -> list[Any]:
    """The items of a provider's JSON answer: ``{"questions": [...]}`` or a bare list.

    Raises ``DraftFormatError`` for text that is not JSON (prose, a truncated document)
    or JSON of another shape. Items themselves are not checked here.
    """
    stripped = text.strip()
    if stripped.startswith("```"):  # some models wrap JSON in a Markdown fence anyway
        stripped = stripped.strip("`").removeprefix("json").strip()
    try:
        data = json.loads(stripped)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise DraftFormatError(f"the answer is not valid JSON ({_json_problem(exc)})") from exc
    if isinstance(data, dict) and isinstance(data.get("questions"), list):
        return list(data["questions"])
    if isinstance(data, list):
        return data
    raise DraftFormatError('the answer is JSON but not {"questions": [...]}')


def _json_problem(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at character {exc.pos}"
    return "nested too deeply"


def validate_items(
    raw_items: Iterable[Any],
    *,
    allowed_types: Sequence[str],
    seen_prompts: Iterable[str] = (),
    limit: int | None = None,
) -> Validated:
    """Check each item's shape and meaning; keep at most ``limit`` valid ones.

    ``seen_prompts`` are prompts accepted earlier (in another round), so repeats of
    them are refused too.
    """
    result = Validated()
    seen = {normalise(p) for p in seen_prompts}
    for index, raw in enumerate(raw_items):
        if limit is not None and len(result.questions) >= limit:
            break
        try:
            item = clean_item(raw, allowed_types)
            question = item_to_question(item)
            problems = validate_question(question)
            if problems:
                raise _Reject("invalid_question", "; ".join(problems))
            key = normalise(item["prompt"])
            if key in seen:
                raise _Reject("duplicate", "the same question was asked already")
        except _Reject as exc:
            result.rejections.append(Rejection(index, exc.reason, exc.message))
            continue
        seen.add(key)
        result.items.append(item)
        result.questions.append(question)
    return result


class _Reject(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def clean_item(raw: Any, allowed_types: Sequence[str]) -> dict[str, Any]:
    """The item with its fields checked and trimmed; raises ``_Reject`` with the reason."""
    if not isinstance(raw, dict):
        raise _Reject("shape", "an item must be a JSON object")
    kind = raw.get("type")
    if kind not in DRAFT_TYPES:
        raise _Reject("shape", f"unknown question type {kind!r}")
    if kind not in allowed_types:
        raise _Reject("type_not_requested", f"{kind} was not requested")
    item: dict[str, Any] = {
        "type": kind,
        "prompt": _text(raw, "prompt", MAX_PROMPT_CHARS),
        "explanation": _text(raw, "explanation", MAX_EXPLANATION_CHARS, required=False),
    }
    quote = _text(raw, "source_quote", MAX_PROMPT_CHARS, required=False)
    if quote:
        item["source_quote"] = quote
    if kind in (QuestionType.SINGLE_CHOICE, QuestionType.MULTIPLE_CHOICE):
        item.update(_clean_choices(raw, single=kind == QuestionType.SINGLE_CHOICE))
    elif kind == QuestionType.TRUE_FALSE:
        answer = raw.get("true_false_answer")
        if not isinstance(answer, bool):
            raise _Reject("shape", "true_false_answer must be true or false")
        item["true_false_answer"] = answer
    elif kind == QuestionType.SHORT_ANSWER:
        answers = _text_list(raw, "accepted_answers", MAX_OPTION_CHARS)
        if not answers:
            raise _Reject("shape", "accepted_answers must list at least one answer")
        item["accepted_answers"] = _distinct(answers)
    else:
        item.update(_clean_numeric(raw))
    return item


def _clean_choices(raw: dict[str, Any], *, single: bool) -> dict[str, Any]:
    options = _text_list(raw, "options", MAX_OPTION_CHARS)
    if not MIN_OPTIONS <= len(options) <= MAX_OPTIONS:
        raise _Reject("shape", f"a choice question needs {MIN_OPTIONS} to {MAX_OPTIONS} options")
    if len({normalise(o) for o in options}) != len(options):
        raise _Reject("options_not_distinct", "two options are the same")
    if any(_CATCH_ALL.match(normalise(o)) for o in options):
        raise _Reject("catch_all_option", 'options like "all/none of the above" are not allowed')
    lengths = [len(o) for o in options]
    if max(lengths) > OPTION_LENGTH_RATIO * min(lengths) + OPTION_LENGTH_SLACK:
        raise _Reject("options_uneven", "one option is much longer than another")
    by_text = {normalise(o): o for o in options}
    correct = _text_list(raw, "correct_options", MAX_OPTION_CHARS)
    keys = _distinct([by_text.get(normalise(c), "") for c in correct])
    if not correct or "" in keys:
        raise _Reject("key_not_in_options", "every correct option must be one of the options")
    if single and len(keys) != 1:
        raise _Reject("key_count", "a single choice question needs exactly one correct option")
    if not single and len(keys) >= len(options):
        raise _Reject("key_count", "at least one option must be wrong")
    return {"options": options, "correct_options": keys}


def _clean_numeric(raw: dict[str, Any]) -> dict[str, Any]:
    value = raw.get("numeric_answer")
    tolerance = raw.get("numeric_tolerance", 0)
    if tolerance is None:
        tolerance = 0
    for name, number in (("numeric_answer", value), ("numeric_tolerance", tolerance)):
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise _Reject("shape", f"{name} must be a number")
        if not math.isfinite(number):
            raise _Reject("shape", f"{name} must be finite")
    if tolerance < 0:
        raise _Reject("shape", "numeric_tolerance must be >= 0")
    return {"numeric_answer": float(value), "numeric_tolerance": float(tolerance)}  # type: ignore[arg-type]


def _text(raw: dict[str, Any], name: str, limit: int, *, required: bool = True) -> str:
    value = raw.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise _Reject("shape", f"{name} must be text")
    value = _SPACES.sub(" ", value).strip()
    if required and not value:
        raise _Reject("shape", f"{name} must not be empty")
    if len(value) > limit:
        raise _Reject("shape", f"{name} is longer than {limit} characters")
    return value


def _text_list(raw: dict[str, Any], name: str, limit: int) -> list[str]:
    values = raw.get(name)
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise _Reject("shape", f"{name} must be a list of texts")
    cleaned = [_SPACES.sub(" ", v).strip() for v in values]
    if any(not v for v in cleaned):
        raise _Reject("shape", f"{name} must not contain empty texts")
    if any(len(v) > limit for v in cleaned):
        raise _Reject("shape", f"an entry of {name} is longer than {limit} characters")
    return cleaned


def _distinct(values: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for value in values:
        key = normalise(value)
        if key not in seen:
            seen.add(key)
            out.append(value)
    return out


def item_to_question(item: dict[str, Any]) -> Question:
    """The domain question for a cleaned item (see ``clean_item``)."""
    kind = QuestionType(item["type"])
    question = Question(
        type=kind,
        prompt=item["prompt"],
        feedback=item.get("explanation") or None,
        text_format="plain",
        tags=["ai-draft"],
    )
    if kind in (QuestionType.SINGLE_CHOICE, QuestionType.MULTIPLE_CHOICE):
        keys = {normalise(k) for k in item["correct_options"]}
        right = 100.0 / len(keys)
        # Wrong options cost as much as right ones earn, so ticking everything scores 0.
        wrong = 0.0 if kind is QuestionType.SINGLE_CHOICE else -min(100.0, right)
        question.options = [
            Choice(text=o, weight=right if normalise(o) in keys else wrong) for o in item["options"]
        ]
    elif kind is QuestionType.TRUE_FALSE:
        question.answer = item["true_false_answer"]
    elif kind is QuestionType.SHORT_ANSWER:
        question.text_answers = [TextAnswer(text=a) for a in item["accepted_answers"]]
    else:
        question.numeric_answers = [
            NumericAnswer(value=item["numeric_answer"], tolerance=item["numeric_tolerance"])
        ]
    return question


def plan_types(types: Sequence[str], count: int) -> dict[str, int]:
    """How many questions of each type to ask for: ``count`` spread evenly, in order."""
    plan = dict.fromkeys(types, count // len(types))
    for kind in list(types)[: count % len(types)]:
        plan[kind] += 1
    return {kind: n for kind, n in plan.items() if n}
