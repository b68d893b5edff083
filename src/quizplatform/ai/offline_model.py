"""What the offline text analysis finds: sentences, their key terms, and the terms over
the whole text (``analyse_text`` in ``offline_text`` builds them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from quizplatform.ai.offline_lexicon import normalise


class TermKind(StrEnum):
    """What a key term is; a distractor or a swap always has the same kind as the key."""

    YEAR = "year"
    NUMBER = "number"
    PROPER = "proper"
    CONTENT = "content"


NUMERIC_KINDS = frozenset({TermKind.YEAR, TermKind.NUMBER})

_ADJECTIVE_ENDINGS = ("al", "ous", "ive", "ic", "ful", "less", "able", "ible", "ary", "ish")


@dataclass(frozen=True)
class Occurrence:
    """One key term in one sentence: ``sentence.text[start:end] == surface``."""

    kind: TermKind
    key: str
    start: int
    end: int
    surface: str
    value: float | None = None
    unit: str | None = None
    before: str = ""  # the word before it, case-folded ("in", "about", "than")
    before2: str = ""  # the word before that
    # A sentence's capitalised first word taken as a term on the word-frequency data
    # alone ("Photosynthesis is ..."): it may be a name, so it is only ever blanked for a
    # typed answer, never given distractors or swapped.
    lead: bool = False
    # A content word right before another word that is no term ("a *vast* network"): an
    # adjective or a noun used as one; it only stands in for words used the same way.
    modifier: bool = False


@dataclass
class Sentence:
    """One sentence of the text, with its key terms in text order (``occurrences``)."""

    index: int
    text: str
    prose: bool
    from_list: bool
    normalised: str
    word_count: int
    stems: frozenset[str]
    occurrences: list[Occurrence] = field(default_factory=list)


@dataclass
class TermInfo:
    """A key term over the whole text."""

    kind: TermKind
    key: str
    surfaces: list[str] = field(default_factory=list)
    sentences: list[int] = field(default_factory=list)
    neighbours: set[str] = field(default_factory=set)
    units: set[str] = field(default_factory=set)
    count: int = 0
    after_the: int = 0  # occurrences right after "the"
    after_place_word: int = 0  # occurrences after "in", "at", "to", ...: probably a place
    value: float | None = None
    leads: int = 0  # occurrences that are ``Occurrence.lead``
    modifiers: int = 0  # occurrences that are ``Occurrence.modifier``
    places: set[str] = field(default_factory=set)  # "in" for "in (the) stroma"
    befores: set[str] = field(default_factory=set)  # the words right before it ("le", "la")

    @property
    def lead_only(self) -> bool:
        """Only ever seen as a sentence's first word: it may be a name or a noun."""
        return self.leads == self.count

    @property
    def place(self) -> bool:
        """Seen after "in", "at", "to", "from" ...: a place (or a time) rather than an agent."""
        return self.after_place_word > 0

    @property
    def adjective_like(self) -> bool:
        """Ends like an English adjective ("political", "famous"): such words replace
        each other, not nouns."""
        return self.key.split()[-1].endswith(_ADJECTIVE_ENDINGS)

    @property
    def takes_article(self) -> bool:
        """Mostly written "the X" ("the Sun", "the Solar System")."""
        return 2 * self.after_the > self.count


@dataclass
class TextAnalysis:
    """A whole text: its sentences, its key terms by (kind, key), and the stems found in
    more than 40 % of the sentences (``common_stems``), which say nothing particular."""

    sentences: list[Sentence]
    terms: dict[tuple[TermKind, str], TermInfo]
    normalised_source: str
    english: bool
    common_stems: frozenset[str]
    language: str = "en"  # detected (``offline_language``), "und" when undetermined
    # Content terms whose last word is rare in the language (wordfreq): "glucose",
    # "carbon dioxide", not "water". Such terms replace each other in statements.
    specific_terms: frozenset[str] = frozenset()
    # Names seen right before a noun ("the *Indian* plate"): adjectives, not swapped.
    modifying_names: frozenset[str] = frozenset()

    def specific(self, info: TermInfo) -> bool:
        """A content term that is a specific (rare) word of the language."""
        return info.kind is TermKind.CONTENT and info.key in self.specific_terms

    def stated(self, statement: str) -> bool:
        """True when the text contains ``statement`` (compared normalised)."""
        wanted = normalise(statement)
        return bool(wanted) and wanted in self.normalised_source

    def term(self, occurrence: Occurrence) -> TermInfo:
        """The whole-text record of the term that ``occurrence`` is one use of."""
        return self.terms[(occurrence.kind, occurrence.key)]
