"""Key-term analysis of a text for the offline drafter.

Heuristics over the language tools of ``offline_language`` (see
``quizplatform.ai.offline`` for how the results become questions). ``analyse_text``
splits the text into sentences (``offline_sentences``), finds the key terms of every
sentence (``offline_terms``) and gives each a ``TermKind``: a year (1066, 44 BC), a
number with an optional unit word (8 planets, 3.5 kg, 1,000), a proper noun phrase
(Marie Curie, Pacific Ocean) or a content term (a salient lowercase word such as
"chlorophyll", or a pair such as "carbon dioxide").

Content terms come from the language's keyphrases (YAKE) that are rare words
(wordfreq) and that the text uses as nouns; a text whose language is not detected gets
the old fallback: words of six letters or more that recur.
"""

from __future__ import annotations

from collections import Counter

from quizplatform.ai.offline_language import profile_text
from quizplatform.ai.offline_lexicon import (
    ENGLISH_STOP_WORDS,
    OTHER_STOP_WORDS,
    STOP_WORDS,
    WORD_RE,
    normalise,
    stem,
    words,
)
from quizplatform.ai.offline_model import Occurrence, Sentence, TermInfo, TermKind, TextAnalysis
from quizplatform.ai.offline_sentences import RawSentence, split_sentences
from quizplatform.ai.offline_terms import (
    NAME_CONNECTORS,
    ContentVocabulary,
    Token,
    find_numbers,
    find_proper_nouns,
    tokenise,
    unit_key,
)

# A share of English-only function words this high means the English heuristics apply.
_ENGLISH_SHARE = 0.15
_PLACE_WORDS = words("in at to from across near into towards toward through on")


def analyse_text(text: str) -> TextAnalysis:
    """Split ``text`` into sentences and find the key terms of each."""
    raw = split_sentences(text)
    tokens = [tokenise(s.text) for s in raw]
    profile = profile_text(" ".join(r.text for r in raw if r.prose), len(raw))
    english = profile.language == "en" if profile.known else _is_english(tokens)
    if profile.elides:
        tokens = [tokenise(s.text, elided=True) for s in raw]
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
    content = ContentVocabulary(sentences, tokens, mid_caps, lower_seen, english, profile)
    for sentence, toks in zip(sentences, tokens, strict=True):
        if not sentence.prose:
            continue  # headings are title case: their capitals say nothing
        names = find_proper_nouns(sentence, toks, mid_caps, lower_seen)
        if profile.capitalised_nouns:
            # German nouns are capitalised: only a long name or one with "von", "van",
            # "de" ... is surely a name.
            names = [n for n in names if _surely_a_name(n)]
        found = find_numbers(sentence.text) + names
        found += content.occurrences(sentence, toks, found)
        sentence.occurrences = sorted(found, key=lambda o: o.start)
        for occ in sentence.occurrences:
            _register(terms, sentence, toks, occ)
    source = normalise(" ".join(s.text for s in raw))
    specific = frozenset(
        key
        for kind, key in terms
        if kind is TermKind.CONTENT and key.split()[-1] in content.specific
    )
    return TextAnalysis(
        sentences,
        terms,
        source,
        english,
        common,
        profile.language,
        specific,
        frozenset(content.modifying_names),
    )


def _surely_a_name(occ: Occurrence) -> bool:
    parts = occ.surface.split()
    return len(parts) >= 3 or any(w.casefold() in NAME_CONNECTORS for w in parts[1:-1])


def _is_english(tokens: list[list[Token]]) -> bool:
    """English prose has a high share of English-only function words (about 40 % in the
    test pages, none in a French page)."""
    words = [t.folded for toks in tokens for t in toks]
    if not words:
        return True
    english = sum(1 for w in words if w in ENGLISH_STOP_WORDS and w not in OTHER_STOP_WORDS)
    return english / len(words) >= _ENGLISH_SHARE


def _capitalisation_evidence(
    raw: list[RawSentence], tokens: list[list[Token]]
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


def _content_stems(toks: list[Token]) -> frozenset[str]:
    return frozenset(stem(t.text) for t in toks if len(t.text) >= 3 and t.folded not in STOP_WORDS)


def _place_before(text: str, occ: Occurrence) -> str:
    """The place preposition the term follows, directly or after "the" ("" for none)."""
    before = WORD_RE.findall(text[: occ.start][-30:])
    if before and before[-1].casefold() == "the":
        before = before[:-1]
    word = before[-1].casefold() if before else ""
    return word if word in _PLACE_WORDS else ""


def _register(
    terms: dict[tuple[TermKind, str], TermInfo],
    sentence: Sentence,
    toks: list[Token],
    occ: Occurrence,
) -> None:
    info = terms.setdefault((occ.kind, occ.key), TermInfo(occ.kind, occ.key, value=occ.value))
    info.count += 1
    info.leads += occ.lead
    info.modifiers += occ.modifier
    info.befores.add(occ.before)
    if occ.surface not in info.surfaces:
        info.surfaces.append(occ.surface)
    if sentence.index not in info.sentences:
        info.sentences.append(sentence.index)
    if occ.before == "the":
        info.after_the += 1
    if place := _place_before(sentence.text, occ):
        info.after_place_word += 1
        info.places.add(place)
    info.units.add(unit_key(occ.unit))
    for tok_index, tok in enumerate(toks):
        if tok.start == occ.start and tok_index > 0:
            info.neighbours.add("<" + toks[tok_index - 1].folded)
        if tok.end == occ.end and tok_index + 1 < len(toks):
            info.neighbours.add(">" + toks[tok_index + 1].folded)
