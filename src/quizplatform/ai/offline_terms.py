"""Key-term extraction for the offline drafter: numbers and years, proper noun phrases,
and content terms (salient lower-case words and two-word compounds).

The finders work on one sentence's text and its tokens; ``ContentVocabulary`` first
learns from the whole text which lower-case words are salient.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections import Counter
from dataclasses import dataclass

from quizplatform.ai.offline_language import UNDETERMINED, LanguageProfile
from quizplatform.ai.offline_lexicon import MONTHS, STOP_WORDS, WORD_RE, stem, words
from quizplatform.ai.offline_model import Occurrence, Sentence, TermKind

_TITLES = frozenset({"mr", "mrs", "ms", "dr", "prof", "st", "sir", "mt"})
_WEEKDAYS = words("monday tuesday wednesday thursday friday saturday sunday")
# Lower-case words allowed inside a proper noun phrase between capitalised words:
# "Statue of Liberty", "Catherine the Great", "Leonardo da Vinci".
NAME_CONNECTORS = words("of de du des la le von van der den da di del al bin ibn")
_CONNECTOR_SEQUENCES = frozenset(
    [*NAME_CONNECTORS, "of the", "and of", "and of the", "de la", "van der", "van den"]
)
# Stop words that may still be part of a name when capitalised: "Great Red Spot",
# "New Zealand", "Second World War".
_NAME_STOP_WORDS = words("great new old first second third last high little")
_ROMAN_RE = re.compile(r"^[IVXLC]+$")
_YEAR_ERAS = frozenset({"bc", "bce", "ad", "ce"})
_ATTACHED_UNITS = words("km kg g mg m cm mm nm s ms h l ml kw w v hz khz mhz ghz mph kph kmh")
_SIGN_UNITS = ("%", "°")

_NUMBER_RE = re.compile(
    r"(?<![\w.,:/\u2013\u2014-])"
    r"(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    r"(?![\d])(?![.,:/\u2013\u2014-]\d)"
)
_UNIT_LOOKBACK = 80
_UNIT_NAME_RE = re.compile(r"\d\s*(?:[^\W\d_]+\s+)?$")  # "40 degrees |Celsius", "5 |Kelvin"


@dataclass(frozen=True)
class Token:
    """A word of a sentence: ``text[start:end]``, a possessive "'s" left out."""

    start: int
    end: int
    text: str

    @property
    def folded(self) -> str:
        """The word case-folded."""
        return self.text.casefold()

    @property
    def capitalised(self) -> bool:
        """The word starts with a capital letter."""
        return self.text[:1].isupper()


def tokenise(text: str, *, elided: bool = False) -> list[Token]:
    """The words of ``text`` (letters, inner apostrophes and hyphens), in order.
    ``elided``: an elided article or pronoun is split off ("l'oxygène" → "oxygène")."""
    found = []
    for m in WORD_RE.finditer(text):
        word = m.group()
        start, end = m.start(), m.end()
        if word.endswith(("'s", "\u2019s")) and len(word) > 2:
            end -= 2
            word = word[:-2]
        if elided and (elision := _ELISION_RE.match(word)):
            start += elision.end()
            word = word[elision.end() :]
        found.append(Token(start, end, word))
    return found


_ELISION_RE = re.compile(r"(?:[cdjlmnst]|qu)['\u2019](?=\w)", re.IGNORECASE)


def _word_before(text: str, start: int, back: int = 1) -> str:
    before = WORD_RE.findall(text[:start][-60:])
    return before[-back].casefold() if len(before) >= back else ""


def find_numbers(text: str) -> list[Occurrence]:
    """The numbers and years of a sentence, with their unit words (days of a month and
    digits glued to letters, such as "3rd", are left out)."""
    found = []
    for m in _NUMBER_RE.finditer(text):
        unit = _unit_after(text, m.end())
        if unit is None:
            continue  # digits glued to letters: "3rd", "5x"
        before = _word_before(text, m.start())
        after = text[m.end() :].lstrip()
        next_word = WORD_RE.match(after)
        if _is_day_of_month(m.group(), before, next_word.group() if next_word else ""):
            continue
        value = float(m.group().replace(",", ""))
        kind = _number_kind(m.group(), unit, before)
        key = f"{value:g}"
        before2 = _word_before(text, m.start(), 2)
        found.append(
            Occurrence(
                kind, key, m.start(), m.end(), m.group(), value, unit or None, before, before2
            )
        )
    return found


def _unit_after(text: str, end: int) -> str | None:
    """The unit word after a number ("" for none); None when the number is not one."""
    rest = text[end:]
    if rest[:1].isalpha():
        glued = WORD_RE.match(rest)
        word = glued.group() if glued else ""
        return word.casefold() if word.casefold() in _ATTACHED_UNITS else None
    if rest.startswith(_SIGN_UNITS):
        return rest[0]
    after = rest.lstrip()
    word_match = WORD_RE.match(after)
    if not word_match or len(after) == len(rest):
        return ""
    word = word_match.group()
    if word.casefold() in _YEAR_ERAS:
        return word.casefold()
    if word[:1].isupper() or word.casefold() in _NON_UNITS:
        return ""
    return word.casefold()


_NON_UNITS = STOP_WORDS - words("hundred thousand million billion percent")


def unit_key(unit: str | None) -> str:
    """A number's unit for comparing units: "" for none, "percent" for "%"."""
    if not unit:
        return ""
    return "percent" if unit == "%" else stem(unit)


def _is_day_of_month(digits: str, before: str, after: str) -> bool:
    if not digits.isdigit() or int(digits) > 31:
        return False
    return before in MONTHS or after.casefold() in MONTHS


def _number_kind(digits: str, unit: str, before: str) -> TermKind:
    if unit in _YEAR_ERAS or before in _YEAR_ERAS:
        return TermKind.YEAR
    if digits.isdigit() and len(digits) == 4 and 1000 <= int(digits) <= 2099 and not unit:
        return TermKind.YEAR
    return TermKind.NUMBER


def find_proper_nouns(
    sentence: Sentence, toks: list[Token], mid_caps: set[str], lower_seen: set[str]
) -> list[Occurrence]:
    """The proper noun phrases of a sentence ("Marie Curie", "Statue of Liberty"); a
    sentence's first word counts only with evidence from the rest of the text."""
    found: list[Occurrence] = []
    text = sentence.text
    i = 0
    while i < len(toks):
        if not _can_start_name(toks, i, mid_caps, lower_seen):
            i += 1
            continue
        j = _name_end(text, toks, i)
        words = toks[i:j]
        while words and (words[-1].folded in NAME_CONNECTORS or words[-1].folded == "the"):
            words = words[:-1]
        if words and (words[0].folded in STOP_WORDS) and len(words) == 1:
            words = []  # a lone "First" or "Great" is no name
        # Only the few characters before the name can hold "<number> <unit word>": a slice
        # of the whole prefix made this quadratic in texts full of capitalised words.
        at = words[0].start if words else 0
        if words and _UNIT_NAME_RE.search(text, max(0, at - _UNIT_LOOKBACK), at):
            words = []  # part of a unit: "40 degrees Celsius"
        if words:
            start, end = words[0].start, words[-1].end
            surface = text[start:end]
            found.append(
                Occurrence(
                    TermKind.PROPER,
                    surface.casefold(),
                    start,
                    end,
                    surface,
                    None,
                    None,
                    _word_before(text, start),
                )
            )
        i = max(j, i + 1)
    return found


def _is_name_word(tok: Token) -> bool:
    text = tok.text
    if not tok.capitalised or len(text) < 2:
        return False
    if tok.folded in STOP_WORDS and tok.folded not in _NAME_STOP_WORDS:
        return False
    if tok.folded in MONTHS or tok.folded in _WEEKDAYS or tok.folded in _TITLES:
        return False
    return not (text.isupper() and len(text) > 6)  # shouted words, not acronyms


def _can_start_name(toks: list[Token], i: int, mid_caps: set[str], lower_seen: set[str]) -> bool:
    tok = toks[i]
    if not _is_name_word(tok):
        return False
    if i > 0:
        return True
    # A sentence's first word is capitalised anyway: take it as a name only with evidence.
    if tok.folded in mid_caps:
        return True
    nxt = toks[1] if len(toks) > 1 else None
    return (
        tok.folded not in lower_seen
        and nxt is not None
        and _is_name_word(nxt)
        and not tok.text.endswith(("ing", "ed", "ly"))
    )


def _name_end(text: str, toks: list[Token], i: int) -> int:
    """The token index just past the name that starts at token ``i``."""
    k = i + 1
    while k < len(toks) and _joined(text, toks[k - 1], toks[k]):
        tok = toks[k]
        if _is_name_word(tok) or _ROMAN_RE.match(tok.text):
            k += 1
            continue
        joiners = _connector_length(text, toks, k)
        if not joiners:
            break
        k += joiners + 1
    return k


def _joined(text: str, first: Token, second: Token) -> bool:
    """Only spaces (or a possessive "'s") between two words of a name."""
    gap = text[first.end : second.start].strip()
    return gap in ("", "'s", "\u2019s")


def _connector_length(text: str, toks: list[Token], k: int) -> int:
    """How many connector words at ``k`` join two parts of one name ("Statue *of*
    Liberty", "Rights of Man *and of the* Citizen"); 0 when they do not."""
    for length in (3, 2, 1):
        end = k + length
        if end >= len(toks):
            continue
        sequence = " ".join(t.folded for t in toks[k:end])
        if sequence not in _CONNECTOR_SEQUENCES or not _is_name_word(toks[end]):
            continue
        if all(
            _joined(text, a, b) for a, b in zip(toks[k - 1 : end], toks[k : end + 1], strict=True)
        ):
            return length
    return 0


class ContentVocabulary:
    """Salient lower-case words of a text, and two-word compounds ("carbon dioxide").

    A word is salient when the text shows it is a noun and the language data shows it is
    a term: it follows an article or a preposition somewhere in the text ("the orbit",
    "of chlorophyll"), or YAKE ranks it among the text's keyphrases and wordfreq finds it
    rare (a specific word), or it is coordinated with a salient word ("carbon dioxide
    *and water*"). In English a word right before an article or after "to", "which" or
    a pronoun is taken for a verb ("which contain the"). Two adjacent salient words make
    one compound term; before a salient word, a word that is not salient (a verb, a
    modifier) is left out, and so is one after it ("reactions *happen*"). Longer runs
    are skipped, since any one word of them would be an odd blank. In German, a
    capitalised word after an article is a noun. A sentence's capitalised first word
    seen nowhere else counts when it is a rare keyword ("Photosynthesis is ..."); it is
    marked ``lead``. A text in a language without word lists: words of six letters or
    more that occur at least twice.
    """

    def __init__(
        self,
        sentences: list[Sentence],
        tokens: list[list[Token]],
        proper_words: set[str],
        lower_seen: set[str],
        english: bool,
        profile: LanguageProfile | None = None,
    ) -> None:
        self.english = english
        self.profile = profile if profile is not None else LanguageProfile(UNDETERMINED)
        self.stop_words = STOP_WORDS | self.profile.stop_words
        self.introducers = self.profile.noun_introducers or _NOUN_INTRODUCERS
        self.proper_words = proper_words
        self.lower_seen = lower_seen
        self.keyword_stems = {stem(_ELISION_RE.sub("", w)) for w in self.profile.keyphrase_words}
        # German: the words seen capitalised after a sentence's first word are nouns.
        self.capitalised_nouns: set[str] = set()
        if self.profile.capitalised_nouns:
            self.capitalised_nouns = {
                tok.folded
                for sentence, toks in zip(sentences, tokens, strict=True)
                if sentence.prose
                for tok in toks[1:]
                if tok.capitalised and tok.folded not in self.stop_words
            }
        self.forms: dict[str, set[str]] = {}  # the case-folded forms of each stem
        self.modifying_names: set[str] = set()  # keys of names seen before a noun
        counts: Counter[str] = Counter()
        evidence: Counter[str] = Counter()
        verb_evidence: Counter[str] = Counter()
        for sentence, toks in zip(sentences, tokens, strict=True):
            if not sentence.prose:
                continue
            for position, tok in enumerate(toks):
                if self._candidate(sentence.text, toks, position):
                    word = stem(tok.text)
                    counts[word] += 1
                    self.forms.setdefault(word, set()).add(tok.folded)
                    if position > 0 and toks[position - 1].folded in self.introducers:
                        evidence[word] += 1
                    if self._verb_position(toks, position):
                        verb_evidence[word] += 1
        self.salient = {
            w for w, n in counts.items() if self._salient(w, n, evidence[w], verb_evidence[w])
        }
        # Salient words that wordfreq finds rare in the language: specific terms.
        self.specific = {
            w
            for w in self.salient
            if self.profile.known and any(self.profile.specific(f) for f in self.forms[w])
        }
        if self.profile.known:
            self.salient |= self._coordinated(sentences, tokens, evidence)

    def _candidate(self, text: str, toks: list[Token], position: int) -> bool:
        tok = toks[position]
        folded = tok.folded
        min_length = 4 if self.english or self.profile.known else 6
        if len(folded) < min_length or folded in self.stop_words:
            return False
        if self.profile.capitalised_nouns:  # German: nouns only, and all are capitalised
            return folded in self.capitalised_nouns and not _follows_number(text, toks, position)
        if folded in self.proper_words and folded not in self.lower_seen:
            return False  # only ever seen capitalised: part of a name
        if tok.capitalised and not (
            position == 0
            and tok.text[1:].islower()
            and (folded in self.lower_seen or self._lead_term(tok))
        ):
            return False
        return not _follows_number(text, toks, position)  # a unit: "465 degrees"

    def _lead_term(self, tok: Token) -> bool:
        """A sentence's first word, seen nowhere else, that is a rare keyword."""
        profile = self.profile
        word = stem(tok.text)
        return profile.known and word in self.keyword_stems and profile.specific(tok.folded)

    def _salient(self, word: str, count: int, evidence: int, verb_evidence: int) -> bool:
        profile = self.profile
        if not profile.known:
            return evidence > 0 if self.english else count >= 2
        in_keyphrase = word in self.keyword_stems
        specific = any(profile.specific(form) for form in self.forms.get(word, {word}))
        keyword = in_keyphrase and specific
        if self.english:
            if word.endswith("ly"):
                return False  # an adverb: "widely"
            return evidence > 0 or (keyword and verb_evidence == 0 and not word.endswith("ed"))
        # Elsewhere prepositions also introduce verbs ("pour *fabriquer*"), so a verb
        # position always counts against a word.
        noun = keyword or (evidence > 0 and (in_keyphrase or specific))
        return noun and verb_evidence == 0

    def _coordinated(
        self, sentences: list[Sentence], tokens: list[list[Token]], evidence: Counter[str]
    ) -> set[str]:
        """Words joined by "and"/"or" to a salient word ("carbon dioxide and water")."""
        found: set[str] = set()
        conjunctions = self.profile.conjunctions
        for sentence, toks in zip(sentences, tokens, strict=True):
            if not sentence.prose:
                continue
            for position in range(2, len(toks)):
                if toks[position - 1].folded not in conjunctions:
                    continue
                word = stem(toks[position].text)
                if stem(toks[position - 2].text) not in self.salient or word in self.salient:
                    continue
                # The word ends its phrase: "rights and *swift* justice" joins no noun.
                last = position + 1 == len(toks) or not self._candidate(
                    sentence.text, toks, position + 1
                )
                if (
                    last
                    and self._candidate(sentence.text, toks, position)
                    and (evidence[word] > 0 or word in self.keyword_stems)
                ):
                    found.add(word)
        return found

    def occurrences(
        self, sentence: Sentence, toks: list[Token], taken: list[Occurrence]
    ) -> list[Occurrence]:
        """The content terms of one sentence, outside the spans already ``taken``."""
        busy = [(o.start, o.end) for o in taken]
        name_ends = {o.end: o.key for o in taken if o.kind is TermKind.PROPER}
        runs: list[list[Token]] = []
        for position, tok in enumerate(toks):
            # A word right after a name belongs to it: "the Calvin cycle"; the name is
            # then used as a modifier ("the Indian plate").
            glued = position > 0 and toks[position - 1].end in name_ends
            if glued and self._candidate(sentence.text, toks, position):
                self.modifying_names.add(name_ends[toks[position - 1].end])
            free = not glued and not any(s < tok.end and tok.start < e for s, e in busy)
            adverb = tok.folded.endswith("ly") and stem(tok.text) not in self.salient
            if adverb or not (free and self._candidate(sentence.text, toks, position)):
                runs.append([])
            elif (
                runs
                and runs[-1]
                and not self.profile.capitalised_nouns  # German compounds are one word
                and _adjacent(sentence.text, runs[-1][-1], tok)
            ):
                runs[-1].append(tok)
            else:
                runs.append([tok])
        found = []
        following = {a.start: b for a, b in itertools.pairwise(toks)}
        for run in runs:
            if len(run) > 1 and (
                stem(run[-1].text) not in self.salient or self.profile.participle(run[-1].text)
            ):
                run = run[:-1]  # "reactions happen": a noun phrase ends with its noun
            stems = [stem(t.text) for t in run]
            if len(run) == 1 and stems[0] in self.salient:
                occ = self._occurrence(sentence.text, run[0], run[0], stems[0])
                # One word right before another word (not a function word): maybe a
                # modifier ("a *vast* network", "an *ancient* Greek poem").
                after = following.get(run[0].start)
                modifier = (
                    after is not None
                    and after.folded not in self.stop_words
                    and _adjacent(sentence.text, run[0], after)
                )
                found.append(dataclasses.replace(occ, modifier=modifier))
            elif len(run) == 2 and stems[0] in self.salient and stems[1] in self.salient:
                found.append(self._occurrence(sentence.text, run[0], run[1], " ".join(stems)))
            elif len(run) == 2 and stems[1] in self.salient:
                # "absorb water", "crewed mission": the first word is a verb or a modifier.
                found.append(self._occurrence(sentence.text, run[1], run[1], stems[1]))
        return found

    def _verb_position(self, toks: list[Token], position: int) -> bool:
        """Right after "to", "which", a pronoun or an auxiliary, or right before an article
        (``offline_language.VERB_LEADS``, ``ARTICLES``)."""
        before = toks[position - 1].folded if position > 0 else ""
        after = toks[position + 1].folded if position + 1 < len(toks) else ""
        if before in self.profile.verb_leads or before in self.profile.intensifiers:
            return True  # "which *contain*", "very *fertile*"
        return after in self.profile.articles

    def _occurrence(self, text: str, first: Token, last: Token, key: str) -> Occurrence:
        surface = text[first.start : last.end]
        before = _word_before(text, first.start)
        lead = (
            first.start == 0
            and first.capitalised
            and first.folded not in self.lower_seen
            and first.folded not in self.capitalised_nouns
        )
        return Occurrence(
            TermKind.CONTENT, key, first.start, last.end, surface, before=before, lead=lead
        )


def _follows_number(text: str, toks: list[Token], position: int) -> bool:
    before = text[: toks[position].start].rstrip()
    if before[-1:].isdigit():
        return True
    if position == 0 or toks[position - 1].folded not in _MULTIPLIERS:
        return False
    return text[: toks[position - 1].start].rstrip()[-1:].isdigit()


_MULTIPLIERS = words("hundred thousand million billion trillion")

# Words after which a noun phrase starts: evidence that the next word is a noun (or an
# adjective), not a verb.
_NOUN_INTRODUCERS = words("""
    a an the this these those its their his her our your each every some any of in on
    into from with by for through about between
    """)


def _adjacent(text: str, first: Token, second: Token) -> bool:
    return not text[first.end : second.start].strip()
