"""The quiz editor: a new quiz, its details and settings, its questions (add, edit,
reorder, delete, of all eight types plus descriptions), publishing, deleting, exporting.

Every change is one ``QuizService`` call with the quiz's whole question list, as
``PATCH /quizzes/{id}`` does: the service validates and saves it in one transaction, so a
refused change leaves the quiz as it was, and the form is shown again with the
teacher's input and the messages beside the fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Literal

from fastapi import Query, Request
from pydantic import ValidationError
from starlette.responses import Response

from quizplatform.domain.formats import FORMAT_INFO, FORMATS
from quizplatform.domain.questions import Question, QuestionType, QuizContent
from quizplatform.schemas.quizzes import QuizIn
from quizplatform.services.errors import Conflict, Invalid, NotFound
from quizplatform.services.quizzes import QuizChanges, QuizSnapshot
from quizplatform.web import question_forms, quiz_forms
from quizplatform.web.forms import FormErrors, read_form, text_field
from quizplatform.web.pages.teacher import render_teacher_page, require_author
from quizplatform.web.question_forms import TYPE_LABELS, QuestionForm, question_type
from quizplatform.web.quiz_forms import SHOW_ANSWERS_LABELS, QuizForm
from quizplatform.web.rendering import see_other
from quizplatform.web.rich_text import plain_text
from quizplatform.web.routing import page_router
from quizplatform.web.session import CurrentUser, Web
from quizplatform.web.validation import friendly_message

router = page_router()


def export_formats() -> list[tuple[str, str]]:
    """Every registered format with what the download link calls it ("GIFT (Moodle)")."""
    return [(fmt, info.label) for fmt, info in FORMAT_INFO.items()]


if TYPE_CHECKING:
    ExportFormat = str
else:  # every registered format (an unknown one is a 422)
    ExportFormat = Literal[FORMATS]
PROMPT_EXCERPT = 140


def editor_url(quiz_id: str, notice: str | None = None, anchor: str | None = None) -> str:
    """The editor of ``quiz_id``, with a ``?notice=`` and a ``#fragment`` if given."""
    url = f"/teach/quizzes/{quiz_id}"
    if notice:
        url += f"?notice={notice}"
    if anchor:
        url += f"#{anchor}"
    return url


# -- a new quiz ---------------------------------------------------------------------------
@router.get("/teach/new")
async def new_quiz_page(request: Request, user: CurrentUser) -> Response:
    require_author(user)
    context = {"errors": FormErrors(), "values": {"title": "", "description": ""}}
    return await render_teacher_page(request, "pages/teacher/new.html", context)


@router.post("/teach/new")
async def create_quiz(request: Request, user: CurrentUser, web: Web) -> Response:
    require_author(user)
    data = await read_form(request)
    values = {
        "title": text_field(data, "title", max_chars=201),
        "description": text_field(data, "description", max_chars=10_001),
    }
    errors = FormErrors()
    if not values["title"].strip():
        errors.add("title", "Enter a title.")
    else:
        try:
            body = QuizIn.model_validate(values)
        except ValidationError as exc:
            for problem in exc.errors():
                errors.add(str(problem["loc"][0]), friendly_message(problem))
        else:
            content = QuizContent(title=body.title, description=body.description)
            snap = await web.services.quizzes.create(user, content)
            return see_other(request, editor_url(snap.id, "quiz_created"))
    context = {"errors": errors, "values": values}
    return await render_teacher_page(request, "pages/teacher/new.html", context, status=422)


# -- the editor -----------------------------------------------------------------------------
@router.get("/teach/quizzes/{quiz_id}")
async def editor(
    request: Request,
    quiz_id: str,
    user: CurrentUser,
    web: Web,
    moved: Annotated[str | None, Query(max_length=64)] = None,
    direction: Annotated[Literal["up", "down"] | None, Query()] = None,
) -> Response:
    snap = await web.services.quizzes.owned(user, quiz_id)
    focus = _focus_after_move(snap, moved, direction)
    return await _editor_page(request, snap, QuizForm.from_snapshot(snap), FormErrors(), focus)


def _focus_after_move(
    snap: QuizSnapshot, moved: str | None, direction: str | None
) -> tuple[str, str] | None:
    """The button to focus after a move: the same one on the moved question, so that
    pressing it again moves it further; the other one when it reached an end."""
    ids = [q.id for q in snap.questions]
    if moved is None or direction is None or moved not in ids or len(ids) < 2:
        return None
    index = ids.index(moved)
    if direction == "up" and index == 0:
        direction = "down"
    elif direction == "down" and index == len(ids) - 1:
        direction = "up"
    return moved, direction


async def _editor_page(
    request: Request,
    snap: QuizSnapshot,
    form: QuizForm,
    errors: FormErrors,
    focus: tuple[str, str] | None = None,
    *,
    status: int = 200,
) -> Response:
    context = {
        "quiz": snap,
        "form": form,
        "errors": errors,
        "questions": _summaries(snap.questions),
        "question_count": sum(1 for q in snap.questions if q.type is not QuestionType.DESCRIPTION),
        "type_labels": {t.value: label for t, label in TYPE_LABELS.items()},
        "show_answers_labels": SHOW_ANSWERS_LABELS,
        "focus": focus,
        "export_formats": export_formats(),
    }
    return await render_teacher_page(request, "pages/teacher/editor.html", context, status=status)


@dataclass(frozen=True, slots=True)
class QuestionItem:
    """One item of the editor's list; ``name`` is how buttons and headings call it."""

    name: str
    id: str | None
    type: QuestionType
    label: str
    title: str | None
    prompt: str  # its first characters, on one line
    points: float
    detail: str
    first: bool
    last: bool


def _summaries(questions: list[Question]) -> list[QuestionItem]:
    """The quiz's items as the editor lists them. Questions are numbered as students see
    them (``Question 3``); descriptions, which students do not answer, are ``Text 1``..."""
    numbers = {"question": 0, "text": 0}
    summaries = []
    for index, q in enumerate(questions):
        kind = "text" if q.type is QuestionType.DESCRIPTION else "question"
        numbers[kind] += 1
        summaries.append(_summary(index, q, len(questions), f"{kind} {numbers[kind]}"))
    return summaries


def _summary(index: int, q: Question, count: int, name: str) -> QuestionItem:
    prompt = " ".join(plain_text(q.prompt, q.text_format).split())
    if len(prompt) > PROMPT_EXCERPT:
        prompt = prompt[: PROMPT_EXCERPT - 1].rstrip() + "…"
    return QuestionItem(
        name=name,
        id=q.id,
        type=q.type,
        label=TYPE_LABELS[q.type],
        title=q.title,
        prompt=prompt or "(no text)",
        points=q.max_score,
        detail=_detail(q),
        first=index == 0,
        last=index == count - 1,
    )


def _detail(q: Question) -> str:
    """``4 options, 1 correct`` and the like."""
    t = q.type
    if t is QuestionType.SINGLE_CHOICE:
        return f"{len(q.options)} options"
    if t is QuestionType.MULTIPLE_CHOICE:
        right = sum(1 for o in q.options if o.weight > 0)
        return f"{len(q.options)} options, {right} with credit"
    if t is QuestionType.TRUE_FALSE:
        return "True" if q.answer else "False"
    if t is QuestionType.SHORT_ANSWER:
        return f"{len(q.text_answers)} accepted answer{'s' if len(q.text_answers) != 1 else ''}"
    if t is QuestionType.NUMERIC:
        n = len(q.numeric_answers)
        return f"{n} accepted value{'s' if n != 1 else ''}"
    if t is QuestionType.MATCHING:
        extra = sum(1 for p in q.pairs if p.distractor)
        pairs = f"{len(q.pairs) - extra} pairs"
        return f"{pairs}, {extra} extra answer{'s' if extra != 1 else ''}" if extra else pairs
    if t is QuestionType.ORDERING:
        return f"{len(q.items)} items"
    if t is QuestionType.ESSAY:
        return "Graded by you"
    return "Not scored"


@router.post("/teach/quizzes/{quiz_id}/settings")
async def save_settings(request: Request, quiz_id: str, user: CurrentUser, web: Web) -> Response:
    snap = await web.services.quizzes.owned(user, quiz_id)
    form = QuizForm.from_form(await read_form(request))
    changes, errors = form.to_changes(snap)
    if changes is not None:
        try:
            await web.services.quizzes.update(user, quiz_id, changes)
        except Invalid as exc:
            errors = quiz_forms.service_errors(exc)
        else:
            return see_other(request, editor_url(quiz_id, "settings_saved", "settings"))
    return await _editor_page(request, snap, form, errors, status=422)


@router.post("/teach/quizzes/{quiz_id}/publish")
async def publish(request: Request, quiz_id: str, user: CurrentUser, web: Web) -> Response:
    return await _set_status(request, quiz_id, user, web, publish=True)


@router.post("/teach/quizzes/{quiz_id}/unpublish")
async def unpublish(request: Request, quiz_id: str, user: CurrentUser, web: Web) -> Response:
    return await _set_status(request, quiz_id, user, web, publish=False)


async def _set_status(
    request: Request, quiz_id: str, user: CurrentUser, web: Web, *, publish: bool
) -> Response:
    try:
        await web.services.quizzes.set_status(user, quiz_id, publish)
    except Conflict as exc:
        snap = await web.services.quizzes.owned(user, quiz_id)
        errors = FormErrors()
        errors.add(None, exc.message[:1].upper() + exc.message[1:] + ".")
        return await _editor_page(
            request, snap, QuizForm.from_snapshot(snap), errors, status=exc.status
        )
    return see_other(request, editor_url(quiz_id, "published" if publish else "unpublished"))


@router.get("/teach/quizzes/{quiz_id}/delete")
async def delete_quiz_page(request: Request, quiz_id: str, user: CurrentUser, web: Web) -> Response:
    snap = await web.services.quizzes.owned(user, quiz_id)
    return await render_teacher_page(request, "pages/teacher/delete_quiz.html", {"quiz": snap})


@router.post("/teach/quizzes/{quiz_id}/delete")
async def delete_quiz(request: Request, quiz_id: str, user: CurrentUser, web: Web) -> Response:
    await web.services.quizzes.delete(user, quiz_id)
    return see_other(request, "/dashboard?notice=quiz_deleted")


@router.get("/teach/quizzes/{quiz_id}/export")
async def export_quiz(
    quiz_id: str,
    user: CurrentUser,
    web: Web,
    format: Annotated[ExportFormat, Query()] = "gift",
) -> Response:
    data, media_type = await web.services.quizzes.export_file(user, quiz_id, format)
    safe_id = "".join(c for c in quiz_id if c.isascii() and (c.isalnum() or c in "-_"))[:64]
    filename = f"quiz-{safe_id}.{FORMAT_INFO[format].extension}"
    return Response(
        data,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


# -- questions ------------------------------------------------------------------------------
@router.get("/teach/quizzes/{quiz_id}/questions/new")
async def new_question_page(
    request: Request,
    quiz_id: str,
    user: CurrentUser,
    web: Web,
    type: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    snap = await web.services.quizzes.owned(user, quiz_id)
    type_ = question_type(type)
    if type_ is None:
        raise Invalid(
            f"choose one of the question types: {', '.join(t.value for t in TYPE_LABELS)}"
        )
    return await _question_page(request, snap, QuestionForm.blank(type_), FormErrors(), None)


@router.post("/teach/quizzes/{quiz_id}/questions/new")
async def add_question(request: Request, quiz_id: str, user: CurrentUser, web: Web) -> Response:
    snap = await web.services.quizzes.owned(user, quiz_id)
    data = await read_form(request)
    type_ = question_type(text_field(data, "type", max_chars=40))
    if type_ is None:
        raise Invalid("the form did not say which type of question to add")
    form = QuestionForm.from_form(type_, data)
    index = len(snap.questions)
    return await _save_question(request, user, web, snap, form, index, data.get("action"))


@router.get("/teach/quizzes/{quiz_id}/questions/{question_id}")
async def edit_question_page(
    request: Request, quiz_id: str, question_id: str, user: CurrentUser, web: Web
) -> Response:
    snap = await web.services.quizzes.owned(user, quiz_id)
    index = _index_of(snap, question_id)
    form = QuestionForm.from_question(snap.questions[index])
    return await _question_page(request, snap, form, FormErrors(), question_id)


@router.post("/teach/quizzes/{quiz_id}/questions/{question_id}")
async def save_question(
    request: Request, quiz_id: str, question_id: str, user: CurrentUser, web: Web
) -> Response:
    snap = await web.services.quizzes.owned(user, quiz_id)
    index = _index_of(snap, question_id)
    data = await read_form(request)
    form = QuestionForm.from_form(snap.questions[index].type, data)
    return await _save_question(request, user, web, snap, form, index, data.get("action"))


async def _save_question(
    request: Request,
    user: CurrentUser,
    web: Web,
    snap: QuizSnapshot,
    form: QuestionForm,
    index: int,
    action: object,
) -> Response:
    """Save the question at ``index`` (``len(questions)``: a new one at the end), or show
    the form again: with one more row (``action=more_rows``) or with the messages."""
    editing = snap.questions[index].id if index < len(snap.questions) else None
    if action == "more_rows":
        grown = form.with_more_rows(1)
        focus = f"f-row-{len(form.rows)}-{grown.spec.fields[0]}" if grown.spec else None
        return await _question_page(request, snap, grown, FormErrors(), editing, focus=focus)
    question, errors = form.to_question(editing)
    if question is not None:
        questions = list(snap.questions)
        if editing is None:
            questions.append(question)
        else:
            questions[index] = question
        try:
            saved = await web.services.quizzes.update(
                user, snap.id, QuizChanges(questions=tuple(questions))
            )
        except Invalid as exc:
            errors = question_forms.service_errors(exc, index)
        else:
            notice = "question_added" if editing is None else "question_saved"
            return see_other(request, editor_url(snap.id, notice, f"q-{saved.questions[index].id}"))
    return await _question_page(request, snap, form, errors, editing, status=422)


async def _question_page(
    request: Request,
    snap: QuizSnapshot,
    form: QuestionForm,
    errors: FormErrors,
    question_id: str | None,
    *,
    focus: str | None = None,
    status: int = 200,
) -> Response:
    if question_id is None:
        action = f"/teach/quizzes/{snap.id}/questions/new"
        is_text = form.type is QuestionType.DESCRIPTION
        heading = "New text between questions" if is_text else "New question"
    else:
        action = f"/teach/quizzes/{snap.id}/questions/{question_id}"
        heading = "Edit " + _summaries(snap.questions)[_index_of(snap, question_id)].name
    context = {
        "quiz": snap,
        "form": form,
        "errors": errors,
        "question_id": question_id,
        "heading": heading,
        "action": action,
        "focus": focus,
    }
    return await render_teacher_page(request, "pages/teacher/question.html", context, status=status)


@router.post("/teach/quizzes/{quiz_id}/questions/{question_id}/move")
async def move_question(
    request: Request, quiz_id: str, question_id: str, user: CurrentUser, web: Web
) -> Response:
    snap = await web.services.quizzes.owned(user, quiz_id)
    index = _index_of(snap, question_id)
    direction = text_field(await read_form(request), "direction", max_chars=4)
    if direction not in ("up", "down"):
        raise Invalid("say whether to move the question up or down")
    target = index - 1 if direction == "up" else index + 1
    questions = list(snap.questions)
    if 0 <= target < len(questions):
        questions[index], questions[target] = questions[target], questions[index]
        await web.services.quizzes.update(user, quiz_id, QuizChanges(questions=tuple(questions)))
    # No #fragment: browsers skip autofocus when the URL targets an element, and the
    # moved question's button must keep the focus (it is scrolled into view anyway).
    url = f"/teach/quizzes/{quiz_id}?notice=question_moved&moved={question_id}"
    return see_other(request, f"{url}&direction={direction}")


@router.get("/teach/quizzes/{quiz_id}/questions/{question_id}/delete")
async def delete_question_page(
    request: Request, quiz_id: str, question_id: str, user: CurrentUser, web: Web
) -> Response:
    snap = await web.services.quizzes.owned(user, quiz_id)
    index = _index_of(snap, question_id)
    context = {"quiz": snap, "question": _summaries(snap.questions)[index]}
    return await render_teacher_page(request, "pages/teacher/delete_question.html", context)


@router.post("/teach/quizzes/{quiz_id}/questions/{question_id}/delete")
async def delete_question(
    request: Request, quiz_id: str, question_id: str, user: CurrentUser, web: Web
) -> Response:
    snap = await web.services.quizzes.owned(user, quiz_id)
    index = _index_of(snap, question_id)
    questions = [q for i, q in enumerate(snap.questions) if i != index]
    await web.services.quizzes.update(user, quiz_id, QuizChanges(questions=tuple(questions)))
    return see_other(request, editor_url(quiz_id, "question_deleted", "questions"))


def _index_of(snap: QuizSnapshot, question_id: str) -> int:
    for index, q in enumerate(snap.questions):
        if q.id == question_id:
            return index
    raise NotFound("this question is not in the quiz (any more)")
