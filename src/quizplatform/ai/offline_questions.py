"""The offline drafter's question builders, one method per question type.

Cloze types (short answer, numeric, single choice) blank a key term out of a sentence;
statement types (true/false, multiple choice) show sentences of the text, true or with a
key term swapped. A ``SentenceLedger`` shared by all builders keeps one sentence from
serving two items of one type, or more than ``MAX_ITEMS_PER_SENTENCE`` items at all.
Every builder returns the next item, or None when its type has run out.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence

from quizplatform.ai.draft_item import (
    MULTIPLE_CHOICE,
    NUMERIC,
    SHORT_ANSWER,
    SINGLE_CHOICE,
    TRUE_FALSE,
    DraftItem,
)
from quizplatform.ai.offline_candidates import Blank, CandidateFinder, Swap
from quizplatform.ai.offline_lexicon import normalise, strip_accents, words
from quizplatform.ai.offline_model import (
    NUMERIC_KINDS,
    Occurrence,
    Sentence,
    TermInfo,
    TermKind,
    TextAnalysis,
)
from quizplatform.ai.offline_predicates import (
    options_acceptable,
    similar_length,
    statement_text,
    swappable,
)
from quizplatform.ai.offline_wording import Wording, wording
from quizplatform.domain.questions import MISSING_WORD_BLANK

BLANK = MISSING_WORD_BLANK
MULTIPLE_CHOICE_OPTIONS = 4
# Statement sentences a text needs for multiple choice items: with fewer, one item would
# use half of them and the true/false items would repeat its statements.
MIN_MULTIPLE_CHOICE_SENTENCES = 2 * MULTIPLE_CHOICE_OPTIONS
# A sentence serves at most this many items (of different types): more would give answers
# away between the items of one quiz.
MAX_ITEMS_PER_SENTENCE = 2

# Prompt leads and explanations are in the text's language (``offline_wording``).

_TRUE_SHARE = {"easy": 0.65, "medium": 0.5, "hard": 0.4}
_TRUE_FALSE_SLACK = 2  # at most this many more true than false statements, or the reverse
_THEMES_TRIED = 4  # themes tried per multiple choice item before a generic prompt
_TITLE_WORDS = words("""
    king queen emperor empress prince princess president pope saint sir lord lady general
    captain admiral professor dr st
    """)


class SentenceLedger:
    """Which sentences and prompts the items drafted so far use.

    It also keeps one item from giving another's answer away. Per sentence it records the
    key terms items *ask* about (the blanked term of a cloze, the swapped term of a false
    statement) and the ones they *show* as the text has them (every other term of the
    sentence; all of them for a true statement). An item may not show a term that another
    item asks about in that sentence, nor ask about one that another shows: a cloze never
    sits next to the same sentence as a statement, nor next to a cloze of another of its
    terms.
    """

    def __init__(self) -> None:
        self.usage: Counter[int] = Counter()
        self.used: dict[str, set[int]] = defaultdict(set)
        self.blanked: set[tuple[int, str]] = set()
        self.prompts: set[str] = set()
        self.asked: dict[int, set[str]] = defaultdict(set)
        self.shown: dict[int, set[str]] = defaultdict(set)
        self.statements: set[str] = set()  # each false statement is shown once

    def keeps_answers(self, s: Sentence, asked: str | None) -> bool:
        """An item on ``s`` that asks about the term ``asked`` (None: a true statement,
        which asks about none) and shows the others gives no other item's answer away."""
        shown = _keys(s) - {asked} if asked is not None else _keys(s)
        if asked is not None and asked in self.shown[s.index]:
            return False
        return not shown & self.asked[s.index]

    def record(self, s: Sentence, asked: str | None) -> None:
        """Note what an item on ``s`` asks about and shows (see ``keeps_answers``)."""
        if asked is not None:
            self.asked[s.index].add(asked)
        self.shown[s.index] |= _keys(s) - {asked} if asked is not None else _keys(s)

    def fresh(self, kind: str, sentences: Sequence[Sentence]) -> bool:
        """No item of ``kind`` uses these sentences yet, and none is used up."""
        return all(
            s.index not in self.used[kind] and self.usage[s.index] < MAX_ITEMS_PER_SENTENCE
            for s in sentences
        )

    def claim(self, kind: str, prompt: str, sentences: Sequence[Sentence]) -> bool:
        """Record an item's sentences and prompt; False when the prompt is taken."""
        key = normalise(prompt)
        if key in self.prompts:
            return False
        self.prompts.add(key)
        for s in sentences:
            self.used[kind].add(s.index)
            self.usage[s.index] += 1
        return True

    def claim_blank(self, kind: str, prompt: str, blank: Blank) -> bool:
        """``claim`` for a cloze item, which also uses up its term in its sentence."""
        key = blank.occurrence.key
        if not self.keeps_answers(blank.sentence, key):
            return False
        if not self.claim(kind, prompt, [blank.sentence]):
            return False
        self.blanked.add((blank.sentence.index, key))
        self.record(blank.sentence, key)
        return True

    def claim_statements(
        self, kind: str, prompt: str, trues: Sequence[Sentence], falses: Sequence[Swap]
    ) -> bool:
        """``claim`` for statement items: true sentences and swapped ones."""
        if not all(self.keeps_answers(s, None) for s in trues):
            return False
        if not all(self.keeps_answers(f.sentence, f.occurrence.key) for f in falses):
            return False
        statements = {normalise(f.statement) for f in falses}
        if statements & self.statements:
            return False
        if not self.claim(kind, prompt, [*trues, *(f.sentence for f in falses)]):
            return False
        for s in trues:
            self.record(s, None)
        for f in falses:
            self.record(f.sentence, f.occurrence.key)
        self.statements |= statements
        return True


def _keys(s: Sentence) -> set[str]:
    return {o.key for o in s.occurrences}


class ClozeQuestions:
    """Short answer, numeric and single choice items: a sentence with a key term blanked."""

    def __init__(self, finder: CandidateFinder, ledger: SentenceLedger) -> None:
        self.finder = finder
        self.ledger = ledger
        self.words = wording(finder.analysis.language)

    def _cloze_blanks(self, kind: str, kinds: frozenset[TermKind]) -> Iterator[Blank]:
        for blank in self._in_preference_order(kind, self.finder.blanks()):
            if blank.occurrence.kind not in kinds:
                continue
            if (blank.sentence.index, blank.occurrence.key) in self.ledger.blanked:
                continue  # another item already asks for this term in this sentence
            if self.ledger.fresh(kind, [blank.sentence]):
                yield blank

    def _in_preference_order(self, kind: str, blanks: Sequence[Blank]) -> Iterator[Blank]:
        """Blanks on sentences not used for ``kind``, least used sentences first."""
        usage = self.ledger.usage
        fresh = [b for b in blanks if self.ledger.fresh(kind, [b.sentence])]
        fresh.sort(key=lambda b: (usage[b.sentence.index], -b.score))
        return iter(fresh)

    def next_short_answer(self) -> DraftItem | None:
        """A name or a content term to type into the blank."""
        for blank in self._cloze_blanks(
            SHORT_ANSWER, frozenset({TermKind.PROPER, TermKind.CONTENT})
        ):
            prompt = self.words.fill_blank + _cloze(blank)
            if not self.ledger.claim_blank(SHORT_ANSWER, prompt, blank):
                continue
            accepted = _accepted_answers(blank.occurrence, self.finder.analysis)
            return {
                "type": SHORT_ANSWER,
                "prompt": prompt,
                "accepted_answers": accepted,
                "explanation": _says(self.words, blank.sentence),
                "source_quote": blank.sentence.text,
            }
        return None

    def next_numeric(self) -> DraftItem | None:
        """A number or a year to type into the blank."""
        for blank in self._cloze_blanks(NUMERIC, NUMERIC_KINDS):
            occ = blank.occurrence
            lead = self.words.fill_year if occ.kind is TermKind.YEAR else self.words.fill_number
            prompt = lead + _cloze(blank)
            if occ.value is None or not self.ledger.claim_blank(NUMERIC, prompt, blank):
                continue
            return {
                "type": NUMERIC,
                "prompt": prompt,
                "numeric_answer": float(occ.value),
                "numeric_tolerance": 0.0,
                "explanation": _says(self.words, blank.sentence),
                "source_quote": blank.sentence.text,
            }
        return None

    def next_single_choice(self) -> DraftItem | None:
        """The blanked key among three distractors of its kind from the text."""
        all_kinds = frozenset(TermKind)
        for blank in self._cloze_blanks(SINGLE_CHOICE, all_kinds):
            if not swappable(blank.sentence):
                continue
            distractors = self.finder.distractors(blank)
            if distractors is None:
                continue
            prompt = self.words.complete + _cloze(blank)
            if not self.ledger.claim_blank(SINGLE_CHOICE, prompt, blank):
                continue
            key = blank.occurrence.surface
            options = [key, *distractors]
            self.finder.rng.shuffle(options)
            return {
                "type": SINGLE_CHOICE,
                "prompt": prompt,
                "options": options,
                "correct_options": [key],
                "explanation": _says(self.words, blank.sentence),
                "source_quote": blank.sentence.text,
            }
        return None


class StatementQuestions:
    """True/false and multiple choice items: sentences of the text, true or swapped."""

    def __init__(self, finder: CandidateFinder, ledger: SentenceLedger) -> None:
        self.finder = finder
        self.ledger = ledger
        self.rng = finder.rng
        self.true_false_count = Counter[bool]()
        self.words = wording(finder.analysis.language)
        self.generic_prompts = list(self.words.which_agree)
        self._themes: list[TermInfo] | None = None

    def _by_freshness(self, kind: str, theme: TermInfo | None) -> list[Sentence]:
        """Statement sentences not used for ``kind`` (about ``theme``), least used first."""
        candidates = [
            s
            for s in self.finder.statement_sentences()
            if self.ledger.fresh(kind, [s]) and (theme is None or s.index in theme.sentences)
        ]
        usage = self.ledger.usage
        candidates.sort(key=lambda s: (usage[s.index], -self.finder.quality(s)))
        return candidates

    def _false_candidates(
        self, kind: str, theme: TermInfo | None = None, limit: int = 24
    ) -> list[Swap]:
        """The best swap of each fresh statement sentence, least used sentences first;
        swaps are worked out only for as many sentences as it takes to find ``limit``."""
        candidates: list[Swap] = []
        for s in self._by_freshness(kind, theme):
            best = next(
                (w for w in self.finder.swaps(s) if theme is None or _keeps_theme(w, theme)),
                None,
            )
            if best is not None:
                candidates.append(best)
            if len(candidates) >= limit:
                break
        return candidates

    def next_true_false(self) -> DraftItem | None:
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
        share = _TRUE_SHARE[self.finder.difficulty]
        total = sum(self.true_false_count.values())
        if total == 0:
            return self.rng.random() < share
        return self.true_false_count[True] / total < share

    def _true_statement(self) -> DraftItem | None:
        for s in self._by_freshness(TRUE_FALSE, None):
            prompt = self.words.true_or_false + statement_text(s.text)
            if self.ledger.claim_statements(TRUE_FALSE, prompt, [s], []):
                return {
                    "type": TRUE_FALSE,
                    "prompt": prompt,
                    "true_false_answer": True,
                    "explanation": f"{self.words.true} {_says(self.words, s)}",
                    "source_quote": s.text,
                }
        return None

    def _false_statement(self) -> DraftItem | None:
        for swap in self._false_candidates(TRUE_FALSE):
            prompt = self.words.true_or_false + swap.statement
            if self.ledger.claim_statements(TRUE_FALSE, prompt, [], [swap]):
                return {
                    "type": TRUE_FALSE,
                    "prompt": prompt,
                    "true_false_answer": False,
                    "explanation": f"{self.words.false} {_says(self.words, swap.sentence)} "
                    f"({swap.occurrence.surface}, {self.words.not_} {swap.replacement})",
                    "source_quote": swap.sentence.text,
                }
        return None

    def next_multiple_choice(self) -> DraftItem | None:
        """Four statements, one to three of them true: about a theme of the text first.

        A text of fewer than eight statement sentences gives none: one item would use
        half of them, and the true/false items would repeat its statements."""
        if len(self.finder.statement_sentences()) < MIN_MULTIPLE_CHOICE_SENTENCES:
            return None
        themes = self._unused_themes() if self.words.about_theme else iter(())
        for _, theme in zip(range(_THEMES_TRIED), themes, strict=False):
            item = self._multiple_choice(theme)
            if item is not None:
                return item
        return self._multiple_choice(None) if self.generic_prompts else None

    def _unused_themes(self) -> Iterator[TermInfo]:
        if self._themes is None:
            eligible = {s.index for s in self.finder.statement_sentences()}
            themes = [
                info
                for info in self.finder.analysis.terms.values()
                if info.kind not in NUMERIC_KINDS
                and len(eligible.intersection(info.sentences)) >= MULTIPLE_CHOICE_OPTIONS
            ]
            self._themes = sorted(themes, key=lambda t: (-len(t.sentences), t.key))
        while self._themes:
            yield self._themes.pop(0)

    def _multiple_choice(self, theme: TermInfo | None) -> DraftItem | None:
        correct_count = self.rng.choice((1, 2, 2, 3))
        trues = self._by_freshness(MULTIPLE_CHOICE, theme)
        falses = self._false_candidates(MULTIPLE_CHOICE, theme)
        for wanted_true in (correct_count, 2, 1, 3):
            picked = _pick_statements(trues, falses, wanted_true)
            if picked is not None:
                return self._multiple_choice_item(theme, *picked)
        return None

    def _multiple_choice_item(
        self, theme: TermInfo | None, trues: list[Sentence], falses: list[Swap]
    ) -> DraftItem | None:
        if theme is not None:
            theme_name = theme.surfaces[0]
            if theme.kind is TermKind.CONTENT:
                theme_name = theme_name.casefold()
            if theme.takes_article:
                theme_name = "the " + theme_name
            prompt = (self.words.about_theme or "{theme}").format(theme=theme_name)
        elif self.generic_prompts:
            prompt = self.generic_prompts.pop(0)
        else:
            return None
        if not self.ledger.claim_statements(MULTIPLE_CHOICE, prompt, trues, falses):
            return None
        correct = [statement_text(s.text) for s in trues]
        options = correct + [f.statement for f in falses]
        self.rng.shuffle(options)
        agree = "; ".join(f'"{c}"' for c in correct)
        disagree = "; ".join(
            f'"{f.statement}" ' + self.words.text_has.format(sentence=f.sentence.text)
            for f in falses
        )
        return {
            "type": MULTIPLE_CHOICE,
            "prompt": prompt,
            "options": options,
            "correct_options": correct,
            "explanation": self.words.states.format(agree=agree, disagree=disagree),
            "source_quote": trues[0].text,
        }


def _pick_statements(
    trues: list[Sentence], falses: list[Swap], wanted_true: int
) -> tuple[list[Sentence], list[Swap]] | None:
    """``wanted_true`` true sentences and the rest swapped ones, on distinct sentences of
    similar length."""
    wanted_false = MULTIPLE_CHOICE_OPTIONS - wanted_true
    for anchor in trues[:12]:
        anchor_text = statement_text(anchor.text)
        chosen_true = [anchor]
        used = {anchor.index}
        for s in trues:
            if len(chosen_true) == wanted_true:
                break
            if s.index not in used and similar_length(anchor_text, statement_text(s.text)):
                chosen_true.append(s)
                used.add(s.index)
        chosen_false: list[Swap] = []
        for swap in falses:
            if len(chosen_false) == wanted_false:
                break
            if swap.sentence.index not in used and similar_length(anchor_text, swap.statement):
                chosen_false.append(swap)
                used.add(swap.sentence.index)
        options = [statement_text(s.text) for s in chosen_true] + [
            f.statement for f in chosen_false
        ]
        if (
            len(chosen_true) == wanted_true
            and len(chosen_false) == wanted_false
            and options_acceptable(options)
        ):
            return chosen_true, chosen_false
    return None


def _accepted_answers(occ: Occurrence, analysis: TextAnalysis) -> list[str]:
    """The term itself, plus forms that are clearly the same answer: without accents,
    without a leading title ("King Louis XVI" → "Louis XVI") unless the rest names
    someone else in the text ("Lady Macbeth" is not "Macbeth")."""
    answers = [occ.surface]
    first, _, rest = occ.surface.partition(" ")
    titled = occ.kind is TermKind.PROPER and rest and first.casefold() in _TITLE_WORDS
    if titled and (TermKind.PROPER, rest.casefold()) not in analysis.terms:
        answers.append(rest)
    answers += [strip_accents(a) for a in answers]
    return list(dict.fromkeys(answers))


def _cloze(blank: Blank) -> str:
    text, occ = blank.sentence.text, blank.occurrence
    return text[: occ.start] + BLANK + text[occ.end :]


def _says(words: Wording, s: Sentence) -> str:
    return words.text_says.format(sentence=s.text)


def _keeps_theme(swap: Swap, theme: TermInfo) -> bool:
    """A swapped statement still about ``theme`` (the theme itself was not swapped)."""
    return swap.occurrence.key != theme.key and swap.sentence.index in theme.sentences
