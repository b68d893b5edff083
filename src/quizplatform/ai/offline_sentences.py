"""Paragraph structure and sentence splitting for the offline drafter.

``split_sentences`` cuts a text into paragraphs (blank lines, list items, headings) and
the paragraphs into sentences, without cutting after abbreviations ("e.g.", "Dr.",
"U.S."), initials ("J. Smith") or inside decimals ("3.14"). Every pattern here runs in
linear time and every loop is iterative: the text is untrusted (tests/security).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from quizplatform.ai.offline_lexicon import STOP_WORDS, WORD_RE, collapse_spaces, words

MIN_SENTENCE_WORDS = 6
MAX_SENTENCE_WORDS = 40

_ABBREVIATIONS = words("""
    mr mrs ms dr prof st jr sr vs fig figs no nos approx ca cf gen col capt lt sgt rev
    hon mt ft inc ltd co corp dept est vol vols pp ed eds al sec min max ave blvd rd
    jan feb mar apr jun jul aug sep sept oct nov dec
    """)
# Linear time: a match may only start where a run of terminators starts (the look-behind),
# and the possessive quantifiers never give characters back. Without both, a run of n
# dots not followed by a space was rescanned from each of its n positions (60,000 dots
# took 27 s).
_TERMINATOR_RE = re.compile(r"(?<![.!?…])[.!?…]++[\"'\u201d\u2019»)\]]*+(?=\s)")
_BULLET_RE = re.compile(r"^(?:[-*•‣◦▪·\u2013\u2014]|\(?\d{1,2}[.)]|\(?[a-z]\))\s+")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Invisible format characters: zero-width spaces and joiners, soft hyphens, byte order
# marks, and bidirectional overrides, which could make a prompt read other than it is.
_INVISIBLE_RE = re.compile("[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


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
    text = _INVISIBLE_RE.sub("", unicodedata.normalize("NFC", text))
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
    # A loop, not recursion over lines[1:]: 20,000 title-like lines in a row hit Python's
    # recursion limit (and copied the list each time).
    blocks: list[tuple[str, str]] = []
    start = 0
    while kind == "para" and len(lines) - start > 1:
        if not _looks_like_heading(lines[start], lines[start + 1]):
            break
        blocks.append((collapse_spaces(lines[start]), "heading"))
        start += 1
    rest = lines[start:]
    joined = collapse_spaces(" ".join(rest))
    if kind == "para" and len(rest) == 1 and not _ends_with_punctuation(joined):
        blocks.append((joined, "heading"))
    else:
        blocks.append((joined, kind))
    return blocks


def _looks_like_heading(line: str, next_line: str) -> bool:
    """A short title line above a paragraph (not the first line of a wrapped sentence)."""
    words = WORD_RE.findall(line)
    return (
        not _ends_with_punctuation(line)
        and 0 < len(words) <= 8
        and len(line) <= 60
        and words[-1].casefold() not in STOP_WORDS
        and next_line[:1].isupper()
    )


def _ends_with_punctuation(text: str) -> bool:
    return text.rstrip("\"'\u201d\u2019»)]").endswith(
        (".", "!", "?", "…", ":", ";", ",", "\u3002", "\uff01", "\uff1f")
    )


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
