"""The offline draft provider: quiz questions from a text or a topic, without any network.

It is the embedded default and the last fallback when a real AI provider is down, so it
prefers writing fewer questions to writing wrong ones. Every item is a "draft item" dict,
the shape all providers return: ``type`` (one of ``SUPPORTED_TYPES``), ``prompt``,
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

Limits: the heuristics are English-first. Texts in other Latin-script languages give
fewer items (numbers, years, names, recurring words); other scripts give few or none.
Results are deterministic for a given seed.
"""

from __future__ import annotations

import random
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from quizplatform.ai.offline_bank import QuestionBank, load_bank
from quizplatform.ai.offline_text import (
    MAX_SENTENCE_WORDS,
    MIN_SENTENCE_WORDS,
    NUMERIC_KINDS,
    STOP_WORDS,
    Occurrence,
    Sentence,
    TermInfo,
    TermKind,
    TextAnalysis,
    analyse_text,
    collapse_spaces,
    normalise,
    stem,
    strip_accents,
    unit_key,
    words,
)
from quizplatform.domain.questions import MISSING_WORD_BLANK

SINGLE_CHOICE = "single_choice"
MULTIPLE_CHOICE = "multiple_choice"
TRUE_FALSE = "true_false"
SHORT_ANSWER = "short_answer"
NUMERIC = "numeric"
TYPE_ORDER = (SINGLE_CHOICE, MULTIPLE_CHOICE, TRUE_FALSE, SHORT_ANSWER, NUMERIC)
SUPPORTED_TYPES: frozenset[str] = frozenset(TYPE_ORDER)

BLANK = MISSING_WORD_BLANK
BANNED_OPTIONS = frozenset({"all of the above", "none of the above", "both", "neither"})
CHOICE_DISTRACTORS = 3
MULTIPLE_CHOICE_OPTIONS = 4
# A sentence serves at most this many items (of different types): more would give answers
# away between the items of one quiz.
MAX_ITEMS_PER_SENTENCE = 2
# Only this much of a text is mined for questions; false statements are still checked
# against all of it.
MAX_ANALYSED_CHARACTERS = 100_000

SHORT_ANSWER_PROMPT = "Fill in the blank: "
NUMBER_PROMPT = "Fill in the missing number: "
YEAR_PROMPT = "Fill in the missing year: "
CHOICE_PROMPT = "Complete the sentence: "
TRUE_FALSE_PROMPT = "True or false: "
MULTIPLE_CHOICE_PROMPTS = (
    "Which of these statements agree with the text?",
    "According to the text, which of these statements are true?",
    "Which of these statements does the text support?",
)
MULTIPLE_CHOICE_THEME_PROMPT = "Which of these statements about {theme} agree with the text?"

_DIFFICULTIES = ("easy", "medium", "hard")
_KIND_WEIGHTS = {
    "easy": {TermKind.PROPER: 1.5, TermKind.YEAR: 1.3, TermKind.NUMBER: 1.0, TermKind.CONTENT: 0.4},
    "medium": {
        TermKind.PROPER: 1.0,
        TermKind.YEAR: 1.0,
        TermKind.NUMBER: 0.9,
        TermKind.CONTENT: 0.8,
    },
    "hard": {TermKind.PROPER: 0.7, TermKind.YEAR: 0.8, TermKind.NUMBER: 1.0, TermKind.CONTENT: 1.5},
}
# False statements: swapped numbers are the safest (a fact has one value), content words
# the least safe.
_SWAP_KIND_PREFERENCE = {
    TermKind.YEAR: 1.2,
    TermKind.NUMBER: 1.0,
    TermKind.PROPER: 0.8,
    TermKind.CONTENT: 0.4,
}
_TRUE_SHARE = {"easy": 0.65, "medium": 0.5, "hard": 0.4}
_TRUE_FALSE_SLACK = 2  # at most this many more true than false statements, or the reverse
_SENTENCE_JITTER = 1.0
_MAX_SAME_KIND_TERMS = 60  # distractor and swap candidates looked at per term
_THEMES_TRIED = 4  # themes tried per multiple choice item before a generic prompt

# Sentences where another value could be true as well: lists, hedges, negations,
# comparisons. Their terms are never swapped or given distractors.
_OPEN_ENDED_WORDS = words("""
    such including include includes included like among also too many some several other
    others not no never nor neither none without than both either or can could may might
    often usually sometimes mostly mainly generally typically partly example instance
    similar similarly unlike except n t
    """)
_INEQUALITY_WORDS = words("""
    than over under above below least most up nearly almost before after by until till
    since from to between around about circa c approximately roughly some early late mid
    exceeds exceed beyond within
    """)
_APPROXIMATE_WORDS = frozenset({"about", "around", "approximately", "roughly", "some", "c"})
_PRONOUN_STARTS = words("""
    it its they their them this these that those he she his her him such both each another
    other latter former here we our you your i
    """)
_TITLE_WORDS = words("""
    king queen emperor empress prince princess president pope saint sir lord lady general
    captain admiral professor dr st
    """)
_DISCOURSE_MARKER_RE = re.compile(
    r"^(?:however|moreover|furthermore|in addition|additionally|also|therefore|thus|hence|"
    r"consequently|indeed|finally|meanwhile|nevertheless|instead|in fact|for example|"
    r"for instance|as a result|in contrast|similarly|likewise|of course|overall|in short|"
    r"in general|generally|first|second|third|then|next|later),\s+",
    re.IGNORECASE,
)


class OfflineDraftError(ValueError):
    """The offline provider cannot draft what was asked; the message says why, for people."""


def bank_topics() -> list[str]:
    """Return the names of the topics the shipped question bank covers, in bank order."""
    return load_bank().topic_names()


def draft_from_topic(
    topic: str, count: int, types: Sequence[str], *, seed: int
) -> list[dict[str, Any]]:
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
) -> list[dict[str, Any]]:
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
    return (
        f"could not draft any {_type_list(wanted)} question from the text (found {usable} "
        f"usable sentence{'s' if usable != 1 else ''}, but {reason}); add more text or "
        "allow other question types"
    )


def _round_robin(
    makers: dict[str, Callable[[], dict[str, Any] | None]], count: int, rng: random.Random
) -> list[dict[str, Any]]:
    """Take one item of each type in turn; a type that runs out leaves its turn to the rest."""
    active = list(makers)
    rng.shuffle(active)
    items: list[dict[str, Any]] = []
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
) -> list[dict[str, Any]]:
    """Items of the best-matching topic first (types mixed), then of the next ones."""
    items: list[dict[str, Any]] = []
    seen: set[str] = set()
    for name in topics:
        pools: dict[str, list[dict[str, Any]]] = {kind: [] for kind in wanted}
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


def _bank_maker(
    pool: list[dict[str, Any]], rng: random.Random
) -> Callable[[], dict[str, Any] | None]:
    def next_item() -> dict[str, Any] | None:
        return _shuffled_options(pool.pop(0), rng) if pool else None

    return next_item


def _shuffled_options(item: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    copy = {k: list(v) if isinstance(v, list) else v for k, v in item.items()}
    if "options" in copy:
        rng.shuffle(copy["options"])
    return copy


# --------------------------------------------------------------------------- text


@dataclass(frozen=True)
class _Blank:
    """A key term of a sentence that can be blanked out."""

    sentence: Sentence
    occurrence: Occurrence
    score: float


@dataclass(frozen=True)
class _Swap:
    """A sentence with one key term replaced by another of the same kind."""

    sentence: Sentence
    occurrence: Occurrence
    replacement: str
    statement: str
    score: float


class _TextDrafter:
    """Drafts items of each type from one analysed text, never reusing a sentence for two
    items of one type, and preferring sentences no other item has used yet."""

    def __init__(self, analysis: TextAnalysis, rng: random.Random, difficulty: str) -> None:
        self.analysis = analysis
        self.rng = rng
        self.difficulty = difficulty
        self.sentences = [s for s in analysis.sentences if _usable(s)]
        self.jitter = {s.index: rng.random() * _SENTENCE_JITTER for s in self.sentences}
        self.usage: Counter[int] = Counter()
        self.used: dict[str, set[int]] = defaultdict(set)
        self.blanked: set[tuple[int, str]] = set()
        self.prompts: set[str] = set()
        self.true_false_count = Counter[bool]()
        self.generic_prompts = list(MULTIPLE_CHOICE_PROMPTS)
        self._swaps: dict[int, list[_Swap]] = {}
        self._themes: list[TermInfo] | None = None
        self._statements: list[Sentence] | None = None
        self._terms_by_kind: dict[TermKind, list[TermInfo]] = {}
        self._blanks: list[_Blank] | None = None

    def maker(self, kind: str) -> Callable[[], dict[str, Any] | None]:
        makers: dict[str, Callable[[], dict[str, Any] | None]] = {
            SHORT_ANSWER: self.next_short_answer,
            NUMERIC: self.next_numeric,
            SINGLE_CHOICE: self.next_single_choice,
            TRUE_FALSE: self.next_true_false,
            MULTIPLE_CHOICE: self.next_multiple_choice,
        }
        return makers[kind]

    # ----------------------------------------------------------------- bookkeeping

    def _fresh(self, kind: str, sentences: Sequence[Sentence]) -> bool:
        """No item of ``kind`` uses these sentences yet, and none is used up."""
        return all(
            s.index not in self.used[kind] and self.usage[s.index] < MAX_ITEMS_PER_SENTENCE
            for s in sentences
        )

    def _claim(self, kind: str, prompt: str, sentences: Sequence[Sentence]) -> bool:
        """Record an item's sentences and prompt; False when the prompt is taken."""
        key = normalise(prompt)
        if key in self.prompts:
            return False
        self.prompts.add(key)
        for s in sentences:
            self.used[kind].add(s.index)
            self.usage[s.index] += 1
        return True

    def _in_preference_order(
        self, kind: str, candidates: Sequence[Any], sentence_of: Callable[[Any], Sentence]
    ) -> Iterator[Any]:
        """Candidates on sentences not used for ``kind``, least used sentences first."""
        fresh = [c for c in candidates if self._fresh(kind, [sentence_of(c)])]
        fresh.sort(key=lambda c: (self.usage[sentence_of(c).index], -c.score))
        return iter(fresh)

    # ----------------------------------------------------------------- cloze types

    def blanks(self) -> list[_Blank]:
        if self._blanks is None:
            weights = _KIND_WEIGHTS[self.difficulty]
            self._blanks = [
                _Blank(s, occ, weights[occ.kind] + self._salience(occ) + self._quality(s))
                for s in self.sentences
                for occ in s.occurrences
                if _blankable(s, occ)
            ]
        return self._blanks

    def _salience(self, occ: Occurrence) -> float:
        info = self.analysis.term(occ)
        if occ.kind is TermKind.CONTENT:
            return 0.15 * min(info.count, 4) + (0.2 if len(occ.surface) >= 8 else 0.0)
        return 0.1 * min(info.count, 3)

    def _quality(self, s: Sentence) -> float:
        quality = self.jitter[s.index]
        if 10 <= s.word_count <= 25:
            quality += 0.5
        if _depends_on_context(s):
            quality -= 1.0
        return quality

    def _cloze_blanks(self, kind: str, kinds: frozenset[TermKind]) -> Iterator[_Blank]:
        for blank in self._in_preference_order(kind, self.blanks(), lambda b: b.sentence):
            if blank.occurrence.kind not in kinds:
                continue
            if (blank.sentence.index, blank.occurrence.key) in self.blanked:
                continue  # another item already asks for this term in this sentence
            if self._fresh(kind, [blank.sentence]):
                yield blank

    def _claim_blank(self, kind: str, prompt: str, blank: _Blank) -> bool:
        if not self._claim(kind, prompt, [blank.sentence]):
            return False
        self.blanked.add((blank.sentence.index, blank.occurrence.key))
        return True

    def next_short_answer(self) -> dict[str, Any] | None:
        for blank in self._cloze_blanks(
            SHORT_ANSWER, frozenset({TermKind.PROPER, TermKind.CONTENT})
        ):
            prompt = SHORT_ANSWER_PROMPT + _cloze(blank)
            if not self._claim_blank(SHORT_ANSWER, prompt, blank):
                continue
            accepted = _accepted_answers(blank.occurrence)
            return {
                "type": SHORT_ANSWER,
                "prompt": prompt,
                "accepted_answers": accepted,
                "explanation": _says(blank.sentence),
                "source_quote": blank.sentence.text,
            }
        return None

    def next_numeric(self) -> dict[str, Any] | None:
        for blank in self._cloze_blanks(NUMERIC, NUMERIC_KINDS):
            occ = blank.occurrence
            lead = YEAR_PROMPT if occ.kind is TermKind.YEAR else NUMBER_PROMPT
            prompt = lead + _cloze(blank)
            if occ.value is None or not self._claim_blank(NUMERIC, prompt, blank):
                continue
            return {
                "type": NUMERIC,
                "prompt": prompt,
                "numeric_answer": float(occ.value),
                "numeric_tolerance": 0.0,
                "explanation": _says(blank.sentence),
                "source_quote": blank.sentence.text,
            }
        return None

    def next_single_choice(self) -> dict[str, Any] | None:
        all_kinds = frozenset(TermKind)
        for blank in self._cloze_blanks(SINGLE_CHOICE, all_kinds):
            if not _swappable(blank.sentence):
                continue
            distractors = self._distractors(blank)
            if distractors is None:
                continue
            prompt = CHOICE_PROMPT + _cloze(blank)
            if not self._claim_blank(SINGLE_CHOICE, prompt, blank):
                continue
            key = blank.occurrence.surface
            options = [key, *distractors]
            self.rng.shuffle(options)
            return {
                "type": SINGLE_CHOICE,
                "prompt": prompt,
                "options": options,
                "correct_options": [key],
                "explanation": _says(blank.sentence),
                "source_quote": blank.sentence.text,
            }
        return None

    def _distractors(self, blank: _Blank) -> list[str] | None:
        """Three same-kind terms of the text that make the sentence false for the text."""
        candidates = [
            (self._similarity(blank.occurrence, info), swap.replacement)
            for info in self._same_kind_terms(blank.occurrence)
            if (swap := self._swap(blank.sentence, blank.occurrence, info, statement=False))
            is not None
        ]
        if len(candidates) < CHOICE_DISTRACTORS:
            return None
        candidates.sort(key=lambda c: -c[0])
        if self.difficulty == "easy":
            self.rng.shuffle(candidates)
        elif self.difficulty == "medium":
            head = candidates[: 2 * CHOICE_DISTRACTORS]
            self.rng.shuffle(head)
            candidates = head + candidates[2 * CHOICE_DISTRACTORS :]
        chosen: list[str] = []
        for _, surface in candidates:
            options = [blank.occurrence.surface, *chosen, surface]
            if options_acceptable(options) and not any(_variants(surface, c) for c in chosen):
                chosen.append(surface)
            if len(chosen) == CHOICE_DISTRACTORS:
                return chosen
        return None

    def _same_kind_terms(self, occ: Occurrence) -> list[TermInfo]:
        """The text's other terms of the key's kind, the most frequent (at most 60) first."""
        if occ.kind not in self._terms_by_kind:
            infos = [info for info in self.analysis.terms.values() if info.kind is occ.kind]
            infos.sort(key=lambda info: -info.count)
            self._terms_by_kind[occ.kind] = infos[: _MAX_SAME_KIND_TERMS + 1]
        others = [info for info in self._terms_by_kind[occ.kind] if info.key != occ.key]
        return others[:_MAX_SAME_KIND_TERMS]

    def _similarity(self, occ: Occurrence, other: TermInfo) -> float:
        """How close a distractor is to the key: the higher, the harder to tell apart."""
        key_info = self.analysis.term(occ)
        score = 0.0
        if key_info.neighbours and other.neighbours:
            shared = key_info.neighbours & other.neighbours
            score += 2.0 * len(shared) / len(key_info.neighbours | other.neighbours)
        key_words = occ.surface.split()
        other_words = other.surfaces[0].split()
        if len(key_words) == len(other_words):
            score += 0.5
        if len(key_words) > 1 and key_words[-1].casefold() == other_words[-1].casefold():
            score += 1.0  # "Pacific Ocean" and "Atlantic Ocean"
        if occ.kind is TermKind.PROPER and (occ.before == "the") == other.takes_article:
            score += 1.0
        if occ.kind in NUMERIC_KINDS and occ.value is not None and other.value is not None:
            ratio = max(abs(occ.value), abs(other.value), 1.0) / max(
                min(abs(occ.value), abs(other.value)), 1.0
            )
            score += 1.0 / ratio
        return score

    # ----------------------------------------------------------------- statements

    def _statement_sentences(self) -> list[Sentence]:
        if self._statements is None:
            self._statements = [s for s in self.sentences if _statement_eligible(s)]
        return self._statements

    def _by_freshness(self, kind: str, theme: TermInfo | None) -> list[Sentence]:
        """Statement sentences not used for ``kind`` (about ``theme``), least used first."""
        candidates = [
            s
            for s in self._statement_sentences()
            if self._fresh(kind, [s]) and (theme is None or s.index in theme.sentences)
        ]
        candidates.sort(key=lambda s: (self.usage[s.index], -self._quality(s)))
        return candidates

    def swaps(self, s: Sentence) -> list[_Swap]:
        """The safe same-kind swaps of one statement sentence, best first (cached)."""
        if s.index not in self._swaps:
            found = []
            if _swappable(s):
                for occ in s.occurrences:
                    if not _blankable(s, occ):
                        continue
                    for info in self._same_kind_terms(occ):
                        swap = self._swap(s, occ, info, statement=True)
                        if swap is not None:
                            found.append(swap)
            found.sort(key=lambda w: -w.score)
            self._swaps[s.index] = found
        return self._swaps[s.index]

    def _false_candidates(
        self, kind: str, theme: TermInfo | None = None, limit: int = 24
    ) -> list[_Swap]:
        """The best swap of each fresh statement sentence, least used sentences first;
        swaps are worked out only for as many sentences as it takes to find ``limit``."""
        candidates: list[_Swap] = []
        for s in self._by_freshness(kind, theme):
            best = next((w for w in self.swaps(s) if theme is None or _keeps_theme(w, theme)), None)
            if best is not None:
                candidates.append(best)
            if len(candidates) >= limit:
                break
        return candidates

    def _swap(
        self, s: Sentence, occ: Occurrence, info: TermInfo, *, statement: bool
    ) -> _Swap | None:
        """``s`` with ``occ`` replaced by ``info``, when that is safely false for the text.

        ``statement``: the result is shown alone (true/false, multiple choice), so it must
        also read well: content words then need a context in common with the key.
        """
        if not self._compatible(occ, info, statement=statement):
            return None
        replacement = self._replacement_surface(s, occ, info)
        if replacement is None or not self._swap_is_safe(s, occ, info, replacement):
            return None
        swapped = _statement_text(s.text[: occ.start] + replacement + s.text[occ.end :])
        if self.analysis.stated(swapped):
            return None
        score = _SWAP_KIND_PREFERENCE[occ.kind] + self._quality(s) + self._similarity(occ, info)
        return _Swap(s, occ, replacement, swapped, score)

    def _compatible(self, occ: Occurrence, info: TermInfo, *, statement: bool) -> bool:
        """Whether ``info`` can stand where ``occ`` stands in the sentence's grammar."""
        key_info = self.analysis.term(occ)
        if occ.kind is TermKind.PROPER:
            return (occ.before == "the") == info.takes_article and key_info.place == info.place
        if occ.kind is TermKind.NUMBER:
            return unit_key(occ.unit) in info.units
        if occ.kind is TermKind.CONTENT:
            if len(occ.surface.split()) != len(info.surfaces[0].split()):
                return False
            if key_info.adjective_like != info.adjective_like:
                return False
            # Shown alone, a swapped word must have been seen next to one of the key's
            # neighbouring words ("absorbs _", "green _"), not merely after "the".
            return not statement or bool(_telling(key_info.neighbours) & _telling(info.neighbours))
        return True

    def _replacement_surface(self, s: Sentence, occ: Occurrence, info: TermInfo) -> str | None:
        if occ.kind is TermKind.CONTENT:
            plural = _is_plural(occ.surface)
            forms = [f.casefold() for f in info.surfaces if _is_plural(f) == plural]
            if not forms:
                return None
            surface = forms[0]
        else:
            surface = info.surfaces[0]
        if not any(c.isalnum() for c in s.text[: occ.start]) and surface[:1].islower():
            surface = surface[:1].upper() + surface[1:]  # it starts the sentence
        return surface

    def _swap_is_safe(self, s: Sentence, occ: Occurrence, info: TermInfo, replacement: str) -> bool:
        if occ.kind in NUMERIC_KINDS and not _numeric_swap_is_safe(occ, info):
            return False
        if any(o.key == info.key and o.kind is info.kind for o in s.occurrences):
            return False
        if f" {normalise(replacement)} " in f" {s.normalised} ":
            return False
        replacement_stems = {stem(w) for w in normalise(replacement).split()}
        if occ.kind not in NUMERIC_KINDS and replacement_stems <= s.stems:
            return False  # "chloroplasts ... called chloroplast"
        if _variants(occ.surface, replacement):
            return False
        if occ.kind in NUMERIC_KINDS:
            return True  # a fact has one value: another value is false
        return not self._may_hold_for(s, occ, info, replacement)

    def _may_hold_for(self, s: Sentence, occ: Occurrence, info: TermInfo, replacement: str) -> bool:
        """True when the sentence is too generic, or the text says similar things about the
        replacement, so that the swapped sentence might be true as well.

        "Similar things": another sentence with the replacement shares one of the
        sentence's informative words (those in at most 40 % of the sentences). "Jupiter is
        a giant planet made of gas" gives no "Saturn is a giant planet made of gas" when
        the text also says "Saturn is a giant planet with rings".
        """
        own = {stem(w) for w in re.findall(r"\w+", occ.surface + " " + replacement)}
        context = s.stems - self.analysis.common_stems - own
        if len(context) < 2:
            return True
        sentences = self.analysis.sentences
        return any(context & sentences[i].stems for i in info.sentences if i != s.index)

    def next_true_false(self) -> dict[str, Any] | None:
        """A true statement or a false one, keeping the two within ``_TRUE_FALSE_SLACK`` of
        each other: when one kind runs out, true/false items stop."""
        want_true = self._want_true()
        for truth in (want_true, not want_true):
            lead = self.true_false_count[truth] - self.true_false_count[not truth]
            if lead >= _TRUE_FALSE_SLACK:
                continue
            item = self._true_statement() if truth else self._false_statement()
            if item is not None:
                self.true_false_count[truth] += 1
                return item
        return None

    def _want_true(self) -> bool:
        total = sum(self.true_false_count.values())
        if total == 0:
            return self.rng.random() < _TRUE_SHARE[self.difficulty]
        return self.true_false_count[True] / total < _TRUE_SHARE[self.difficulty]

    def _true_statement(self) -> dict[str, Any] | None:
        for s in self._by_freshness(TRUE_FALSE, None):
            prompt = TRUE_FALSE_PROMPT + _statement_text(s.text)
            if self._claim(TRUE_FALSE, prompt, [s]):
                return {
                    "type": TRUE_FALSE,
                    "prompt": prompt,
                    "true_false_answer": True,
                    "explanation": "True. " + _says(s),
                    "source_quote": s.text,
                }
        return None

    def _false_statement(self) -> dict[str, Any] | None:
        for swap in self._false_candidates(TRUE_FALSE):
            prompt = TRUE_FALSE_PROMPT + swap.statement
            if self._claim(TRUE_FALSE, prompt, [swap.sentence]):
                return {
                    "type": TRUE_FALSE,
                    "prompt": prompt,
                    "true_false_answer": False,
                    "explanation": f"False. {_says(swap.sentence)} "
                    f"({swap.occurrence.surface}, not {swap.replacement})",
                    "source_quote": swap.sentence.text,
                }
        return None

    def next_multiple_choice(self) -> dict[str, Any] | None:
        for _, theme in zip(range(_THEMES_TRIED), self._unused_themes(), strict=False):
            item = self._multiple_choice(theme)
            if item is not None:
                return item
        return self._multiple_choice(None) if self.generic_prompts else None

    def _unused_themes(self) -> Iterator[TermInfo]:
        if self._themes is None:
            eligible = {s.index for s in self._statement_sentences()}
            themes = [
                info
                for info in self.analysis.terms.values()
                if info.kind not in NUMERIC_KINDS
                and len(eligible.intersection(info.sentences)) >= MULTIPLE_CHOICE_OPTIONS
            ]
            self._themes = sorted(themes, key=lambda t: (-len(t.sentences), t.key))
        while self._themes:
            yield self._themes.pop(0)

    def _multiple_choice(self, theme: TermInfo | None) -> dict[str, Any] | None:
        correct_count = self.rng.choice((1, 2, 2, 3))
        trues = self._by_freshness(MULTIPLE_CHOICE, theme)
        falses = self._false_candidates(MULTIPLE_CHOICE, theme)
        for wanted_true in (correct_count, 2, 1, 3):
            picked = _pick_statements(trues, falses, wanted_true)
            if picked is not None:
                return self._multiple_choice_item(theme, *picked)
        return None

    def _multiple_choice_item(
        self, theme: TermInfo | None, trues: list[Sentence], falses: list[_Swap]
    ) -> dict[str, Any] | None:
        if theme is not None:
            theme_name = theme.surfaces[0]
            if theme.kind is TermKind.CONTENT:
                theme_name = theme_name.casefold()
            if theme.takes_article:
                theme_name = "the " + theme_name
            prompt = MULTIPLE_CHOICE_THEME_PROMPT.format(theme=theme_name)
        elif self.generic_prompts:
            prompt = self.generic_prompts.pop(0)
        else:
            return None
        sentences = [*trues, *(f.sentence for f in falses)]
        if not self._claim(MULTIPLE_CHOICE, prompt, sentences):
            return None
        correct = [_statement_text(s.text) for s in trues]
        options = correct + [f.statement for f in falses]
        self.rng.shuffle(options)
        agree = "; ".join(f'"{c}"' for c in correct)
        disagree = "; ".join(
            f'"{f.statement}" (the text says: "{f.sentence.text}")' for f in falses
        )
        return {
            "type": MULTIPLE_CHOICE,
            "prompt": prompt,
            "options": options,
            "correct_options": correct,
            "explanation": f"The text states {agree}. It does not state {disagree}.",
            "source_quote": trues[0].text,
        }


def _pick_statements(
    trues: list[Sentence], falses: list[_Swap], wanted_true: int
) -> tuple[list[Sentence], list[_Swap]] | None:
    """``wanted_true`` true sentences and the rest swapped ones, on distinct sentences of
    similar length."""
    wanted_false = MULTIPLE_CHOICE_OPTIONS - wanted_true
    for anchor in trues[:12]:
        anchor_text = _statement_text(anchor.text)
        chosen_true = [anchor]
        used = {anchor.index}
        for s in trues:
            if len(chosen_true) == wanted_true:
                break
            if s.index not in used and _similar_length(anchor_text, _statement_text(s.text)):
                chosen_true.append(s)
                used.add(s.index)
        chosen_false: list[_Swap] = []
        for swap in falses:
            if len(chosen_false) == wanted_false:
                break
            if swap.sentence.index not in used and _similar_length(anchor_text, swap.statement):
                chosen_false.append(swap)
                used.add(swap.sentence.index)
        options = [_statement_text(s.text) for s in chosen_true] + [
            f.statement for f in chosen_false
        ]
        if (
            len(chosen_true) == wanted_true
            and len(chosen_false) == wanted_false
            and options_acceptable(options)
        ):
            return chosen_true, chosen_false
    return None


# --------------------------------------------------------------------------- helpers


def options_acceptable(options: Sequence[str]) -> bool:
    """True when the options are non-empty, distinct (case and spacing aside), of similar
    length and none is a banned catch-all such as "none of the above"."""
    keys = [collapse_spaces(o).casefold() for o in options]
    if any(not k for k in keys) or len(set(keys)) != len(keys):
        return False
    if any(k.strip(".") in BANNED_OPTIONS for k in keys):
        return False
    lengths = [len(collapse_spaces(o)) for o in options]
    return max(lengths) <= 3 * min(lengths) + 15


def _usable(s: Sentence) -> bool:
    """A sentence worth a question: prose, 6..40 words, a statement, no blanks of its own."""
    text = s.text
    if not s.prose or not MIN_SENTENCE_WORDS <= s.word_count <= MAX_SENTENCE_WORDS:
        return False
    if "___" in text or text.rstrip("\"'\u201d\u2019»)]").endswith(("?", ":", ";", ",")):
        return False
    if not (s.from_list or text.rstrip("\"'\u201d\u2019»)]").endswith((".", "!"))):
        return False
    return text.count("(") == text.count(")") and text.count('"') % 2 == 0


def _statement_eligible(s: Sentence) -> bool:
    """A sentence that makes sense alone as a true/false statement."""
    statement = _statement_text(s.text)
    return len(statement.split()) >= MIN_SENTENCE_WORDS and not _depends_on_context(s)


def _depends_on_context(s: Sentence) -> bool:
    """True when a pronoun comes before the sentence's first key term ("It was ...",
    "Later that month it adopted ..."): the sentence leans on the one before."""
    first_term = min((o.start for o in s.occurrences), default=len(s.text))
    head = s.text[:first_term]
    return any(w.casefold() in _PRONOUN_STARTS for w in re.findall(r"\w+", head))


def _statement_text(text: str) -> str:
    """A sentence as a statement: a leading "However," or "For example," removed."""
    trimmed = _DISCOURSE_MARKER_RE.sub("", text.strip(), count=1)
    if not trimmed:
        return text.strip()
    return trimmed[:1].upper() + trimmed[1:]


def _swappable(s: Sentence) -> bool:
    """False for sentences where another value could be true too (lists, hedges, negations,
    comparisons)."""
    words = set(s.normalised.split())
    return not words & _OPEN_ENDED_WORDS


def _numeric_swap_is_safe(occ: Occurrence, info: TermInfo) -> bool:
    if occ.value is None or info.value is None or occ.value == info.value:
        return False
    if occ.before2 in _INEQUALITY_WORDS - _APPROXIMATE_WORDS:
        return False  # "above about 40 degrees", "at least 1830"
    if occ.before in _APPROXIMATE_WORDS:
        larger = max(abs(occ.value), abs(info.value))
        return abs(occ.value - info.value) >= 0.25 * larger
    return occ.before not in _INEQUALITY_WORDS


def _blankable(s: Sentence, occ: Occurrence) -> bool:
    """One occurrence only (two would make the blank ambiguous), and words left around it."""
    same = sum(1 for o in s.occurrences if o.kind is occ.kind and o.key == occ.key)
    padded = f" {s.normalised} "
    needle = f" {normalise(occ.surface)} "
    remaining = len(s.text[: occ.start].split()) + len(s.text[occ.end :].split())
    return same == 1 and needle.strip() != "" and padded.count(needle) == 1 and remaining >= 4


def _accepted_answers(occ: Occurrence) -> list[str]:
    """The term itself, plus forms that are clearly the same answer: without accents,
    without a leading title ("King Louis XVI" → "Louis XVI")."""
    answers = [occ.surface]
    first, _, rest = occ.surface.partition(" ")
    if occ.kind is TermKind.PROPER and rest and first.casefold() in _TITLE_WORDS:
        answers.append(rest)
    answers += [strip_accents(a) for a in answers]
    return list(dict.fromkeys(answers))


def _cloze(blank: _Blank) -> str:
    text, occ = blank.sentence.text, blank.occurrence
    return text[: occ.start] + BLANK + text[occ.end :]


def _says(s: Sentence) -> str:
    return f'The text says: "{s.text}"'


def _similar_length(a: str, b: str) -> bool:
    return max(len(a), len(b)) <= 2 * min(len(a), len(b))


def _is_plural(surface: str) -> bool:
    last = surface.split()[-1] if surface.split() else surface
    return stem(last) != last.casefold()


def _variants(a: str, b: str) -> bool:
    """True when two terms are the same thing written differently, or one contains the other."""
    na, nb = normalise(strip_accents(a)), normalise(strip_accents(b))
    if not na or not nb or na == nb:
        return True
    if f" {na} " in f" {nb} " or f" {nb} " in f" {na} ":
        return True
    sa = " ".join(stem(w) for w in na.split())
    sb = " ".join(stem(w) for w in nb.split())
    return sa == sb or sa.startswith(sb) or sb.startswith(sa)


def _telling(neighbours: set[str]) -> set[str]:
    """The neighbouring words ("<green", ">absorbs") that are not function words."""
    return {n for n in neighbours if n[1:] not in STOP_WORDS}


def _keeps_theme(swap: _Swap, theme: TermInfo) -> bool:
    """A swapped statement still about ``theme`` (the theme itself was not swapped)."""
    return swap.occurrence.key != theme.key and swap.sentence.index in theme.sentences
