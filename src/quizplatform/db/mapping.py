"""Conversion between database rows and the domain's question model."""

from __future__ import annotations

from quizplatform.db import models
from quizplatform.domain.questions import (
    Choice,
    Item,
    NumericAnswer,
    Pair,
    Question,
    QuestionType,
    TextAnswer,
)


def question_from_row(row: models.Question) -> Question:
    """The domain question of a row whose parts and tags are loaded."""
    q = Question(
        id=row.id,
        type=QuestionType(row.type),
        prompt=row.prompt,
        points=row.points,
        title=row.title,
        feedback=row.feedback,
        category=row.category,
        text_format=row.text_format,
        answer=row.answer,
        wrong_feedback=row.wrong_feedback,
        right_feedback=row.right_feedback,
        case_sensitive=row.case_sensitive,
        other_feedback=row.other_feedback,
        grader_info=row.grader_info,
        tags=sorted(link.tag.name for link in row.tag_links),
    )
    for part in row.parts:
        if part.kind == "choice":
            q.options.append(Choice(part.text, part.weight, part.feedback, part.id))
        elif part.kind == "text":
            q.text_answers.append(TextAnswer(part.text, part.weight, part.feedback))
        elif part.kind == "numeric":
            q.numeric_answers.append(
                NumericAnswer(part.value or 0.0, part.tolerance or 0.0, part.weight, part.feedback)
            )
        elif part.kind == "pair":
            q.pairs.append(Pair(part.text, part.right_text or "", part.id, part.right_id))
        elif part.kind == "item":
            q.items.append(Item(part.text, part.id))
    return q


def parts_for(q: Question, keep_ids: frozenset[str] = frozenset()) -> list[models.QuestionPart]:
    """New part rows for a question.

    Ids are global primary keys, so an id from the client is kept only when it is in
    ``keep_ids`` (the parts of the row being edited); every other part gets a fresh id.
    """
    parts: list[models.QuestionPart] = []

    def add(kind: str, part_id: str | None = None, **fields: object) -> None:
        row = models.QuestionPart(kind=kind, position=len(parts), **fields)
        row.id = part_id if part_id in keep_ids else models.new_id()
        parts.append(row)

    for o in q.options:
        add("choice", o.id, text=o.text, weight=o.weight, feedback=o.feedback)
    for a in q.text_answers:
        add("text", text=a.text, weight=a.weight, feedback=a.feedback)
    for n in q.numeric_answers:
        add("numeric", value=n.value, tolerance=n.tolerance, weight=n.weight, feedback=n.feedback)
    for p in q.pairs:
        kept = p.id in keep_ids and p.right_id
        add(
            "pair",
            p.id,
            text=p.left,
            right_text=p.right,
            right_id=p.right_id if kept else models.new_id(),
        )
    for i in q.items:
        add("item", i.id, text=i.text)
    return parts


def fill_question_row(row: models.Question, q: Question, position: int) -> None:
    """Copy the scalar fields of ``q`` onto ``row`` (parts and tags are set by the caller)."""
    row.position = position
    row.type = q.type.value
    row.prompt = q.prompt
    row.points = q.max_score
    row.title = q.title
    row.feedback = q.feedback
    row.category = q.category
    row.text_format = q.text_format
    row.answer = q.answer if q.type is QuestionType.TRUE_FALSE else None
    row.wrong_feedback = q.wrong_feedback
    row.right_feedback = q.right_feedback
    row.case_sensitive = q.case_sensitive
    row.other_feedback = q.other_feedback
    row.grader_info = q.grader_info
