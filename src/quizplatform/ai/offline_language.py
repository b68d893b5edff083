"""Language, keyphrases and word specificity for the offline drafter.

Three established tools with their data shipped in their packages (no network):

* ``py3langid`` tells the language of the text (restricted to the Latin-script languages
  whose stop words we have);
* YAKE (``yake``) extracts the text's keyphrases, with its stop-word list for that
  language;
* ``wordfreq`` says how common a word is in that language (Zipf scale: 7 for "the",
  about 3 for "chlorophyll", 0 for unknown words). Rare words are specific terms.

They are imported on first use, not when this module is: they cost about 110 MB of
memory and 1.2 s at first use (measured in docs/architecture.md), which only a process
that drafts offline should pay. Every call is bounded: only the first
``PROFILED_CHARACTERS`` of a text are profiled.
"""

from __future__ import annotations

import importlib.resources
import re
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Protocol, cast

from quizplatform.ai.offline_lexicon import words

# Languages with stop words (YAKE's lists plus the few words below) that the drafter
# handles; the language detector picks among these only.
LANGUAGES = ("en", "fr", "de", "es", "it", "pt", "nl")
UNDETERMINED = "und"
PROFILED_CHARACTERS = 20_000  # YAKE and language detection look at this much text
DETECTED_CHARACTERS = 3_000
# Zipf frequency below which a word is a specific term: fewer than about 30 uses per
# million words ("glucose" 3.8, "carbon" 4.6, "water" 5.5, "process" 5.3).
SPECIFIC_ZIPF = 4.7
KEYPHRASES_PER_SENTENCE = 8
MIN_KEYPHRASES = 24
MAX_KEYPHRASES = 300

# Words after which a noun phrase starts (articles, determiners, prepositions): evidence
# that the next word is a noun or an adjective, not a verb. Grammar, not subject matter.
NOUN_INTRODUCERS = {
    "en": words("""
        a an the this these those its their his her our your each every some any of in on
        into from with by for through about between
        """),
    "fr": words("""
        le la les l un une des du de d au aux ce cet cette ces son sa ses leur leurs dans
        sur sous par pour avec sans entre vers chez
        """),
    "de": words("""
        der die das den dem des ein eine einen einem einer eines kein keine dieser diese
        dieses diesen diesem sein seine ihr ihre im in am an auf aus bei mit nach von vom
        zum zur durch für über unter zwischen
        """),
    "es": words("""
        el la los las lo un una unos unas del al de en con por para sin sobre entre este
        esta estos estas su sus
        """),
    "it": words("""
        il lo la i gli le un uno una del della dei degli delle nel nella di in con per su
        tra fra al alla
        """),
    "pt": words("""
        o a os as um uma uns umas do da dos das no na nos nas de em com por para sem sobre
        entre ao à
        """),
    "nl": words("de het een van in op met door voor bij uit naar over onder tussen"),
}
# "X and Y": a word coordinated with a term is a term of the same kind.
CONJUNCTIONS = {
    "en": words("and or"),
    "fr": words("et ou"),
    "de": words("und oder"),
    "es": words("y e o u"),
    "it": words("e ed o"),
    "pt": words("e ou"),
    "nl": words("en of"),
}
# Words right before a verb (pronouns, relative words, auxiliaries, "to"): a word after
# one of these is taken for a verb ("which *contain*", "qui *contiennent*", "se *libera*").
VERB_LEADS = {
    "en": words("to which that who it they we he she i you"),
    "fr": words("se s qui ne n elle il ils elles on nous vous est sont a ont était pour"),
    "es": words("se que para ella él ellos ellas no es son fue está están ha han"),
    "it": words("si che per non è sono ha hanno lui lei loro"),
    "pt": words("se que para não é são foi ele ela eles elas"),
    "nl": words("zich die dat te om is zijn wordt werd heeft hebben"),
}
# Intensifiers: a word right after one is an adjective ("very *fertile*", "más *cercano*").
INTENSIFIERS = {
    "en": words("very more most too so quite rather less least"),
    "fr": words("très plus moins trop assez si"),
    "es": words("muy más menos tan"),
    "de": words("sehr mehr besonders"),
    "it": words("molto più meno troppo"),
    "pt": words("muito mais menos tão"),
    "nl": words("zeer erg meer minder"),
}
# Articles: a word right before one is taken for a verb ("contain *the*", "usan *la*").
ARTICLES = {
    "en": words("a an the this these those its their his her our your"),
    "fr": words("le la les l un une des du au aux"),
    "es": words("el la los las un una unos unas"),
    "it": words("il lo la l i gli le un uno una"),
    "pt": words("o a os as um uma"),
    "nl": words("de het een"),
    "de": words("der die das den dem des ein eine einen einem einer am im vom zum zur beim ins"),
}
# Verb forms that look like adjectives after a noun: "novela *escrita*", "juicio
# *leyendo*", "année *passée*". Such a word never ends a two-word term.
PARTICIPLE_ENDINGS = {
    "fr": ("é", "ée", "és", "ées", "ant"),
    "es": ("ado", "ada", "ados", "adas", "ido", "ida", "idos", "idas", "ando", "iendo", "yendo"),
    "it": ("ato", "ata", "ati", "ate", "ito", "ita", "iti", "ite", "ando", "endo"),
    "pt": ("ado", "ada", "ados", "adas", "ido", "ida", "idos", "idas", "ando", "endo", "indo"),
}
# French and Italian glue elided articles to the next word: "l'oxygène", "d'eau".
ELIDING = frozenset({"fr", "it"})
# German writes every noun with a capital: a capitalised word is a noun, not a name,
# when an article or preposition comes before it.
CAPITALISED_NOUNS = frozenset({"de"})


class _Extractor(Protocol):
    def extract_keywords(self, text: str) -> list[tuple[str, float]]: ...


@dataclass(frozen=True)
class LanguageProfile:
    """What the tools say about one text: its language, its keyphrases (case-folded, best
    first) and the words of those keyphrases."""

    language: str
    keyphrases: tuple[str, ...] = ()
    keyphrase_words: frozenset[str] = field(default_factory=frozenset)

    @property
    def known(self) -> bool:
        """The language is one the drafter has word lists for."""
        return self.language in LANGUAGES

    @property
    def stop_words(self) -> frozenset[str]:
        """The language's stop words (YAKE's list), empty for an undetermined language."""
        return stop_words(self.language) if self.known else frozenset()

    @property
    def noun_introducers(self) -> frozenset[str]:
        """Articles, determiners and prepositions of the language."""
        return NOUN_INTRODUCERS.get(self.language, frozenset())

    @property
    def conjunctions(self) -> frozenset[str]:
        """ "and", "or" in the language."""
        return CONJUNCTIONS.get(self.language, frozenset())

    @property
    def verb_leads(self) -> frozenset[str]:
        """Words after which a verb comes (see ``VERB_LEADS``)."""
        return VERB_LEADS.get(self.language, frozenset())

    @property
    def intensifiers(self) -> frozenset[str]:
        """Words after which an adjective comes (see ``INTENSIFIERS``)."""
        return INTENSIFIERS.get(self.language, frozenset())

    @property
    def articles(self) -> frozenset[str]:
        """The language's articles (see ``ARTICLES``)."""
        return ARTICLES.get(self.language, frozenset())

    def participle(self, word: str) -> bool:
        """``word`` ends like a participle or a gerund of the language."""
        endings = PARTICIPLE_ENDINGS.get(self.language)
        return bool(endings) and word.casefold().endswith(endings or ())

    @property
    def elides(self) -> bool:
        """Articles are glued to the next word ("l'eau")."""
        return self.language in ELIDING

    @property
    def capitalised_nouns(self) -> bool:
        """Nouns are capitalised in this language (German)."""
        return self.language in CAPITALISED_NOUNS

    def zipf(self, word: str) -> float:
        """How common ``word`` is in the language (wordfreq's Zipf scale, 0 = unknown)."""
        if not self.known:
            return 0.0
        return _zipf(word.casefold(), self.language)

    def specific(self, word: str) -> bool:
        """A rare word of the language: a specific term rather than an everyday word."""
        return self.zipf(word) < SPECIFIC_ZIPF

    def keyword(self, word: str) -> bool:
        """``word`` (case-folded) is part of one of the text's keyphrases."""
        return word.casefold() in self.keyphrase_words


def profile_text(text: str, sentence_count: int) -> LanguageProfile:
    """Detect the language of ``text`` and extract its keyphrases."""
    sample = text[:PROFILED_CHARACTERS]
    language = detect_language(sample)
    if language not in LANGUAGES:
        return LanguageProfile(language)
    wanted = max(MIN_KEYPHRASES, min(MAX_KEYPHRASES, KEYPHRASES_PER_SENTENCE * sentence_count))
    phrases = _keyphrases(sample, language, wanted)
    phrase_words = frozenset(w for p in phrases for w in _WORD_RE.findall(p))
    return LanguageProfile(language, tuple(phrases), phrase_words)


def detect_language(text: str) -> str:
    """The language code of ``text`` among ``LANGUAGES``, or "und" when the text has too
    few letters to tell."""
    sample = text[:DETECTED_CHARACTERS]
    if sum(1 for c in sample if c.isalpha()) < 12:
        return UNDETERMINED
    if not any(c.isascii() and c.isalpha() for c in sample):
        return UNDETERMINED  # another script: no word lists for it
    identifier = _language_identifier()
    code, _score = identifier.classify(sample)
    return str(code)


@cache
def stop_words(language: str) -> frozenset[str]:
    """YAKE's stop-word list for ``language`` (case-folded)."""
    package = importlib.resources.files("yake") / "core" / "StopwordsList"
    resource = package / f"stopwords_{language}.txt"
    try:
        text = resource.read_text(encoding="utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        return frozenset()
    return frozenset(w.strip().casefold() for w in text.splitlines() if w.strip())


_WORD_RE = re.compile(r"[^\W\d_]+(?:['\u2019\-][^\W\d_]+)*")


def _keyphrases(text: str, language: str, wanted: int) -> list[str]:
    extractor = _extractor(language, wanted)
    try:
        found = extractor.extract_keywords(text)
    except (ValueError, ZeroDivisionError, IndexError, KeyError):
        return []  # YAKE on degenerate input (no candidate at all)
    return list(dict.fromkeys(phrase.casefold() for phrase, _ in found))


@lru_cache(maxsize=32)
def _extractor(language: str, wanted: int) -> _Extractor:
    import yake

    return cast(_Extractor, yake.KeywordExtractor(lan=language, n=2, top=wanted, dedup_lim=0.9))


class _Identifier(Protocol):
    def classify(self, text: str) -> tuple[str, float]: ...


@cache
def _language_identifier() -> _Identifier:
    from py3langid.langid import (
        MODEL_FILE,
        LanguageIdentifier,
    )

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=False)
    identifier.set_languages(list(LANGUAGES))
    return cast(_Identifier, identifier)


@lru_cache(maxsize=65_536)
def _zipf(word: str, language: str) -> float:
    from wordfreq import zipf_frequency

    # The "small" lists hold every word above Zipf 3 (our threshold is 4.7), in a tenth
    # of the memory of the default "large" ones.
    return float(zipf_frequency(word, language, wordlist="small"))
