"""Live games (pure: no I/O): speed scoring, the streak bonus, nickname moderation, PINs,
the phases of a game and what a player may see of a question.

Scoring (Kahoot's formula): a question answered with credit ``fraction`` (0..1, partial
credit as in the quiz scoring, e.g. multiple choice weights) after ``elapsed_ms`` of its
``limit_ms`` earns ``round(1000 x fraction x (1 - 0.5 x min(elapsed / limit, 1)))``: an
instant right answer 1000, a right answer at the deadline 500, a wrong one 0. With the
game's streak option, a fully right answer that extends a run of fully right answers to
``streak`` adds ``min(streak - 1, 5) x 100`` (the second in a row +100, ... capped at +500).
"""

from __future__ import annotations

import hashlib
import random
import secrets
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum

from quizplatform.domain.questions import Question, QuestionType
from quizplatform.domain.scoring import InvalidResponse, parse_response, score_question

LIVE_TYPES = frozenset(
    {
        QuestionType.SINGLE_CHOICE,
        QuestionType.MULTIPLE_CHOICE,
        QuestionType.TRUE_FALSE,
        QuestionType.NUMERIC,
        QuestionType.SHORT_ANSWER,
        QuestionType.ORDERING,
    }
)
BASE_POINTS = 1000
STREAK_STEP = 100
STREAK_MAX_STEPS = 5
NICK_MIN = 2
NICK_MAX = 20
# Longer input is refused before any normalisation (NFKC can expand a string 18-fold).
NICK_RAW_MAX = 100
# Stacked combining marks ("Zalgo" text) are refused beyond this many in a nickname.
NICK_MAX_MARKS = 4
# Bidi overrides and zero-width characters (Cf), controls (Cc), private use (Co),
# surrogates (Cs), line/paragraph separators (Zl, Zp) and unassigned code points (Cn).
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Zl", "Zp", "Cn"})
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a",
                       "$": "s", "!": "i"})  # fmt: skip


class Phase(StrEnum):
    """Where a live game is. lobby -> question -> closed -> question ... -> ended; a
    question may be paused and resumed; any phase may end."""

    LOBBY = "lobby"
    QUESTION = "question"
    CLOSED = "closed"
    PAUSED = "paused"
    ENDED = "ended"


# --------------------------------------------------------------------------- scoring


def live_points(fraction: float, elapsed_ms: int, limit_ms: int) -> int:
    """Speed points for an answer with credit ``fraction`` after ``elapsed_ms`` of a
    question lasting ``limit_ms`` (see the module docstring). A limit <= 0 counts as
    answered at the deadline."""
    if fraction <= 0:
        return 0
    share = min(max(elapsed_ms / limit_ms, 0.0), 1.0) if limit_ms > 0 else 1.0
    return round(BASE_POINTS * min(fraction, 1.0) * (1 - 0.5 * share))


def streak_bonus(streak: int) -> int:
    """The bonus for a run of ``streak`` fully right answers, this one included."""
    return min(max(streak - 1, 0), STREAK_MAX_STEPS) * STREAK_STEP


@dataclass(frozen=True)
class GradedAnswer:
    """A player's answer checked and scored: ``response`` is what to store,
    ``dist_keys`` the distribution buckets it counts in."""

    response: dict[str, object]
    fraction: float
    dist_keys: tuple[str, ...]


def grade_answer(q: Question, payload: object) -> GradedAnswer:
    """Check ``payload`` against ``q`` (the attempt API's response shapes) and score it.

    Distribution keys: the chosen option ids (single/multiple choice), "true"/"false",
    else "right", "partial" or "wrong".

    Raises:
        InvalidResponse: a bad payload, or a question type not played live.
    """
    if q.type not in LIVE_TYPES:
        raise InvalidResponse(f"{q.type.value} questions are not played in live games")
    response = parse_response(q, payload)
    # Scored as if worth 1 point: the score is then the fraction, partial credit included.
    fraction = score_question(replace(q, points=1.0), response).score
    keys: tuple[str, ...]
    if q.type is QuestionType.SINGLE_CHOICE:
        keys = (str(response["option_id"]),)
    elif q.type is QuestionType.MULTIPLE_CHOICE:
        chosen = response["option_ids"]
        keys = tuple(str(i) for i in chosen) if isinstance(chosen, list) else ()
    elif q.type is QuestionType.TRUE_FALSE:
        keys = ("true" if response["value"] else "false",)
    else:
        keys = ("right" if fraction >= 1 else "partial" if fraction > 0 else "wrong",)
    return GradedAnswer(response, fraction, keys)


def answer_fraction(q: Question, payload: object) -> float:
    """The credit (0..1) of ``payload`` as an answer to ``q``; ``InvalidResponse`` if bad."""
    return grade_answer(q, payload).fraction


# --------------------------------------------------------------------------- nicknames


class NicknameRejected(ValueError):
    """A nickname that may not be used; ``reason`` is fit to show the player."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def nickname_skeleton(text: str) -> str:
    """``text`` reduced for block-list comparison: casefolded, accents and leetspeak
    undone (0->o, 1->i, 3->e, 4->a, 5->s, 7->t, @->a, $->s, !->i), letters only."""
    folded = unicodedata.normalize("NFKD", text.casefold()).translate(_LEET)
    return "".join(c for c in folded if c.isalpha() and not unicodedata.combining(c))


def _blocked_by(nick: str, blocked: Iterable[str]) -> bool:
    """A plain entry blocks a nickname whose skeleton contains it; an entry written
    ``=word`` (a short word found inside innocent names) only one of whose words'
    skeletons, or whose whole skeleton, is exactly it."""
    whole = nickname_skeleton(nick)
    words = {nickname_skeleton(w) for w in nick.split()} | {whole}
    for entry in blocked:
        entry = entry.strip()
        if not entry or entry.startswith("#"):
            continue
        if entry.startswith("="):
            if nickname_skeleton(entry[1:]) in words:
                return True
        elif (skeleton := nickname_skeleton(entry)) and skeleton in whole:
            return True
    return False


def normalize_nickname(raw: str, blocked: Iterable[str]) -> str:
    """The nickname to show for ``raw``: NFKC, trimmed, inner whitespace collapsed.

    Raises:
        NicknameRejected: longer than ``NICK_RAW_MAX`` before or outside
            ``NICK_MIN..NICK_MAX`` characters after normalising; a control, format (bidi
            override, zero-width), private-use, surrogate, separator or unassigned
            character; more than ``NICK_MAX_MARKS`` combining marks; or on the block list.
    """
    if not isinstance(raw, str):
        raise NicknameRejected("the nickname must be text")
    if len(raw) > NICK_RAW_MAX:
        raise NicknameRejected(f"the nickname must be at most {NICK_MAX} characters")
    text = unicodedata.normalize("NFKC", raw)
    if any(unicodedata.category(c) in _REFUSED_CATEGORIES for c in text):
        raise NicknameRejected("the nickname contains characters that are not allowed")
    if sum(1 for c in text if unicodedata.combining(c)) > NICK_MAX_MARKS:
        raise NicknameRejected("the nickname has too many accents")
    nick = " ".join(text.split())
    if len(nick) < NICK_MIN:
        raise NicknameRejected(f"the nickname must be at least {NICK_MIN} characters")
    if len(nick) > NICK_MAX:
        raise NicknameRejected(f"the nickname must be at most {NICK_MAX} characters")
    if _blocked_by(nick, blocked):
        raise NicknameRejected("please choose another nickname")
    return nick


def nickname_key(nick: str) -> str:
    """The uniqueness key of a (normalised) nickname: casefolded."""
    return nick.casefold()


# --------------------------------------------------------------------------- pins


def new_pin(rng: random.Random | secrets.SystemRandom) -> str:
    """A 6-digit game PIN whose first digit is 1-9."""
    return str(rng.randint(100_000, 999_999))


# --------------------------------------------------------------------------- views


def public_question(q: Question, *, shuffle_seed: str | None) -> dict[str, object]:
    """What a player may see of ``q``: id, type, prompt, text format and the ids and
    texts of options (choice) or items (ordering). Never weights, correct flags,
    answers, tolerances or feedback.

    Ordering items are shuffled with ``shuffle_seed`` (a game's seed: every player sees
    the same order), else sorted by text: the stored order is the answer. Options keep
    the author's order, shuffled too when a seed is given.
    """
    view: dict[str, object] = {
        "id": q.id,
        "type": q.type.value,
        "prompt": q.prompt,
        "text_format": q.text_format,
    }
    rng = _seeded(shuffle_seed, q.id) if shuffle_seed is not None else None
    if q.type in (QuestionType.SINGLE_CHOICE, QuestionType.MULTIPLE_CHOICE):
        options = [{"id": o.id, "text": o.text} for o in q.options]
        if rng is not None:
            rng.shuffle(options)
        view["options"] = options
    elif q.type is QuestionType.ORDERING:
        items = [{"id": i.id, "text": i.text} for i in q.items]
        if rng is not None:
            rng.shuffle(items)
        else:
            items.sort(key=lambda part: (str(part["text"]).casefold(), str(part["id"])))
        view["items"] = items
    return view


def public_correct(q: Question) -> dict[str, object]:
    """The answer shown once a question has closed: the right option ids (positive
    weight), the true/false value, the best numeric value or text, the item order."""
    if q.type in (QuestionType.SINGLE_CHOICE, QuestionType.MULTIPLE_CHOICE):
        return {"option_ids": [o.id for o in q.options if o.weight > 0]}
    if q.type is QuestionType.TRUE_FALSE:
        return {"value": q.answer}
    if q.type is QuestionType.NUMERIC and q.numeric_answers:
        best = max(q.numeric_answers, key=lambda a: a.weight)
        return {"value": best.value, "tolerance": best.tolerance}
    if q.type is QuestionType.SHORT_ANSWER and q.text_answers:
        return {"text": max(q.text_answers, key=lambda a: a.weight).text}
    if q.type is QuestionType.ORDERING:
        return {"item_ids": [i.id for i in q.items]}
    return {}


def _seeded(seed: str, purpose: str | None) -> random.Random:
    digest = hashlib.sha256(f"{seed}\x00{purpose or ''}".encode()).digest()
    return random.Random(int.from_bytes(digest, "big"))
