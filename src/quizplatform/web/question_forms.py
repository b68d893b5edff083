"""The question editor's form: a question of any type as form fields, and back.

Form fields are turned into the API's own request models (``schemas/questions.py``), so a
question saved from a page passes exactly the checks of one sent to ``PATCH
/quizzes/{id}``; the service then applies the domain's rules. Every message, whichever
layer found the problem, is placed beside the field it concerns:

- numbers that do not parse: here, at the field;
- the request models' limits (lengths, ranges): by the pydantic error's ``loc``;
- the domain's rules (``question_problems``): by the field the service's ``loc`` ends with.

Answer rows (options, accepted answers, pairs, items) are numbered fields
``row-<i>-<key>``; rows left entirely blank are ignored, so the form can offer a few
empty rows without JavaScript.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import TypeAdapter, ValidationError
from starlette.datastructures import FormData

from quizplatform.domain.questions import Question, QuestionType
from quizplatform.schemas.questions import QuestionIn
from quizplatform.services.errors import Invalid
from quizplatform.web.forms import FormErrors, text_field
from quizplatform.web.validation import friendly_message, sentence

T = QuestionType
MAX_ROWS = 50  # the request models' limit per list
# A little above the request models' limits, so that an overlong text is reported by
# them ("at most 20000 characters") rather than cut short without a word.
MAX_TEXT = 20_001
MAX_SHORT = 1_001

TYPE_LABELS = {
    T.SINGLE_CHOICE: "Single choice",
    T.MULTIPLE_CHOICE: "Multiple choice",
    T.TRUE_FALSE: "True or false",
    T.SHORT_ANSWER: "Short answer",
    T.NUMERIC: "Numeric",
    T.MATCHING: "Matching",
    T.ORDERING: "Ordering",
    T.ESSAY: "Essay",
    T.DESCRIPTION: "Description (text between questions)",
}

# The API's own request model of a question (a union on "type"); immutable, so one per
# process is safe.
_QUESTION_IN: TypeAdapter[QuestionIn] = TypeAdapter(QuestionIn)


@dataclass(frozen=True)
class RowSpec:
    """The answer rows of a question type: the contract's list name, the visible fields
    of a row, its hidden ids, and how many rows a new question starts with."""

    group: str
    fields: tuple[str, ...]
    hidden: tuple[str, ...]
    starter_rows: int
    noun: str  # "option", "answer", "pair", "item"


ROWS: dict[QuestionType, RowSpec] = {
    T.SINGLE_CHOICE: RowSpec("options", ("text", "weight", "feedback"), ("id",), 4, "option"),
    T.MULTIPLE_CHOICE: RowSpec("options", ("text", "weight", "feedback"), ("id",), 4, "option"),
    T.SHORT_ANSWER: RowSpec("answers", ("text", "weight", "feedback"), (), 2, "answer"),
    T.NUMERIC: RowSpec("answers", ("value", "tolerance", "weight", "feedback"), (), 2, "answer"),
    T.MATCHING: RowSpec("pairs", ("left", "right"), ("id", "right_id"), 3, "pair"),
    T.ORDERING: RowSpec("items", ("text",), ("id",), 4, "item"),
}
# The number fields of answer rows, as their labels call them in messages.
_NUMERIC_ROW_FIELDS = {"weight": "the credit", "value": "the value", "tolerance": "the margin"}
# Where a problem with the answer rows as a whole is shown (their fieldset).
_GROUP_FIELD = "rows"
# Fields named as in the request models.
_PLAIN_FIELDS = frozenset(
    {"prompt", "points", "title", "feedback", "tags", "answer", "right_feedback", "wrong_feedback"}
)


def question_type(value: str) -> QuestionType | None:
    """The type named ``value`` (as in the contract), or None."""
    try:
        return QuestionType(value)
    except ValueError:
        return None


def _number(value: float | None) -> str:
    """A number for an input: ``2.0`` -> ``2``, ``None`` -> ``""``."""
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _tags(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


@dataclass
class QuestionForm:
    """What the question form shows: every value as the text of its field."""

    type: QuestionType
    prompt: str = ""
    points: str = "1"
    title: str = ""
    feedback: str = ""
    tags: str = ""
    rows: list[dict[str, str]] = field(default_factory=list)
    correct: str = ""  # single choice: the index of the correct row
    answer: str = ""  # true/false: "true" or "false"
    right_feedback: str = ""
    wrong_feedback: str = ""
    case_sensitive: bool = False
    other_feedback: str = ""  # short answer, numeric
    grader_info: str = ""  # essay
    # Kept as they were (GIFT imports set them; the form does not edit them).
    category: str = ""
    text_format: str = "moodle"

    @property
    def spec(self) -> RowSpec | None:
        return ROWS.get(self.type)

    @property
    def label(self) -> str:
        return TYPE_LABELS[self.type]

    @property
    def can_add_rows(self) -> bool:
        return self.spec is not None and len(self.rows) < MAX_ROWS

    # -- building ---------------------------------------------------------------------
    @classmethod
    def blank(cls, type_: QuestionType) -> QuestionForm:
        """The form of a new question of ``type_``."""
        spec = ROWS.get(type_)
        form = cls(type_, points="0" if type_ is T.DESCRIPTION else "1")
        if spec is not None:
            form.rows = [_blank_row(spec) for _ in range(spec.starter_rows)]
        if type_ is T.SINGLE_CHOICE:
            form.correct = "0"
        return form

    @classmethod
    def from_question(cls, q: Question) -> QuestionForm:
        """The form of a saved question, with one empty row to add to its list."""
        form = cls(
            q.type,
            prompt=q.prompt,
            points=_number(q.points),
            title=q.title or "",
            feedback=q.feedback or "",
            tags=", ".join(q.tags),
            category=q.category or "",
            text_format=q.text_format,
            other_feedback=q.other_feedback or "",
            grader_info=q.grader_info or "",
        )
        if q.type is T.SINGLE_CHOICE:
            correct = next((i for i, o in enumerate(q.options) if o.correct), None)
            form.correct = "" if correct is None else str(correct)
            form.rows = [
                {
                    "text": o.text,
                    # Partial credit of a wrong option (GIFT ``~%50%``); the correct one is 100.
                    "weight": "" if o.correct or o.weight == 0 else _number(o.weight),
                    "feedback": o.feedback or "",
                    "id": o.id or "",
                }
                for o in q.options
            ]
        elif q.type is T.MULTIPLE_CHOICE:
            form.rows = [
                {
                    "text": o.text,
                    "weight": _number(o.weight),
                    "feedback": o.feedback or "",
                    "id": o.id or "",
                }
                for o in q.options
            ]
        elif q.type is T.TRUE_FALSE:
            form.answer = "" if q.answer is None else ("true" if q.answer else "false")
            form.right_feedback = q.right_feedback or ""
            form.wrong_feedback = q.wrong_feedback or ""
        elif q.type is T.SHORT_ANSWER:
            form.case_sensitive = q.case_sensitive
            form.rows = [
                {"text": a.text, "weight": _number(a.weight), "feedback": a.feedback or ""}
                for a in q.text_answers
            ]
        elif q.type is T.NUMERIC:
            form.rows = [
                {
                    "value": _number(a.value),
                    "tolerance": _number(a.tolerance),
                    "weight": _number(a.weight),
                    "feedback": a.feedback or "",
                }
                for a in q.numeric_answers
            ]
        elif q.type is T.MATCHING:
            form.rows = [
                {"left": p.left, "right": p.right, "id": p.id or "", "right_id": p.right_id or ""}
                for p in q.pairs
            ]
        elif q.type is T.ORDERING:
            form.rows = [{"text": i.text, "id": i.id or ""} for i in q.items]
        return form.with_more_rows(1)

    @classmethod
    def from_form(cls, type_: QuestionType, data: FormData) -> QuestionForm:
        """The form as the teacher submitted it (to save it, or to show it again)."""
        form = cls(
            type_,
            prompt=text_field(data, "prompt", max_chars=MAX_TEXT),
            points=text_field(data, "points", max_chars=50),
            title=text_field(data, "title", max_chars=MAX_SHORT),
            feedback=text_field(data, "feedback", max_chars=MAX_TEXT),
            tags=text_field(data, "tags", max_chars=MAX_SHORT * 2),
            correct=text_field(data, "correct", max_chars=4),
            answer=text_field(data, "answer", max_chars=5),
            right_feedback=text_field(data, "right_feedback", max_chars=MAX_TEXT),
            wrong_feedback=text_field(data, "wrong_feedback", max_chars=MAX_TEXT),
            case_sensitive=data.get("case_sensitive") == "on",
            other_feedback=text_field(data, "other_feedback", max_chars=MAX_TEXT),
            grader_info=text_field(data, "grader_info", max_chars=MAX_TEXT),
            category=text_field(data, "category", max_chars=MAX_SHORT),
            text_format=text_field(data, "text_format", max_chars=20) or "moodle",
        )
        spec = form.spec
        if spec is not None:
            try:
                count = min(MAX_ROWS, max(0, int(text_field(data, "row_count", max_chars=4))))
            except ValueError:
                count = 0
            form.rows = [
                {
                    key: text_field(data, f"row-{i}-{key}", max_chars=MAX_TEXT)
                    for key in spec.fields + spec.hidden
                }
                for i in range(count)
            ]
        return form

    def with_more_rows(self, count: int) -> QuestionForm:
        """The same form with ``count`` more empty rows (within the limit)."""
        spec = self.spec
        if spec is None:
            return self
        room = max(0, min(count, MAX_ROWS - len(self.rows)))
        return replace(self, rows=[*self.rows, *(_blank_row(spec) for _ in range(room))])

    # -- reading ----------------------------------------------------------------------
    def kept_rows(self) -> list[int]:
        """The indexes of the rows that are not entirely blank."""
        spec = self.spec
        if spec is None:
            return []
        return [
            i
            for i, row in enumerate(self.rows)
            if any(row.get(key, "").strip() for key in spec.fields) or self.correct == str(i)
        ]

    def to_question(self, question_id: str | None) -> tuple[Question | None, FormErrors]:
        """The question the form describes, or the messages that say why it is not one."""
        errors = FormErrors()
        kept = self.kept_rows()
        body = self._body(question_id, kept, errors)
        if errors:
            return None, errors
        try:
            model = _QUESTION_IN.validate_python(body)
        except ValidationError as exc:
            for problem in exc.errors():
                loc = problem["loc"][1:]  # the first part names the union's member (the type)
                errors.add(self._field_for(loc, kept), friendly_message(problem))
            return None, errors
        return model.to_domain(), errors

    def _body(self, question_id: str | None, kept: list[int], errors: FormErrors) -> dict[str, Any]:
        points = _parse_number(self.points, "points", errors, "the points")
        body: dict[str, Any] = {
            "type": self.type.value,
            "id": question_id,
            "prompt": self.prompt,
            "points": 1.0 if points is None else points,
            "title": self.title.strip() or None,
            "feedback": self.feedback.strip() or None,
            "tags": _tags(self.tags),
            "category": self.category or None,
            "text_format": self.text_format,
        }
        if self.type is T.DESCRIPTION:
            body["points"] = 0.0  # text between questions is never scored
        if self.type is T.TRUE_FALSE:
            if self.answer not in ("true", "false"):
                errors.add("answer", "Choose whether the statement is true or false.")
            body["answer"] = self.answer == "true"
            body["right_feedback"] = self.right_feedback.strip() or None
            body["wrong_feedback"] = self.wrong_feedback.strip() or None
        if self.type is T.SHORT_ANSWER:
            body["case_sensitive"] = self.case_sensitive
        if self.type in (T.SHORT_ANSWER, T.NUMERIC):
            body["other_feedback"] = self.other_feedback.strip() or None
        if self.type is T.ESSAY:
            body["grader_info"] = self.grader_info.strip() or None
        spec = self.spec
        if spec is not None:
            body[spec.group] = [self._row_body(i, errors) for i in kept]
        return body

    def _row_body(self, index: int, errors: FormErrors) -> dict[str, Any]:
        row = self.rows[index]
        out: dict[str, Any] = {}
        for key in row:
            value = row[key]
            if key in _NUMERIC_ROW_FIELDS:
                what = _NUMERIC_ROW_FIELDS[key]
                number = _parse_number(value, f"row-{index}-{key}", errors, what)
                if number is not None:
                    out[key] = number
                elif key == "value":
                    errors.add(f"row-{index}-value", "Enter the accepted value.")
            elif key in ("id", "right_id"):
                if value:
                    out[key] = value
            elif key == "feedback":
                if value.strip():
                    out[key] = value.strip()
            else:
                out[key] = value
        if self.type is T.SINGLE_CHOICE:
            out["correct"] = self.correct == str(index)
            if out["correct"]:
                out.pop("weight", None)  # the correct option is worth 100 %
        return out

    def _field_for(self, loc: Sequence[int | str], kept: list[int]) -> str | None:
        """The form field a request model's error ``loc`` points at (None: the summary)."""
        if not loc:
            return None
        head, spec = str(loc[0]), self.spec
        if spec is not None and head == spec.group:
            # ("options", 2, "text"): the third kept row's text field, else the whole group
            if len(loc) >= 3 and isinstance(loc[1], int) and loc[1] < len(kept):
                key = str(loc[2])
                if key in spec.fields:
                    return f"row-{kept[loc[1]]}-{key}"
            return _GROUP_FIELD
        return head if head in _PLAIN_FIELDS else None


def service_errors(exc: Invalid, index: int) -> FormErrors:
    """The service's refusal of the question at ``index`` of the quiz's list, placed at
    the form's fields (``["body", "questions", index, "options"]`` -> the rows)."""
    errors = FormErrors()
    for detail in exc.details:
        loc = list(detail.get("loc") or [])
        message = sentence(str(detail.get("message", "")))
        if len(loc) >= 3 and loc[1] == "questions" and loc[2] == index:
            name = str(loc[3]) if len(loc) > 3 else None
            if name in ("options", "answers", "pairs", "items"):
                name = _GROUP_FIELD
            elif name not in ("prompt", "points", "answer"):
                name = None
            errors.add(name, message)
        else:
            errors.add(None, message)
    if not errors:
        errors.add(None, sentence(exc.message))
    return errors


def _blank_row(spec: RowSpec) -> dict[str, str]:
    return dict.fromkeys(spec.fields + spec.hidden, "")


def _parse_number(text: str, name: str, errors: FormErrors, what: str) -> float | None:
    """``text`` as a number (None when blank); a message at ``name`` when it is not."""
    cleaned = text.strip()
    if cleaned.count(",") == 1 and "." not in cleaned:
        cleaned = cleaned.replace(",", ".")  # a decimal comma: 0,5
    if not cleaned:
        return None
    try:
        value = float(cleaned)
    except ValueError:
        errors.add(name, f"Enter {what} as a number, such as 2 or 0.5.")
        return None
    if not math.isfinite(value):
        errors.add(name, f"Enter {what} as a finite number.")
        return None
    return value
