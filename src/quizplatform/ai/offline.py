"""The offline draft provider: quiz questions from a text or a topic, without any network.

It is the embedded default and the last fallback when a real AI provider is down, so it
prefers writing fewer questions to writing wrong ones. Every item is a ``DraftItem``
(``draft_item``), the shape all providers return: ``type`` (one of ``SUPPORTED_TYPES``), ``prompt``,
``explanation``, and by type ``options`` + ``correct_options``, ``true_false_answer``,
``accepted_answers`` or ``numeric_answer`` + ``numeric_tolerance``. Items drafted from a
text also carry ``source_quote``: the sentence they rest on, as it stands in the text
(white space collapsed, a list bullet removed). Cloze prompts mark the blank with
``MISSING_WORD_BLANK`` ("_____").

From a text (``draft_from_text``)
    ``offline_text.analyse_text`` splits the text into sentences and finds their key terms,
    each of a *kind*: a year, a number (with its unit word), a proper noun phrase or a
    content term (a salient lower-case word or two-word compound). A term only ever
    stands in for another of its kind. Then:

    * short answer and numeric: a sentence with one key term blanked out (cloze);
    * single choice: the same cloze with the key and three distractors of the key's kind
      taken from the text itself (years with years, names with names, ...);
    * true/false: a sentence of the text (true), or one with a key term swapped for another
      of the same kind (false);
    * multiple choice: "which of these statements agree with the text?" over true sentences
      and swapped ones.

    A distractor or swap is used only when the sentence it makes is not stated anywhere in
    the text, is not a variant of the key, and the sentence is not open-ended ("such as",
    "also", negations, comparisons), where another value could be true as well. Swapped
    names and words are also refused when the text says similar things about the
    replacement. The checks compare text, not meaning: a false statement is false *for the
    text*; it is not checked against the world.

From a topic (``draft_from_topic``)
    Items come from the question bank shipped with the package (``data/question_bank.json``,
    CC0), chosen by word overlap between the topic and each bank topic's name and keywords.

Key terms: ``offline_language`` detects the language (py3langid), extracts keyphrases
(YAKE) and judges how specific a word is (wordfreq); a rare keyword that the text uses as
a noun is a content term, so a plain four-sentence paragraph gives items too. English,
French, German and Spanish get prompts in their language (``offline_wording``); Italian,
Portuguese and Dutch texts get key terms with English prompts; other scripts give few
items or none. No item gives another's answer away (``SentenceLedger``). Results are
deterministic for a given seed.
Where the parts live: ``offline_text`` (with ``offline_sentences``, ``offline_terms``,
``offline_lexicon``, ``offline_language``, ``offline_model``) analyses the text;
``offline_predicates`` decides what is fit to use; ``offline_candidates`` finds blanks
and swaps; ``offline_questions`` builds the items; this module picks the types in turn
and drafts from the bank.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import cast

from quizplatform.ai.draft_item import (
    MULTIPLE_CHOICE,
    NUMERIC,
    SHORT_ANSWER,
    SINGLE_CHOICE,
    SUPPORTED_TYPES,
    TRUE_FALSE,
    TYPE_ORDER,
    DraftItem,
)
from quizplatform.ai.offline_bank import QuestionBank, load_bank
from quizplatform.ai.offline_candidates import KIND_WEIGHTS, CandidateFinder
from quizplatform.ai.offline_lexicon import normalise
from quizplatform.ai.offline_model import TextAnalysis
from quizplatform.ai.offline_questions import (
    MIN_MULTIPLE_CHOICE_SENTENCES,
    ClozeQuestions,
    SentenceLedger,
    StatementQuestions,
)
from quizplatform.ai.offline_sentences import MAX_SENTENCE_WORDS, MIN_SENTENCE_WORDS
from quizplatform.ai.offline_text import analyse_text

__all__ = [
    "SUPPORTED_TYPES",
    "TYPE_ORDER",
    "OfflineDraftError",
    "bank_topics",
    "draft_from_text",
    "draft_from_topic",
    "requested_types",
]

# Only this much of a text is mined for questions; false statements are still checked
# against all of it.
MAX_ANALYSED_CHARACTERS = 100_000
_DIFFICULTIES = tuple(KIND_WEIGHTS)  # "easy", "medium", "hard"


class OfflineDraftError(ValueError):
    """The offline provider cannot draft what was asked; the message says why, for people."""


def bank_topics() -> list[str]:
    """Return the names of the topics the shipped question bank covers, in bank order."""
    return load_bank().topic_names()


def draft_from_topic(topic: str, count: int, types: Sequence[str], *, seed: int) -> list[DraftItem]:
    """Draft up to ``count`` items on ``topic`` from the shipped question bank.

    Items come from the best-matching bank topic first, then from other matching topics;
    the requested types are mixed evenly. Raises ``OfflineDraftError`` when no bank topic
    matches (the message lists the topics the bank covers) or no type can be drafted.
    """
    wanted = requested_types(types)
    _check_count(count)
    bank = load_bank()
    matches = bank.match(topic)
    if not matches:
        raise OfflineDraftError(
            f"the offline question bank has nothing on {topic.strip()!r}; it covers "
            f"{', '.join(bank.topic_names())}. Give a source text to draft questions from "
            "it, or pick one of these topics."
        )
    rng = random.Random(seed)
    items = _draft_from_bank(bank, matches, count, wanted, rng)
    if not items:
        raise OfflineDraftError(
            f"the offline question bank has no {_type_list(wanted)} questions on {topic!r}"
        )
    return items


def draft_from_text(
    source_text: str,
    count: int,
    types: Sequence[str],
    *,
    seed: int,
    difficulty: str | None = None,
) -> list[DraftItem]:
    """Draft up to ``count`` items whose keys are right for ``source_text``.

    ``types`` are draft item types (empty: all of ``SUPPORTED_TYPES``); unsupported ones
    are skipped. ``difficulty`` ("easy", "medium", "hard"; anything else counts as
    medium) steers which terms are blanked and how close distractors are. Returns fewer
    than ``count`` items when the text does not allow more, and raises
    ``OfflineDraftError`` when it allows none.
    """
    wanted = requested_types(types)
    _check_count(count)
    analysis = analyse_text(source_text[:MAX_ANALYSED_CHARACTERS])
    if len(source_text) > MAX_ANALYSED_CHARACTERS:
        analysis.normalised_source = normalise(source_text)
    level = difficulty.strip().casefold() if difficulty else "medium"
    rng = random.Random(seed)
    drafter = _TextDrafter(analysis, rng, level if level in _DIFFICULTIES else "medium")
    makers = {kind: drafter.maker(kind) for kind in wanted}
    items = _round_robin(makers, count, rng)
    if not items:
        raise OfflineDraftError(_nothing_drafted_message(drafter, count, wanted))
    return items


def requested_types(types: Sequence[str]) -> list[str]:
    """The supported types among ``types``, in order, each once (all of them for none)."""
    if isinstance(types, str):
        types = [types]
    if not types:
        return list(TYPE_ORDER)
    wanted = list(dict.fromkeys(t for t in types if t in SUPPORTED_TYPES))
    if not wanted:
        raise OfflineDraftError(
            f"the offline drafter writes only {_type_list(list(TYPE_ORDER))} questions, "
            f"not {_type_list(list(types))}"
        )
    return wanted


def _check_count(count: int) -> None:
    if count < 1:
        raise OfflineDraftError(f"the number of questions must be at least 1 (got {count})")


def _type_list(types: Sequence[str]) -> str:
    return ", ".join(t.replace("_", " ") for t in types)


def _nothing_drafted_message(drafter: _TextDrafter, count: int, wanted: list[str]) -> str:
    usable = len(drafter.sentences)
    if usable == 0:
        return (
            f"the text is too short to draft {count} question{'s' if count != 1 else ''} "
            f"from (found no usable sentence of {MIN_SENTENCE_WORDS} to {MAX_SENTENCE_WORDS} "
            "words); add more text or ask for fewer questions"
        )
    reason = "none of them has a key term these question types can ask for"
    if wanted == [NUMERIC]:
        reason = "none of them has a number or a year to ask for"
    elif wanted == [MULTIPLE_CHOICE] and usable < MIN_MULTIPLE_CHOICE_SENTENCES:
        reason = (
            f"a multiple choice question needs {MIN_MULTIPLE_CHOICE_SENTENCES} statements "
            "to choose from"
        )
    return (
        f"could not draft any {_type_list(wanted)} question from the text (found {usable} "
        f"usable sentence{'s' if usable != 1 else ''}, but {reason}); add more text or "
        "allow other question types"
    )


def _round_robin(
    makers: dict[str, Callable[[], DraftItem | None]], count: int, rng: random.Random
) -> list[DraftItem]:
    """Take one item of each type in turn; a type that runs out leaves its turn to the rest."""
    active = list(makers)
    rng.shuffle(active)
    items: list[DraftItem] = []
    while active and len(items) < count:
        for kind in list(active):
            if len(items) >= count:
                break
            item = makers[kind]()
            if item is None:
                active.remove(kind)
            else:
                items.append(item)
    return items


# --------------------------------------------------------------------------- bank


def _draft_from_bank(
    bank: QuestionBank, topics: list[str], count: int, wanted: list[str], rng: random.Random
) -> list[DraftItem]:
    """Items of the best-matching topic first (types mixed), then of the next ones."""
    items: list[DraftItem] = []
    seen: set[str] = set()
    for name in topics:
        pools: dict[str, list[DraftItem]] = {kind: [] for kind in wanted}
        for item in bank.items(name):
            if item["type"] in pools and normalise(item["prompt"]) not in seen:
                pools[item["type"]].append(item)
        for pool in pools.values():
            rng.shuffle(pool)
        makers = {kind: _bank_maker(pools[kind], rng) for kind in wanted}
        for item in _round_robin(makers, count - len(items), rng):
            seen.add(normalise(item["prompt"]))
            items.append(item)
        if len(items) >= count:
            break
    return items


def _bank_maker(pool: list[DraftItem], rng: random.Random) -> Callable[[], DraftItem | None]:
    def next_item() -> DraftItem | None:
        return _shuffled_options(pool.pop(0), rng) if pool else None

    return next_item


def _shuffled_options(item: DraftItem, rng: random.Random) -> DraftItem:
    # The bank's items are in draft item shape (tests/unit/ai checks the shipped bank).
    copy = cast(DraftItem, {k: list(v) if isinstance(v, list) else v for k, v in item.items()})
    if "options" in copy:
        rng.shuffle(copy["options"])
    return copy


class _TextDrafter:
    """Drafts items of each type from one analysed text, never reusing a sentence for two
    items of one type, and preferring sentences no other item has used yet."""

    def __init__(self, analysis: TextAnalysis, rng: random.Random, difficulty: str) -> None:
        finder = CandidateFinder(analysis, rng, difficulty)
        ledger = SentenceLedger()
        self.sentences = finder.sentences
        cloze = ClozeQuestions(finder, ledger)
        statements = StatementQuestions(finder, ledger)
        self._makers: dict[str, Callable[[], DraftItem | None]] = {
            SHORT_ANSWER: cloze.next_short_answer,
            NUMERIC: cloze.next_numeric,
            SINGLE_CHOICE: cloze.next_single_choice,
            TRUE_FALSE: statements.next_true_false,
            MULTIPLE_CHOICE: statements.next_multiple_choice,
        }

    def maker(self, kind: str) -> Callable[[], DraftItem | None]:
        """The builder of the next item of ``kind`` (None once the type has run out)."""
        return self._makers[kind]
