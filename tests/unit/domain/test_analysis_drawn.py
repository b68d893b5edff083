"""Item analysis of questions drawn at random: each over the attempts that saw it."""

from __future__ import annotations

from quizplatform.domain.analysis import AttemptItems, QuestionInfo, analyse

QUESTIONS = [
    QuestionInfo("fixed", 1.0),
    QuestionInfo("d1", 1.0, option_ids=("a", "b"), drawn=True),
    QuestionInfo("d2", 1.0, drawn=True),
    QuestionInfo("d3", 1.0, drawn=True),
]
ATTEMPTS = [
    AttemptItems({"fixed": 1, "d1": 1}, {"d1": ["a"]}, seen={"d1"}),
    AttemptItems({"fixed": 0, "d1": 0}, {"d1": ["b"]}, seen={"d1"}),
    AttemptItems({"fixed": 1, "d2": 1}, seen={"d2"}),
    # an answer to a question the attempt did not draw is ignored
    AttemptItems({"fixed": 1, "d2": 0, "d3": 1}, {"d1": ["a"]}, seen={"d2"}),
]


def test_a_drawn_question_counts_only_the_attempts_that_saw_it() -> None:
    result = analyse(QUESTIONS, ATTEMPTS)
    by_id = {q.question_id: q for q in result.questions}
    assert by_id["fixed"].attempts == 4 and by_id["fixed"].mean_score == 0.75
    assert by_id["d1"].attempts == 2 and by_id["d1"].mean_score == 0.5
    assert by_id["d2"].attempts == 2 and by_id["d2"].mean_score == 0.5
    assert by_id["d3"].attempts == 0 and by_id["d3"].mean_score is None
    assert by_id["d3"].facility is None
    # options: only the two attempts that drew d1 count
    assert [(o.id, o.chosen) for o in by_id["d1"].options] == [("a", 1), ("b", 1)]
    # each attempt's percent over its own questions (2 points each): 100, 0, 100, 50
    assert result.mean_percent == 62.5


def test_without_drawn_questions_nothing_changes() -> None:
    fixed = [QuestionInfo("q1", 1.0), QuestionInfo("q2", 2.0)]
    attempts = [AttemptItems({"q1": 1, "q2": 2}), AttemptItems({"q1": 0})]
    result = analyse(fixed, attempts)
    assert result.mean_percent == 50.0
    assert [q.attempts for q in result.questions] == [2, 2]
    assert [q.mean_score for q in result.questions] == [0.5, 1.0]
