"""The teacher's question bank (``BankService``, as ``/api/v1/bank``) and the quiz
editor's random draws (``QuizService.update`` with ``draws``, as ``PATCH /quizzes/{id}``).

- ``/teach/bank``: the bank's questions filtered by category (subcategories included),
  tag and words; select several, then move them to a category or add or remove a tag.
- ``/teach/quizzes/{id}/draws/new``: add "N random questions of a category tagged T worth
  P points" to a quiz; a bank too small for it is said beside the count (422).
- ``POST /teach/quizzes/{id}/draws/{draw_id}/delete``: remove a draw.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.responses import Response

from quizplatform.domain.draws import CATEGORY_CHARS, MAX_DRAW_COUNT, DrawRule
from quizplatform.schemas.bank import DrawIn
from quizplatform.services.accounts import Principal
from quizplatform.services.bank import MAX_BULK
from quizplatform.services.errors import Invalid, NotFound
from quizplatform.services.quizzes import QuizChanges
from quizplatform.web.forms import FormErrors, errors_from, read_form, text_field
from quizplatform.web.pages.editor import editor_url
from quizplatform.web.pages.teacher import render_teacher_page, require_author
from quizplatform.web.query import parse_positive_int, positive_int
from quizplatform.web.rendering import see_other
from quizplatform.web.routing import page_router
from quizplatform.web.session import CurrentUser, Web
from quizplatform.web.validation import friendly_message

router = page_router()
PER_PAGE = 25
BANK_NOTICES = {
    "moved": "The selected questions are moved.",
    "tagged": "The tag is added to the selected questions.",
    "untagged": "The tag is taken off the selected questions.",
}
ACTIONS = {"move": "moved", "tag_add": "tagged", "tag_remove": "untagged"}
DRAW_FIELDS = {"count": "count", "points": "points", "category": "category", "tag": "tag"}


def _filters(values: Any) -> dict[str, str]:
    """The list's filters (from the query string or the bulk form's hidden fields)."""
    return {
        name: str(values.get(name) or "")[:200].replace("\x00", "")
        for name in ("category", "tag", "q")
        if values.get(name)
    }


def bank_url(filters: dict[str, str], **extra: str) -> str:
    query = urlencode({**filters, **extra})
    return "/teach/bank" + (f"?{query}" if query else "")


@router.get("/teach/bank")
async def bank_page(request: Request, user: CurrentUser, web: Web) -> Response:
    require_author(user)
    return await _bank_page(request, user, web, _filters(request.query_params), FormErrors())


async def _bank_page(
    request: Request,
    user: Principal,
    web: Web,
    filters: dict[str, str],
    errors: FormErrors,
    *,
    selected: frozenset[str] = frozenset(),
    form: dict[str, str] | None = None,
) -> Response:
    page = positive_int(request, "page", maximum=100_000)
    found = await web.services.bank.search(
        user,
        category=filters.get("category"),
        tag=filters.get("tag"),
        text=filters.get("q"),
        page=page,
        per_page=PER_PAGE,
    )
    pages = max(1, math.ceil(found.total / PER_PAGE))
    key = request.query_params.get("notice", "")
    context: dict[str, Any] = {
        "questions": found.items,
        "total": found.total,
        "page": page,
        "pages": pages,
        "filters": filters,
        "categories": await web.services.bank.categories(user),
        "errors": errors,
        "selected": selected,
        "form": form or {},
        "page_url": lambda n: bank_url(filters, page=str(n)),
    }
    if key in BANK_NOTICES:
        context["notice"] = BANK_NOTICES[key]
    return await render_teacher_page(
        request, "pages/teacher/bank.html", context, status=422 if errors else 200
    )


@router.post("/teach/bank")
async def bank_bulk(request: Request, user: CurrentUser, web: Web) -> Response:
    """Move the selected questions to a category, or add or remove a tag."""
    require_author(user)
    form = await read_form(request)
    filters = _filters(form)
    ids = [v for v in form.getlist("ids") if isinstance(v, str)][: MAX_BULK + 1]
    action = text_field(form, "action", max_chars=20)
    category = text_field(form, "target_category", max_chars=CATEGORY_CHARS + 1)
    tag = text_field(form, "tag_name", max_chars=100).strip()
    values = {"target_category": category, "tag_name": tag}
    errors = FormErrors()
    if action not in ACTIONS:
        errors.add(None, "Choose what to do with the selected questions.")
    if not ids:
        errors.add(None, "Select at least one question.")
    if action in ("tag_add", "tag_remove") and not tag:
        errors.add("tag_name", "Enter the tag to add or remove.")
    if len(category) > CATEGORY_CHARS:
        errors.add("target_category", f"Use at most {CATEGORY_CHARS} characters.")
    if len(tag) > 64:
        errors.add("tag_name", "Use at most 64 characters.")
    if not errors:
        try:
            if action == "move":
                await web.services.bank.move(user, ids, category or None)
            else:
                add, remove = ([tag], []) if action == "tag_add" else ([], [tag])
                await web.services.bank.retag(user, ids, add, remove)
        except Invalid as exc:
            errors = errors_from(exc, {})
    if errors:
        return await _bank_page(
            request, user, web, filters, errors, selected=frozenset(ids), form=values
        )
    return see_other(request, bank_url(filters, notice=ACTIONS[action]))


# -- random draws of a quiz -------------------------------------------------------------------
@router.get("/teach/quizzes/{quiz_id}/draws/new")
async def new_draw_page(request: Request, quiz_id: str, user: CurrentUser, web: Web) -> Response:
    require_author(user)
    snap = await web.services.quizzes.owned(user, quiz_id)
    form = {"count": "3", "points": "1", "category": "", "tag": ""}
    return await _draw_page(request, user, web, snap.id, snap.title, form, FormErrors())


async def _draw_page(
    request: Request,
    user: Principal,
    web: Web,
    quiz_id: str,
    title: str,
    form: dict[str, str],
    errors: FormErrors,
) -> Response:
    return await render_teacher_page(
        request,
        "pages/teacher/draw.html",
        {
            "quiz_id": quiz_id,
            "quiz_title": title,
            "form": form,
            "errors": errors,
            "categories": await web.services.bank.categories(user),
            "max_count": MAX_DRAW_COUNT,
        },
        status=422 if errors else 200,
    )


@router.post("/teach/quizzes/{quiz_id}/draws/new")
async def add_draw(request: Request, quiz_id: str, user: CurrentUser, web: Web) -> Response:
    require_author(user)
    snap = await web.services.quizzes.owned(user, quiz_id)
    form = await read_form(request)
    values = {name: text_field(form, name, max_chars=300).strip() for name in DRAW_FIELDS}
    rule, errors = parse_draw(form)
    if rule is not None:
        try:
            await web.services.quizzes.update(user, quiz_id, QuizChanges(draws=(*snap.draws, rule)))
        except Invalid as exc:
            errors = errors_from(exc, DRAW_FIELDS)
    if errors:
        return await _draw_page(request, user, web, snap.id, snap.title, values, errors)
    return see_other(request, editor_url(quiz_id, "draw_added", "draws"))


def parse_draw(form: FormData) -> tuple[DrawRule | None, FormErrors]:
    """The draw the form describes (through the API's own ``DrawIn``), or the messages."""
    errors = FormErrors()
    raw_count = text_field(form, "count", max_chars=20).strip()
    count = parse_positive_int(raw_count, 0, maximum=10**6)
    if count == 0:
        errors.add("count", "Enter how many questions to draw, such as 3.")
    raw_points = text_field(form, "points", max_chars=20).strip().replace(",", ".")
    points: float | None = None
    try:
        points = float(raw_points or "1")
    except ValueError:
        errors.add("points", "Enter the points of each drawn question, such as 1 or 2.5.")
    if points is not None and not math.isfinite(points):
        errors.add("points", "Enter the points of each drawn question, such as 1 or 2.5.")
    if errors:
        return None, errors
    body = {
        "count": count,
        "points": points,
        "category": text_field(form, "category", max_chars=1000).strip() or None,
        "tag": text_field(form, "tag", max_chars=1000).strip() or None,
    }
    try:
        return DrawIn.model_validate(body).to_domain(), errors
    except ValidationError as exc:
        for problem in exc.errors():
            loc = problem.get("loc") or ()
            errors.add(str(loc[0]) if loc else None, friendly_message(problem))
        return None, errors


@router.post("/teach/quizzes/{quiz_id}/draws/{draw_id}/delete")
async def delete_draw(
    request: Request, quiz_id: str, draw_id: str, user: CurrentUser, web: Web
) -> Response:
    require_author(user)
    snap = await web.services.quizzes.owned(user, quiz_id)
    kept = tuple(rule for rule in snap.draws if rule.id != draw_id)
    if len(kept) == len(snap.draws):
        raise NotFound("no such random draw in this quiz")
    await web.services.quizzes.update(user, quiz_id, QuizChanges(draws=kept))
    return see_other(request, editor_url(quiz_id, "draw_removed", "draws"))
