"""Reading a quiz file for ``QuizService.import_file`` and ``preview_file``: the format
(given, or detected from the file), the reader in a worker thread under the import
deadline, and what a preview shows. Imports and previews read a file the same way, so a
preview says exactly what an import would do.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from dataclasses import dataclass, field

from quizplatform.domain import formats
from quizplatform.domain.formats.detect import detect_format
from quizplatform.domain.formats.errors import FormatError, ParseIssue
from quizplatform.domain.limits import Budget, Deadline, DeadlineExceeded, QuizTooLarge
from quizplatform.domain.questions import Question, QuizContent
from quizplatform.runtime.cpu import CpuPool
from quizplatform.runtime.metrics import Metrics
from quizplatform.services.errors import ErrorDetail, Invalid, TooLarge

PROMPT_EXCERPT_CHARS = 160
_BLANK = b" \t\r\n\x00"
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class FileIssue:
    """A problem or a warning about the file: its line (0: the whole file), and in a
    package of several files the file it is in."""

    line: int
    message: str
    file: str | None = None

    @classmethod
    def of(cls, issue: ParseIssue) -> FileIssue:
        return cls(issue.line, issue.message, issue.file)


@dataclass(frozen=True)
class QuestionPreview:
    """One question an import would create, in short."""

    type: str
    title: str | None
    prompt: str  # the first PROMPT_EXCERPT_CHARS characters, white space collapsed
    points: float
    category: str | None
    tags: list[str]


@dataclass(frozen=True)
class ImportPreview:
    """What importing a file would do; nothing is saved.

    ``ok``: importing it (with the same ``skip_unsupported``) would create a quiz of
    ``questions``. Otherwise ``problems`` says why not; when they are only questions of
    types the platform lacks, ``skippable`` is how many questions an import with
    ``skip_unsupported`` would create (None: skipping would not help)."""

    format: str
    detected: bool
    title: str
    questions: list[QuestionPreview] = field(default_factory=list)
    warnings: list[FileIssue] = field(default_factory=list)
    problems: list[FileIssue] = field(default_factory=list)
    skippable: int | None = None
    skip_unsupported: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems and bool(self.questions)


def choose_format(fmt: str | None, data: bytes, filename: str | None) -> tuple[str, bool]:
    """The format to read ``data`` in: ``fmt`` if given (it must be registered), else
    the detected one; and whether it was detected. Raise ``Invalid`` for an unknown format,
    an empty file, or one whose format cannot be told."""
    if fmt is not None and fmt not in formats.FORMAT_INFO:
        raise Invalid(
            f"unknown format {fmt!r}; use one of {', '.join(formats.FORMAT_INFO)}",
            [{"loc": ["query", "format"], "message": "unknown format"}],
        )
    if not data.removeprefix(_BOM).strip(_BLANK):
        raise Invalid("the file is empty", [{"line": 1, "message": "empty file"}])
    if fmt is not None:
        return fmt, False
    found = detect_format(data, filename)
    if found is None:
        raise Invalid(
            "the file's format could not be told; choose one of " + ", ".join(formats.FORMAT_INFO),
            [{"loc": ["query", "format"], "message": "could not detect the format"}],
        )
    return found, True


async def read_file(
    cpu: CpuPool, fmt: str, data: bytes, skip_unsupported: bool, deadline: Deadline
) -> formats.Imported:
    """``data`` read as ``fmt`` in a worker thread (so the instance keeps answering while a
    large file is read). Raise ``FormatError`` for problems in the file, ``TooLarge`` for a
    file over the limits or past the ``deadline``."""
    if not formats.FORMAT_INFO[fmt].binary:
        data = data.replace(b"\x00", b"")  # the database cannot store one; no text needs it
    budget = Budget(deadline=deadline)
    try:
        return await cpu.run(
            formats.read_quiz, fmt, data, budget, skip_unsupported=skip_unsupported
        )
    except QuizTooLarge as exc:
        raise TooLarge(
            f"nothing was imported: {exc.message}",
            [{"line": exc.line or 1, "message": exc.message}],
        ) from exc
    except DeadlineExceeded as exc:
        raise TooLarge(
            f"nothing was imported: the file took longer than {deadline.seconds:g} s to "
            "read; split it into smaller files",
        ) from exc


def format_invalid(fmt: str, exc: FormatError) -> Invalid:
    """The 422 for a file with problems: each with its line (and file in a package)."""
    details: list[ErrorDetail] = []
    for issue in exc.issues:
        detail: ErrorDetail = {"line": issue.line, "message": issue.message}
        if issue.file:
            detail["file"] = issue.file
        details.append(detail)
    return Invalid(f"the {fmt} file has {len(exc.issues)} error(s); nothing was imported", details)


def imported_content(imported: formats.Imported, title: str | None) -> QuizContent:
    """The quiz to create from a read file, titled ``title`` when one is given; raise
    ``Invalid`` when it has no questions."""
    content = imported.quiz
    if title and title.strip():
        content.title = title.strip()
    if not content.questions:
        raise Invalid("the file contains no questions", [{"line": 1, "message": "no questions"}])
    return content


def question_preview(q: Question) -> QuestionPreview:
    prompt = " ".join(q.prompt.split())
    if len(prompt) > PROMPT_EXCERPT_CHARS:
        prompt = prompt[: PROMPT_EXCERPT_CHARS - 1].rstrip() + "…"
    return QuestionPreview(
        type=q.type.value,
        title=q.title,
        prompt=prompt,
        points=q.points,
        category=q.category,
        tags=list(q.tags),
    )


def detail_issue(detail: ErrorDetail) -> FileIssue:
    """A refusal's detail as a preview problem (a quiz-level check names its field)."""
    message = detail["message"]
    loc = [part for part in detail.get("loc", []) if part != "body"]
    if len(loc) >= 2 and loc[0] == "questions" and isinstance(loc[1], int):
        where = f"question {loc[1] + 1}" + "".join(f", {part}" for part in loc[2:])
        message = f"{where}: {message}"
    elif loc:
        message = f"{'.'.join(str(part) for part in loc)}: {message}"
    return FileIssue(detail.get("line", 0), message, detail.get("file"))


@dataclass(frozen=True)
class Reading:
    """One file to read: how, and under which deadline."""

    cpu: CpuPool
    fmt: str
    detected: bool
    data: bytes
    skip_unsupported: bool
    deadline: Deadline


async def preview(
    r: Reading, title: str | None, validate: Callable[[QuizContent], None]
) -> ImportPreview:
    """What importing ``r`` would do: read as an import reads it, checked by ``validate``
    (the quiz service's checks before it writes, raising ``Invalid``); nothing is saved.
    When the file is refused for its problems and skipping unsupported questions was not
    asked for, it is read again with it: if that succeeds, the problems were only
    unsupported questions, and ``skippable`` says how many questions would remain."""
    made = functools.partial(ImportPreview, r.fmt, r.detected, skip_unsupported=r.skip_unsupported)
    try:
        imported = await read_file(r.cpu, r.fmt, r.data, r.skip_unsupported, r.deadline)
    except FormatError as exc:
        problems = [FileIssue.of(i) for i in exc.issues]
        skippable = None
        if not r.skip_unsupported:
            with contextlib.suppress(FormatError):
                kept = await read_file(r.cpu, r.fmt, r.data, True, r.deadline)
                if kept.warnings and kept.quiz.questions:
                    skippable = len(kept.quiz.questions)
        return made(title=title or "", problems=problems, skippable=skippable)
    warnings = [FileIssue.of(i) for i in imported.warnings]
    try:
        content = imported_content(imported, title)
        validate(content)
    except Invalid as exc:
        problems = [detail_issue(d) for d in exc.details]
        return made(title=imported.quiz.title, warnings=warnings, problems=problems)
    questions = [question_preview(q) for q in content.questions]
    return made(title=content.title, questions=questions, warnings=warnings)


async def read_or_refuse(r: Reading, metrics: Metrics) -> formats.Imported:
    """``r`` read for an import: problems in the file raise ``Invalid`` (each with its
    line and file), a file over the limits ``TooLarge``; both are counted."""
    try:
        return await read_file(r.cpu, r.fmt, r.data, r.skip_unsupported, r.deadline)
    except FormatError as exc:
        metrics.import_errors.labels(r.fmt).inc()
        raise format_invalid(r.fmt, exc) from exc
    except TooLarge:
        metrics.import_errors.labels(r.fmt).inc()
        raise
