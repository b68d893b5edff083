"""Quiz file formats (pure functions, no I/O): GIFT, Aiken, the platform's JSON, Moodle
XML and IMS QTI 2.1 content packages.

``read_quiz(fmt, data)`` and ``write_quiz(fmt, quiz)`` dispatch on a name in ``FORMATS``;
``FORMAT_INFO`` says what each format's files look like (media type, file extension,
text or binary). Readers raise ``FormatError`` (every problem, with its line, and its file
in a package); with ``skip_unsupported`` they leave out the questions of types the
platform does not have and list them as warnings of the ``Imported`` result instead.
Writers raise ``UnsupportedQuestion`` for a question the format cannot express.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from quizplatform.domain.formats.aiken import read_aiken, write_aiken
from quizplatform.domain.formats.errors import FormatError, ParseIssue, UnsupportedQuestion
from quizplatform.domain.formats.gift import read_gift, write_gift
from quizplatform.domain.formats.json_format import read_json, write_json
from quizplatform.domain.formats.moodle_xml import read_moodle_xml, write_moodle_xml
from quizplatform.domain.formats.qti import read_qti, write_qti
from quizplatform.domain.limits import Budget
from quizplatform.domain.questions import QuizContent


@dataclass
class Imported:
    """What a reader made of a file: the quiz, and what it left out or changed
    (``warnings``: skipped unsupported questions, ignored units, ...)."""

    quiz: QuizContent
    warnings: list[ParseIssue] = field(default_factory=list)


@dataclass(frozen=True)
class FormatInfo:
    """How a format's files look."""

    label: str  # for people: "GIFT (Moodle)"
    media_type: str  # of an export
    extension: str  # of an export's file name, without the dot
    binary: bool = False  # a zip package rather than text


Reader = Callable[[bytes, Budget | None, bool], Imported]
Writer = Callable[[QuizContent], bytes]


def _text(data: bytes) -> str:
    """A text format's file as text (UTF-8, a byte order mark dropped)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise FormatError([ParseIssue(line, "the file is not UTF-8 text")]) from exc


def _text_reader(read: Callable[[str, Budget | None], QuizContent]) -> Reader:
    def reader(data: bytes, budget: Budget | None, skip_unsupported: bool) -> Imported:
        # These formats have no question type the platform lacks: nothing to skip.
        return Imported(read(_text(data), budget))

    return reader


def _text_writer(write: Callable[[QuizContent], str]) -> Writer:
    return lambda quiz: write(quiz).encode()


FORMAT_INFO: dict[str, FormatInfo] = {
    "gift": FormatInfo("GIFT (Moodle)", "text/plain; charset=utf-8", "gift.txt"),
    "aiken": FormatInfo("Aiken", "text/plain; charset=utf-8", "aiken.txt"),
    "json": FormatInfo("JSON (this platform's export)", "application/json", "json"),
    "moodle_xml": FormatInfo("Moodle XML", "application/xml", "xml"),
    "qti": FormatInfo("IMS QTI 2.1 package", "application/zip", "qti.zip", binary=True),
}
_READERS: dict[str, Reader] = {
    "gift": _text_reader(read_gift),
    "aiken": _text_reader(read_aiken),
    "json": _text_reader(read_json),
    "moodle_xml": lambda data, budget, skip: Imported(*read_moodle_xml(data, budget, skip)),
    "qti": lambda data, budget, skip: Imported(*read_qti(data, budget, skip)),
}
_WRITERS: dict[str, Writer] = {
    "gift": _text_writer(write_gift),
    "aiken": _text_writer(write_aiken),
    "json": _text_writer(write_json),
    "moodle_xml": write_moodle_xml,
    "qti": write_qti,
}
FORMATS = tuple(FORMAT_INFO)


def _check(fmt: str) -> None:
    if fmt not in FORMAT_INFO:
        raise ValueError(f"unknown quiz format {fmt!r} (expected one of {', '.join(FORMATS)})")


def read_quiz(
    fmt: str, data: bytes | str, budget: Budget | None = None, *, skip_unsupported: bool = False
) -> Imported:
    """Read ``data`` (a file's bytes; text is encoded as UTF-8) in format ``fmt``; raise
    ``FormatError``, ``QuizTooLarge`` (over the ``budget``), ``DeadlineExceeded`` (past its
    deadline) or ``ValueError`` (unknown fmt)."""
    _check(fmt)
    raw = data.encode() if isinstance(data, str) else data
    return _READERS[fmt](raw, budget, skip_unsupported)


def write_quiz(fmt: str, quiz: QuizContent) -> bytes:
    """Write ``quiz`` in format ``fmt`` as a file's bytes; raise ``UnsupportedQuestion``
    or ``ValueError``."""
    _check(fmt)
    return _WRITERS[fmt](quiz)


__all__ = [
    "FORMATS",
    "FORMAT_INFO",
    "FormatError",
    "FormatInfo",
    "Imported",
    "ParseIssue",
    "UnsupportedQuestion",
    "read_aiken",
    "read_gift",
    "read_json",
    "read_moodle_xml",
    "read_qti",
    "read_quiz",
    "write_aiken",
    "write_gift",
    "write_json",
    "write_moodle_xml",
    "write_qti",
    "write_quiz",
]
