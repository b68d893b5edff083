"""The draft item: the dict every AI provider returns per question, before validation.

``quizplatform.domain.drafts`` validates and cleans such items; the offline provider
writes them already well formed. ``source_quote`` is the sentence of the source text an
item rests on (items drafted from a text only).
"""

from __future__ import annotations

from typing import Required, TypedDict

from quizplatform.domain.drafts import DRAFT_TYPES
from quizplatform.domain.questions import QuestionType

# The item's ``type`` is the string of a QuestionType (drafts are JSON from providers).
SINGLE_CHOICE = QuestionType.SINGLE_CHOICE.value
MULTIPLE_CHOICE = QuestionType.MULTIPLE_CHOICE.value
TRUE_FALSE = QuestionType.TRUE_FALSE.value
SHORT_ANSWER = QuestionType.SHORT_ANSWER.value
NUMERIC = QuestionType.NUMERIC.value
TYPE_ORDER = DRAFT_TYPES  # the offline drafter's rotation follows this order
SUPPORTED_TYPES: frozenset[str] = frozenset(TYPE_ORDER)


class DraftItem(TypedDict, total=False):
    """One drafted question; which answer fields it has depends on ``type``."""

    type: Required[str]
    prompt: Required[str]
    explanation: Required[str]
    options: list[str]  # single and multiple choice
    correct_options: list[str]  # single and multiple choice
    true_false_answer: bool
    accepted_answers: list[str]  # short answer
    numeric_answer: float
    numeric_tolerance: float
    source_quote: str
