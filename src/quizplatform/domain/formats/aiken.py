"""Aiken format: single choice questions only.

::

    What is the capital of France?
    A. Berlin
    B) Paris
    ANSWER: B

A question is one or more text lines, then options ``A.`` or ``A)`` (letters in order from
A, followed by white space and the option text), then ``ANSWER: <letter>``. Blank lines are
ignored. Questions read get 1 point and the quiz the title ``"Imported quiz"``.

The writer raises ``UnsupportedQuestion`` for other types, for options with partial or
negative weights, for more than 26 options, for option texts spanning several lines and
for prompt lines that would read back as an option or an ``ANSWER:`` line. It does not
write points, titles, feedback, tags, categories or text formats (Aiken has no syntax for
them); lines are trimmed.
"""

from __future__ import annotations

import re
import string

from quizplatform.domain.formats.errors import (
    FormatError,
    ParseIssue,
    UnsupportedQuestion,
    stop_if_too_many,
)
from quizplatform.domain.limits import Budget
from quizplatform.domain.questions import (
    Choice,
    Question,
    QuestionType,
    QuizContent,
    validate_question,
)

DEFAULT_QUIZ_TITLE = "Imported quiz"

_OPTION_RE = re.compile(r"([A-Z])[.)](?:\s+(.*))?")
_ANSWER_RE = re.compile(r"ANSWER:\s*(.*)", re.IGNORECASE)


class _Draft:
    def __init__(self, line: int) -> None:
        self.line = line
        self.prompt: list[str] = []
        self.options: list[str] = []
        self.broken = False


def read_aiken(text: str, budget: Budget | None = None) -> QuizContent:
    """Parse an Aiken file; raise ``FormatError`` listing every problem by line,
    ``QuizTooLarge`` over the ``budget`` (``DeadlineExceeded`` past its deadline)."""
    budget = budget or Budget()
    budget.check_size(text)
    text = text.removeprefix("\ufeff")
    issues: list[ParseIssue] = []
    questions: list[Question] = []
    draft: _Draft | None = None
    number = 0

    def fail(line: int, message: str) -> None:
        issues.append(ParseIssue(line, message))
        if draft is not None:
            draft.broken = True

    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for n, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line:
            continue
        stop_if_too_many(issues, budget.limits.issues, n)
        option = _OPTION_RE.fullmatch(line)
        answer = _ANSWER_RE.fullmatch(line)
        if answer:
            if draft is None or not draft.options:
                fail(n, "'ANSWER:' line before the question's options")
                draft = None
                continue
            number += 1
            budget.next_question(n)
            letter = answer.group(1).strip().upper()
            index = string.ascii_uppercase.find(letter) if len(letter) == 1 else -1
            if not 0 <= index < len(draft.options):
                fail(
                    n,
                    f"ANSWER must be one of the option letters A-"
                    f"{string.ascii_uppercase[len(draft.options) - 1]}, not {letter!r}",
                )
            if not draft.broken:
                q = Question(
                    QuestionType.SINGLE_CHOICE,
                    "\n".join(draft.prompt),
                    options=[
                        Choice(t, 100.0 if i == index else 0.0) for i, t in enumerate(draft.options)
                    ],
                )
                for problem in validate_question(q):
                    fail(draft.line, f"question {number}: {problem}")
                questions.append(q)
            draft = None
        elif option and draft is not None and draft.prompt:
            expected = string.ascii_uppercase[len(draft.options)] if len(draft.options) < 26 else ""
            letter, body = option.group(1), (option.group(2) or "").strip()
            if letter != expected:
                fail(n, f"expected option {expected or '(none: at most 26)'}, found {letter}")
            elif not body:
                fail(n, f"option {letter} has no text")
            draft.options.append(body)
        elif option:
            fail(n, "option line without a question before it")
        else:
            if draft is not None and draft.options:
                fail(draft.line, "question has no 'ANSWER:' line")
                draft = None
            if draft is None:
                draft = _Draft(n)
            draft.prompt.append(line)
    if draft is not None:
        fail(draft.line, "question has no 'ANSWER:' line")
    if issues:
        raise FormatError(issues)
    return QuizContent(title=DEFAULT_QUIZ_TITLE, questions=questions)


def write_aiken(quiz: QuizContent) -> str:
    """Write single choice questions as Aiken; raise ``UnsupportedQuestion`` otherwise."""
    blocks: list[str] = []
    for number, q in enumerate(quiz.questions, 1):
        blocks.append(_write_question(q, number))
    return "\n\n".join(blocks) + ("\n" if blocks else "")


def _unsupported(q: Question, number: int, why: str = "") -> UnsupportedQuestion:
    detail = f": {why}" if why else ""
    return UnsupportedQuestion(
        f"question {number} ({q.type.value}) cannot be written as Aiken{detail}"
    )


def _write_question(q: Question, number: int) -> str:
    if q.type is not QuestionType.SINGLE_CHOICE:
        raise _unsupported(q, number)
    if len(q.options) > 26:
        raise _unsupported(q, number, "Aiken allows at most 26 options")
    correct = [i for i, o in enumerate(q.options) if o.weight >= 100]
    if len(correct) != 1 or any(o.weight not in (0, 100) for o in q.options):
        raise _unsupported(q, number, "Aiken has one correct option and no partial credit")
    lines = [line.strip() for line in q.prompt.replace("\r\n", "\n").split("\n")]
    for line in lines:
        if not line or _OPTION_RE.fullmatch(line) or _ANSWER_RE.fullmatch(line):
            raise _unsupported(q, number, f"prompt line {line!r} cannot be written")
    for letter, o in zip(string.ascii_uppercase, q.options, strict=False):
        text = o.text.strip()
        if any(c in text for c in "\r\n"):
            raise _unsupported(q, number, "an option text spans several lines")
        lines.append(f"{letter}. {text}")
    lines.append(f"ANSWER: {string.ascii_uppercase[correct[0]]}")
    return "\n".join(lines)
