"""Moodle GIFT format: ``read_gift`` and ``write_gift`` (docs/formats.md, "GIFT").

The reader follows Moodle's importer (``question/format/gift/format.php``):

* Blank lines separate questions; lines starting ``//`` are comments, whose
  ``[tag:name]`` tokens become tags (``\\]`` is ``]`` in a tag; ``[id:...]`` is ignored).
* ``$CATEGORY: path`` sets ``Question.category`` for the questions that follow, without
  Moodle's context prefix (``$course$/``, ``$system$/``...) and root ``top``
  (``category_path``); an empty path resets it to ``None``.
* ``::title::``; a leading ``[moodle|html|plain|markdown]`` sets the text format. The same
  prefix on an answer or feedback is dropped (the model keeps one format per question).
* The block decides the type: none → description (0 points); ``{}`` → essay; ``{#...}``
  → numeric; ``~`` in it → single choice when it has an ``=`` answer, else multiple
  choice; ``=`` and ``->`` → matching (``= -> x`` is a distractor: ``Pair("", "x")``);
  ``{T}``/``{TRUE}``/``{F}``/``{FALSE}`` → true/false; else short answer.
* Text after the block (a "missing word" question) leaves ``_____`` where it stood.
* ``#feedback`` per answer; ``{T#wrong#right}`` as in Moodle (the first is shown for a
  wrong answer); ``####text`` at the end of a block is the general feedback.
* Numeric: ``value``, ``value:tolerance`` or ``min..max`` (kept as the middle +- half the
  width), several with ``=%weight%``; ``~#feedback`` (or an ``=%0%*#feedback`` answer)
  is ``other_feedback``, the feedback for any other number.
* Short answer: ``*`` is a wildcard (``scoring.wildcard_match``). A trailing 0% ``*``
  answer with feedback (Moodle's own export of "any other answer") is read as
  ``other_feedback``, which the writer writes that way.
* Escapes: ``\\~ \\= \\# \\{ \\} \\: \\\\`` and ``\\n``; any other backslash is literal.

GIFT has no points (questions get 1, descriptions 0); answers are case-insensitive; the
quiz is titled ``"Imported quiz"``. Differences from Moodle, for exact round trips:
``{true}`` in any case is true/false; ``=``/``->`` blocks with a ``%weight%`` are short
answers (the writer gives those ``=%100%``); the writer writes ``~%0%`` before option texts
starting with ``%`` and ``[format]`` before texts starting with one or with ``//``.
Errors are reported where Moodle silently guesses (a bad weight, ``{#abc}``).

The writer raises ``UnsupportedQuestion`` for ordering questions, matching left texts
containing ``->`` and tags GIFT cannot carry. It does not write points, ``case_sensitive``,
``grader_info``, ids, a description's feedback, or the quiz's description, tags and
settings (the title becomes a leading comment). Texts are trimmed on reading and ``\\r``
is a line break, so surrounding white space and carriage returns do not come back.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from quizplatform.domain.formats.errors import (
    FormatError,
    ParseIssue,
    UnsupportedQuestion,
    stop_if_too_many,
)
from quizplatform.domain.limits import Budget
from quizplatform.domain.questions import (
    MISSING_WORD_BLANK,
    TEXT_FORMATS,
    Choice,
    NumericAnswer,
    Pair,
    Question,
    QuestionType,
    QuizContent,
    TextAnswer,
    validate_question,
)

DEFAULT_QUIZ_TITLE = "Imported quiz"

_ESCAPABLE = "~=#{}:\\"
_FORMAT_RE = re.compile(r"\[(" + "|".join(TEXT_FORMATS) + r")\]")
_WEIGHT_TOKEN_RE = re.compile(r"%([^%\s]*)%")
_WEIGHT_RE = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)")
_NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_TAG_RE = re.compile(r"\[tag:((?:\\\]|[^\]\n])+)\]")
_CATEGORY = "$CATEGORY:"
_CONTEXT_RE = re.compile(r"\$[a-z]+\$(?:/|$)")
WILDCARD = "*"
_TF_VALUES = {"T": True, "TRUE": True, "F": False, "FALSE": False}


# --------------------------------------------------------------------------- source text


@dataclass(frozen=True)
class _Text:
    """Unescaped characters with, for each, whether it was escaped and its line."""

    chars: str
    lit: tuple[bool, ...]
    lines: tuple[int, ...]
    fallback_line: int

    @staticmethod
    def parse(raw_lines: list[tuple[int, str]]) -> _Text:
        chars: list[str] = []
        lit: list[bool] = []
        lines: list[int] = []
        for k, (lineno, raw) in enumerate(raw_lines):
            if k:
                chars.append("\n")
                lit.append(False)
                lines.append(lineno)
            i = 0
            while i < len(raw):
                c = raw[i]
                nxt = raw[i + 1] if i + 1 < len(raw) else ""
                if c == "\\" and nxt and (nxt in _ESCAPABLE or nxt == "n"):
                    chars.append("\n" if nxt == "n" else nxt)
                    lit.append(True)
                    i += 2
                else:
                    chars.append(c)
                    lit.append(c == "\\")
                    i += 1
                lines.append(lineno)
        first = raw_lines[0][0] if raw_lines else 1
        return _Text("".join(chars), tuple(lit), tuple(lines), first)

    def __len__(self) -> int:
        return len(self.chars)

    @property
    def text(self) -> str:
        return self.chars

    def line(self, i: int = 0) -> int:
        if 0 <= i < len(self.lines):
            return self.lines[i]
        if self.lines and i >= len(self.lines):
            return self.lines[-1]
        return self.fallback_line

    def cut(self, start: int, end: int | None = None) -> _Text:
        end = len(self.chars) if end is None else end
        fallback = self.line(start)
        return _Text(self.chars[start:end], self.lit[start:end], self.lines[start:end], fallback)

    def strip(self) -> _Text:
        s = self.chars
        start = len(s) - len(s.lstrip())
        end = len(s.rstrip())
        if start >= end:
            return _Text("", (), (), self.line(start))
        return self.cut(start, end)

    def find(self, seq: str, start: int = 0) -> int:
        """Index of the first unescaped occurrence of ``seq`` at or after ``start``."""
        i = self.chars.find(seq, start)
        while i >= 0:
            if not any(self.lit[i : i + len(seq)]):
                return i
            i = self.chars.find(seq, i + 1)
        return -1

    def rfind(self, seq: str) -> int:
        """Index of the last unescaped occurrence of ``seq``."""
        i = self.chars.rfind(seq)
        while i >= 0:
            if not any(self.lit[i : i + len(seq)]):
                return i
            i = self.chars.rfind(seq, 0, i + len(seq) - 1)
        return -1

    def startswith(self, seq: str) -> bool:
        return self.chars.startswith(seq) and not any(self.lit[: len(seq)])

    def split_markers(self, markers: str) -> tuple[_Text, list[tuple[str, _Text]]]:
        """Split at unescaped marker characters: (text before the first, [(marker, body)])."""
        cuts = [i for i, c in enumerate(self.chars) if c in markers and not self.lit[i]]
        if not cuts:
            return self, []
        lead = self.cut(0, cuts[0])
        segs = []
        for k, i in enumerate(cuts):
            end = cuts[k + 1] if k + 1 < len(cuts) else len(self.chars)
            body = self.cut(i + 1, end)
            segs.append((self.chars[i], _Text(body.chars, body.lit, body.lines, self.line(i))))
        return lead, segs


# --------------------------------------------------------------------------- reading


class _Issues:
    def __init__(self) -> None:
        self.items: list[ParseIssue] = []

    def add(self, line: int, message: str) -> None:
        self.items.append(ParseIssue(line, message))

    def check(self, limit: int, line: int) -> None:
        stop_if_too_many(self.items, limit, line)


class _Invalid(Exception):
    """Raised inside a question's parser once its problems have been recorded."""


def read_gift(text: str, budget: Budget | None = None) -> QuizContent:
    """Parse a GIFT file into a quiz; raise ``FormatError`` listing every problem by line,
    ``QuizTooLarge`` at the first question over the ``budget`` (``DeadlineExceeded`` when
    its deadline passes)."""
    budget = budget or Budget()
    budget.check_size(text)
    text = text.removeprefix("\ufeff")
    issues = _Issues()
    questions: list[Question] = []
    category: str | None = None
    number = 0
    for block in _blocks(text):
        content = [(n, line) for n, line in block if not line.strip().startswith("//")]
        comments = [line.strip() for _, line in block if line.strip().startswith("//")]
        if not content:
            continue
        first_no, first = content[0]
        if first.strip().startswith(_CATEGORY):
            raw = first.strip()[len(_CATEGORY) :]
            category = category_path(_Text.parse([(first_no, raw)]).text)
            content = content[1:]
            if not content:
                continue
        number += 1
        budget.next_question(first_no)
        issues.check(budget.limits.issues, first_no)
        try:
            q = _read_question(_Text.parse(content), issues)
        except _Invalid:
            continue
        q.category = category
        q.tags = _tags(comments)
        for problem in validate_question(q):
            issues.add(content[0][0], f"question {number}: {problem}")
        questions.append(q)
    if issues.items:
        raise FormatError(issues.items)
    return QuizContent(title=DEFAULT_QUIZ_TITLE, questions=questions)


def category_path(raw: str) -> str | None:
    """A ``$CATEGORY:`` path as the platform keeps it: without Moodle's context prefix
    (``$course$/``, ``$system$/``, ...) and its root category ``top``; None when empty."""
    path = raw.strip()
    m = _CONTEXT_RE.match(path)
    if m:
        path = path[m.end() :].strip()
    if path == "top" or path.startswith("top/"):
        path = path[3:].removeprefix("/").strip()
    return path or None


def _blocks(text: str) -> Iterator[list[tuple[int, str]]]:
    """The blank-line separated blocks, one at a time (a file of 300,000 blocks is refused
    at its 501st, before the rest are built)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    current: list[tuple[int, str]] = []
    for n, line in enumerate(lines, 1):
        if line.strip():
            current.append((n, line))
        elif current:
            yield current
            current = []
    if current:
        yield current


# Tags are read from the first characters of a comment line only: the tag pattern rescans
# a run of unclosed "[tag:" from each of them (quadratic), so an endless line of them must
# not be read whole. 20 tags of 64 characters fit.
TAG_LINE_CHARS = 2_000


def _tags(comments: list[str]) -> list[str]:
    tags: list[str] = []
    for comment in comments:
        for m in _TAG_RE.finditer(comment, 0, TAG_LINE_CHARS):
            tag = m.group(1).replace("\\]", "]").strip()
            if tag:
                tags.append(tag)
    return tags


def _split_format(text: str, default: str) -> tuple[str, str]:
    """Strip a leading ``[format]`` from already trimmed text: (format, rest)."""
    text = text.strip()
    m = _FORMAT_RE.match(text)
    if m:
        return m.group(1), text[m.end() :].strip()
    return default, text


def _plain(t: _Text, fmt: str) -> str:
    return _split_format(t.text, fmt)[1]


def _optional(t: _Text, fmt: str) -> str | None:
    return _plain(t, fmt) or None


def _read_question(t: _Text, issues: _Issues) -> Question:
    t = t.strip()
    start_line = t.line(0)
    title: str | None = None
    if t.startswith("::"):
        end = t.find("::", 2)
        if end < 0:
            issues.add(start_line, "question title is not closed with '::'")
            raise _Invalid
        title = t.cut(2, end).text.strip() or None
        t = t.cut(end + 2).strip()

    open_at = t.find("{")
    close_at = t.find("}")
    if open_at < 0 and close_at < 0:
        fmt, prompt = _split_format(t.text, "moodle")
        return Question(QuestionType.DESCRIPTION, prompt, points=0.0, title=title, text_format=fmt)
    if close_at >= 0 and (open_at < 0 or close_at < open_at):
        issues.add(t.line(close_at), "'}' without an opening '{' (write \\} for a brace)")
        raise _Invalid
    if close_at < 0:
        issues.add(t.line(open_at), "answer block opened with '{' is not closed")
        raise _Invalid
    nested = t.find("{", open_at + 1)
    if 0 <= nested < close_at:
        issues.add(t.line(nested), "'{' inside an answer block (write \\{ for a brace)")
        raise _Invalid
    after = t.cut(close_at + 1)
    extra = min((i for i in (after.find("{"), after.find("}")) if i >= 0), default=-1)
    if extra >= 0:
        issues.add(after.line(extra), "a question can have only one answer block")
        raise _Invalid

    before = t.cut(0, open_at).text
    rest = after.text
    prompt_raw = before + (MISSING_WORD_BLANK + rest if rest.strip() else "")
    fmt, prompt = _split_format(prompt_raw, "moodle")

    block = t.cut(open_at + 1, close_at)
    general: str | None = None
    gf = block.rfind("####")
    if gf >= 0:
        general = _optional(block.cut(gf + 4), fmt)
        block = block.cut(0, gf)
    block = block.strip()
    block_line = t.line(open_at)

    q = Question(QuestionType.ESSAY, prompt, title=title, feedback=general, text_format=fmt)
    if not block.text:
        return q
    if block.startswith("#"):
        _read_numeric(q, block.cut(1), block_line, issues)
        return q
    lead, segs = block.split_markers("~=")
    markers = {m for m, _ in segs}
    if "~" in markers:
        _read_choice(q, lead, segs, issues)
        return q
    if (
        "=" in markers
        and any("->" in body.text for _, body in [("=", lead), *segs])
        and not any(body.strip().text.startswith("%") for _, body in segs)
    ):
        _read_matching(q, lead, segs, block_line, issues)
        return q
    if not segs:
        head, *feedbacks = _split_feedback(block, 2)
        value = _TF_VALUES.get(head.text.strip().upper())
        if value is not None:
            q.type = QuestionType.TRUE_FALSE
            q.answer = value
            fbs = [_optional(f, fmt) for f in feedbacks] + [None, None]
            q.wrong_feedback, q.right_feedback = fbs[0], fbs[1]
            return q
    _read_short(q, lead, segs, issues)
    return q


def _split_feedback(t: _Text, limit: int = 1) -> list[_Text]:
    """Split at the first ``limit`` unescaped ``#``: [text, feedback...]."""
    parts: list[_Text] = []
    rest = t
    for _ in range(limit):
        i = rest.find("#")
        if i < 0:
            break
        parts.append(rest.cut(0, i))
        rest = rest.cut(i + 1)
    parts.append(rest)
    return parts


def _weight(body: _Text, issues: _Issues) -> tuple[float | None, _Text]:
    """Parse a leading ``%weight%``: (weight or None when absent, rest of the body)."""
    body = body.strip()
    m = _WEIGHT_TOKEN_RE.match(body.text)
    if not m:
        return None, body
    raw = m.group(1)
    if not _WEIGHT_RE.fullmatch(raw) or not -100 <= float(raw) <= 100:
        issues.add(body.line(0), f"bad weight '%{raw}%' (expected a percentage from -100 to 100)")
        raise _Invalid
    return float(raw), body.cut(m.end())


def _answer(body: _Text, marker: str, fmt: str, issues: _Issues) -> tuple[str, str | None]:
    parts = _split_feedback(body)
    value = _plain(parts[0], fmt)
    if not value:
        issues.add(body.line(0), f"empty answer after '{marker}'")
        raise _Invalid
    return value, (_optional(parts[1], fmt) if len(parts) > 1 else None)


def _lead_segments(
    lead: _Text, segs: list[tuple[str, _Text]], default_marker: str
) -> list[tuple[str, _Text]]:
    if lead.text.strip():
        return [(default_marker, lead), *segs]
    return segs


def _read_choice(q: Question, lead: _Text, segs: list[tuple[str, _Text]], issues: _Issues) -> None:
    segs = _lead_segments(lead, segs, "~")
    q.type = (
        QuestionType.SINGLE_CHOICE
        if any(m == "=" for m, _ in segs)
        else QuestionType.MULTIPLE_CHOICE
    )
    problems = False
    for marker, body in segs:
        try:
            if marker == "=":
                weight: float | None = 100.0
            else:
                weight, body = _weight(body, issues)
            text, feedback = _answer(body, marker, q.text_format, issues)
        except _Invalid:
            problems = True
            continue
        q.options.append(Choice(text, 0.0 if weight is None else weight, feedback))
    if problems:
        raise _Invalid


def _read_short(q: Question, lead: _Text, segs: list[tuple[str, _Text]], issues: _Issues) -> None:
    q.type = QuestionType.SHORT_ANSWER
    problems = False
    for marker, body in _lead_segments(lead, segs, "="):
        try:
            weight, body = _weight(body, issues)
            text, feedback = _answer(body, marker, q.text_format, issues)
        except _Invalid:
            problems = True
            continue
        q.text_answers.append(TextAnswer(text, 100.0 if weight is None else weight, feedback))
    if problems:
        raise _Invalid
    last = q.text_answers[-1] if len(q.text_answers) > 1 else None
    if last is not None and last.text == WILDCARD and last.weight == 0 and last.feedback:
        # Moodle's "any other answer" (``=%0%*#feedback``, what Moodle itself exports).
        q.other_feedback = q.text_answers.pop().feedback


def _read_matching(
    q: Question, lead: _Text, segs: list[tuple[str, _Text]], line: int, issues: _Issues
) -> None:
    q.type = QuestionType.MATCHING
    problems = False
    for _, body in _lead_segments(lead, segs, "="):
        arrow = body.chars.find("->")
        if arrow < 0:
            issues.add(body.line(0), "a matching pair needs the form '=left -> right'")
            problems = True
            continue
        # An empty left side (``= -> Chat``) is a distractor: an extra wrong answer.
        left = _plain(body.cut(0, arrow), q.text_format)
        right = body.cut(arrow + 2).text.strip()
        if not right:
            issues.add(body.line(0), "a matching pair needs text after '->'")
            problems = True
            continue
        q.pairs.append(Pair(left, right))
    if problems:
        raise _Invalid
    if sum(1 for p in q.pairs if not p.distractor) < 2:
        issues.add(line, "a matching question needs at least two pairs")
        raise _Invalid


def _number(raw: str, what: str, line: int, issues: _Issues) -> float:
    raw = raw.strip()
    if not _NUMBER_RE.fullmatch(raw) or not math.isfinite(value := float(raw)):
        issues.add(line, f"bad number '{raw}' for the {what}")
        raise _Invalid
    return value


def _read_numeric(q: Question, block: _Text, line: int, issues: _Issues) -> None:
    q.type = QuestionType.NUMERIC
    wrong = block.find("~")
    if wrong >= 0:
        # As in Moodle, everything after the first '~' is the feedback for any other
        # number: ``~#feedback``.
        rest = block.cut(wrong + 1).strip()
        if not rest.startswith("#"):
            issues.add(
                block.line(wrong),
                "write '~#feedback' for the feedback for any other number",
            )
            raise _Invalid
        q.other_feedback = _optional(rest.cut(1), q.text_format)
        block = block.cut(0, wrong)
    lead, segs = block.split_markers("=")
    segs = _lead_segments(lead, segs, "=")
    if not segs:
        issues.add(line, "empty numeric answer block: give a number after '#'")
        raise _Invalid
    problems = False
    for marker, body in segs:
        try:
            weight, body = _weight(body, issues)
            spec, feedback = _answer(body, marker, q.text_format, issues)
            n = body.line(0)
            if spec == WILDCARD:
                _numeric_wildcard(q, weight, feedback, n, issues)
                continue
            if spec.find("..") > 0:
                low_raw, high_raw = spec.split("..", 1)
                low = _number(low_raw, "range start", n, issues)
                high = _number(high_raw, "range end", n, issues)
                if low > high:
                    issues.add(n, f"bad range '{spec}': the start is above the end")
                    raise _Invalid
                # In decimal, so that 3.141..3.142 is 3.1415 +- 0.0005 exactly.
                low_d, high_d = Decimal(repr(low)), Decimal(repr(high))
                middle = (low_d + high_d) / 2
                value, tolerance = float(middle), float(high_d - middle)
            elif spec.find(":") > 0:
                value_raw, tol_raw = spec.split(":", 1)
                value = _number(value_raw, "value", n, issues)
                tolerance = _number(tol_raw, "tolerance", n, issues)
            else:
                value = _number(spec, "value", n, issues)
                tolerance = 0.0
        except _Invalid:
            problems = True
            continue
        q.numeric_answers.append(
            NumericAnswer(value, tolerance, 100.0 if weight is None else weight, feedback)
        )
    if problems:
        raise _Invalid
    if not q.numeric_answers:
        issues.add(line, "a numeric question needs at least one number as an answer")
        raise _Invalid


def _numeric_wildcard(
    q: Question, weight: float | None, feedback: str | None, line: int, issues: _Issues
) -> None:
    """A numeric ``=%0%*#feedback`` answer: any other number (Moodle's ``*`` answer)."""
    if weight != 0:
        issues.add(line, "a '*' answer (any other number) must have the weight %0%")
        raise _Invalid
    if q.other_feedback is not None and feedback:
        issues.add(line, "only one feedback for any other number ('~#' or '=%0%*#')")
        raise _Invalid
    q.other_feedback = q.other_feedback or feedback


# --------------------------------------------------------------------------- writing


def write_gift(quiz: QuizContent) -> str:
    """Write a quiz as GIFT; raise ``UnsupportedQuestion`` for what GIFT cannot express."""
    parts = ["// " + " ".join(quiz.title.split())]
    category: str | None = None
    for number, q in enumerate(quiz.questions, 1):
        if (q.category or None) != category:
            category = q.category or None
            parts.append(_CATEGORY + (" " + _write_category(category) if category else ""))
        parts.append(_write_question(q, number))
    return "\n\n".join(parts) + "\n"


def _write_category(category: str) -> str:
    """A category path as Moodle reads it: not escaped (Moodle's importer does not unescape
    this line) but for backslashes and line breaks; a path the reader would shorten (it
    starts with ``top`` or a ``$context$``) gets Moodle's own ``$course$/top/`` in front."""
    text = category.replace("\\", "\\\\").replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\n", "\\n")
    if category_path(category) != category:
        text = "$course$/top/" + text
    return text


def _escape(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    out = []
    for c in text:
        if c in _ESCAPABLE:
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        else:
            out.append(c)
    return "".join(out)


def _text(text: str, fmt: str) -> str:
    """Escape an answer or feedback text, protecting a leading ``[format]``-like prefix."""
    return (f"[{fmt}]" if _FORMAT_RE.match(text) else "") + _escape(text)


def _num(x: float) -> str:
    """Shortest text that reads back as exactly ``x`` (no exponent, no trailing .0)."""
    if x == int(x) and abs(x) < 1e16:
        return str(int(x))
    r = repr(float(x))
    return format(Decimal(r), "f") if "e" in r else r


def _value(x: float) -> str:
    """Like ``_num`` but keeps exponents for very large or small numbers."""
    if x == int(x) and abs(x) < 1e16:
        return str(int(x))
    return repr(float(x))


def _unsupported(q: Question, number: int, why: str = "") -> UnsupportedQuestion:
    detail = f": {why}" if why else ""
    return UnsupportedQuestion(
        f"question {number} ({q.type.value}) cannot be written as GIFT{detail}"
    )


def _write_question(q: Question, number: int) -> str:
    lines: list[str] = []
    if q.tags:
        lines.append("// " + " ".join(_write_tag(q, number, tag) for tag in q.tags))
    head = f"::{_escape(q.title)}::" if q.title else ""
    fmt = q.text_format
    prompt = q.prompt.strip()
    protect = bool(_FORMAT_RE.match(prompt)) or prompt.startswith("//")
    if fmt != "moodle" or protect or (not prompt and not head):
        head += f"[{fmt}]"

    if q.type is QuestionType.DESCRIPTION:
        lines.append(head + _escape(prompt))
        return "\n".join(lines)

    block = _write_block(q, number)
    blank = prompt.find(MISSING_WORD_BLANK)
    if blank >= 0 and prompt[blank + len(MISSING_WORD_BLANK) :]:
        before = prompt[:blank]
        after = prompt[blank + len(MISSING_WORD_BLANK) :]
        lines.append(head + _escape(before) + block + _escape(after))
    elif blank >= 0:
        lines.append(head + _escape(prompt) + block)
    else:
        lines.append(head + _escape(prompt) + " " + block)
    return "\n".join(lines)


def _write_tag(q: Question, number: int, tag: str) -> str:
    if not tag.strip() or tag != tag.strip() or tag.endswith("\\") or any(c in tag for c in "\r\n"):
        raise _unsupported(q, number, f"tag {tag!r} cannot be written in a GIFT comment")
    return "[tag:" + tag.replace("]", "\\]") + "]"


def _general(q: Question, indent: str = "") -> list[str]:
    if not q.feedback:
        return []
    return [indent + "####" + _text(q.feedback.strip(), q.text_format)]


def _feedback(feedback: str | None, fmt: str) -> str:
    return "#" + _text(feedback.strip(), fmt) if feedback and feedback.strip() else ""


def _write_block(q: Question, number: int) -> str:
    fmt = q.text_format
    t = QuestionType
    if q.type is t.ESSAY:
        return "{" + "".join(_general(q)) + "}"
    if q.type is t.TRUE_FALSE:
        out = "{" + ("TRUE" if q.answer else "FALSE")
        wrong = _feedback(q.wrong_feedback, fmt)
        right = _feedback(q.right_feedback, fmt)
        if right:
            out += (wrong or "#") + right
        else:
            out += wrong
        return out + "".join(_general(q)) + "}"
    lines: list[str] = []
    if q.type in (t.SINGLE_CHOICE, t.MULTIPLE_CHOICE):
        single = q.type is t.SINGLE_CHOICE
        for o in q.options:
            text = o.text.strip()
            if single and o.weight >= 100:
                marker = "="
            elif o.weight == 0 and not text.startswith("%"):
                marker = "~"
            else:
                marker = f"~%{_num(o.weight)}%"
            lines.append("\t" + marker + _text(text, fmt) + _feedback(o.feedback, fmt))
    elif q.type is t.SHORT_ANSWER:
        arrows = any(
            "->" in a.text or (a.feedback is not None and "->" in a.feedback)
            for a in q.text_answers
        )
        for a in q.text_answers:
            text = a.text.strip()
            explicit = arrows or a.weight != 100 or text.startswith("%")
            marker = f"=%{_num(a.weight)}%" if explicit else "="
            lines.append("\t" + marker + _text(text, fmt) + _feedback(a.feedback, fmt))
        if other := _feedback(q.other_feedback, fmt):
            # Moodle's "any other answer": a 0% wildcard (the reader maps a trailing one back).
            lines.append(f"\t=%0%{WILDCARD}{other}")
    elif q.type is t.NUMERIC:
        answers = q.numeric_answers
        simple = len(answers) == 1 and answers[0].weight == 100 and not answers[0].feedback
        other = _feedback(q.other_feedback, fmt)
        if simple and not q.feedback and not other:
            return "{#" + _numeric_spec(answers[0]) + "}"
        lines = [
            f"\t=%{_num(a.weight)}%{_numeric_spec(a)}{_feedback(a.feedback, fmt)}" for a in answers
        ]
        if other:
            lines.append("\t~" + other)
        return "{#\n" + "\n".join([*lines, *_general(q, "\t")]) + "\n}"
    elif q.type is t.MATCHING:
        for p in q.pairs:
            left, right = p.left.strip(), p.right.strip()
            if "->" in left:
                raise _unsupported(q, number, "a matching left text contains '->'")
            prefix = f"[{fmt}]" if left.startswith("%") or _FORMAT_RE.match(left) else ""
            # A distractor (empty left) is written as Moodle does: ``= -> right``.
            lines.append(f"\t={prefix}{_escape(left)} -> {_escape(right)}")
    else:
        raise _unsupported(q, number)
    return "{\n" + "\n".join([*lines, *_general(q, "\t")]) + "\n}"


def _numeric_spec(a: NumericAnswer) -> str:
    if a.tolerance == 0:
        return _value(a.value)
    return f"{_value(a.value)}:{_value(a.tolerance)}"
