"""Live games' pure rules (domain/live.py): speed scoring, the streak bonus, nickname
moderation against hostile input, PINs and what a player may see of a question."""

from __future__ import annotations

import json
import random
import re
import secrets

import pytest

from quizplatform.data import load_nickname_blocklist
from quizplatform.domain.live import (
    LIVE_TYPES,
    NicknameRejected,
    answer_fraction,
    grade_answer,
    live_points,
    new_pin,
    nickname_key,
    normalize_nickname,
    public_correct,
    public_question,
    streak_bonus,
)
from quizplatform.domain.questions import (
    Choice,
    Item,
    NumericAnswer,
    Pair,
    Question,
    QuestionType,
    TextAnswer,
)
from quizplatform.domain.scoring import InvalidResponse

BLOCKED = load_nickname_blocklist()


# --------------------------------------------------------------------------- scoring


@pytest.mark.parametrize(
    ("fraction", "elapsed", "limit", "points"),
    [
        (1.0, 0, 20_000, 1000),  # instant and right
        (1.0, 20_000, 20_000, 500),  # right at the deadline
        (1.0, 10_000, 20_000, 750),
        (1.0, 30_000, 20_000, 500),  # past the deadline (grace): clamped
        (1.0, -500, 20_000, 1000),  # clock skew: clamped
        (0.5, 0, 20_000, 500),  # partial credit scales it
        (0.5, 20_000, 20_000, 250),
        (1 / 3, 5_000, 20_000, 292),  # round(1000/3 * 0.875) = round(291.67)
        (0.0, 0, 20_000, 0),
        (-0.5, 0, 20_000, 0),
        (1.0, 1, 0, 500),  # no limit: as if at the deadline
    ],
)
def test_live_points(fraction: float, elapsed: int, limit: int, points: int) -> None:
    assert live_points(fraction, elapsed, limit) == points


@pytest.mark.parametrize(
    ("streak", "bonus"), [(0, 0), (1, 0), (2, 100), (3, 200), (6, 500), (7, 500), (50, 500)]
)
def test_streak_bonus(streak: int, bonus: int) -> None:
    assert streak_bonus(streak) == bonus


def _choice(kind: QuestionType, weights: list[float]) -> Question:
    options = [
        Choice(f"option {i}", w, feedback=f"secret feedback {i}", id=f"o{i}")
        for i, w in enumerate(weights)
    ]
    return Question(kind, "Pick", options=options, id="q-choice", feedback="general secret")


QUESTIONS = {
    QuestionType.SINGLE_CHOICE: _choice(QuestionType.SINGLE_CHOICE, [100, 0, 50]),
    QuestionType.MULTIPLE_CHOICE: _choice(QuestionType.MULTIPLE_CHOICE, [50, 50, -50, 0]),
    QuestionType.TRUE_FALSE: Question(
        QuestionType.TRUE_FALSE,
        "Sky is blue?",
        answer=True,
        right_feedback="secret right",
        wrong_feedback="secret wrong",
        id="q-tf",
    ),
    QuestionType.NUMERIC: Question(
        QuestionType.NUMERIC,
        "Pi?",
        numeric_answers=[NumericAnswer(3.14, 0.01, 100, "secret n"), NumericAnswer(3, 0.5, 50)],
        id="q-num",
    ),
    QuestionType.SHORT_ANSWER: Question(
        QuestionType.SHORT_ANSWER,
        "Capital of France?",
        text_answers=[TextAnswer("Paris", 100, "secret s"), TextAnswer("Pari*", 50)],
        id="q-short",
    ),
    QuestionType.ORDERING: Question(
        QuestionType.ORDERING,
        "Order",
        items=[Item("Zulu first", "i1"), Item("alpha second", "i2"), Item("Mike third", "i3")],
        id="q-order",
    ),
}


@pytest.mark.parametrize(
    ("kind", "payload", "fraction", "keys"),
    [
        (QuestionType.SINGLE_CHOICE, {"option_id": "o0"}, 1.0, ("o0",)),
        (QuestionType.SINGLE_CHOICE, {"option_id": "o2"}, 0.5, ("o2",)),
        (QuestionType.SINGLE_CHOICE, {"option_id": "o1"}, 0.0, ("o1",)),
        (QuestionType.MULTIPLE_CHOICE, {"option_ids": ["o0", "o1"]}, 1.0, ("o0", "o1")),
        (QuestionType.MULTIPLE_CHOICE, {"option_ids": ["o1"]}, 0.5, ("o1",)),
        (QuestionType.MULTIPLE_CHOICE, {"option_ids": ["o1", "o2"]}, 0.0, ("o1", "o2")),
        (QuestionType.MULTIPLE_CHOICE, {"option_ids": []}, 0.0, ()),
        (QuestionType.TRUE_FALSE, {"value": True}, 1.0, ("true",)),
        (QuestionType.TRUE_FALSE, {"value": False}, 0.0, ("false",)),
        (QuestionType.NUMERIC, {"value": 3.145}, 1.0, ("right",)),
        (QuestionType.NUMERIC, {"value": 2.6}, 0.5, ("partial",)),
        (QuestionType.NUMERIC, {"value": 9}, 0.0, ("wrong",)),
        (QuestionType.SHORT_ANSWER, {"text": "  paris "}, 1.0, ("right",)),
        (QuestionType.SHORT_ANSWER, {"text": "Parigi"}, 0.5, ("partial",)),
        (QuestionType.ORDERING, {"item_ids": ["i1", "i2", "i3"]}, 1.0, ("right",)),
        (QuestionType.ORDERING, {"item_ids": ["i2", "i1", "i3"]}, 0.0, ("wrong",)),
    ],
)
def test_answers_are_graded_with_partial_credit(
    kind: QuestionType, payload: object, fraction: float, keys: tuple[str, ...]
) -> None:
    graded = grade_answer(QUESTIONS[kind], payload)
    assert graded.fraction == pytest.approx(fraction)
    assert graded.dist_keys == keys
    assert answer_fraction(QUESTIONS[kind], payload) == graded.fraction
    json.dumps(graded.response)  # storable as is


@pytest.mark.parametrize(
    "payload", [None, {}, {"option_id": "nope"}, {"option_id": 1}, {"option_ids": ["o0"]}, "o0"]
)
def test_bad_payloads_are_invalid(payload: object) -> None:
    with pytest.raises(InvalidResponse):
        grade_answer(QUESTIONS[QuestionType.SINGLE_CHOICE], payload)


def test_essays_matching_and_descriptions_are_not_live() -> None:
    assert QuestionType.ESSAY not in LIVE_TYPES and QuestionType.MATCHING not in LIVE_TYPES
    essay = Question(QuestionType.ESSAY, "Discuss", id="e")
    with pytest.raises(InvalidResponse):
        grade_answer(essay, {"text": "hello"})
    matching = Question(QuestionType.MATCHING, "Match", pairs=[Pair("a", "b", "p", "r")])
    with pytest.raises(InvalidResponse):
        grade_answer(matching, {"matches": {"p": "r"}})


def test_the_question_points_do_not_change_the_fraction() -> None:
    q = _choice(QuestionType.SINGLE_CHOICE, [100, 50])
    q.points = 7.0
    assert answer_fraction(q, {"option_id": "o1"}) == 0.5


# --------------------------------------------------------------------------- views

SECRETS = re.compile(r'secret|weight|correct|"answers?":|tolerance|feedback|3\.14|Paris', re.I)


@pytest.mark.parametrize("kind", sorted(LIVE_TYPES))
@pytest.mark.parametrize("seed", [None, "game-seed"])
def test_the_public_question_never_leaks_the_key(kind: QuestionType, seed: str | None) -> None:
    q = QUESTIONS[kind]
    view = public_question(q, shuffle_seed=seed)
    text = json.dumps(view)
    assert not SECRETS.search(text), text
    assert set(view) <= {"id", "type", "prompt", "text_format", "options", "items"}
    assert view["type"] == kind.value and view["prompt"] == q.prompt
    for part in [*view.get("options", []), *view.get("items", [])]:  # type: ignore[misc]
        assert set(part) == {"id", "text"}


def test_ordering_items_are_not_shown_in_the_answer_order() -> None:
    q = QUESTIONS[QuestionType.ORDERING]
    unseeded = public_question(q, shuffle_seed=None)["items"]
    assert [i["id"] for i in unseeded] == ["i2", "i3", "i1"]  # type: ignore[attr-defined,index]
    # A seed shuffles, the same way for every player of the game.
    assert public_question(q, shuffle_seed="s1") == public_question(q, shuffle_seed="s1")
    orders = {
        tuple(i["id"] for i in public_question(q, shuffle_seed=f"s{n}")["items"])  # type: ignore[attr-defined,index]
        for n in range(30)
    }
    assert len(orders) > 1


def test_the_correct_answer_is_shown_after_the_question() -> None:
    assert public_correct(QUESTIONS[QuestionType.SINGLE_CHOICE]) == {"option_ids": ["o0", "o2"]}
    assert public_correct(QUESTIONS[QuestionType.MULTIPLE_CHOICE]) == {"option_ids": ["o0", "o1"]}
    assert public_correct(QUESTIONS[QuestionType.TRUE_FALSE]) == {"value": True}
    assert public_correct(QUESTIONS[QuestionType.NUMERIC]) == {"value": 3.14, "tolerance": 0.01}
    assert public_correct(QUESTIONS[QuestionType.SHORT_ANSWER]) == {"text": "Paris"}
    assert public_correct(QUESTIONS[QuestionType.ORDERING]) == {"item_ids": ["i1", "i2", "i3"]}


# --------------------------------------------------------------------------- pins


def test_pins_have_six_digits_and_no_leading_zero() -> None:
    rng = random.Random(7)
    pins = [new_pin(rng) for _ in range(5000)] + [new_pin(secrets.SystemRandom())]
    assert all(re.fullmatch(r"[1-9][0-9]{5}", p) for p in pins)
    assert len(set(pins)) > 4800


# --------------------------------------------------------------------------- nicknames


@pytest.mark.parametrize(
    ("raw", "nick"),
    [
        ("  Ada   Lovelace ", "Ada Lovelace"),
        ("\uff26\uff55\uff4c\uff4c \uff37\uff49\uff44\uff54\uff48", "Full Width"),  # NFKC
        ("Zoë", "Zoë"),
        ("Zoe\u0308", "Zoë"),  # combining diaeresis composed by NFKC
        ("李小龍", "李小龍"),
        ("😀 Smiley", "😀 Smiley"),  # emoji are fine
        ("Class", "Class"),  # "=ass" is a whole-word entry: no Scunthorpe problem
        ("Dickens", "Dickens"),
        ("Titania", "Titania"),
        ("ab", "ab"),
        ("x" * 20, "x" * 20),
    ],
)
def test_acceptable_nicknames(raw: str, nick: str) -> None:
    assert normalize_nickname(raw, BLOCKED) == nick


@pytest.mark.parametrize(
    "raw",
    [
        "evil\u202egnp.exe",  # right-to-left override
        "\u202dleft",  # left-to-right override
        "Ann\u200dA",  # zero-width joiner
        "Ann\u200bA",  # zero-width space
        "\ufeffBOM",  # zero-width no-break space
        "👨\u200d👩\u200d👧",  # a ZWJ emoji sequence: refused with the joiner
        "tab\there",
        "new\nline",
        "nul\x00",
        "line\u2028sep",
        "private\ue000",
        "Z\u0301\u0302\u0303\u0304\u0305\u0306algo",  # stacked combining marks
        "x",
        "   ",
        "",
        "x" * 21,
        "x" * 10_000,
        " ".join(["ab"] * 5000),
    ],
)
def test_hostile_nicknames_are_refused(raw: str) -> None:
    with pytest.raises(NicknameRejected):
        normalize_nickname(raw, BLOCKED)


@pytest.mark.parametrize(
    "raw",
    [
        "fuck",
        "FUCK",
        "Fück",  # accents undone
        "\uff46\uff55\uff43\uff4b",  # full-width
        "f u c k",
        "f.u.c.k",
        "sh1t",  # leetspeak
        "5h!7",
        "$h1t",
        "b1tch3s",
        "ass",  # a whole-word entry alone
        "big @$$",
        "Mr Fuckface",
        "N4Z1",
    ],
)
def test_blocked_words_are_refused_in_disguise(raw: str) -> None:
    with pytest.raises(NicknameRejected, match="another nickname"):
        normalize_nickname(raw, BLOCKED)


def test_the_block_list_is_passed_in() -> None:
    assert normalize_nickname("fuck", []) == "fuck"
    with pytest.raises(NicknameRejected):
        normalize_nickname("Grumpy", ["grump"])
    with pytest.raises(NicknameRejected):
        normalize_nickname("Grumpy", ["=grumpy"])
    assert normalize_nickname("Grumpy Cat", ["=grump"]) == "Grumpy Cat"


def test_non_text_is_refused() -> None:
    with pytest.raises(NicknameRejected):
        normalize_nickname(12345, BLOCKED)  # type: ignore[arg-type]


def test_nickname_keys_are_casefolded() -> None:
    assert nickname_key("STRASSE") == nickname_key("straße") == "strasse"
    full_width = normalize_nickname("\uff21\uff4c\uff45\uff58", BLOCKED)  # "Alex"
    assert nickname_key(full_width) == nickname_key("alex")
