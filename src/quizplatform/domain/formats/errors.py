"""Errors raised by the quiz file formats."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ParseIssue:
    """One problem found while reading a file; ``line`` is 1-based (0: unknown). In a
    package of several files (QTI), ``file`` names the one it is in."""

    line: int
    message: str
    file: str | None = None

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else ""
        if self.file:
            where = f"{self.file}, {where}" if where else self.file
        return f"{where}: {self.message}" if where else self.message


class FormatError(ValueError):
    """A file could not be read; ``issues`` lists every problem found, by line."""

    def __init__(self, issues: list[ParseIssue]) -> None:
        self.issues = sorted(issues, key=lambda i: i.line)
        super().__init__("\n".join(str(i) for i in self.issues))

    def __str__(self) -> str:
        return "\n".join(str(i) for i in self.issues)


def stop_if_too_many(issues: list[ParseIssue], limit: int, line: int) -> None:
    """Raise ``FormatError`` once ``limit`` problems are listed: a file with a problem on
    every line would otherwise build one message per line."""
    if len(issues) >= limit:
        raise FormatError([*issues, ParseIssue(line, "too many problems; stopped reading here")])


class Unsupported(ValueError):
    """A question of a type the platform does not have (Moodle's ``calculated``, a QTI
    hotspot interaction, ...). Readers list each as a ``ParseIssue`` in a ``FormatError``
    unless asked to skip them; skipped ones become warnings of the ``Imported``."""


class UnsupportedQuestion(ValueError):
    """A writer was asked to write a question its format cannot express."""
