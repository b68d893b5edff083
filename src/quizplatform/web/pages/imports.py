"""Import a quiz from a GIFT, Aiken or JSON file, pasted or uploaded
(``QuizService.import_text``, as ``POST /quizzes/import``).

A file with problems is shown back line by line with each message beside its line, and
put into the text box so the teacher can fix it there; nothing is saved until the whole
file reads cleanly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.responses import Response

from quizplatform.services.errors import Invalid
from quizplatform.web.forms import FormErrors, read_form, text_field
from quizplatform.web.pages.editor import editor_url
from quizplatform.web.pages.teacher import render_teacher_page, require_author
from quizplatform.web.rendering import see_other
from quizplatform.web.routing import page_router
from quizplatform.web.session import CurrentUser, Web
from quizplatform.web.validation import sentence

router = page_router()
FORMAT_LABELS = {
    "gift": "GIFT (Moodle)",
    "aiken": "Aiken",
    "json": "JSON (this platform's export)",
}
FORMAT_NAMES = {"gift": "GIFT", "aiken": "Aiken", "json": "JSON"}
# Files up to this many lines are shown whole; longer ones only around their problems.
FULL_LISTING_LINES = 400
CONTEXT_LINES = 2


@dataclass
class SourceLine:
    """One line of the imported text as the page lists it (``None`` in a listing marks
    lines left out)."""

    number: int
    text: str
    messages: list[str] = field(default_factory=list)


def split_lines(text: str) -> list[str]:
    """The lines of ``text`` numbered as the format readers number them."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def listing(
    text: str,
    messages: dict[int, list[str]],
    *,
    full: int = FULL_LISTING_LINES,
    context: int = CONTEXT_LINES,
) -> list[SourceLine | None]:
    """The lines to show: all of a short file, else those within ``context`` lines of a
    problem, with ``None`` where lines are left out."""
    lines = split_lines(text)
    if len(lines) <= full:
        wanted = set(range(1, len(lines) + 1))
    else:
        wanted = {
            n
            for line in messages
            for n in range(line - context, line + context + 1)
            if 1 <= n <= len(lines)
        }
    shown: list[SourceLine | None] = []
    previous = 0
    for number in sorted(wanted):
        if number > previous + 1:
            shown.append(None)
        shown.append(SourceLine(number, lines[number - 1], messages.get(number, [])))
        previous = number
    if previous < len(lines) and shown:
        shown.append(None)
    return shown


@router.get("/teach/import")
async def import_page(request: Request, user: CurrentUser) -> Response:
    require_author(user)
    values = {"format": "gift", "title": "", "text": ""}
    return await _page(request, values, FormErrors())


@router.post("/teach/import")
async def import_file(request: Request, user: CurrentUser, web: Web) -> Response:
    require_author(user)
    data = await read_form(request)
    limit = web.settings.max_import_bytes
    values = {
        "format": text_field(data, "format", max_chars=10),
        "title": text_field(data, "title", max_chars=200),
        "text": text_field(data, "text", max_chars=limit),
    }
    errors = FormErrors()
    if values["format"] not in FORMAT_LABELS:
        errors.add("format", "Choose the file's format.")
    uploaded, upload_error = await _uploaded_text(data.get("file"))
    if upload_error:
        errors.add("file", upload_error)
    if uploaded is not None:
        if values["text"].strip():
            errors.add("file", "Choose a file or paste the text, not both.")
        else:
            values["text"] = uploaded
    if not errors and not values["text"].strip():
        errors.add("text", "Paste the quiz's text here, or choose a file above.")
    if errors:
        return await _page(request, values, errors, status=422)
    try:
        snap = await web.services.quizzes.import_text(
            user, values["format"], values["text"], values["title"] or None
        )
    except Invalid as exc:
        return await _refused(request, values, exc, from_file=uploaded is not None)
    return see_other(request, editor_url(snap.id, "imported"))


async def _uploaded_text(upload: object) -> tuple[str | None, str | None]:
    """The uploaded file's text (None when no file was chosen), or why it is unusable."""
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None, None
    raw = await upload.read()
    if not raw:
        return None, "The chosen file is empty."
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, f"The file is not UTF-8 text (line {line}). Save it as UTF-8 and try again."


async def _refused(
    request: Request, values: dict[str, str], exc: Invalid, *, from_file: bool
) -> Response:
    """The file back with its problems: by line beside the listing, the rest on top."""
    by_line: dict[int, list[str]] = {}
    errors = FormErrors()
    for detail in exc.details:
        line, message = detail.get("line"), sentence(str(detail.get("message", "")))
        if isinstance(line, int):
            by_line.setdefault(line, []).append(message)
        else:
            errors.add(None, message)
    count = sum(len(found) for found in by_line.values())
    name = FORMAT_NAMES.get(values["format"], values["format"])
    summary = (
        f"The {name} file has {count} problem{'s' if count != 1 else ''}; nothing was imported."
        if count
        else sentence(exc.message)
    )
    context = {
        "summary": summary,
        "issues": sorted((n, m) for n, found in by_line.items() for m in found),
        "lines": listing(values["text"], by_line) if by_line else [],
        "from_file": from_file,
    }
    return await _page(request, values, errors, status=422, refused=context)


async def _page(
    request: Request,
    values: dict[str, str],
    errors: FormErrors,
    *,
    status: int = 200,
    refused: dict[str, object] | None = None,
) -> Response:
    context = {
        "values": values,
        "errors": errors,
        "format_labels": FORMAT_LABELS,
        "refused": refused,
    }
    return await render_teacher_page(request, "pages/teacher/import.html", context, status=status)
