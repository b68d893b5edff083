"""Question texts in html and markdown on the real pages: formatting shown, scripts not."""

from __future__ import annotations

import re

from tests.web.helpers import WebClient, csrf_from
from tests.web.test_rich_text import TAG
from tests.web.test_student_pages import _start, _teacher_quiz

UNSAFE_IN_PAGE = re.compile(r"^<\s*/?\s*(script|iframe)|\son\w+\s*=|javascript:", re.I)
XSS = '<script>alert("p")</script><img src=x onerror="alert(1)">'
QUIZ = {
    "title": "Formats",
    "settings": {"show_correct_answers": "after_submit"},
    "questions": [
        {
            "type": "single_choice",
            "text_format": "html",
            "prompt": f"<p>Which planet is <b>red</b>?</p>{XSS}<ul><li>hint</li></ul>",
            "options": [
                {"text": "<i>Mars</i><script>alert(2)</script>", "correct": True},
                {"text": '<a href="javascript:alert(3)">Venus</a>', "correct": False},
            ],
            "feedback": "It is <b>rust</b>.<iframe src=https://evil.example></iframe>",
        },
        {
            "type": "short_answer",
            "text_format": "markdown",
            "prompt": "Who is in **Grant's tomb**? [x](javascript:alert(4)) <script>x</script>",
            "answers": [{"text": "no one"}],
        },
        {
            "type": "true_false",
            "text_format": "plain",
            "prompt": "Is <b>this</b> bold?\nSecond line",
            "answer": False,
        },
    ],
}


def _unsafe(page: str) -> str | None:
    """The first script, frame, event handler or script URL in a tag of the page's main
    (the page's own forms and inputs are fine)."""
    main = page[page.index("<main") : page.index("</main>")]
    for tag in TAG.findall(main):
        if UNSAFE_IN_PAGE.search(tag):
            return tag
    return None


async def test_take_and_result_pages_render_formats_safely(web: WebClient) -> None:
    quiz = await _teacher_quiz(web, QUIZ)
    await web.sign_up()
    attempt_id, take = await _start(web, quiz["id"])
    assert _unsafe(take) is None
    # html: formatting kept, after the legend (it holds a list); options inline.
    assert "Which planet is <b>red</b>?" in take and "<li>hint</li>" in take
    assert re.search(r'<fieldset aria-describedby="qt-[0-9a-f]+">', take)
    assert "<i>Mars</i>" in take
    assert '<a rel="noopener noreferrer nofollow">Venus</a>' in take
    # markdown: rendered; the javascript link stays text without a link.
    assert "<strong>Grant's tomb</strong>" in take
    # plain: shown as typed, line break kept.
    assert "Is &lt;b&gt;this&lt;/b&gt; bold?<br>" in take

    r = await web.http.post(f"/attempts/{attempt_id}/submit", data={"csrf_token": csrf_from(take)})
    assert r.status_code == 303
    result = await web.http.get(f"/attempts/{attempt_id}/result")
    assert result.status_code == 200
    assert _unsafe(result.text) is None
    assert "Which planet is <b>red</b>?" in result.text
    assert "It is <b>rust</b>." in result.text  # the feedback in the question's format
    assert "Is &lt;b&gt;this&lt;/b&gt; bold?<br>" in result.text
