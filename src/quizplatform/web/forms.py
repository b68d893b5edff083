"""Reading forms and turning service validation errors into inline messages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from fastapi import Request
from starlette.datastructures import FormData

from quizplatform.services.errors import ServiceError

MAX_FIELD_CHARS = 20_000


@dataclass
class FormErrors:
    """Messages per form field (shown next to the field) and for the whole form (shown in
    the error summary at the top, which also links to each field's message)."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    form: list[str] = field(default_factory=list)

    def add(self, name: str | None, message: str) -> None:
        if name is None:
            self.form.append(message)
        else:
            self.fields.setdefault(name, []).append(message)

    def __bool__(self) -> bool:
        return bool(self.fields or self.form)


def errors_from(exc: ServiceError, field_names: Mapping[str, str] | None = None) -> FormErrors:
    """Map a service error's ``details`` (``loc: ["body", "email"]``) onto form fields.

    ``field_names`` maps a detail's last ``loc`` part to the form's field name when they
    differ; details that name no known field go to the summary."""
    errors = FormErrors()
    for detail in exc.details:
        loc = detail.get("loc") or []
        key = str(loc[-1]) if loc else ""
        target = field_names.get(key) if field_names is not None else key
        errors.add(target or None, _sentence(str(detail.get("message", ""))))
    if not errors:
        errors.add(None, _sentence(exc.message))
    return errors


def _sentence(text: str) -> str:
    text = text.strip()
    if text and not text.endswith((".", "!", "?")):
        text += "."
    return text[:1].upper() + text[1:]


async def read_form(request: Request) -> FormData:
    """The request's form (urlencoded or multipart); cached by Starlette per request."""
    return await request.form()


def text_field(form: FormData, name: str, *, max_chars: int = MAX_FIELD_CHARS) -> str:
    """A text field's value ("" when absent or a file), cut to ``max_chars``, without NUL
    characters (no browser sends one, and the database cannot store it)."""
    value = form.get(name)
    return value[:max_chars].replace("\x00", "") if isinstance(value, str) else ""


def safe_next(target: str | None, default: str = "/dashboard") -> str:
    """``target`` if it is a path on this site, else ``default`` (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target
