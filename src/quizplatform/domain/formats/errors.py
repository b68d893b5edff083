"""Errors raised by the quiz file formats."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ParseIssue:
    """One problem found while reading a file; ``line`` is 1-based."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class FormatError(ValueError):
    """A file could not be read; ``issues`` lists every problem found, by line."""

    def __init__(self, issues: list[ParseIssue]) -> None:
        self.issues = sorted(issues, key=lambda i: i.line)
        super().__init__("\n".join(str(i) for i in self.issues))

    def __str__(self) -> str:
        return "\n".join(str(i) for i in self.issues)


class UnsupportedQuestion(ValueError):
    """A writer was asked to write a question its format cannot express."""
