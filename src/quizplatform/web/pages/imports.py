"""Import a quiz from a file of any registered format (GIFT, Aiken, JSON, Moodle XML, a
QTI zip...), pasted or uploaded, in two steps (``QuizService.preview_file`` then
``import_file``, as ``POST /quizzes/import/preview`` and ``POST /quizzes/import``):

1. ``POST /teach/import`` reads the file (its format chosen or detected) and shows a
   preview: the format, the questions an import would create, the warnings. A file with
   problems is shown back line by line with each message beside its line (a text file is
   put into the text box so the teacher can fix it there); in a package, by file and line.
2. ``POST /teach/import/save`` imports it. The file travels back in a hidden field,
   base64-encoded (the body policy allows that route a third more than the import limit);
   it is read again from scratch, never taken from the preview, so what is saved is what
   the file holds. When the only problems are questions of types the platform lacks, the
   preview offers to import the others and skip those (``skip_unsupported``).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

from fastapi import Request
from starlette.datastructures import FormData, UploadFile
from starlette.responses import Response

from quizplatform.domain.formats import FORMAT_INFO
from quizplatform.domain.formats.detect import detect_format
from quizplatform.services.errors import Invalid, TooLarge
from quizplatform.services.imports import FileIssue, ImportPreview
from quizplatform.web.forms import FormErrors, read_form, text_field
from quizplatform.web.pages.editor import editor_url
from quizplatform.web.pages.teacher import render_teacher_page, require_author
from quizplatform.web.question_forms import TYPE_LABELS
from quizplatform.web.rendering import see_other
from quizplatform.web.routing import page_router
from quizplatform.web.session import CurrentUser, Web
from quizplatform.web.validation import sentence

router = page_router()
DETECT = ""  # the format select's "Detect from the file"
# Files up to this many lines are shown whole; longer ones only around their problems.
FULL_LISTING_LINES = 400
CONTEXT_LINES = 2
PAYLOAD_PART_CHARS = 512 * 1024


def format_labels() -> dict[str, str]:
    """The format select's choices: detection, then every registered format."""
    return {DETECT: "Detect from the file", **{f: i.label for f, i in FORMAT_INFO.items()}}


def format_name(fmt: str) -> str:
    """A format's short name for sentences ("GIFT" of "GIFT (Moodle)")."""
    info = FORMAT_INFO.get(fmt)
    return info.label.split(" (", 1)[0] if info else fmt


def accepted_files() -> str:
    """The file input's ``accept``: every registered format's file endings and types."""
    endings = {".txt", ".gift"} | {
        "." + i.extension.rsplit(".", 1)[-1] for i in FORMAT_INFO.values()
    }
    types = {i.media_type.split(";")[0] for i in FORMAT_INFO.values()}
    return ",".join(sorted(endings) + sorted(types))


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


def encode_file(data: bytes) -> list[str]:
    """The file for the hidden ``payload`` fields: URL-safe base64 (a form sends it
    unescaped), in parts of ``PAYLOAD_PART_CHARS`` (the form parser refuses a field
    over 1 MB)."""
    encoded = base64.urlsafe_b64encode(data).decode("ascii")
    return [
        encoded[at : at + PAYLOAD_PART_CHARS] for at in range(0, len(encoded), PAYLOAD_PART_CHARS)
    ]


def decode_file(parts: list[str], limit: int) -> bytes | None:
    """The file back from the hidden fields; None when it is not intact or over ``limit``."""
    value = "".join(parts)
    if len(value) > -(-limit * 4 // 3) + 4:
        return None
    try:
        data = base64.b64decode(value.encode("ascii"), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None
    return data if 0 < len(data) <= limit else None


@dataclass
class _Upload:
    """What the first step received: the file's bytes and name, or why it is unusable."""

    data: bytes = b""
    filename: str | None = None
    from_file: bool = False


@router.get("/teach/import")
async def import_page(request: Request, user: CurrentUser) -> Response:
    require_author(user)
    values = {"format": DETECT, "title": "", "text": ""}
    return await _page(request, values, FormErrors())


@router.post("/teach/import")
async def preview_import(request: Request, user: CurrentUser, web: Web) -> Response:
    """Step 1: read the file and show what an import would do (nothing is saved)."""
    require_author(user)
    data = await read_form(request)
    limit = web.settings.max_import_bytes
    values = _values(data, limit)
    errors = FormErrors()
    upload = await _received(data, values, errors)
    if errors:
        return await _page(request, values, errors, status=422)
    fmt = values["format"] or detect_format(upload.data, upload.filename)
    if fmt is None:
        errors.add("format", "We could not tell the file's format. Choose it here.")
        return await _page(request, values, errors, status=422)
    if upload.from_file and not FORMAT_INFO[fmt].binary:
        try:
            values["text"] = upload.data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = upload.data[: exc.start].count(b"\n") + 1
            message = f"The file is not UTF-8 text (line {line}). Save it as UTF-8 and try again."
            errors.add("file", message)
            return await _page(request, values, errors, status=422)
    try:
        # The service detects the format again (as the check above did): the same answer.
        preview = await web.services.quizzes.preview_file(
            user,
            values["format"] or None,
            upload.data,
            values["title"] or None,
            filename=upload.filename,
        )
    except (Invalid, TooLarge) as exc:
        return await _refused(request, values, fmt, exc, from_file=upload.from_file)
    if not preview.ok:
        return await _problems(request, values, preview, upload)
    context = {
        "preview": preview,
        "format_label": FORMAT_INFO[fmt].label,
        "payload": encode_file(upload.data),
        "values": values,
        "type_labels": {t.value: label for t, label in TYPE_LABELS.items()},
    }
    return await render_teacher_page(request, "pages/teacher/import_preview.html", context)


@router.post("/teach/import/save")
async def save_import(request: Request, user: CurrentUser, web: Web) -> Response:
    """Step 2: import the previewed file, read again from its bytes."""
    require_author(user)
    data = await read_form(request)
    limit = web.settings.max_import_bytes
    values = _values(data, limit)
    fmt = values["format"]
    parts = [part for part in data.getlist("payload") if isinstance(part, str)]
    file = decode_file(parts, limit)
    errors = FormErrors()
    if fmt not in FORMAT_INFO or file is None:
        errors.add(None, "The previewed file did not come back intact. Choose it again.")
        values["format"] = DETECT if fmt not in FORMAT_INFO else fmt
        return await _page(request, values, errors, status=422)
    skip = text_field(data, "skip_unsupported", max_chars=5) in ("1", "true", "on")
    try:
        snap = await web.services.quizzes.import_file(
            user, fmt, file, values["title"] or None, skip_unsupported=skip
        )
    except (Invalid, TooLarge) as exc:
        binary = FORMAT_INFO[fmt].binary
        if not binary:
            values["text"] = file.decode("utf-8-sig", errors="replace")
        return await _refused(request, values, fmt, exc, from_file=True)
    return see_other(request, editor_url(snap.id, "imported"))


def _values(data: FormData, limit: int) -> dict[str, str]:
    return {
        "format": text_field(data, "format", max_chars=40),
        "title": text_field(data, "title", max_chars=200),
        "text": text_field(data, "text", max_chars=limit),
    }


async def _received(data: FormData, values: dict[str, str], errors: FormErrors) -> _Upload:
    """The file of the first step, uploaded or pasted; problems go to ``errors``."""
    if values["format"] not in format_labels():
        errors.add("format", "Choose the file's format, or let us detect it.")
    upload = data.get("file")
    if isinstance(upload, UploadFile) and upload.filename:
        raw = await upload.read()
        if not raw:
            errors.add("file", "The chosen file is empty.")
        elif values["text"].strip():
            errors.add("file", "Choose a file or paste the text, not both.")
        return _Upload(raw, upload.filename, from_file=True)
    if not values["text"].strip():
        errors.add("text", "Paste the quiz's text here, or choose a file above.")
    return _Upload(values["text"].encode())


def _where(issue: FileIssue) -> str:
    """Where a problem is, for the list of problems: "Line 3", "questions/q1.xml, line 3"."""
    line = f"line {issue.line}" if issue.line else ""
    if issue.file:
        return f"{issue.file}, {line}" if line else issue.file
    return line.capitalize() if line else "The file"


async def _problems(
    request: Request, values: dict[str, str], preview: ImportPreview, upload: _Upload
) -> Response:
    """The preview of a file that cannot be imported as it is: its problems by line (and
    file), and the offer to skip unsupported questions when that is all there is."""
    issues = [*preview.problems]
    binary = FORMAT_INFO[preview.format].binary
    skip = None
    if preview.skippable:
        skip = {"count": preview.skippable, "payload": encode_file(upload.data)}
    return await _listed(
        request,
        values,
        preview.format,
        issues,
        "",
        from_file=upload.from_file,
        binary=binary,
        skip=skip,
        detected=preview.detected,
    )


async def _refused(
    request: Request, values: dict[str, str], fmt: str, exc: Invalid | TooLarge, *, from_file: bool
) -> Response:
    """A refusal (the save step's, or the preview's for a file over a limit)."""
    issues: list[FileIssue] = []
    errors_only: list[str] = []
    for detail in exc.details:
        if "line" in detail:
            issues.append(FileIssue(detail["line"], detail["message"], detail.get("file")))
        else:
            errors_only.append(sentence(detail["message"]))
    return await _listed(
        request,
        values,
        fmt,
        issues,
        sentence(exc.message),
        from_file=from_file,
        binary=FORMAT_INFO[fmt].binary,
        form_messages=errors_only,
        status=exc.status,
    )


async def _listed(
    request: Request,
    values: dict[str, str],
    fmt: str,
    issues: list[FileIssue],
    message: str,
    *,
    from_file: bool,
    binary: bool,
    skip: dict[str, object] | None = None,
    detected: bool = False,
    form_messages: list[str] | None = None,
    status: int = 422,
) -> Response:
    """The import page with the file's problems: by line beside the listing of a text
    file, by file and line for a package, the rest on top."""
    errors = FormErrors()
    for text in form_messages or []:
        errors.add(None, text)
    by_line: dict[int, list[str]] = {}
    if not binary:
        for issue in issues:
            if issue.line and not issue.file:
                by_line.setdefault(issue.line, []).append(sentence(issue.message))
    count = len(issues)
    summary = (
        f"The {format_name(fmt)} file has {count} problem{'s' if count != 1 else ''}; "
        "nothing was imported."
        if count
        else message or "Nothing was imported."
    )
    if binary and from_file:  # a package's bytes are no text to fix in the box
        values = {**values, "text": ""}
    context = {
        "summary": summary,
        "issues": [
            (
                issue.line if issue.line and not issue.file and not binary else None,
                _where(issue),
                sentence(issue.message),
            )
            for issue in sorted(issues, key=lambda i: (i.file or "", i.line))
        ],
        "lines": listing(values["text"], by_line) if by_line else [],
        "from_file": from_file,
        "format": fmt,
        "format_label": FORMAT_INFO[fmt].label,
        "detected": detected,
        "skip": skip,
    }
    return await _page(request, values, errors, status=status, refused=context)


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
        "format_labels": format_labels(),
        "accept": accepted_files(),
        "refused": refused,
    }
    return await render_teacher_page(request, "pages/teacher/import.html", context, status=status)
