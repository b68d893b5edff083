"""The teacher's report page: the service's numbers as SVG charts and tables."""

from __future__ import annotations

import re

from quizplatform.web.charts import bar_chart, column_chart, score_histogram
from tests.api.samples import all_types_quiz, by_type
from tests.web.helpers import PASSWORD, WebClient


async def test_the_owner_sees_charts_and_tables_others_do_not(web: WebClient) -> None:
    teacher = await web.sign_up("teacher", name="Tess Teacher")
    teacher_bearer = web.bearer()
    r = await web.http.post("/api/v1/quizzes", json=all_types_quiz(), headers=teacher_bearer)
    quiz = r.json()
    await web.http.post(f"/api/v1/quizzes/{quiz['id']}/publish", headers=teacher_bearer)
    single = by_type(quiz)["single_choice"]
    right = next(o["id"] for o in single["options"] if o["correct"])
    # Two students answer the single choice question, one right, one wrong.
    for n, option in enumerate((right, single["options"][1]["id"])):
        email = f"report-student{n}@example.org"
        await web.http.post(
            "/api/v1/auth/register",
            json={"email": email, "password": PASSWORD, "display_name": f"S{n}"},
        )
        token = (
            await web.http.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        attempt = (
            await web.http.post(f"/api/v1/quizzes/{quiz['id']}/attempts", headers=headers)
        ).json()
        await web.http.put(
            f"/api/v1/attempts/{attempt['id']}/responses/{single['id']}",
            json={"option_id": option},
            headers=headers,
        )
        await web.http.post(f"/api/v1/attempts/{attempt['id']}/submit", headers=headers)

    page = await web.http.get(f"/quizzes/{quiz['id']}/report")
    assert page.status_code == 200, page.text
    html = page.text
    assert html.count("<svg") == 5  # histogram, facility, discrimination, 2 choice questions
    assert 'role="img"' in html and '<title id="histogram-title">Score histogram' in html
    api = await web.http.get(f"/api/v1/quizzes/{quiz['id']}/report", headers=teacher_bearer)
    numbers = api.json()
    assert f"<dd>{numbers['mean_percent']:.1f} %</dd>".replace(".0 %", " %") in html
    facility = next(q for q in numbers["questions"] if q["question_id"] == single["id"])
    assert facility["facility"] == 0.5
    assert re.search(r"Q1: 2\+2\?</th>\s*<td class=\"num\">0.50</td>", html)
    # The option table has the counts: one chose "4", one chose "5".
    assert re.search(r'<th scope="row">4</th><td class="num">1</td>', html)
    assert re.search(r'<th scope="row">5</th><td class="num">1</td>', html)
    assert teacher.display_name  # signed in as the teacher throughout

    web.http.cookies.clear()
    await web.sign_up("student")
    refused = await web.http.get(f"/quizzes/{quiz['id']}/report")
    assert refused.status_code == 403
    assert "only the quiz's owner" in refused.text.lower().replace("&#39;", "'")


def test_histogram_bands_and_bar_geometry() -> None:
    bands = score_histogram([0, 9.99, 10, 55, 100, 100])
    assert bands[0] == ("0\N{EN DASH}9", 2) and bands[1][1] == 1
    assert bands[5][1] == 1 and bands[9] == ("90\N{EN DASH}100", 2)
    chart = column_chart([("a", 1), ("b", 2), ("c", 0)], width=300, height=200)
    assert chart.bars[1].height > chart.bars[0].height > chart.bars[2].height == 0
    assert all(b.y + b.height == chart.baseline_y for b in chart.bars)
    signed = bar_chart([("up", 0.5), ("down", -0.5), ("none", None)], low=-1, high=1)
    assert signed.zero_x is not None
    up, down, none = signed.bars
    assert up.x == signed.zero_x and down.x + down.width == signed.zero_x
    assert down.negative and not up.negative and none.value_text == "n/a"
