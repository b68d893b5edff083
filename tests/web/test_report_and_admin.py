"""The teacher's report (its SVG charts and tables carry the right numbers), the teacher
dashboard, and the admin's user list, on SQLite and PostgreSQL + Redis."""

from __future__ import annotations

import re
import statistics
from typing import Any

from quizplatform.services.accounts import Role
from quizplatform.web import charts
from tests.api.helpers import Api, User
from tests.web.helpers import PASSWORD, WebClient
from tests.web.teacher_helpers import Teacher, sign_up_teacher

QUIZ = {
    "title": "Report me",
    "questions": [
        {
            "type": "single_choice",
            "prompt": "2 + 2?",
            "options": [{"text": "4", "correct": True}, {"text": "5"}, {"text": "3"}],
        },
        {"type": "description", "prompt": "Now something else."},
        {"type": "true_false", "prompt": "The sky is blue.", "answer": True},
    ],
}
# Each student's answers: (option text for Q1 or None, true/false for Q2 or None).
ANSWERS = [("4", True), ("4", False), ("5", True), ("3", False), ("4", True), ("4", True)]


async def _quiz_with_attempts(web: WebClient) -> tuple[Api, User, dict[str, Any]]:
    """A published quiz of a new teacher (signed in on ``web``) with one submitted
    attempt per entry of ANSWERS."""
    await web.sign_up("teacher")
    owner = User("", "", web.bearer())
    api = Api(web.http, web.services)
    quiz = await api.quiz(owner, QUIZ)
    single, _, true_false = quiz["questions"]
    option_ids = {o["text"]: o["id"] for o in single["options"]}
    for choice, value in ANSWERS:
        student = await api.user("student")
        answers = {
            single["id"]: {"option_id": option_ids[choice]},
            true_false["id"]: {"value": value},
        }
        await api.submitted_attempt(student, quiz["id"], answers)
    return api, owner, quiz


def _table(page: str, table_id: str) -> list[list[str]]:
    """The body rows of the table ``table_id``: each cell's text."""
    table = re.search(rf'<table[^>]*id="{table_id}".*?</table>', page, re.S)
    assert table, table_id
    body = table.group(0).split("<tbody>")[1]
    return [
        [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        ]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]


def _bars(page: str, chart_id: str) -> dict[str, str]:
    """The bars drawn in the SVG chart ``chart_id``: label -> value text."""
    svg = re.search(rf'<svg[^>]*id="{chart_id}".*?</svg>', page, re.S)
    assert svg, chart_id
    return dict(
        re.findall(
            r'<rect class="bar[^"]*"[^>]*data-label="([^"]*)" data-value="([^"]*)"', svg.group(0)
        )
    )


async def test_the_report_charts_and_tables_show_the_attempts(web: WebClient) -> None:
    _, _, quiz = await _quiz_with_attempts(web)
    page = await web.http.get(f"/quizzes/{quiz['id']}/report")
    assert page.status_code == 200, page.text
    text = page.text

    percents = [50.0 * ((c == "4") + (v is True)) for c, v in ANSWERS]  # 1 point each
    expected_bins = charts.histogram_counts(percents)
    assert expected_bins[0] == 1 and expected_bins[5] == 2 and expected_bins[9] == 3
    histogram = _bars(text, "chart-scores")
    assert sum(int(v) for v in histogram.values()) == len(ANSWERS)
    assert histogram == {charts.bin_label(i): str(n) for i, n in enumerate(expected_bins) if n}
    assert [int(row[1]) for row in _table(text, "table-scores")] == expected_bins
    assert "<dd>6</dd>" in text and f"<dd>{statistics.mean(percents):.1f} %</dd>" in text

    # Facility: the share of right answers. Discrimination: correlation with the rest.
    q1 = [1.0 if c == "4" else 0.0 for c, _ in ANSWERS]
    q2 = [1.0 if v else 0.0 for _, v in ANSWERS]
    expected = {
        "Q1": (statistics.mean(q1), statistics.correlation(q1, q2)),
        "Q2": (statistics.mean(q2), statistics.correlation(q2, q1)),
    }
    rows = {row[0].split()[0]: row for row in _table(text, "table-questions")}
    assert set(rows) == {"Q1", "Q2"}, "the description is not a question of the report"
    for name, (facility, discrimination) in expected.items():
        assert rows[name][3] == f"{facility:.2f}" and rows[name][4] == f"{discrimination:.2f}"
    assert _bars(text, "chart-facility") == {n: f"{f:.2f}" for n, (f, _) in expected.items()}
    assert _bars(text, "chart-discrimination") == {n: f"{d:.2f}" for n, (_, d) in expected.items()}

    # Option distribution of the choice question (Q1)
    options = _table(text, "table-options-1")
    assert [(r[0].split(".")[0], r[2]) for r in options] == [
        ("A", "4 (67 %)"),
        ("B", "1 (17 %)"),
        ("C", "1 (17 %)"),
    ]
    assert _bars(text, "chart-options-1") == {"A ✓": "4 (67 %)", "B": "1 (17 %)", "C": "1 (17 %)"}
    assert 'role="img"' in text and '<title id="chart-scores-title">Score histogram' in text


async def test_a_report_without_attempts_says_so(web: WebClient) -> None:
    teacher = await sign_up_teacher(web)
    quiz_id = await teacher.new_quiz("Empty")
    page = await web.http.get(f"/quizzes/{quiz_id}/report")
    assert page.status_code == 200 and "No submitted attempts yet" in page.text
    assert "<svg" not in page.text


async def test_only_the_owner_sees_the_report(web: WebClient) -> None:
    _, _, quiz = await _quiz_with_attempts(web)
    web.http.cookies.clear()
    await web.sign_up("teacher")
    r = await web.http.get(f"/quizzes/{quiz['id']}/report")
    assert r.status_code == 403 and "Reference:" in r.text


async def test_the_teacher_dashboard_lists_drafts_published_and_attempts(web: WebClient) -> None:
    _, _, others = await _quiz_with_attempts(web)
    web.http.cookies.clear()
    _, _, published = await _quiz_with_attempts(web)  # signs in a new teacher
    teacher = Teacher(web)
    draft_id = await teacher.new_quiz("Work in progress")
    r = await web.http.get("/dashboard")
    assert r.status_code == 200

    def section(title_id: str) -> str:
        return r.text.split(f'id="{title_id}"')[1].split("</section>")[0]

    assert f'href="/teach/quizzes/{draft_id}"' in section("drafts-title")
    assert published["id"] not in section("drafts-title")
    listed = section("published-title")
    assert f'href="/teach/quizzes/{published["id"]}"' in listed
    assert f'href="/quizzes/{published["id"]}/report"' in listed
    assert others["id"] not in r.text, "another teacher's quiz is not listed"
    latest = section("recent-title")
    assert latest.count("<tr>") == len(ANSWERS) + 1  # the header and one per attempt
    assert "Report me" in latest and "/result" in latest


async def test_a_students_dashboard_has_no_teacher_sections(web: WebClient) -> None:
    await web.sign_up("student")
    r = await web.http.get("/dashboard")
    assert r.status_code == 200 and "drafts-title" not in r.text and "/teach/new" not in r.text


async def test_admins_page_through_the_users(web: WebClient) -> None:
    accounts = web.services.accounts
    await accounts.register("admin@example.org", PASSWORD, "The Admin", Role.ADMIN, by_admin=True)
    for n in range(29):
        await accounts.register(f"user{n:02}@example.org", PASSWORD, f"User {n:02}", Role.STUDENT)
    r = await web.sign_in("admin@example.org")
    assert r.status_code == 303
    first = await web.http.get("/admin/users")
    assert first.status_code == 200
    assert "30 accounts · page 1 of 2" in first.text
    assert len(_table(first.text, "users")) == 25
    assert 'href="/admin/users?page=2"' in first.text and "?page=0" not in first.text
    second = await web.http.get("/admin/users?page=2")
    rows = _table(second.text, "users")
    assert [r[0] for r in rows] == ["26", "27", "28", "29", "30"]
    assert rows[-1][1] == "User 28" and rows[-1][3] == "Student"
    assert 'href="/admin/users?page=1"' in second.text
    dashboard = await web.http.get("/dashboard")
    assert 'href="/admin/users"' in dashboard.text
    assert (await web.http.get("/admin/users?page=0")).status_code == 400


async def test_the_user_list_is_forbidden_to_everyone_else(web: WebClient) -> None:
    for role in ("teacher", "student"):
        web.http.cookies.clear()
        await web.sign_up(role)
        r = await web.http.get("/admin/users")
        assert r.status_code == 403, role
        assert "Only admins can see the list of users." in r.text and "Reference:" in r.text
        assert "@example.org</td>" not in r.text
    web.http.cookies.clear()
    r = await web.http.get("/admin/users")
    assert r.status_code == 303 and r.headers["location"] == "/signin?next=/admin/users"
