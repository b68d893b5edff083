"""What the offline drafter can ask about one analysed text: blanks and swaps.

A ``Blank`` is a key term that a cloze item can leave out; a ``Swap`` is a sentence with
one key term replaced by another of the same kind, checked to be false *for the text*
(the predicates in ``offline_predicates`` decide what is safe). ``CandidateFinder``
scores both for a difficulty and caches them; which items use them is the business of
``offline_questions``.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from quizplatform.ai.offline_language import ARTICLES, CAPITALISED_NOUNS
from quizplatform.ai.offline_lexicon import normalise, stem
from quizplatform.ai.offline_model import (
    NUMERIC_KINDS,
    Occurrence,
    Sentence,
    TermInfo,
    TermKind,
    TextAnalysis,
)
from quizplatform.ai.offline_predicates import (
    blankable,
    depends_on_context,
    is_plural,
    numeric_swap_is_safe,
    options_acceptable,
    statement_eligible,
    statement_text,
    swappable,
    telling,
    usable_sentence,
    variants,
)
from quizplatform.ai.offline_terms import unit_key

CHOICE_DISTRACTORS = 3
KIND_WEIGHTS = {
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
_SENTENCE_JITTER = 1.0
_MAX_SAME_KIND_TERMS = 60  # distractor and swap candidates looked at per term


@dataclass(frozen=True)
class Blank:
    """A key term of a sentence that can be blanked out."""

    sentence: Sentence
    occurrence: Occurrence
    score: float


@dataclass(frozen=True)
class Swap:
    """A sentence with one key term replaced by another of the same kind."""

    sentence: Sentence
    occurrence: Occurrence
    replacement: str
    statement: str
    score: float


class CandidateFinder:
    """The usable sentences of one analysed text, with their blanks and safe swaps.

    ``difficulty`` is one of the ``KIND_WEIGHTS`` keys. Creating a finder draws one random
    number per usable sentence (a jitter that varies the sentences chosen per seed).
    """

    def __init__(self, analysis: TextAnalysis, rng: random.Random, difficulty: str) -> None:
        self.analysis = analysis
        self.rng = rng
        self.difficulty = difficulty
        self.sentences = [s for s in analysis.sentences if usable_sentence(s)]
        self.jitter = {s.index: rng.random() * _SENTENCE_JITTER for s in self.sentences}
        self._swaps: dict[int, list[Swap]] = {}
        self._statements: list[Sentence] | None = None
        self._terms_by_kind: dict[TermKind, list[TermInfo]] = {}
        self._blanks: list[Blank] | None = None
        self._content_words: set[str] | None = None

    def blanks(self) -> list[Blank]:
        """Every blankable key term of the usable sentences, scored (cached)."""
        if self._blanks is None:
            weights = KIND_WEIGHTS[self.difficulty]
            self._blanks = [
                Blank(s, occ, weights[occ.kind] + self._salience(occ) + self.quality(s))
                for s in self.sentences
                for occ in s.occurrences
                if blankable(s, occ)
            ]
        return self._blanks

    def _salience(self, occ: Occurrence) -> float:
        info = self.analysis.term(occ)
        if occ.kind is TermKind.CONTENT:
            return 0.15 * min(info.count, 4) + (0.2 if len(occ.surface) >= 8 else 0.0)
        return 0.1 * min(info.count, 3)

    def quality(self, s: Sentence) -> float:
        """How good a sentence is to ask about: mid-length, standing alone (plus jitter)."""
        quality = self.jitter[s.index]
        if 10 <= s.word_count <= 25:
            quality += 0.5
        if depends_on_context(s):
            quality -= 1.0
        return quality

    def statement_sentences(self) -> list[Sentence]:
        """The usable sentences that make sense alone as statements (cached)."""
        if self._statements is None:
            self._statements = [s for s in self.sentences if statement_eligible(s)]
        return self._statements

    def distractors(self, blank: Blank) -> list[str] | None:
        """Three same-kind terms of the text that make the sentence false for the text."""
        candidates = [
            (self.similarity(blank.occurrence, info), swap.replacement)
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
            if options_acceptable(options) and not any(variants(surface, c) for c in chosen):
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

    def similarity(self, occ: Occurrence, other: TermInfo) -> float:
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

    def swaps(self, s: Sentence) -> list[Swap]:
        """The safe same-kind swaps of one statement sentence, best first (cached)."""
        if s.index not in self._swaps:
            found = []
            if swappable(s):
                for occ in s.occurrences:
                    if not blankable(s, occ):
                        continue
                    for info in self._same_kind_terms(occ):
                        swap = self._swap(s, occ, info, statement=True)
                        if swap is not None:
                            found.append(swap)
            found.sort(key=lambda w: -w.score)
            self._swaps[s.index] = found
        return self._swaps[s.index]

    def _swap(
        self, s: Sentence, occ: Occurrence, info: TermInfo, *, statement: bool
    ) -> Swap | None:
        """``s`` with ``occ`` replaced by ``info``, when that is safely false for the text.

        ``statement``: the result is shown alone (true/false, multiple choice), so it must
        also read well: content words then need a context in common with the key.
        """
        if occ.lead or info.lead_only:
            return None  # a sentence's first word may be a name: typed answers only
        if not self._compatible(occ, info, statement=statement):
            return None
        replacement = self._replacement_surface(s, occ, info)
        if replacement is None or not self._swap_is_safe(s, occ, info, replacement):
            return None
        swapped = statement_text(s.text[: occ.start] + replacement + s.text[occ.end :])
        if self.analysis.stated(swapped):
            return None
        score = _SWAP_KIND_PREFERENCE[occ.kind] + self.quality(s) + self.similarity(occ, info)
        return Swap(s, occ, replacement, swapped, score)

    def _compatible(self, occ: Occurrence, info: TermInfo, *, statement: bool) -> bool:
        """Whether ``info`` can stand where ``occ`` stands in the sentence's grammar."""
        key_info = self.analysis.term(occ)
        articles = ARTICLES.get(self.analysis.language, frozenset())
        if not self.analysis.english and occ.before in articles - info.befores:
            # Gender and elision: "le cycle" takes no "photosynthèse", "l'oxygène" no
            # "glucose", "la Bastille" no "Louis XVI". The replacement must have been
            # seen after the same article.
            return False
        if occ.kind is TermKind.PROPER:
            if self._modifier(key_info) or self._modifier(info):
                return False  # "the *Indian* plate", "the *Roman* town": not a name to swap
            return (occ.before == "the") == info.takes_article and key_info.place == info.place
        if occ.kind is TermKind.NUMBER:
            return unit_key(occ.unit) in info.units
        if occ.kind is TermKind.CONTENT:
            if key_info.adjective_like != info.adjective_like:
                return False
            if occ.modifier != (2 * info.modifiers > info.count):
                return False  # "a vast network" takes no "empire"
            if self.analysis.language in CAPITALISED_NOUNS and (
                bool(key_info.befores & articles) != bool(info.befores & articles)
                or key_info.place != info.place
            ):
                return False  # German names take no article, nouns do: never mix them
            # Shown alone, a swapped word must have been seen next to one of the key's
            # neighbouring words ("absorbs _", "green _"), not merely after "the", or
            # both must be specific terms (rare words, wordfreq) seen after the same
            # place word ("in the stroma", "in the thylakoid membranes").
            if statement:
                specific = self.analysis.specific(key_info) and self.analysis.specific(info)
                if specific and key_info.places & info.places:
                    return True
            if len(occ.surface.split()) != len(info.surfaces[0].split()):
                return False
            return not statement or bool(telling(key_info.neighbours) & telling(info.neighbours))
        return True

    def _modifier(self, info: TermInfo) -> bool:
        """A name used as an adjective: right before a noun of the text."""
        if info.kind is TermKind.PROPER and info.key in self.analysis.modifying_names:
            return True
        if self._content_words is None:
            self._content_words = {
                word
                for kind, key in self.analysis.terms
                if kind is TermKind.CONTENT
                for word in key.split()[:1]
            }
        return any(n[0] == ">" and stem(n[1:]) in self._content_words for n in info.neighbours)

    def _replacement_surface(self, s: Sentence, occ: Occurrence, info: TermInfo) -> str | None:
        if occ.kind is TermKind.CONTENT:
            plural = is_plural(occ.surface)
            forms = [f for f in info.surfaces if is_plural(f) == plural]
            if self.analysis.language not in CAPITALISED_NOUNS:
                forms = [f.casefold() for f in forms]
            if not forms:
                return None
            surface = forms[0]
        else:
            surface = info.surfaces[0]
        if not any(c.isalnum() for c in s.text[: occ.start]) and surface[:1].islower():
            surface = surface[:1].upper() + surface[1:]  # it starts the sentence
        return surface

    def _swap_is_safe(self, s: Sentence, occ: Occurrence, info: TermInfo, replacement: str) -> bool:
        if occ.kind in NUMERIC_KINDS and not numeric_swap_is_safe(occ, info):
            return False
        if any(o.key == info.key and o.kind is info.kind for o in s.occurrences):
            return False
        if f" {normalise(replacement)} " in f" {s.normalised} ":
            return False
        replacement_stems = {stem(w) for w in normalise(replacement).split()}
        if occ.kind not in NUMERIC_KINDS and replacement_stems <= s.stems:
            return False  # "chloroplasts ... called chloroplast"
        if variants(occ.surface, replacement):
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
