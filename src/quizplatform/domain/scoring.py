"""Validating and scoring students' responses (pure: no I/O).

Response shapes (JSON objects), one per question type:

==================  ================================  =========================================
type                response                          score
==================  ================================  =========================================
single_choice       ``{"option_id": id}``             weight of the chosen option x points/100,
                                                      floored at 0
multiple_choice     ``{"option_ids": [id, ...]}``     sum of the chosen weights x points/100,
                                                      floored at 0, never above points
true_false          ``{"value": bool}``               full or 0
short_answer        ``{"text": str}``                 highest weight of the matching answers
                                                      (whitespace-normalised, case-insensitive
                                                      unless ``case_sensitive``; ``*`` in an
                                                      answer matches any characters, ``\\*`` a
                                                      star), floored at 0
numeric             ``{"value": number}``             weight of the FIRST answer with
                                                      ``abs(value - answer) <= tolerance``
                                                      (exact decimal comparison), floored at 0
matching            ``{"matches": {left: right}}``    points x correct matches / pairs; a match
                                                      is correct when the chosen right's text
                                                      equals the pair's right text (distractor
                                                      pairs, with no left, are not counted)
ordering            ``{"item_ids": [id, ...]}``       full if the order is exact, else 0
essay               ``{"text": str}``                 graded by a teacher; 0 (correct None)
                                                      until then
description         (no response)                     0 of 0, correct None
==================  ================================  =========================================

``parse_response`` validates an incoming payload against its question and returns what
to store; ``score_question`` scores a stored response; ``total`` sums an attempt.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from quizplatform.domain.questions import Question, QuestionType

MAX_TEXT_LENGTH = 10_000
SCORE_DECIMALS = 6
PERCENT_DECIMALS = 2
# validate_question accepts multiple choice weights whose positive part sums to 100
# within 0.01 (e.g. 33.33 x 3); choosing all of those options earns full points.
_FULL_WEIGHT_TOLERANCE = 0.01


class InvalidResponse(ValueError):
    """A response payload (or a manual grade) that does not fit its question."""


@dataclass(frozen=True)
class QuestionScore:
    """The score of one question of an attempt.

    ``correct`` is None when it does not apply: an essay not graded yet, or a
    description.
    """

    score: float
    max_score: float
    correct: bool | None


@dataclass(frozen=True)
class AttemptScore:
    """The total of an attempt; ``percent`` is 0..100, rounded to 2 places."""

    score: float
    max_score: float
    percent: float


# --------------------------------------------------------------------------- parsing


def parse_response(question: Question, payload: object) -> dict[str, object]:
    """Validate a JSON ``payload`` against ``question`` and return the payload to store.

    Checks the exact keys and their types (a bool is not a number; numbers must be
    finite), that every id exists in the question, that ``option_ids`` has no
    duplicates, that ``item_ids`` is a permutation of the items, and that texts are at
    most ``MAX_TEXT_LENGTH`` characters. Description questions accept no response.

    Raises:
        InvalidResponse: with a message fit to show the client.
    """
    parser = _PARSERS.get(question.type)
    if parser is None:
        raise InvalidResponse(f"{question.type.value} questions take no response")
    return parser(question, payload)


def _fields(payload: object, *keys: str) -> dict[str, object]:
    """Return ``payload`` as a dict after checking it has exactly ``keys``."""
    expected = ", ".join(keys)
    if not isinstance(payload, dict):
        raise InvalidResponse(f"the response must be a JSON object with the keys: {expected}")
    if set(payload) != set(keys):
        raise InvalidResponse(f"the response must have exactly the keys: {expected}")
    return payload


def _id(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise InvalidResponse(f"{name} must be a string")
    return value


def _id_list(value: object, name: str) -> list[str]:
    if not isinstance(value, list):
        raise InvalidResponse(f"{name} must be a list of ids")
    ids = [_id(v, f"each of {name}") for v in value]
    if len(set(ids)) != len(ids):
        raise InvalidResponse(f"{name} must not contain duplicates")
    return ids


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidResponse("text must be a string")
    if len(value) > MAX_TEXT_LENGTH:
        raise InvalidResponse(f"text must be at most {MAX_TEXT_LENGTH:,} characters")
    if "\x00" in value:
        raise InvalidResponse("text must not contain NUL characters")
    return value


def _is_finite(value: int | float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def _number(value: object) -> int | float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise InvalidResponse("value must be a number")
    if not _is_finite(value):
        raise InvalidResponse("value must be a finite number")
    return value


def _parse_single(q: Question, payload: object) -> dict[str, object]:
    option_id = _id(_fields(payload, "option_id")["option_id"], "option_id")
    if option_id not in {o.id for o in q.options}:
        raise InvalidResponse("option_id must be one of this question's options")
    return {"option_id": option_id}


def _parse_multiple(q: Question, payload: object) -> dict[str, object]:
    chosen = set(_id_list(_fields(payload, "option_ids")["option_ids"], "option_ids"))
    known = [o.id for o in q.options if o.id is not None]
    if not chosen <= set(known):
        raise InvalidResponse("option_ids must all be options of this question")
    return {"option_ids": [i for i in known if i in chosen]}  # in the question's order


def _parse_true_false(q: Question, payload: object) -> dict[str, object]:
    value = _fields(payload, "value")["value"]
    if not isinstance(value, bool):
        raise InvalidResponse("value must be true or false")
    return {"value": value}


def _parse_text(q: Question, payload: object) -> dict[str, object]:
    return {"text": _text(_fields(payload, "text")["text"])}


def _parse_numeric(q: Question, payload: object) -> dict[str, object]:
    return {"value": _number(_fields(payload, "value")["value"])}


def _parse_matching(q: Question, payload: object) -> dict[str, object]:
    matches = _fields(payload, "matches")["matches"]
    if not isinstance(matches, dict):
        raise InvalidResponse("matches must be an object mapping left ids to right ids")
    lefts = {p.id for p in q.pairs if p.id is not None and not p.distractor}
    rights = {p.right_id for p in q.pairs if p.right_id is not None}
    for left, right in matches.items():
        if left not in lefts:
            raise InvalidResponse("each key of matches must be a left id of this question")
        if not isinstance(right, str) or right not in rights:
            raise InvalidResponse("each value of matches must be a right id of this question")
    # Lefts left unmatched are simply absent; stored in the question's order.
    return {"matches": {p.id: matches[p.id] for p in q.pairs if p.id in matches}}


def _parse_ordering(q: Question, payload: object) -> dict[str, object]:
    item_ids = _id_list(_fields(payload, "item_ids")["item_ids"], "item_ids")  # no duplicates
    known = {i.id for i in q.items if i.id is not None}
    if set(item_ids) != known or len(known) != len(q.items):
        raise InvalidResponse("item_ids must list each item of this question exactly once")
    return {"item_ids": item_ids}


_PARSERS: dict[QuestionType, Callable[[Question, object], dict[str, object]]] = {
    QuestionType.SINGLE_CHOICE: _parse_single,
    QuestionType.MULTIPLE_CHOICE: _parse_multiple,
    QuestionType.TRUE_FALSE: _parse_true_false,
    QuestionType.SHORT_ANSWER: _parse_text,
    QuestionType.NUMERIC: _parse_numeric,
    QuestionType.MATCHING: _parse_matching,
    QuestionType.ORDERING: _parse_ordering,
    QuestionType.ESSAY: _parse_text,
}


# --------------------------------------------------------------------------- scoring


def score_question(
    question: Question,
    response: Mapping[str, object] | None,
    manual_score: float | None = None,
) -> QuestionScore:
    """Score a stored ``response`` (as returned by ``parse_response``) to ``question``.

    No response scores 0 with ``correct`` False. For auto-scored types ``correct`` is
    ``score == max_score`` (for a question worth 0 points: whether full credit was
    earned). An essay scores ``manual_score`` once graded (``correct`` is then
    ``manual_score == points``) and 0 with ``correct`` None until then. A description
    is 0 of 0 with ``correct`` None. Scores are rounded to 6 decimal places.

    Scoring is lenient: ids that no longer exist in the question earn nothing.
    """
    max_score = question.max_score
    if question.type is QuestionType.DESCRIPTION:
        return QuestionScore(0.0, max_score, None)
    if question.type is QuestionType.ESSAY:
        if manual_score is not None:
            graded = min(max(float(manual_score), 0.0), max_score)
            return QuestionScore(_round(graded), max_score, graded == max_score)
        return QuestionScore(0.0, max_score, None if response is not None else False)
    if response is None:
        return QuestionScore(0.0, max_score, False)
    fraction = min(max(_FRACTIONS[question.type](question, response), 0.0), 1.0)
    score = _round(fraction * max_score)
    correct = score == max_score if max_score > 0 else fraction >= 1
    return QuestionScore(score, max_score, correct)


def _round(x: float) -> float:
    return round(x, SCORE_DECIMALS) + 0.0  # + 0.0 turns -0.0 into 0.0


def _fraction_single(q: Question, r: Mapping[str, object]) -> float:
    chosen = r.get("option_id")
    return next((o.weight / 100 for o in q.options if o.id is not None and o.id == chosen), 0.0)


def _fraction_multiple(q: Question, r: Mapping[str, object]) -> float:
    chosen = r.get("option_ids")
    ids = set(chosen) if isinstance(chosen, list) else set()
    weight = math.fsum(o.weight for o in q.options if o.id is not None and o.id in ids)
    if weight >= 100 - _FULL_WEIGHT_TOLERANCE:
        return 1.0
    return weight / 100


def _fraction_true_false(q: Question, r: Mapping[str, object]) -> float:
    value = r.get("value")
    return 1.0 if isinstance(value, bool) and value == q.answer else 0.0


def normalise_text(text: str, case_sensitive: bool = False) -> str:
    """Trim ``text``, collapse inner whitespace to one space and, unless
    ``case_sensitive``, fold case: the form in which short answers are compared."""
    collapsed = " ".join(text.split())
    return collapsed if case_sensitive else collapsed.casefold()


def _fraction_short(q: Question, r: Mapping[str, object]) -> float:
    text = r.get("text")
    if not isinstance(text, str):
        return 0.0
    given = normalise_text(text, q.case_sensitive)
    weights = [
        a.weight
        for a in q.text_answers
        if wildcard_match(normalise_text(a.text, q.case_sensitive), given)
    ]
    return max(weights) / 100 if weights else 0.0


def wildcard_match(pattern: str, text: str) -> bool:
    """Whether ``text`` matches ``pattern``, where ``*`` stands for any characters and
    ``\\*`` for a star (Moodle's short answer wildcard).

    Written by hand rather than with ``re`` or ``fnmatch``: a pattern with many stars
    makes a backtracking regex engine take polynomial time in the response's length, and
    both pattern and response come from users. This greedy scan with one backtrack point
    is O(len(pattern) x len(text)) at worst.
    """
    tokens: list[str | None] = []  # None is a wildcard
    i = 0
    while i < len(pattern):
        if pattern.startswith("\\*", i):
            tokens.append("*")
            i += 2
        elif pattern[i] == "*":
            if not tokens or tokens[-1] is not None:
                tokens.append(None)
            i += 1
        else:
            tokens.append(pattern[i])
            i += 1
    p = t = 0
    star, resume = -1, 0
    while t < len(text):
        if p < len(tokens) and tokens[p] is not None and tokens[p] == text[t]:
            p += 1
            t += 1
        elif p < len(tokens) and tokens[p] is None:
            star, resume = p, t
            p += 1
        elif star >= 0:
            p = star + 1
            resume += 1
            t = resume
        else:
            return False
    while p < len(tokens) and tokens[p] is None:
        p += 1
    return p == len(tokens)


def _decimal(x: float) -> Decimal:
    # str() gives the shortest repr, so 3.1 becomes Decimal("3.1"), not 3.100000000000000088...
    return Decimal(str(x))


def _fraction_numeric(q: Question, r: Mapping[str, object]) -> float:
    value = r.get("value")
    if not isinstance(value, int | float) or isinstance(value, bool) or not _is_finite(value):
        return 0.0
    given = _decimal(value)
    for a in q.numeric_answers:
        if abs(given - _decimal(a.value)) <= _decimal(a.tolerance):
            return a.weight / 100
    return 0.0


def _fraction_matching(q: Question, r: Mapping[str, object]) -> float:
    matches = r.get("matches")
    pairs = [p for p in q.pairs if not p.distractor]
    if not pairs or not isinstance(matches, Mapping):
        return 0.0
    right_text = {p.right_id: p.right for p in q.pairs if p.right_id is not None}
    correct = 0
    for p in pairs:
        chosen = matches.get(p.id) if p.id is not None else None
        if isinstance(chosen, str) and right_text.get(chosen) == p.right:
            correct += 1
    return correct / len(pairs)


def _fraction_ordering(q: Question, r: Mapping[str, object]) -> float:
    item_ids = r.get("item_ids")
    expected = [i.id for i in q.items]
    return 1.0 if isinstance(item_ids, list) and expected and item_ids == expected else 0.0


_FRACTIONS: dict[QuestionType, Callable[[Question, Mapping[str, object]], float]] = {
    QuestionType.SINGLE_CHOICE: _fraction_single,
    QuestionType.MULTIPLE_CHOICE: _fraction_multiple,
    QuestionType.TRUE_FALSE: _fraction_true_false,
    QuestionType.SHORT_ANSWER: _fraction_short,
    QuestionType.NUMERIC: _fraction_numeric,
    QuestionType.MATCHING: _fraction_matching,
    QuestionType.ORDERING: _fraction_ordering,
}


def total(scores: Sequence[QuestionScore]) -> AttemptScore:
    """Sum the question scores of an attempt; ``percent`` is 0 when nothing is at stake."""
    score = _round(math.fsum(s.score for s in scores))
    max_score = _round(math.fsum(s.max_score for s in scores))
    percent = 0.0
    if max_score > 0:
        percent = round(min(max(score / max_score * 100, 0.0), 100.0), PERCENT_DECIMALS)
    return AttemptScore(score, max_score, percent)


def validate_manual_grade(question: Question, score: object) -> float:
    """Check a teacher's grade for an essay question and return it as a float.

    Raises:
        InvalidResponse: if the question is not an essay, or ``score`` is not a finite
            number between 0 and the question's points.
    """
    if question.type is not QuestionType.ESSAY:
        raise InvalidResponse("only essay questions are graded by hand")
    if not isinstance(score, int | float) or isinstance(score, bool):
        raise InvalidResponse("the score must be a number")
    if not _is_finite(score):
        raise InvalidResponse("the score must be a finite number")
    value = float(score)
    if not 0 <= value <= question.points:
        raise InvalidResponse(f"the score must be between 0 and {question.points:g}")
    return value
