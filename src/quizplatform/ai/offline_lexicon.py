"""Word lists and string helpers shared by the offline drafter's text analysis.

Stop words (English, plus the commonest function words of a few other Latin-script
languages), and the comparisons everything else builds on: ``normalise`` for matching
texts, ``stem`` for matching word forms, ``strip_accents`` for matching answers.
"""

from __future__ import annotations

import re
import unicodedata


def words(text: str) -> frozenset[str]:
    """The white-space separated words of ``text``, as a set (for word lists)."""
    return frozenset(text.split())


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

MONTHS = words("""
    january february march april may june july august september october november december
    """)

WORD_RE = re.compile(r"[^\W\d_]+(?:['\u2019\-][^\W\d_]+)*")
_NON_WORD_RE = re.compile(r"[\W_]+")


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
