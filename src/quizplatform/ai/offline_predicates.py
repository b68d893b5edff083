"""The offline drafter's predicates: which sentences, terms and options are fit to use.

Each answers one small question about the analysed text ("is this sentence a statement
that stands alone?", "may this number be swapped for that one?"), so that the question
builders (``offline_questions``) and the swap search (``offline_candidates``) read as
policy. The checks compare text, not meaning.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from quizplatform.ai.offline_lexicon import (
    STOP_WORDS,
    collapse_spaces,
    normalise,
    stem,
    strip_accents,
    words,
)
from quizplatform.ai.offline_model import Occurrence, Sentence, TermInfo
from quizplatform.ai.offline_sentences import MAX_SENTENCE_WORDS, MIN_SENTENCE_WORDS

BANNED_OPTIONS = frozenset({"all of the above", "none of the above", "both", "neither"})

# Sentences where another value could be true as well: lists, hedges, negations,
# comparisons. Their terms are never swapped or given distractors.
_OPEN_ENDED_WORDS = words("""
    such including include includes included like among also too many some several other
    others not no never nor neither none without than both either or can could may might
    often usually sometimes mostly mainly generally typically partly example instance
    similar similarly unlike except n t
    ne pas jamais aucun aucune aussi plusieurs notamment ou
    nicht kein keine keinen nie auch mehrere oder etwa beispielsweise
    nunca ningún ninguna también varios varias o u ejemplo
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
_DISCOURSE_MARKER_RE = re.compile(
    r"^(?:however|moreover|furthermore|in addition|additionally|also|therefore|thus|hence|"
    r"consequently|indeed|finally|meanwhile|nevertheless|instead|in fact|for example|"
    r"for instance|as a result|in contrast|similarly|likewise|of course|overall|in short|"
    r"in general|generally|first|second|third|then|next|later),\s+",
    re.IGNORECASE,
)


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


def usable_sentence(s: Sentence) -> bool:
    """A sentence worth a question: prose, 6..40 words, a statement, no blanks of its own."""
    text = s.text
    if not s.prose or not MIN_SENTENCE_WORDS <= s.word_count <= MAX_SENTENCE_WORDS:
        return False
    if "___" in text or text.rstrip("\"'\u201d\u2019»)]").endswith(("?", ":", ";", ",")):
        return False
    if not (s.from_list or text.rstrip("\"'\u201d\u2019»)]").endswith((".", "!"))):
        return False
    return text.count("(") == text.count(")") and text.count('"') % 2 == 0


def statement_eligible(s: Sentence) -> bool:
    """A sentence that makes sense alone as a true/false statement."""
    statement = statement_text(s.text)
    return len(statement.split()) >= MIN_SENTENCE_WORDS and not depends_on_context(s)


def depends_on_context(s: Sentence) -> bool:
    """True when a pronoun comes before the sentence's first key term ("It was ...",
    "Later that month it adopted ..."): the sentence leans on the one before."""
    first_term = min((o.start for o in s.occurrences), default=len(s.text))
    head = s.text[:first_term]
    return any(w.casefold() in _PRONOUN_STARTS for w in re.findall(r"\w+", head))


def statement_text(text: str) -> str:
    """A sentence as a statement: a leading "However," or "For example," removed."""
    trimmed = _DISCOURSE_MARKER_RE.sub("", text.strip(), count=1)
    if not trimmed:
        return text.strip()
    return trimmed[:1].upper() + trimmed[1:]


def swappable(s: Sentence) -> bool:
    """False for sentences where another value could be true too (lists, hedges, negations,
    comparisons)."""
    words = set(s.normalised.split())
    return not words & _OPEN_ENDED_WORDS


def numeric_swap_is_safe(occ: Occurrence, info: TermInfo) -> bool:
    """True when putting ``info``'s value where ``occ`` stands surely makes a false fact:
    not after "at least", "before", ...; after "about", only a value far enough off."""
    if occ.value is None or info.value is None or occ.value == info.value:
        return False
    if occ.before2 in _INEQUALITY_WORDS - _APPROXIMATE_WORDS:
        return False  # "above about 40 degrees", "at least 1830"
    if occ.before in _APPROXIMATE_WORDS:
        larger = max(abs(occ.value), abs(info.value))
        return abs(occ.value - info.value) >= 0.25 * larger
    return occ.before not in _INEQUALITY_WORDS


def blankable(s: Sentence, occ: Occurrence) -> bool:
    """One occurrence only (two would make the blank ambiguous), and words left around it."""
    same = sum(1 for o in s.occurrences if o.kind is occ.kind and o.key == occ.key)
    padded = f" {s.normalised} "
    needle = f" {normalise(occ.surface)} "
    remaining = len(s.text[: occ.start].split()) + len(s.text[occ.end :].split())
    return same == 1 and needle.strip() != "" and padded.count(needle) == 1 and remaining >= 4


def similar_length(a: str, b: str) -> bool:
    """Neither text is more than twice as long as the other."""
    return max(len(a), len(b)) <= 2 * min(len(a), len(b))


def is_plural(surface: str) -> bool:
    """The term's last word has a plural ending."""
    last = surface.split()[-1] if surface.split() else surface
    return stem(last) != last.casefold()


def variants(a: str, b: str) -> bool:
    """True when two terms are the same thing written differently, or one contains the other."""
    na, nb = normalise(strip_accents(a)), normalise(strip_accents(b))
    if not na or not nb or na == nb:
        return True
    if f" {na} " in f" {nb} " or f" {nb} " in f" {na} ":
        return True
    sa = " ".join(stem(w) for w in na.split())
    sb = " ".join(stem(w) for w in nb.split())
    return sa == sb or sa.startswith(sb) or sb.startswith(sa)


def telling(neighbours: set[str]) -> set[str]:
    """The neighbouring words ("<green", ">absorbs") that are not function words."""
    return {n for n in neighbours if n[1:] not in STOP_WORDS}
