"""The question bank shipped with the package, and matching a requested topic to it.

The bank (``quizplatform/data/question_bank.json``, CC0 1.0) holds topics, each with a
``name``, matching ``keywords`` and ``items`` already in the draft item shape. A topic
matches a request when they share a word (compared case-insensitively, accents and plural
endings aside); generic words such as "basics" or "world" do not count by themselves.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from quizplatform.ai.draft_item import DraftItem
from quizplatform.ai.offline_lexicon import stem, strip_accents, words
from quizplatform.data import load_question_bank_text

# Words that say little about the subject: a match on these alone is no match.
GENERIC_WORDS = words("""
    basic basics introduction intro quiz quizzes test tests world general knowledge facts
    fact question questions science sciences fundamental fundamentals overview beginner
    beginners elementary simple easy hard advanced level class lesson topic study
    """)
# Function words only: a topic such as "numbers" or "forms of energy" keeps its nouns.
TOPIC_STOP_WORDS = words("""
    a an the of and or in on at to for from with about into by as is are what how why
    which who my our your some any all me us we i you it its this that these those
    """)
_NAME_WEIGHT = 2.0
_KEYWORD_WEIGHT = 1.0
_PHRASE_BONUS = 1.0


def topic_words(text: str) -> list[str]:
    """The stemmed, case-folded content words of ``text``."""
    words = re.findall(r"[^\W_]+", strip_accents(text).casefold())
    return [stem(w) for w in words if w not in TOPIC_STOP_WORDS]


@dataclass(frozen=True)
class BankTopic:
    """One topic of the bank: its name, the keywords it matches, its items."""

    name: str
    keywords: tuple[str, ...]
    items: tuple[DraftItem, ...]  # already in draft item shape

    def score(self, query: list[str]) -> float:
        """How well a request's words match this topic (0 for no match)."""
        wanted = set(query) - {stem(w) for w in GENERIC_WORDS}
        if not wanted:
            return 0.0
        name_words = set(topic_words(self.name))
        keyword_words = {w for k in self.keywords for w in topic_words(k)}
        score = _NAME_WEIGHT * len(wanted & name_words)
        score += _KEYWORD_WEIGHT * len((wanted & keyword_words) - name_words)
        if score == 0:
            return 0.0
        joined = f" {' '.join(query)} "
        phrases = [self.name, *self.keywords]
        score += _PHRASE_BONUS * sum(
            1
            for p in phrases
            if len(topic_words(p)) > 1 and f" {' '.join(topic_words(p))} " in joined
        )
        return score


class QuestionBank:
    """The parsed bank: topics in file order."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.topics = [
            BankTopic(t["name"], tuple(t["keywords"]), tuple(t["items"]))
            for t in document["topics"]
        ]

    def topic_names(self) -> list[str]:
        """The topic names, in file order."""
        return [t.name for t in self.topics]

    def items(self, name: str) -> tuple[DraftItem, ...]:
        """The items of the topic called ``name``."""
        for topic in self.topics:
            if topic.name == name:
                return topic.items
        raise KeyError(name)

    def match(self, request: str) -> list[str]:
        """Names of the topics that match ``request``, best match first."""
        query = topic_words(request)
        scored = [(t.score(query), i, t.name) for i, t in enumerate(self.topics)]
        return [name for score, _, name in sorted(scored, key=lambda s: (-s[0], s[1])) if score > 0]


@cache
def load_bank() -> QuestionBank:
    """The shipped question bank, parsed once per process."""
    return QuestionBank(json.loads(load_question_bank_text()))
