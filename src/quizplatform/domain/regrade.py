"""Regrading (pure): which version of a question is the current one, and how a response
given to an older version reads against it.

Editing a question that attempts have seen archives its row and inserts a new version
(``replaces_id`` names the one it replaces), with fresh ids for its options, pairs and
items. A response stores those ids, so carrying it over to the new version maps each old
id to a new one: by text when every old text is unique and found once in the new version
(the teacher may have reordered them), otherwise by position when both versions have as
many (the teacher fixed a typo), otherwise by text for what is left (one was removed). A
response that cannot be carried over (the type changed, an option it chose is gone)
stays with its own version.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from quizplatform.domain.questions import Question, QuestionType
from quizplatform.domain.scoring import InvalidResponse, parse_response

# Types whose response holds no ids: it reads the same against any version.
_PLAIN = frozenset(
    {
        QuestionType.TRUE_FALSE,
        QuestionType.SHORT_ANSWER,
        QuestionType.NUMERIC,
    }
)


def latest_versions(replaced_by: Mapping[str, str], ids: Iterable[str]) -> dict[str, str]:
    """The last version of each question id, following ``replaced_by`` (old id -> the id
    of the version that replaced it). An id nobody replaced is its own last version; a
    cycle (which editing never makes) stops where it would repeat."""
    found: dict[str, str] = {}
    for start in ids:
        current, seen = start, {start}
        while current in replaced_by and replaced_by[current] not in seen:
            current = replaced_by[current]
            seen.add(current)
        found[start] = current
    return found


def id_map(
    old: Sequence[tuple[str | None, str]], new: Sequence[tuple[str | None, str]]
) -> dict[str, str]:
    """Old ids to new ids for two lists of (id, text): by text when every old text is
    unique and found exactly once among the new ones; else by position when both lists
    are as long (texts were edited); else by text for the old texts that still are
    unique and found once (an old id left out has no counterpart: its part is gone)."""
    old_texts = [text for _, text in old]
    new_texts = [text for _, text in new]
    by_text = {text: new_id for new_id, text in new if new_texts.count(text) == 1}
    unique = {text for text in old_texts if old_texts.count(text) == 1}
    pairs: list[tuple[str | None, str | None]]
    if len(unique) == len(old) and all(text in by_text for text in old_texts):
        pairs = [(old_id, by_text[text]) for old_id, text in old]
    elif len(old) == len(new):
        pairs = [(o, n) for (o, _), (n, _) in zip(old, new, strict=True)]
    else:
        pairs = [(o, by_text.get(text)) for o, text in old if text in unique]
    return {o: n for o, n in pairs if o is not None and n is not None}


def translate_response(
    old: Question, new: Question, payload: Mapping[str, object]
) -> dict[str, object] | None:
    """``payload`` (a stored response to ``old``) as a response to ``new``, checked by
    ``parse_response``; None when it cannot be carried over. Essays and descriptions are
    never carried over here (a teacher's grade belongs to the version it was given for)."""
    if old.type is not new.type:
        return None
    translated: object
    if old.type in _PLAIN:
        translated = dict(payload)
    elif old.type in (QuestionType.SINGLE_CHOICE, QuestionType.MULTIPLE_CHOICE):
        options = id_map(
            [(o.id, o.text) for o in old.options], [(o.id, o.text) for o in new.options]
        )
        if old.type is QuestionType.SINGLE_CHOICE:
            translated = {"option_id": options.get(str(payload.get("option_id")), "")}
        else:
            chosen = payload.get("option_ids")
            ids = chosen if isinstance(chosen, list) else []
            translated = {"option_ids": [options.get(str(i), "") for i in ids]}
    elif old.type is QuestionType.MATCHING:
        translated = _translate_matching(old, new, payload)
    elif old.type is QuestionType.ORDERING:
        items = id_map([(i.id, i.text) for i in old.items], [(i.id, i.text) for i in new.items])
        chosen = payload.get("item_ids")
        if not isinstance(chosen, list):
            return None
        translated = {"item_ids": [items.get(str(i), "") for i in chosen]}
    else:
        return None
    try:
        return parse_response(new, translated)
    except InvalidResponse:
        return None


def _translate_matching(
    old: Question, new: Question, payload: Mapping[str, object]
) -> dict[str, object] | None:
    matches = payload.get("matches")
    if not isinstance(matches, Mapping):
        return None
    lefts = id_map(
        [(p.id, p.left) for p in old.pairs if not p.distractor],
        [(p.id, p.left) for p in new.pairs if not p.distractor],
    )
    rights = id_map(
        [(p.right_id, p.right) for p in old.pairs], [(p.right_id, p.right) for p in new.pairs]
    )
    return {"matches": {lefts.get(str(k), ""): rights.get(str(v), "") for k, v in matches.items()}}
