"""The teacher's report on a quiz: score histogram, facility and discrimination per
question, option distribution, as inline SVG charts with the numbers in tables. The
numbers are ``AttemptService.report``'s, the same as ``GET /api/v1/quizzes/{id}/report``."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.responses import Response

from quizplatform.web.charts import bar_chart, column_chart, score_histogram
from quizplatform.web.rendering import render
from quizplatform.web.routing import page_router
from quizplatform.web.session import CurrentUser, Web

router = page_router()


@router.get("/quizzes/{quiz_id}/report")
async def report(quiz_id: str, request: Request, user: CurrentUser, web: Web) -> Response:
    data = await web.services.attempts.report(user, quiz_id)  # owner or admin only
    snap = await web.services.quizzes.owned(user, quiz_id)
    by_id = {q.id: q for q in snap.questions}
    histogram = score_histogram(data["scores"])
    questions = []
    for number, item in enumerate(
        (i for i in data["questions"] if by_id[i["question_id"]].type.value != "description"),
        start=1,
    ):
        question = by_id[item["question_id"]]
        option_texts = {o.id: o.text for o in question.options}
        options = [(option_texts.get(o["id"], "?"), o["chosen"]) for o in item["options"]]
        questions.append(
            {
                "number": number,
                "label": f"Q{number}",
                "prompt": question.prompt,
                "type": question.type.value,
                "facility": item["facility"],
                "discrimination": item["discrimination"],
                "mean_score": item["mean_score"],
                "max_score": item["max_score"],
                "options": options,
                "options_chart": column_chart(options, height=180) if options else None,
            }
        )
    context: dict[str, Any] = {
        "quiz": snap,
        "report": data,
        "histogram": histogram,
        "histogram_chart": column_chart(histogram),
        "questions": questions,
        "facility_chart": bar_chart([(q["label"], q["facility"]) for q in questions]),
        "discrimination_chart": bar_chart(
            [(q["label"], q["discrimination"]) for q in questions], low=-1.0, high=1.0
        ),
    }
    return await render(request, "pages/report.html", context)
