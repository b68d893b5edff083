"""The quiz's details and settings form (title, description, tags, time limit, attempts,
shuffles, opening and closing times, when answers are shown), checked by the API's own
request model (``QuizPatch``) and then by the service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from quizplatform.domain.questions import ShowCorrectAnswers
from quizplatform.schemas.quizzes import QuizPatch
from quizplatform.services.errors import Invalid
from quizplatform.services.quizzes import QuizChanges, QuizSnapshot
from quizplatform.web.forms import FormErrors, text_field
from quizplatform.web.validation import friendly_message, sentence

SHOW_ANSWERS_LABELS = {
    ShowCorrectAnswers.AFTER_SUBMIT.value: "Right after the student submits",
    ShowCorrectAnswers.AFTER_CLOSE.value: "After the quiz closes",
    ShowCorrectAnswers.NEVER.value: "Never",
}
# The request model's names -> the form's (the time limit is entered in minutes).
_FIELDS = {
    "title": "title",
    "description": "description",
    "tags": "tags",
    "time_limit_seconds": "time_limit",
    "max_attempts": "max_attempts",
    "opens_at": "opens_at",
    "closes_at": "closes_at",
    "show_correct_answers": "show_correct_answers",
    "shuffle_questions": "shuffle_questions",
    "shuffle_options": "shuffle_options",
}
_SERVICE_MESSAGES = {
    "must be after opens_at": "The closing time must be after the opening time.",
    "must be > 0": "Enter a number greater than 0, or leave it empty.",
}
DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


def _minutes(seconds: int | None) -> str:
    if seconds is None:
        return ""
    minutes = seconds / 60
    return str(int(minutes)) if minutes.is_integer() else f"{minutes:.2f}".rstrip("0")


def _local(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).strftime(DATETIME_LOCAL)


@dataclass
class QuizForm:
    """The details and settings form, every value as the text of its field."""

    title: str = ""
    description: str = ""
    tags: str = ""
    time_limit: str = ""  # minutes
    max_attempts: str = ""
    shuffle_questions: bool = False
    shuffle_options: bool = False
    opens_at: str = ""  # datetime-local, UTC
    closes_at: str = ""
    show_correct_answers: str = ShowCorrectAnswers.AFTER_SUBMIT.value

    @classmethod
    def from_snapshot(cls, snap: QuizSnapshot) -> QuizForm:
        s = snap.settings
        return cls(
            title=snap.title,
            description=snap.description,
            tags=", ".join(snap.tags),
            time_limit=_minutes(s.time_limit_seconds),
            max_attempts="" if s.max_attempts is None else str(s.max_attempts),
            shuffle_questions=s.shuffle_questions,
            shuffle_options=s.shuffle_options,
            opens_at=_local(s.opens_at),
            closes_at=_local(s.closes_at),
            show_correct_answers=s.show_correct_answers.value,
        )

    @classmethod
    def from_form(cls, data: FormData) -> QuizForm:
        return cls(
            title=text_field(data, "title", max_chars=201),
            description=text_field(data, "description", max_chars=10_001),
            tags=text_field(data, "tags", max_chars=2_000),
            time_limit=text_field(data, "time_limit", max_chars=20),
            max_attempts=text_field(data, "max_attempts", max_chars=20),
            shuffle_questions=data.get("shuffle_questions") == "on",
            shuffle_options=data.get("shuffle_options") == "on",
            opens_at=text_field(data, "opens_at", max_chars=40),
            closes_at=text_field(data, "closes_at", max_chars=40),
            show_correct_answers=text_field(data, "show_correct_answers", max_chars=20),
        )

    def to_changes(self, current: QuizSnapshot) -> tuple[QuizChanges | None, FormErrors]:
        """The ``QuizService.update`` changes this form asks for, or its messages."""
        errors = FormErrors()
        settings: dict[str, Any] = {
            "time_limit_seconds": _whole_seconds(self.time_limit, errors),
            "max_attempts": _whole(self.max_attempts, "max_attempts", errors),
            "shuffle_questions": self.shuffle_questions,
            "shuffle_options": self.shuffle_options,
            "opens_at": _when(self.opens_at, "opens_at", errors),
            "closes_at": _when(self.closes_at, "closes_at", errors),
            "show_correct_answers": self.show_correct_answers,
        }
        if self.show_correct_answers not in SHOW_ANSWERS_LABELS:
            errors.add("show_correct_answers", "Choose when students see the correct answers.")
        if not self.title.strip():
            errors.add("title", "Enter a title.")
        if errors:
            return None, errors
        body = {
            "title": self.title,
            "description": self.description,
            "tags": [t.strip() for t in self.tags.split(",") if t.strip()],
            "settings": settings,
        }
        try:
            patch = QuizPatch.model_validate(body)
        except ValidationError as exc:
            for problem in exc.errors():
                loc = [str(part) for part in problem["loc"]]
                name = loc[1] if loc[:1] == ["settings"] and len(loc) > 1 else loc[0]
                errors.add(_FIELDS.get(name), friendly_message(problem))
            return None, errors
        assert patch.settings is not None and patch.title is not None
        changes = QuizChanges(
            title=patch.title,
            description=patch.description or "",
            tags=tuple(patch.tags or ()),
            settings=patch.settings.merged_into(current.settings),
        )
        return changes, errors


def service_errors(exc: Invalid) -> FormErrors:
    """The service's refusal of the settings, at the form's fields."""
    errors = FormErrors()
    for detail in exc.details:
        loc = [str(part) for part in detail.get("loc") or []]
        message = str(detail.get("message", ""))
        name = _FIELDS.get(loc[-1]) if loc else None
        errors.add(name, _SERVICE_MESSAGES.get(message, sentence(message)))
    if not errors:
        errors.add(None, sentence(exc.message))
    return errors


def _whole(text: str, name: str, errors: FormErrors) -> int | None:
    text = text.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        errors.add(name, "Enter a whole number, such as 3, or leave it empty.")
        return None


def _whole_seconds(minutes: str, errors: FormErrors) -> int | None:
    text = minutes.strip().replace(",", ".")
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        errors.add("time_limit", "Enter the time limit in minutes, such as 20, or leave it empty.")
        return None
    if value <= 0 or value != value:
        errors.add("time_limit", "Enter a time limit greater than 0, or leave it empty.")
        return None
    if value > 7 * 24 * 60:
        errors.add("time_limit", "Enter a time limit of at most 7 days (10080 minutes).")
        return None
    return round(value * 60)


def _when(text: str, name: str, errors: FormErrors) -> datetime | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        errors.add(name, "Enter a date and time such as 2026-03-01 14:00, or leave it empty.")
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
