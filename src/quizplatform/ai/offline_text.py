"""Sentence splitting and key-term extraction for the offline drafter.

Pure standard library, English-first heuristics (see ``quizplatform.ai.offline`` for how
the results become questions):

* ``split_sentences`` cuts a text into paragraphs (blank lines, list items, headings) and
  the paragraphs into sentences, without cutting after abbreviations ("e.g.", "Dr.",
  "U.S."), initials ("J. Smith") or inside decimals ("3.14").
* ``analyse_text`` finds the key terms of every sentence and gives each a ``TermKind``:
  a year (1066, 44 BC), a number with an optional unit word (8 planets, 3.5 kg, 1,000),
  a proper noun phrase (Marie Curie, Pacific Ocean) or a content term (a salient
  lowercase word such as "chlorophyll", or a recurring pair such as "carbon dioxide").

Texts in other Latin-script languages are handled with small stop-word lists: they
yield numbers, years and proper nouns, and content terms only when they recur.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum


def words(text: str) -> frozenset[str]:
    """The white-space separated words of ``text``, as a set (for word lists)."""
    return frozenset(text.split())


MIN_SENTENCE_WORDS = 6
MAX_SENTENCE_WORDS = 40


class TermKind(StrEnum):
    """What a key term is; a distractor or a swap always has the same kind as the key."""

    YEAR = "year"
    NUMBER = "number"
    PROPER = "proper"
    CONTENT = "content"


NUMERIC_KINDS = frozenset({TermKind.YEAR, TermKind.NUMBER})

# English function words and the common verbs, adverbs and adjectives that carry no
# subject matter of their own. They never become key terms.
ENGLISH_STOP_WORDS = words("""
    a about above according across actually after afterwards again against ago all almost
    alone along already also although always am among amongst an and another any anyone
    anything anyway anywhere are around as at away back be became because become becomes
    becoming been before beforehand behind being below beside besides best better between
    beyond both but by called can cannot could did do does doing done down due during each
    early either else elsewhere enough especially etc even ever every everyone everything
    everywhere except far few fewer first for former formerly from further furthermore
    gave get gets getting give given gives go goes going gone got great had has have having
    he hence her here hereby herein hers herself high him himself his how however i if in
    indeed instead into is it its itself just keep kept know known large largely last
    later latter least less let like likely little long made mainly make makes making many
    may maybe me meanwhile might mine more moreover most mostly much must my myself near
    nearly necessary need needs neither never nevertheless new next no nobody none nor not
    nothing now nowhere of off often old on once one only onto or other others otherwise
    our ours ourselves out over own part per perhaps place put quite rather really same
    say said says second see seem seemed seeming seems seen several shall she should show
    shown shows side since small so some somehow someone something sometime sometimes
    somewhat somewhere soon still such take taken takes than that the their theirs them
    themselves then thence there thereafter thereby therefore therein these they thing
    things third this those though through throughout thus to today together too took
    toward towards two under until up upon us use used uses using usually various very via
    was way ways we well went were what whatever when whence whenever where whereas whereby
    wherever whether which while whilst who whoever whole whom whose why will with within
    without would yet you your yours yourself yourselves also able called known include
    includes included including important different example examples common commonly
    certain main major often usually total today within became around three four five six
    seven eight nine ten hundred hundreds thousand thousands million millions billion
    billions percent lot lots kind kinds type types form forms number numbers amount
    rest process period result end means case fact role half point order sort deal
    """)

# The commonest function words of a few other Latin-script languages, so that a French
# or German text does not turn "dans" or "wurde" into a key term.
OTHER_STOP_WORDS = words("""
    le la les un une des du de et est sont dans pour avec sur par pas plus qui que quoi
    ce cette ces son sa ses leur leurs elle elles il ils nous vous mais ou donc car ainsi
    aussi comme entre depuis avant après sous très tout tous toute toutes était été être
    avoir fait font peut plusieurs autre autres même lors selon chez vers où quand dont
    der die das ein eine einer eines einem einen und ist sind wird wurde wurden werden im
    in den dem des mit auf für von zu zum zur bei aus nach über unter nicht auch als wie
    oder aber noch nur sehr wenn dass sich sie er es wir ihr ihre sein seine hat haben
    el los las una unos unas y es son en por para con sin sobre entre como pero más muy
    fue fueron ser está están sus del al lo se su también cuando donde desde hasta porque
    il lo gli uno una e è sono di da per con su tra fra come ma più anche nel nella nei
    delle degli dei alla alle che non era erano essere stato della
    o os um uma uns umas é são em no na nos nas por para com sem mais muito foi eram ser
    seu sua seus suas também quando onde desde até porque
    het een en is zijn van voor met op aan bij uit naar over niet ook als wie maar nog
    wordt werd werden heeft hebben deze dit dat die er
    """)

STOP_WORDS = ENGLISH_STOP_WORDS | OTHER_STOP_WORDS

# A share of English-only function words this high means the English heuristics apply.
_ENGLISH_SHARE = 0.15

_ABBREVIATIONS = words("""
    mr mrs ms dr prof st jr sr vs fig figs no nos approx ca cf gen col capt lt sgt rev
    hon mt ft inc ltd co corp dept est vol vols pp ed eds al sec min max ave blvd rd
    jan feb mar apr jun jul aug sep sept oct nov dec
    """)
_TITLES = frozenset({"mr", "mrs", "ms", "dr", "prof", "st", "sir", "mt"})
MONTHS = words("""
    january february march april may june july august september october november december
    """)
_WEEKDAYS = words("monday tuesday wednesday thursday friday saturday sunday")
# Lower-case words allowed inside a proper noun phrase between capitalised words:
# "Statue of Liberty", "Catherine the Great", "Leonardo da Vinci".
_NAME_CONNECTORS = words("of de du des la le von van der den da di del y al bin ibn")
_CONNECTOR_SEQUENCES = frozenset(
    [*_NAME_CONNECTORS, "of the", "and of", "and of the", "de la", "van der", "van den"]
)
# Stop words that may still be part of a name when capitalised: "Great Red Spot",
# "New Zealand", "Second World War".
_NAME_STOP_WORDS = words("great new old first second third last high little")
_ROMAN_RE = re.compile(r"^[IVXLC]+$")
_YEAR_ERAS = frozenset({"bc", "bce", "ad", "ce"})
_ATTACHED_UNITS = words("km kg g mg m cm mm nm s ms h l ml kw w v hz khz mhz ghz mph kph kmh")
_SIGN_UNITS = ("%", "°")

_WORD_RE = re.compile(r"[^\W\d_]+(?:['\u2019\-][^\W\d_]+)*")
_NUMBER_RE = re.compile(
    r"(?<![\w.,:/\u2013\u2014-])"
    r"(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    r"(?![\d])(?![.,:/\u2013\u2014-]\d)"
)
_TERMINATOR_RE = re.compile(r"[.!?…]+[\"'\u201d\u2019»)\]]*(?=\s)")
_BULLET_RE = re.compile(r"^(?:[-*•‣◦▪·\u2013\u2014]|\(?\d{1,2}[.)]|\(?[a-z]\))\s+")
_UNIT_NAME_RE = re.compile(r"\d\s*(?:[^\W\d_]+\s+)?$")  # "40 degrees |Celsius", "5 |Kelvin"
_NON_WORD_RE = re.compile(r"[\W_]+")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def normalise(text: str) -> str:
    """Case-folded text with punctuation removed and spaces collapsed, for comparisons."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_NON_WORD_RE.sub(" ", folded).split())


def collapse_spaces(text: str) -> str:
    """``text`` with every run of white space made one space, trimmed."""
    return " ".join(text.split())


def stem(word: str) -> str:
    """A crude English stem: case-folded, possessive and plural endings removed."""
    w = word.casefold().replace("\u2019", "'")
    if w.endswith("'s"):
        w = w[:-2]
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 4 and w.endswith(("ses", "xes", "zes", "ches", "shes")):
        return w[:-2]
    if len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        return w[:-1]
    return w


def strip_accents(text: str) -> str:
    """``text`` without combining accents ("Pétion" → "Petion")."""
    decomposed = unicodedata.normalize("NFKD", text)
    return unicodedata.normalize(
        "NFC", "".join(c for c in decomposed if not unicodedata.combining(c))
    )


# --------------------------------------------------------------------------- sentences


@dataclass(frozen=True)
class RawSentence:
    """A sentence as split from the text: ``prose`` is False for headings and lead-ins."""

    text: str
    prose: bool
    from_list: bool = False


def split_sentences(text: str) -> list[RawSentence]:
    """Split ``text`` into sentences, white space collapsed, list bullets removed."""
    sentences: list[RawSentence] = []
    for block, block_kind in _blocks(text):
        if block_kind == "heading":
            sentences.append(RawSentence(block, prose=False))
            continue
        for part in _split_block(block):
            sentences.append(RawSentence(part, prose=True, from_list=block_kind == "item"))
    return sentences


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    return _CONTROL_RE.sub(" ", text).replace("\u00a0", " ").replace("\t", " ")


def _blocks(text: str) -> list[tuple[str, str]]:
    """Paragraphs, list items and headings, each as (text, "para" | "item" | "heading")."""
    blocks: list[tuple[str, str]] = []
    lines: list[str] = []
    kind = "para"

    def flush() -> None:
        nonlocal lines, kind
        if lines:
            blocks.extend(_paragraph_blocks(lines, kind))
        lines, kind = [], "para"

    for raw in _clean(text).splitlines():
        line = raw.strip()
        if not line:
            flush()
        elif line.startswith("#"):
            flush()
            blocks.append((collapse_spaces(line.lstrip("#")), "heading"))
        elif bullet := _BULLET_RE.match(line):
            flush()
            lines, kind = [line[bullet.end() :]], "item"
        else:
            lines.append(line)
    flush()
    return [(t, k) for t, k in blocks if t]


def _paragraph_blocks(lines: list[str], kind: str) -> list[tuple[str, str]]:
    if kind == "para" and len(lines) > 1 and _looks_like_heading(lines[0], lines[1]):
        return [(collapse_spaces(lines[0]), "heading"), *_paragraph_blocks(lines[1:], kind)]
    joined = collapse_spaces(" ".join(lines))
    if kind == "para" and len(lines) == 1 and not _ends_with_punctuation(joined):
        return [(joined, "heading")]
    return [(joined, kind)]


def _looks_like_heading(line: str, next_line: str) -> bool:
    """A short title line above a paragraph (not the first line of a wrapped sentence)."""
    words = _WORD_RE.findall(line)
    return (
        not _ends_with_punctuation(line)
        and 0 < len(words) <= 8
        and len(line) <= 60
        and words[-1].casefold() not in STOP_WORDS
        and next_line[:1].isupper()
    )


def _ends_with_punctuation(text: str) -> bool:
    return text.rstrip("\"'\u201d\u2019»)]").endswith((".", "!", "?", "…", ":", ";", ","))


def _split_block(block: str) -> list[str]:
    parts: list[str] = []
    start = 0
    for match in _TERMINATOR_RE.finditer(block):
        if _is_boundary(block, match):
            parts.append(block[start : match.end()].strip())
            start = match.end()
    parts.append(block[start:].strip())
    return [p for p in parts if p]


def _is_boundary(block: str, match: re.Match[str]) -> bool:
    following = block[match.end() :].lstrip()
    if not following:
        return True
    first = following[0]
    if not (first.isupper() or first.isdigit() or first in "\"'\u201c\u2018«(["):
        return False
    if match.group().rstrip("\"'\u201d\u2019»)]") != ".":
        return True
    token = block[: match.start()].rsplit(None, 1)[-1] if block[: match.start()].strip() else ""
    token = token.lstrip("\"'\u201c\u2018«([")
    return not _is_abbreviation(token)


def _is_abbreviation(token: str) -> bool:
    """True for the word before a full stop that does not end a sentence."""
    if not token:
        return False
    if token.casefold() in _ABBREVIATIONS:
        return True
    if len(token) == 1 and token.isalpha() and token.isupper():
        return True  # an initial: "J. Smith"
    segments = token.split(".")
    # "e.g", "U.S", "a.m", "Ph.D": letters and dots only, short segments.
    return len(segments) > 1 and all(0 < len(s) <= 2 and s.isalpha() for s in segments)


# --------------------------------------------------------------------------- terms


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


@dataclass
class Sentence:
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
    sentences: list[Sentence]
    terms: dict[tuple[TermKind, str], TermInfo]
    normalised_source: str
    english: bool
    common_stems: frozenset[str]

    def stated(self, statement: str) -> bool:
        """True when the text contains ``statement`` (compared normalised)."""
        wanted = normalise(statement)
        return bool(wanted) and wanted in self.normalised_source

    def term(self, occurrence: Occurrence) -> TermInfo:
        return self.terms[(occurrence.kind, occurrence.key)]


@dataclass(frozen=True)
class _Token:
    start: int
    end: int
    text: str

    @property
    def folded(self) -> str:
        return self.text.casefold()

    @property
    def capitalised(self) -> bool:
        return self.text[:1].isupper()


def analyse_text(text: str) -> TextAnalysis:
    """Split ``text`` into sentences and find the key terms of each."""
    raw = split_sentences(text)
    tokens = [_tokens(s.text) for s in raw]
    english = _is_english(tokens)
    mid_caps, lower_seen = _capitalisation_evidence(raw, tokens)
    stem_sets = [_content_stems(toks) for toks in tokens]
    document_frequency: Counter[str] = Counter(s for stems in stem_sets for s in stems)
    common = frozenset(
        s for s, n in document_frequency.items() if len(raw) >= 5 and n > 0.4 * len(raw)
    )
    sentences = [
        Sentence(
            index=i,
            text=r.text,
            prose=r.prose,
            from_list=r.from_list,
            normalised=normalise(r.text),
            word_count=len(toks),
            stems=stem_sets[i],
        )
        for i, (r, toks) in enumerate(zip(raw, tokens, strict=True))
    ]
    terms: dict[tuple[TermKind, str], TermInfo] = {}
    content = _ContentVocabulary(sentences, tokens, mid_caps, lower_seen, english)
    for sentence, toks in zip(sentences, tokens, strict=True):
        if not sentence.prose:
            continue  # headings are title case: their capitals say nothing
        found = _numbers(sentence.text) + _proper_nouns(sentence, toks, mid_caps, lower_seen)
        found += content.occurrences(sentence, toks, found)
        sentence.occurrences = sorted(found, key=lambda o: o.start)
        for occ in sentence.occurrences:
            _register(terms, sentence, toks, occ)
    source = normalise(" ".join(s.text for s in raw))
    return TextAnalysis(sentences, terms, source, english, common)


def _tokens(text: str) -> list[_Token]:
    found = []
    for m in _WORD_RE.finditer(text):
        word = m.group()
        end = m.end()
        if word.endswith(("'s", "\u2019s")) and len(word) > 2:
            end -= 2
            word = word[:-2]
        found.append(_Token(m.start(), end, word))
    return found


def _is_english(tokens: list[list[_Token]]) -> bool:
    """English prose has a high share of English-only function words (about 40 % in the
    test pages, none in a French page)."""
    words = [t.folded for toks in tokens for t in toks]
    if not words:
        return True
    english = sum(1 for w in words if w in ENGLISH_STOP_WORDS and w not in OTHER_STOP_WORDS)
    return english / len(words) >= _ENGLISH_SHARE


def _capitalisation_evidence(
    raw: list[RawSentence], tokens: list[list[_Token]]
) -> tuple[set[str], set[str]]:
    """Words seen capitalised after a sentence's first word, and words seen lower-case."""
    mid_caps: set[str] = set()
    lower_seen: set[str] = set()
    for sentence, toks in zip(raw, tokens, strict=True):
        if not sentence.prose:
            continue
        for position, tok in enumerate(toks):
            if tok.capitalised and position > 0:
                mid_caps.add(tok.folded)
            elif not tok.capitalised:
                lower_seen.add(tok.folded)
    return mid_caps, lower_seen


def _content_stems(toks: list[_Token]) -> frozenset[str]:
    return frozenset(stem(t.text) for t in toks if len(t.text) >= 3 and t.folded not in STOP_WORDS)


def _word_before(text: str, start: int, back: int = 1) -> str:
    before = _WORD_RE.findall(text[:start][-60:])
    return before[-back].casefold() if len(before) >= back else ""


def _numbers(text: str) -> list[Occurrence]:
    found = []
    for m in _NUMBER_RE.finditer(text):
        unit = _unit_after(text, m.end())
        if unit is None:
            continue  # digits glued to letters: "3rd", "5x"
        before = _word_before(text, m.start())
        after = text[m.end() :].lstrip()
        next_word = _WORD_RE.match(after)
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
        glued = _WORD_RE.match(rest)
        word = glued.group() if glued else ""
        return word.casefold() if word.casefold() in _ATTACHED_UNITS else None
    if rest.startswith(_SIGN_UNITS):
        return rest[0]
    after = rest.lstrip()
    word_match = _WORD_RE.match(after)
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


def _proper_nouns(
    sentence: Sentence, toks: list[_Token], mid_caps: set[str], lower_seen: set[str]
) -> list[Occurrence]:
    found: list[Occurrence] = []
    text = sentence.text
    i = 0
    while i < len(toks):
        if not _can_start_name(toks, i, mid_caps, lower_seen):
            i += 1
            continue
        j = _name_end(text, toks, i)
        words = toks[i:j]
        while words and (words[-1].folded in _NAME_CONNECTORS or words[-1].folded == "the"):
            words = words[:-1]
        if words and (words[0].folded in STOP_WORDS) and len(words) == 1:
            words = []  # a lone "First" or "Great" is no name
        if words and _UNIT_NAME_RE.search(text[: words[0].start]):
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


def _is_name_word(tok: _Token) -> bool:
    text = tok.text
    if not tok.capitalised or len(text) < 2:
        return False
    if tok.folded in STOP_WORDS and tok.folded not in _NAME_STOP_WORDS:
        return False
    if tok.folded in MONTHS or tok.folded in _WEEKDAYS or tok.folded in _TITLES:
        return False
    return not (text.isupper() and len(text) > 6)  # shouted words, not acronyms


def _can_start_name(toks: list[_Token], i: int, mid_caps: set[str], lower_seen: set[str]) -> bool:
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


def _name_end(text: str, toks: list[_Token], i: int) -> int:
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


def _joined(text: str, first: _Token, second: _Token) -> bool:
    """Only spaces (or a possessive "'s") between two words of a name."""
    gap = text[first.end : second.start].strip()
    return gap in ("", "'s", "\u2019s")


def _connector_length(text: str, toks: list[_Token], k: int) -> int:
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


class _ContentVocabulary:
    """Salient lower-case words of a text, and two-word compounds ("carbon dioxide").

    English words are salient when they follow a determiner or a preposition somewhere in
    the text ("the orbit", "of chlorophyll"), which keeps most verbs out. Two adjacent
    salient words make one compound term; before a salient word, a word that is not
    salient (a verb, a modifier) is left out. Longer runs are skipped, since any one word
    of them would be an odd blank. Other languages: words of
    six letters or more that occur at least twice.
    """

    def __init__(
        self,
        sentences: list[Sentence],
        tokens: list[list[_Token]],
        proper_words: set[str],
        lower_seen: set[str],
        english: bool,
    ) -> None:
        self.english = english
        self.proper_words = proper_words
        self.lower_seen = lower_seen
        counts: Counter[str] = Counter()
        evidence: Counter[str] = Counter()
        for sentence, toks in zip(sentences, tokens, strict=True):
            if not sentence.prose:
                continue
            for position, tok in enumerate(toks):
                if self._candidate(sentence.text, toks, position):
                    word = stem(tok.text)
                    counts[word] += 1
                    if position > 0 and toks[position - 1].folded in _NOUN_INTRODUCERS:
                        evidence[word] += 1
        self.salient = {w for w, n in counts.items() if self._salient(n, evidence[w])}

    def _candidate(self, text: str, toks: list[_Token], position: int) -> bool:
        tok = toks[position]
        folded = tok.folded
        min_length = 4 if self.english else 6
        if len(folded) < min_length or folded in STOP_WORDS:
            return False
        if folded in self.proper_words and folded not in self.lower_seen:
            return False  # only ever seen capitalised: part of a name
        if tok.capitalised and not (
            position == 0 and tok.text[1:].islower() and folded in self.lower_seen
        ):
            return False
        return not _follows_number(text, toks, position)  # a unit: "465 degrees"

    def _salient(self, count: int, evidence: int) -> bool:
        if not self.english:
            return count >= 2
        return evidence > 0

    def occurrences(
        self, sentence: Sentence, toks: list[_Token], taken: list[Occurrence]
    ) -> list[Occurrence]:
        """The content terms of one sentence, outside the spans already ``taken``."""
        busy = [(o.start, o.end) for o in taken]
        runs: list[list[_Token]] = []
        for position, tok in enumerate(toks):
            free = not any(s < tok.end and tok.start < e for s, e in busy)
            adverb = tok.folded.endswith("ly") and stem(tok.text) not in self.salient
            if adverb or not (free and self._candidate(sentence.text, toks, position)):
                runs.append([])
            elif runs and runs[-1] and _adjacent(sentence.text, runs[-1][-1], tok):
                runs[-1].append(tok)
            else:
                runs.append([tok])
        found = []
        for run in runs:
            stems = [stem(t.text) for t in run]
            if len(run) == 1 and stems[0] in self.salient:
                found.append(self._occurrence(sentence.text, run[0], run[0], stems[0]))
            elif len(run) == 2 and stems[0] in self.salient and stems[1] in self.salient:
                found.append(self._occurrence(sentence.text, run[0], run[1], " ".join(stems)))
            elif len(run) == 2 and stems[1] in self.salient:
                # "absorb water", "crewed mission": the first word is a verb or a modifier.
                found.append(self._occurrence(sentence.text, run[1], run[1], stems[1]))
        return found

    @staticmethod
    def _occurrence(text: str, first: _Token, last: _Token, key: str) -> Occurrence:
        surface = text[first.start : last.end]
        before = _word_before(text, first.start)
        return Occurrence(TermKind.CONTENT, key, first.start, last.end, surface, before=before)


_PLACE_WORDS = words("in at to from across near into towards toward through on")
_ADJECTIVE_ENDINGS = ("al", "ous", "ive", "ic", "ful", "less", "able", "ible", "ary", "ish")


def _place_before(text: str, occ: Occurrence) -> bool:
    """The term follows a place preposition, directly or after "the"."""
    before = _WORD_RE.findall(text[: occ.start][-30:])
    if before and before[-1].casefold() == "the":
        before = before[:-1]
    return bool(before) and before[-1].casefold() in _PLACE_WORDS


def _follows_number(text: str, toks: list[_Token], position: int) -> bool:
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


def _adjacent(text: str, first: _Token, second: _Token) -> bool:
    return not text[first.end : second.start].strip()


def _register(
    terms: dict[tuple[TermKind, str], TermInfo],
    sentence: Sentence,
    toks: list[_Token],
    occ: Occurrence,
) -> None:
    info = terms.setdefault((occ.kind, occ.key), TermInfo(occ.kind, occ.key, value=occ.value))
    info.count += 1
    if occ.surface not in info.surfaces:
        info.surfaces.append(occ.surface)
    if sentence.index not in info.sentences:
        info.sentences.append(sentence.index)
    if occ.before == "the":
        info.after_the += 1
    if _place_before(sentence.text, occ):
        info.after_place_word += 1
    info.units.add(unit_key(occ.unit))
    for tok_index, tok in enumerate(toks):
        if tok.start == occ.start and tok_index > 0:
            info.neighbours.add("<" + toks[tok_index - 1].folded)
        if tok.end == occ.end and tok_index + 1 < len(toks):
            info.neighbours.add(">" + toks[tok_index + 1].folded)
