"""The platform's own lossless JSON format.

::

    {
      "format": "quizplatform",
      "version": 1,
      "title": "...", "description": "...", "tags": ["..."],
      "settings": {"time_limit_seconds": 600, "max_attempts": null,
                   "shuffle_questions": false, "shuffle_options": false,
                   "opens_at": "2030-01-01T09:00:00Z", "closes_at": null,
                   "show_correct_answers": "after_submit"},
      "questions": [{"type": "single_choice", "prompt": "...", "points": 1.0, ...}]
    }

Field names are exactly those of the dataclasses in ``quizplatform.domain.questions``
(so short answer answers are ``text_answers``, numeric ones ``numeric_answers``, each
an object with the fields of ``TextAnswer`` / ``NumericAnswer``). Datetimes are RFC 3339
strings; the writer converts them to UTC (``...Z``) and treats naive datetimes as UTC, the
reader accepts any offset and returns aware UTC datetimes.

Every question carries its common fields (type, prompt, points, title, feedback, tags,
category, text_format) and the fields its type uses; any other field is written only when
it differs from its default, and ids only when set, so writing then reading gives back an
equal quiz. Reading is strict: unknown fields, missing required fields, wrong value types,
unknown enum values and questions failing ``validate_question`` are all reported, each
with the line of the JSON object it occurs in.
"""

from __future__ import annotations

import bisect
import dataclasses
import json
import re
import types
import typing
from datetime import UTC, datetime
from enum import Enum
from json.decoder import JSONArray, JSONObject  # type: ignore[attr-defined]
from json.scanner import py_make_scanner  # type: ignore[attr-defined]
from typing import Any

from quizplatform.domain.formats.errors import FormatError, ParseIssue, stop_if_too_many
from quizplatform.domain.limits import Budget
from quizplatform.domain.questions import (
    Question,
    QuestionType,
    QuizContent,
    validate_question,
)

FORMAT_NAME = "quizplatform"
FORMAT_VERSION = 1

_TYPE_FIELDS: dict[QuestionType, tuple[str, ...]] = {
    QuestionType.SINGLE_CHOICE: ("options",),
    QuestionType.MULTIPLE_CHOICE: ("options",),
    QuestionType.TRUE_FALSE: ("answer", "wrong_feedback", "right_feedback"),
    QuestionType.SHORT_ANSWER: ("text_answers", "case_sensitive", "other_feedback"),
    QuestionType.NUMERIC: ("numeric_answers", "other_feedback"),
    QuestionType.MATCHING: ("pairs",),
    QuestionType.ORDERING: ("items",),
    QuestionType.ESSAY: ("grader_info",),
    QuestionType.DESCRIPTION: (),
}
_COMMON_FIELDS = (
    "type", "prompt", "points", "title", "feedback", "tags", "category", "text_format",
)  # fmt: skip
_RFC3339_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:[Zz]|[+-]\d{2}:\d{2})"
)


# --------------------------------------------------------------------------- writing


def write_json(quiz: QuizContent) -> str:
    """Write a quiz as the platform's JSON (pretty-printed, UTF-8, trailing newline)."""
    doc: dict[str, Any] = {"format": FORMAT_NAME, "version": FORMAT_VERSION}
    for f in dataclasses.fields(QuizContent):
        if f.name != "questions":
            doc[f.name] = _to_json(getattr(quiz, f.name))
    doc["questions"] = [_question_to_json(q) for q in quiz.questions]
    return json.dumps(doc, ensure_ascii=False, indent=2, allow_nan=False) + "\n"


def _is_id(name: str) -> bool:
    return name == "id" or name.endswith("_id")


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def _question_to_json(q: Question) -> dict[str, Any]:
    wanted = set(_COMMON_FIELDS) | set(_TYPE_FIELDS.get(q.type, ()))
    out: dict[str, Any] = {}
    for f in dataclasses.fields(Question):
        value = getattr(q, f.name)
        if (f.name in wanted and not _is_id(f.name)) or value != _default(f):
            out[f.name] = _to_json(value)
    return out


def _to_json(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _to_json(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not (_is_id(f.name) and getattr(value, f.name) is None)
        }
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return _format_datetime(value)
    if isinstance(value, list | tuple):
        return [_to_json(v) for v in value]
    return value


def _format_datetime(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --------------------------------------------------------------------------- reading


class _Object(dict[str, Any]):
    """A JSON object that remembers the line it starts on."""

    line: int = 1


class _Array(list[Any]):
    """A JSON array that remembers the line it starts on."""

    line: int = 1


class _Bad:
    """Marks a value that could not be decoded (its problem is already recorded)."""


_BAD = _Bad()


class _Decoder(json.JSONDecoder):
    """A pure-Python decoder that records each object's line and rejects duplicate keys."""

    def __init__(self, text: str, issues: list[ParseIssue], budget: Budget) -> None:
        super().__init__(parse_constant=self._constant)
        deadline = budget.deadline
        starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self._issues = issues

        def parse_object(
            s_and_end: tuple[str, int], strict: bool, scan_once: Any, *rest: Any
        ) -> tuple[_Object, int]:
            end = s_and_end[1]
            line = bisect.bisect_right(starts, end - 1)
            if deadline is not None:
                deadline.check()
            pairs, new_end = JSONObject(s_and_end, strict, scan_once, None, list, *rest[2:])
            obj = _Object()
            obj.line = line
            for key, value in pairs:
                if key in obj:
                    issues.append(ParseIssue(line, f"duplicate key {key!r}"))
                    stop_if_too_many(issues, budget.limits.issues, line)
                obj[key] = value
            return obj, new_end

        def parse_array(s_and_end: tuple[str, int], scan_once: Any) -> tuple[_Array, int]:
            values, new_end = JSONArray(s_and_end, scan_once)
            array = _Array(values)
            array.line = bisect.bisect_right(starts, s_and_end[1] - 1)
            return array, new_end

        self.parse_object = parse_object
        self.parse_array = parse_array
        self.scan_once = py_make_scanner(self)

    @staticmethod
    def _constant(name: str) -> Any:
        raise ValueError(f"{name} is not allowed in JSON")


def read_json(text: str, budget: Budget | None = None) -> QuizContent:
    """Parse the platform's JSON; raise ``FormatError`` listing every problem by line,
    ``QuizTooLarge`` over the ``budget`` (``DeadlineExceeded`` past its deadline)."""
    budget = budget or Budget()
    budget.check_size(text)
    text = text.removeprefix("\ufeff")
    issues: list[ParseIssue] = []
    try:
        doc = _Decoder(text, issues, budget).decode(text)
    except json.JSONDecodeError as exc:
        raise FormatError([ParseIssue(exc.lineno, f"invalid JSON: {exc.msg}")]) from None
    except (ValueError, RecursionError) as exc:
        raise FormatError([ParseIssue(1, f"invalid JSON: {exc}")]) from None
    if not isinstance(doc, _Object):
        raise FormatError([ParseIssue(1, "the document must be a JSON object")])
    quiz = _read_document(doc, issues, budget)
    if issues or quiz is None:
        raise FormatError(issues or [ParseIssue(1, "invalid document")])
    return quiz


def _read_document(doc: _Object, issues: list[ParseIssue], budget: Budget) -> QuizContent | None:
    body = _Object({k: v for k, v in doc.items() if k not in ("format", "version")})
    body.line = doc.line
    if doc.get("format") != FORMAT_NAME:
        issues.append(ParseIssue(doc.line, f'"format" must be "{FORMAT_NAME}"'))
    version = doc.get("version")
    if version != FORMAT_VERSION or isinstance(version, bool):
        issues.append(ParseIssue(doc.line, f'"version" must be {FORMAT_VERSION}'))
    raw_questions = body.pop("questions", [])
    quiz = _decode(body, QuizContent, "", doc.line, issues, skip=("questions",))
    questions: list[Question] = []
    if not isinstance(raw_questions, list):
        issues.append(ParseIssue(_line(raw_questions, doc.line), "questions: expected a list"))
    else:
        for i, raw in enumerate(raw_questions):
            path = f"questions[{i}]"
            line = _line(raw, _line(raw_questions, doc.line))
            budget.next_question(line)
            stop_if_too_many(issues, budget.limits.issues, line)
            q = _decode(raw, Question, path, line, issues)
            if isinstance(q, Question):
                for problem in validate_question(q):
                    issues.append(ParseIssue(line, f"{path} (question {i + 1}): {problem}"))
                questions.append(q)
    if not isinstance(quiz, QuizContent):
        return None
    quiz.questions = questions
    return quiz


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _decode(
    value: Any,
    tp: Any,
    path: str,
    line: int,
    issues: list[ParseIssue],
    skip: tuple[str, ...] = (),
) -> Any:
    def bad(message: str) -> _Bad:
        issues.append(ParseIssue(line, f"{path or 'document'}: {message}"))
        return _BAD

    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        (inner,) = (a for a in args if a is not type(None))
        return _decode(value, inner, path, line, issues)
    if origin is list:
        if not isinstance(value, list):
            return bad("expected a list")
        (item_tp,) = typing.get_args(tp)
        here = _line(value, line)
        items = [
            _decode(v, item_tp, f"{path}[{i}]", _line(v, here), issues) for i, v in enumerate(value)
        ]
        return _BAD if any(v is _BAD for v in items) else items
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, _Object):
            return bad("expected an object")
        return _decode_dataclass(value, tp, path, issues, skip)
    if isinstance(tp, type) and issubclass(tp, Enum):
        allowed = [m.value for m in tp]
        if value not in allowed or not isinstance(value, str):
            return bad(f"expected one of {', '.join(map(str, allowed))}")
        return tp(value)
    if tp is bool:
        return value if isinstance(value, bool) else bad("expected true or false")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        return bad("expected an integer")
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                return float(value)
            except OverflowError:
                return bad("number out of range")
        return bad("expected a number")
    if tp is str:
        return value if isinstance(value, str) else bad("expected a string")
    if tp is datetime:
        if not isinstance(value, str) or not _RFC3339_RE.fullmatch(value):
            return bad("expected an RFC 3339 date-time with offset, e.g. 2030-01-01T09:00:00Z")
        try:
            parsed = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
        except ValueError:
            return bad("expected an RFC 3339 date-time with offset, e.g. 2030-01-01T09:00:00Z")
        return parsed.astimezone(UTC)
    raise TypeError(f"no JSON decoding for {tp!r}")  # pragma: no cover - programming error


def _line(value: Any, default: int) -> int:
    return value.line if isinstance(value, _Object | _Array) else default


def _decode_dataclass(
    value: _Object, cls: type, path: str, issues: list[ParseIssue], skip: tuple[str, ...]
) -> Any:
    line = value.line
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in skip}
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    ok = True
    prefix = f"{path}." if path else ""
    for key in value:
        if key not in fields:
            issues.append(ParseIssue(line, f"{path or 'document'}: unknown field {key!r}"))
            ok = False
    for name, f in fields.items():
        if name not in value:
            if _default(f) is dataclasses.MISSING:
                issues.append(ParseIssue(line, f"{path or 'document'}: missing field {name!r}"))
                ok = False
            continue
        raw = value[name]
        decoded = _decode(raw, hints[name], prefix + name, _line(raw, line), issues)
        if decoded is _BAD:
            ok = False
        else:
            kwargs[name] = decoded
    if not ok:
        return _BAD
    return cls(**kwargs)
