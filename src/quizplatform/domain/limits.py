"""How large a quiz may be, whichever way it arrives (the JSON API, a GIFT, Aiken or JSON
file, an AI draft): one table, used by the API's request schemas, the file readers (while
they read, so a bomb is refused at its first question over the limit) and the quiz
service (the last check before anything is written).

Also the cooperative ``Deadline`` for CPU-heavy work that runs in a worker thread: a
thread cannot be killed, so long loops call ``Deadline.check()`` as they go.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class QuizLimits:
    """The largest quiz the platform accepts."""

    questions: int = 500
    parts: int = 50  # options, accepted answers, matching pairs or ordering items
    text_chars: int = 20_000  # a prompt, a feedback
    short_text_chars: int = 1_000  # an option, an answer, a pair's side, an item
    title_chars: int = 200  # a quiz's title
    question_title_chars: int = 255  # a question's title (GIFT ::title::), its category
    description_chars: int = 10_000
    tags: int = 20
    tag_chars: int = 64
    # A file to import: 2 MiB of text holds 500 long questions several times over.
    import_chars: int = 2 * 1024 * 1024
    # A reader stops listing problems after this many (a bomb has one per line).
    issues: int = 100


LIMITS = QuizLimits()


class QuizTooLarge(ValueError):
    """A quiz (or a file) over one of the limits; the message says which."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class DeadlineExceeded(TimeoutError):
    """CPU-heavy work ran past its deadline and stopped."""


class Deadline:
    """A point in time work must stop by; ``check()`` raises ``DeadlineExceeded`` after it.

    Checking costs one clock read; call it once per question or paragraph, not per
    character."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._at = clock() + seconds

    def check(self) -> None:
        if self._clock() > self._at:
            raise DeadlineExceeded(f"stopped after {self.seconds:g} s")


class Budget:
    """What a file reader may still take: questions (``next_question``) and time."""

    def __init__(self, limits: QuizLimits = LIMITS, deadline: Deadline | None = None) -> None:
        self.limits = limits
        self.deadline = deadline
        self.questions = 0

    def next_question(self, line: int) -> None:
        """Count one more question (starting at ``line``); refuse the one over the limit."""
        self.questions += 1
        if self.questions > self.limits.questions:
            raise QuizTooLarge(
                f"the file has more than {self.limits.questions} questions "
                f"(the limit is reached at line {line})",
                line,
            )
        if self.deadline is not None:
            self.deadline.check()

    def check_size(self, text: str) -> None:
        """Refuse a file longer than the limit before reading it."""
        if len(text) > self.limits.import_chars:
            raise QuizTooLarge(
                f"the file has {len(text):,} characters; the limit is {self.limits.import_chars:,}"
            )
