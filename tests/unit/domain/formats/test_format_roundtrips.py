"""Property tests: writing a random quiz then reading it back gives an equal quiz."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quizplatform.domain.formats import (
    read_aiken,
    read_gift,
    read_json,
    read_quiz,
    write_aiken,
    write_gift,
    write_json,
    write_quiz,
)
from quizplatform.domain.questions import (
    MISSING_WORD_BLANK,
    TEXT_FORMATS,
    Choice,
    Item,
    NumericAnswer,
    Pair,
    Question,
    QuestionType,
    QuizContent,
    QuizSettings,
    ShowCorrectAnswers,
    TextAnswer,
    validate_question,
)

QT = QuestionType
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --------------------------------------------------------------------------- texts

# Characters with a meaning in GIFT (or near it), plus unicode and white space.
SPECIAL = [*"~=#{}:\\%[]->_/$ \tTFé漢😀\u2028\x0b", "\n"]
TRICKY = [
    "[html]x", "[markdown]", "%50%x", "%-5%", "%x", "%", "//x", "::x", "$CATEGORY: x",
    MISSING_WORD_BLANK, "T", "TRUE", "false", "a -> b", "->", "####", "##", "\\n", "x\\",
    "{", "}", "{T}", "=%100%", "~", "[tag:x]", "A. x", "ANSWER: A", "1..5", "3:2",
    "*", "a*b", "\\*", "= -> x", "~#", "[id:x]", "$course$/",
]  # fmt: skip
_chars = st.one_of(
    st.sampled_from(SPECIAL),
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\r"),
)
_raw = st.text(alphabet=_chars, min_size=1, max_size=12)


def _stripped(s: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return s.map(str.strip).filter(bool)


TEXT = _stripped(
    st.one_of(
        _raw,
        st.sampled_from(TRICKY),
        st.builds(lambda a, b: a + b, st.sampled_from(TRICKY), _raw),
        st.builds(lambda a, b: a + b, _raw, st.sampled_from(TRICKY)),
    )
)
OPTIONAL = st.none() | TEXT
WEIGHTS = st.sampled_from([0.0, 0.0, 25.0, 50.0, -50.0, -100.0, 12.5, 33.333333333333336, 1e-05])


@st.composite
def prompts(draw: st.DrawFn) -> str:
    """Prompts, some with the missing-word blank at the start, middle or end."""
    kind = draw(st.sampled_from(["plain", "start", "middle", "end", "twice"]))
    a, b = draw(TEXT), draw(TEXT)
    return {
        "plain": a,
        "start": f"{MISSING_WORD_BLANK} {a}",
        "middle": f"{a} {MISSING_WORD_BLANK} {b}",
        "end": f"{a} {MISSING_WORD_BLANK}",
        "twice": f"{a} {MISSING_WORD_BLANK}{b}{MISSING_WORD_BLANK}",
    }[kind]


# --------------------------------------------------------------------------- GIFT

GIFT_TAG = _stripped(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
        min_size=1,
        max_size=8,
    )
    | st.sampled_from(["a]b", "[tag:x", "x\\]", "\\"])
).filter(lambda t: not t.endswith("\\"))


CATEGORIES = [None, "unit/1", "a: {b}", "Geography/Rivers", "top", "top/x", "$course$/y", "a\\b"]
# Short answers: plain texts and wildcards ('*' any characters, '\\*' a star).
SHORT_ANSWER_TEXT = TEXT | st.sampled_from(["*", "a*", "*b*", "\\*", "x\\*y", "**"])


@st.composite
def pairs(draw: st.DrawFn) -> list[Pair]:
    """Matching pairs: at least two real ones, and maybe distractors (an empty left)."""
    left = TEXT.filter(lambda s: "->" not in s)
    real = draw(st.lists(st.builds(Pair, left, TEXT), min_size=2, max_size=4))
    extra = draw(st.lists(st.builds(Pair, st.just(""), TEXT), max_size=2))
    return draw(st.permutations([*real, *extra]))


@st.composite
def numeric_ranges(draw: st.DrawFn) -> NumericAnswer:
    """An answer as GIFT's ``{#min..max}`` reads it (the middle +- half the width)."""
    low, high = sorted(
        draw(st.lists(st.decimals(-(10**6), 10**6, places=3), min_size=2, max_size=2))
    )
    middle = (low + high) / 2
    weight = draw(st.sampled_from([100.0, 50.0, 0.0]))
    return NumericAnswer(float(middle), float(high - middle), weight, draw(OPTIONAL))


@st.composite
def gift_questions(draw: st.DrawFn) -> Question:
    qtype = draw(st.sampled_from([t for t in QT if t is not QT.ORDERING]))
    q = Question(
        qtype,
        draw(prompts()),
        title=draw(OPTIONAL),
        feedback=draw(OPTIONAL),
        tags=draw(st.lists(GIFT_TAG, max_size=3)),
        category=draw(st.sampled_from(CATEGORIES) | OPTIONAL),
        text_format=draw(st.sampled_from(TEXT_FORMATS)),
    )
    if qtype is QT.SINGLE_CHOICE:
        n = draw(st.integers(2, 5))
        correct = draw(st.integers(0, n - 1))
        q.options = [
            Choice(draw(TEXT), 100.0 if i == correct else draw(WEIGHTS), draw(OPTIONAL))
            for i in range(n)
        ]
    elif qtype is QT.MULTIPLE_CHOICE:
        k = draw(st.integers(1, 3))
        others = draw(st.lists(st.sampled_from([0.0, -50.0, -100.0, -33.5]), max_size=3))
        ws = draw(st.permutations([100.0 / k] * k + others))
        if len(ws) < 2:
            ws = [*ws, 0.0]
        q.options = [Choice(draw(TEXT), w, draw(OPTIONAL)) for w in ws]
    elif qtype is QT.TRUE_FALSE:
        q.answer = draw(st.booleans())
        q.wrong_feedback = draw(OPTIONAL)
        q.right_feedback = draw(OPTIONAL)
    elif qtype is QT.SHORT_ANSWER:
        first = TextAnswer(draw(SHORT_ANSWER_TEXT), 100.0, draw(OPTIONAL))
        more = draw(
            st.lists(
                st.builds(
                    TextAnswer,
                    SHORT_ANSWER_TEXT,
                    st.sampled_from([100.0, 75.0, 50.0, 0.0, -25.0, 33.3]),
                    OPTIONAL,
                ),
                max_size=3,
            )
        )
        q.text_answers = draw(st.permutations([first, *more]))
        q.other_feedback = draw(OPTIONAL)
        last = q.text_answers[-1]
        if last.text == "*" and last.weight == 0 and last.feedback and not q.other_feedback:
            # The canonical form of Moodle's "any other answer" (GIFT writes both alike).
            q.other_feedback = q.text_answers.pop().feedback
    elif qtype is QT.NUMERIC:
        number = st.floats(allow_nan=False, allow_infinity=False)
        tolerance = st.floats(min_value=0.0, allow_nan=False, allow_infinity=False)
        q.numeric_answers = draw(
            st.lists(
                st.builds(
                    NumericAnswer,
                    number,
                    tolerance,
                    st.sampled_from([100.0, 50.0, 0.0, -10.0, 12.5]),
                    OPTIONAL,
                ),
                min_size=1,
                max_size=3,
            )
        )
        q.numeric_answers += draw(st.lists(numeric_ranges(), max_size=2))
        q.other_feedback = draw(OPTIONAL)
    elif qtype is QT.MATCHING:
        q.pairs = draw(pairs())
    elif qtype is QT.DESCRIPTION:
        q.points = 0.0
        q.feedback = None
        q.prompt = draw(st.just("") | prompts())
    assert validate_question(q) == [], (q, validate_question(q))
    return q


@PROPERTY
@given(st.lists(gift_questions(), min_size=1, max_size=4), st.text(max_size=10))
def test_gift_roundtrip(questions: list[Question], title: str) -> None:
    quiz = QuizContent(title=title, questions=questions)
    text = write_gift(quiz)
    back = read_gift(text)
    assert back.without_ids() == replace(quiz, title="Imported quiz").without_ids(), text
    assert write_gift(replace(back, title=title)) == text  # GIFT -> GIFT gives the same text


@PROPERTY
@given(st.decimals(-(10**6), 10**6, places=3), st.decimals(0, 10**6, places=3))
def test_gift_numeric_range_is_read_as_its_middle_and_half_width(
    low: Decimal, width: Decimal
) -> None:
    high = low + width
    (q,) = read_gift(f"Q {{#{low}..{high}}}").questions
    middle = (low + high) / 2
    assert q.numeric_answers == [NumericAnswer(float(middle), float(high - middle))]


def test_gift_roundtrip_known_tricky_case() -> None:
    q = Question(
        QT.SINGLE_CHOICE,
        f"[html]::x {MISSING_WORD_BLANK}",
        title="a::b",
        text_format="markdown",
        options=[Choice("%50%x", 100.0), Choice("%x", -50.0, "#"), Choice("->", 0.0, "[plain]")],
    )
    quiz = QuizContent(title="Imported quiz", questions=[q])
    assert read_gift(write_gift(quiz)) == quiz


# --------------------------------------------------------------------------- Aiken

_aiken_line = _stripped(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
        min_size=1,
        max_size=15,
    )
    | st.sampled_from(["A.", "B) x", "ANSWER: A", "a. lower", "AB. x", "What?", "1) one"])
)
_AIKEN_SYNTAX = re.compile(r"[A-Z][.)](\s.*)?|(?i:answer:.*)", re.DOTALL)
AIKEN_PROMPT_LINE = _aiken_line.filter(lambda s: not _AIKEN_SYNTAX.fullmatch(s))


@st.composite
def aiken_questions(draw: st.DrawFn) -> Question:
    lines = draw(st.lists(AIKEN_PROMPT_LINE, min_size=1, max_size=3))
    texts = draw(st.lists(_aiken_line, min_size=2, max_size=8))
    correct = draw(st.integers(0, len(texts) - 1))
    return Question(
        QT.SINGLE_CHOICE,
        "\n".join(lines),
        options=[Choice(t, 100.0 if i == correct else 0.0) for i, t in enumerate(texts)],
    )


@PROPERTY
@given(st.lists(aiken_questions(), max_size=4))
def test_aiken_roundtrip(questions: list[Question]) -> None:
    quiz = QuizContent(title="Imported quiz", questions=questions)
    text = write_aiken(quiz)
    assert read_aiken(text).without_ids() == quiz.without_ids(), text
    assert read_quiz("aiken", write_quiz("aiken", quiz)).quiz == quiz


# --------------------------------------------------------------------------- JSON

ANY_TEXT = st.text(max_size=10)
REAL_TEXT = st.text(min_size=1, max_size=10).filter(lambda s: bool(s.strip()))
ANY_OPTIONAL = st.none() | ANY_TEXT
IDS = st.none() | st.uuids().map(str)
TIMEZONES = st.sampled_from(
    [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
)
DATETIMES = st.none() | st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(9000, 1, 1), timezones=TIMEZONES
)


@st.composite
def json_questions(draw: st.DrawFn) -> Question:
    qtype = draw(st.sampled_from(list(QT)))
    q = draw(gift_questions()) if qtype is not QT.ORDERING else None
    if q is None:
        q = Question(QT.ORDERING, draw(REAL_TEXT))
        q.items = draw(st.lists(st.builds(Item, REAL_TEXT, IDS), min_size=2, max_size=5))
    # Everything GIFT cannot carry, JSON must.
    q.id = draw(IDS)
    q.points = draw(st.floats(min_value=0, max_value=1e9, allow_nan=False))
    q.title = draw(ANY_OPTIONAL)
    q.tags = draw(st.lists(ANY_TEXT, max_size=3))
    q.category = draw(ANY_OPTIONAL)
    q.case_sensitive = draw(st.booleans())
    for o in q.options:
        o.id = draw(IDS)
        o.feedback = draw(ANY_OPTIONAL)
    for p in q.pairs:
        p.id = draw(IDS)
        p.right_id = draw(IDS)
    if q.type is QT.TRUE_FALSE:
        q.wrong_feedback = draw(ANY_OPTIONAL)
    if q.type is not QT.TRUE_FALSE and draw(st.booleans()):  # a field of another type
        q.answer = draw(st.none() | st.booleans())
    assert validate_question(q) == [], q
    return q


@st.composite
def json_quizzes(draw: st.DrawFn) -> QuizContent:
    return QuizContent(
        title=draw(ANY_TEXT),
        description=draw(ANY_TEXT),
        questions=draw(st.lists(json_questions(), max_size=4)),
        tags=draw(st.lists(ANY_TEXT, max_size=3)),
        settings=QuizSettings(
            time_limit_seconds=draw(st.none() | st.integers(0, 10**6)),
            max_attempts=draw(st.none() | st.integers(1, 100)),
            shuffle_questions=draw(st.booleans()),
            shuffle_options=draw(st.booleans()),
            opens_at=draw(DATETIMES),
            closes_at=draw(DATETIMES),
            show_correct_answers=draw(st.sampled_from(list(ShowCorrectAnswers))),
        ),
    )


@PROPERTY
@given(json_quizzes())
def test_json_roundtrip(quiz: QuizContent) -> None:
    text = write_json(quiz)
    back = read_json(text)
    assert back == quiz, text
    for dt in (back.settings.opens_at, back.settings.closes_at):
        assert dt is None or dt.tzinfo is UTC
    assert write_json(back) == text
