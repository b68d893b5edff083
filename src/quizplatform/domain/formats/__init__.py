"""Quiz file formats (pure functions, no I/O): GIFT, Aiken and the platform's JSON.

``read_quiz(fmt, text)`` and ``write_quiz(fmt, quiz)`` dispatch on a name in ``FORMATS``.
Readers raise ``FormatError`` (every problem, with its 1-based line); writers raise
``UnsupportedQuestion`` for a question the format cannot express.
"""

from __future__ import annotations

from collections.abc import Callable

from quizplatform.domain.formats.aiken import read_aiken, write_aiken
from quizplatform.domain.formats.errors import FormatError, ParseIssue, UnsupportedQuestion
from quizplatform.domain.formats.gift import read_gift, write_gift
from quizplatform.domain.formats.json_format import read_json, write_json
from quizplatform.domain.questions import QuizContent

FORMATS = ("gift", "aiken", "json")

_READERS: dict[str, Callable[[str], QuizContent]] = {
    "gift": read_gift,
    "aiken": read_aiken,
    "json": read_json,
}
_WRITERS: dict[str, Callable[[QuizContent], str]] = {
    "gift": write_gift,
    "aiken": write_aiken,
    "json": write_json,
}


def _check(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"unknown quiz format {fmt!r} (expected one of {', '.join(FORMATS)})")


def read_quiz(fmt: str, text: str) -> QuizContent:
    """Parse ``text`` in format ``fmt``; raise ``FormatError`` or ``ValueError`` (unknown fmt)."""
    _check(fmt)
    return _READERS[fmt](text)


def write_quiz(fmt: str, quiz: QuizContent) -> str:
    """Write ``quiz`` in format ``fmt``; raise ``UnsupportedQuestion`` or ``ValueError``."""
    _check(fmt)
    return _WRITERS[fmt](quiz)


__all__ = [
    "FORMATS",
    "FormatError",
    "ParseIssue",
    "UnsupportedQuestion",
    "read_aiken",
    "read_gift",
    "read_json",
    "read_quiz",
    "write_aiken",
    "write_gift",
    "write_json",
    "write_quiz",
]
