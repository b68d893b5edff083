"""Moodle XML (pure functions, no I/O): the question bank export of Moodle.

Reading: the file is parsed by the standard library's expat with every DTD refused
outright: a ``<!DOCTYPE`` (and so any entity declaration, the "billion laughs" bomb, an
external entity such as ``file:///etc/passwd``) is a ``FormatError`` before anything is
expanded; Moodle's own exports never have one. Elements nested deeper than
``xml_safety.MAX_DEPTH`` are refused, and the file's size is checked against the budget before
parsing. Line numbers come from the parser.

Mapping (both ways):

* ``<question type="category">`` sets the category of the questions after it. Its path
  loses Moodle's context prefix (``$course$/``, ``$system$/``, ``$module$/``, ...) and then
  Moodle's default root ``top/``: ``$course$/top/Geography/Rivers`` is ``Geography/Rivers``;
  ``$course$/top`` alone is no category. The writer writes ``$course$/top/<category>``.
* multichoice (``<single>``: single or multiple choice; ``fraction`` -> weight in percent),
  truefalse, shortanswer (``<usecase>``), numerical (answers with ``<tolerance>``; units are
  ignored with a warning), matching (``<subquestion>``; an empty one is a distractor),
  essay (``<graderinfo>``), ordering (the ``qtype_ordering`` plugin: the answers'
  ``fraction`` is their position), description.
* A shortanswer or numerical answer ``*`` with fraction 0 is the feedback for any other
  response (``other_feedback``); the writer writes it last.
* ``<defaultgrade>`` -> points; ``<name>`` -> title; ``<generalfeedback>`` -> feedback;
  ``<tags>``; the question text's format (``html``, ``moodle_auto_format``, ``plain_text``,
  ``markdown``) -> text_format (Moodle's default when it is missing: html).
* Not modelled, read and dropped: ``<penalty>``, ``<shuffleanswers>``, hints, combined
  feedback (correct/partially/incorrect), essay response settings. The writer writes
  Moodle's defaults for them.

Texts are stripped of surrounding white space when read (as Moodle does). The writer
escapes like Moodle: a text with ``<``, ``>`` or ``&`` goes in a CDATA section. XML cannot
hold control characters other than tab and newline: the writer drops them, and writes a
carriage return as a newline.

Other question types (calculated, ddwtos, multianswer/cloze, randomsamatch, ...) are
listed by name and position in a ``FormatError``; with ``skip_unsupported`` they are left
out and listed as warnings.
"""

from __future__ import annotations

import math
import re

from quizplatform.domain.formats.errors import (
    FormatError,
    ParseIssue,
    UnsupportedQuestion,
    stop_if_too_many,
)
from quizplatform.domain.formats.xml_safety import Node, parse_xml
from quizplatform.domain.limits import Budget, QuizTooLarge
from quizplatform.domain.questions import (
    Choice,
    Item,
    NumericAnswer,
    Pair,
    Question,
    QuestionType,
    QuizContent,
    TextAnswer,
    validate_question,
)

DEFAULT_QUIZ_TITLE = "Imported quiz"

QT = QuestionType
_FORMAT_IN = {
    "html": "html",
    "moodle_auto_format": "moodle",
    "plain_text": "plain",
    "markdown": "markdown",
}
_FORMAT_OUT = {v: k for k, v in _FORMAT_IN.items()}
_SUPPORTED = (
    "multichoice",
    "truefalse",
    "shortanswer",
    "numerical",
    "matching",
    "essay",
    "ordering",
    "description",
)
_CONTEXT_PREFIX = re.compile(r"^\$[a-z]+\$/?")


# --------------------------------------------------------------------------- parsing

_Node = Node


def _parse(text: str, budget: Budget) -> Node:
    return parse_xml(text, budget, what="Moodle XML files")


# --------------------------------------------------------------------------- reading


class _Issues:
    def __init__(self, limit: int) -> None:
        self.items: list[ParseIssue] = []
        self.limit = limit

    def add(self, line: int, message: str) -> None:
        self.items.append(ParseIssue(line, message))
        stop_if_too_many(self.items, self.limit, line)


def read_moodle_xml(
    data: bytes, budget: Budget | None = None, skip_unsupported: bool = False
) -> tuple[QuizContent, list[ParseIssue]]:
    """Parse a Moodle XML file; return the quiz and the warnings (skipped questions,
    ignored units). Raise ``FormatError`` listing every problem by line, ``QuizTooLarge``
    (over the ``budget``) or ``DeadlineExceeded``."""
    budget = budget or Budget()
    if len(data) > budget.limits.import_chars * 4:  # a UTF-8 character has at most 4 bytes
        raise QuizTooLarge(
            f"the file has {len(data):,} bytes; the limit is {budget.limits.import_chars:,} "
            "characters"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise FormatError([ParseIssue(line, "the file is not UTF-8 text")]) from exc
    budget.check_size(text)
    root = _parse(text, budget)
    if root.tag != "quiz":
        raise FormatError(
            [ParseIssue(root.line, f"the root element is <{root.tag}>; Moodle XML has <quiz>")]
        )
    issues = _Issues(budget.limits.issues)
    warnings: list[ParseIssue] = []
    questions: list[Question] = []
    category: str | None = None
    number = 0
    for node in root.all("question"):
        qtype = node.attrib.get("type", "")
        if qtype == "category":
            category = _category(node.text_of("category"))
            continue
        number += 1
        budget.next_question(node.line)
        if qtype not in _SUPPORTED:
            message = f"question {number} (line {node.line}): type '{qtype}' is not supported"
            if skip_unsupported:
                warnings.append(ParseIssue(node.line, message + "; skipped"))
            else:
                issues.add(node.line, message)
            continue
        q = _read_question(node, qtype, number, issues, warnings)
        if q is None:
            continue
        q.category = category
        for problem in validate_question(q):
            issues.add(node.line, f"question {number}: {problem}")
        questions.append(q)
    if issues.items:
        raise FormatError(issues.items)
    return QuizContent(title=DEFAULT_QUIZ_TITLE, questions=questions), warnings


def _category(path: str) -> str | None:
    path = _CONTEXT_PREFIX.sub("", path.strip(), count=1)
    if path == "top":
        return None
    return path.removeprefix("top/").strip() or None


def _number(raw: str, line: int, what: str, number: int, issues: _Issues) -> float | None:
    try:
        x = float(raw.strip())
    except ValueError:
        x = math.nan
    if not math.isfinite(x):
        issues.add(line, f"question {number}: {what} {raw.strip()[:40]!r} is not a number")
        return None
    return x


def _feedback(node: _Node) -> str | None:
    return node.text_of("feedback") or None


def _read_question(
    node: _Node, qtype: str, number: int, issues: _Issues, warnings: list[ParseIssue]
) -> Question | None:
    before = len(issues.items)
    fmt_attr = ""
    qt = node.child("questiontext")
    if qt is not None:
        fmt_attr = qt.attrib.get("format", "html")
    text_format = _FORMAT_IN.get(fmt_attr or "html")
    if text_format is None:
        warnings.append(
            ParseIssue(node.line, f"question {number}: unknown text format {fmt_attr!r}; html")
        )
        text_format = "html"
    grade = node.value("defaultgrade")
    points = _number(grade, node.line, "defaultgrade", number, issues) if grade else None
    q = Question(
        QT.DESCRIPTION,
        node.text_of("questiontext"),
        points=(0.0 if qtype == "description" else 1.0) if points is None else points,
        title=node.text_of("name") or None,
        feedback=node.text_of("generalfeedback") or None,
        tags=[t.text_of() for t in _tags(node) if t.text_of()],
        text_format=text_format,
    )
    if qt is not None and any(t.all("file") for t in [*qt.all("text"), qt]):
        warnings.append(
            ParseIssue(node.line, f"question {number}: embedded files (images) are not imported")
        )
    answers = node.all("answer")

    def fraction(a: _Node) -> float:
        return _number(a.attrib.get("fraction", "0"), a.line, "fraction", number, issues) or 0.0

    if qtype == "multichoice":
        single = node.value("single", "true").lower() in ("true", "1")
        q.type = QT.SINGLE_CHOICE if single else QT.MULTIPLE_CHOICE
        q.options = [Choice(a.text_of(), fraction(a), _feedback(a)) for a in answers]
    elif qtype == "truefalse":
        q.type = QT.TRUE_FALSE
        by_text = {a.text_of().lower(): a for a in answers}
        t, f = by_text.get("true"), by_text.get("false")
        if t is None or f is None:
            issues.add(node.line, f"question {number}: a truefalse needs answers true and false")
            return None
        q.answer = fraction(t) > fraction(f)
        right, wrong = (t, f) if q.answer else (f, t)
        q.right_feedback, q.wrong_feedback = _feedback(right), _feedback(wrong)
    elif qtype == "shortanswer":
        q.type = QT.SHORT_ANSWER
        q.case_sensitive = node.value("usecase", "0") in ("1", "true")
        for i, a in enumerate(answers):
            w = fraction(a)
            if a.text_of() == "*" and w == 0 and i == len(answers) - 1:
                q.other_feedback = _feedback(a)
            else:
                q.text_answers.append(TextAnswer(a.text_of(), w, _feedback(a)))
    elif qtype == "numerical":
        q.type = QT.NUMERIC
        for a in answers:
            w = fraction(a)
            if a.text_of() == "*":
                q.other_feedback = _feedback(a)
                continue
            value = _number(a.text_of(), a.line, "answer", number, issues)
            tol_raw = a.value("tolerance", "0") or "0"
            tol = _number(tol_raw, a.line, "tolerance", number, issues)
            if value is not None and tol is not None:
                q.numeric_answers.append(NumericAnswer(value, tol, w, _feedback(a)))
        units = node.child("units")
        if units is not None and units.all("unit"):
            names = ", ".join(u.value("unit_name") for u in units.all("unit"))
            warnings.append(
                ParseIssue(node.line, f"question {number}: units ignored ({names[:80]})")
            )
    elif qtype == "matching":
        q.type = QT.MATCHING
        for sub in node.all("subquestion"):
            answer = sub.child("answer")
            q.pairs.append(Pair(sub.text_of(), answer.text_of() if answer else ""))
    elif qtype == "essay":
        q.type = QT.ESSAY
        q.grader_info = node.text_of("graderinfo") or None
    elif qtype == "ordering":
        q.type = QT.ORDERING
        order = [(fraction(a), i, a.text_of()) for i, a in enumerate(answers)]
        q.items = [Item(text) for _, _, text in sorted(order)]
    return q if len(issues.items) == before else None


def _tags(node: _Node) -> list[_Node]:
    tags = node.child("tags")
    return tags.all("tag") if tags is not None else []


# --------------------------------------------------------------------------- writing

_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(s: str) -> str:
    return _ILLEGAL.sub("", s.replace("\r\n", "\n").replace("\r", "\n"))


def _text(s: str | None) -> str:
    """``<text>`` content as Moodle writes it: CDATA when it holds ``<``, ``>`` or ``&``."""
    s = _clean(s or "")
    if re.search("[<>&]", s):
        return "<![CDATA[" + s.replace("]]>", "]]]]><![CDATA[>") + "]]>"
    return s


def _num(x: float) -> str:
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return repr(float(x))


def _texted(tag: str, s: str | None, fmt: str | None = None, indent: str = "    ") -> str:
    attr = f' format="{fmt}"' if fmt else ""
    return f"{indent}<{tag}{attr}>\n{indent}  <text>{_text(s)}</text>\n{indent}</{tag}>"


def _answer(fraction: float, text: str, fmt: str, feedback: str | None, extra: str = "") -> str:
    return (
        f'    <answer fraction="{_num(fraction)}" format="{fmt}">\n'
        f"      <text>{_text(text)}</text>\n{extra}"
        f'      <feedback format="{fmt}">\n        <text>{_text(feedback)}</text>\n'
        "      </feedback>\n    </answer>"
    )


def write_moodle_xml(quiz: QuizContent) -> bytes:
    """Write a quiz as Moodle XML, as Moodle's own export does: a category question before
    the questions of each category."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>', "<quiz>"]
    current: str | None = None
    for number, q in enumerate(quiz.questions, start=1):
        if q.category != current:
            path = "$course$/top" + (f"/{q.category}" if q.category else "")
            out += [
                "  <!-- category -->",
                '  <question type="category">',
                "    <category>",
                f"      <text>{_text(path)}</text>",
                "    </category>",
                '    <info format="moodle_auto_format">',
                "      <text></text>",
                "    </info>",
                "  </question>",
            ]
            current = q.category
        out.append(f"  <!-- question: {number} -->")
        out.append(_write_question(q, number))
    out.append("</quiz>")
    return ("\n".join(out) + "\n").encode()


_TYPE_OUT = {
    QT.SINGLE_CHOICE: "multichoice",
    QT.MULTIPLE_CHOICE: "multichoice",
    QT.TRUE_FALSE: "truefalse",
    QT.SHORT_ANSWER: "shortanswer",
    QT.NUMERIC: "numerical",
    QT.MATCHING: "matching",
    QT.ESSAY: "essay",
    QT.ORDERING: "ordering",
    QT.DESCRIPTION: "description",
}


def _write_question(q: Question, number: int) -> str:
    fmt = _FORMAT_OUT.get(q.text_format)
    if fmt is None:
        raise UnsupportedQuestion(f"question {number}: unknown text format {q.text_format!r}")
    lines = [
        f'  <question type="{_TYPE_OUT[q.type]}">',
        _texted("name", q.title),
        _texted("questiontext", q.prompt, fmt),
        _texted("generalfeedback", q.feedback, fmt),
        f"    <defaultgrade>{_num(q.points)}</defaultgrade>",
        "    <penalty>0.3333333</penalty>" if q.type is not QT.DESCRIPTION else "",
        "    <hidden>0</hidden>",
        "    <idnumber></idnumber>",
    ]
    lines += _body(q, fmt)
    if q.tags:
        lines.append("    <tags>")
        lines += [f"      <tag><text>{_text(t)}</text></tag>" for t in q.tags]
        lines.append("    </tags>")
    lines.append("  </question>")
    return "\n".join(line for line in lines if line)


def _combined(fmt: str) -> list[str]:
    return [
        _texted("correctfeedback", "", fmt),
        _texted("partiallycorrectfeedback", "", fmt),
        _texted("incorrectfeedback", "", fmt),
    ]


def _body(q: Question, fmt: str) -> list[str]:
    if q.type in (QT.SINGLE_CHOICE, QT.MULTIPLE_CHOICE):
        single = "true" if q.type is QT.SINGLE_CHOICE else "false"
        return [
            f"    <single>{single}</single>",
            "    <shuffleanswers>true</shuffleanswers>",
            "    <answernumbering>abc</answernumbering>",
            "    <showstandardinstruction>0</showstandardinstruction>",
            *_combined(fmt),
            *(_answer(o.weight, o.text, fmt, o.feedback) for o in q.options),
        ]
    if q.type is QT.TRUE_FALSE:
        right, wrong = q.right_feedback, q.wrong_feedback
        true_fb, false_fb = (right, wrong) if q.answer else (wrong, right)
        return [
            _answer(100 if q.answer else 0, "true", "moodle_auto_format", true_fb),
            _answer(0 if q.answer else 100, "false", "moodle_auto_format", false_fb),
        ]
    if q.type is QT.SHORT_ANSWER:
        other = [_answer(0, "*", fmt, q.other_feedback)] if q.other_feedback else []
        return [
            f"    <usecase>{1 if q.case_sensitive else 0}</usecase>",
            *(_answer(a.weight, a.text, fmt, a.feedback) for a in q.text_answers),
            *other,
        ]
    if q.type is QT.NUMERIC:
        lines = [
            _answer(
                a.weight,
                _num(a.value),
                fmt,
                a.feedback,
                f"      <tolerance>{_num(a.tolerance)}</tolerance>\n",
            )
            for a in q.numeric_answers
        ]
        if q.other_feedback:
            lines.append(_answer(0, "*", fmt, q.other_feedback, "      <tolerance>0</tolerance>\n"))
        return [
            *lines,
            "    <unitgradingtype>0</unitgradingtype>",
            "    <unitpenalty>0.1000000</unitpenalty>",
            "    <showunits>3</showunits>",
            "    <unitsleft>0</unitsleft>",
        ]
    if q.type is QT.MATCHING:
        subs = [
            f'    <subquestion format="{fmt}">\n      <text>{_text(p.left)}</text>\n'
            f"      <answer>\n        <text>{_text(p.right)}</text>\n      </answer>\n"
            "    </subquestion>"
            for p in q.pairs
        ]
        return ["    <shuffleanswers>true</shuffleanswers>", *_combined(fmt), *subs]
    if q.type is QT.ESSAY:
        return [
            "    <responseformat>editor</responseformat>",
            "    <responserequired>1</responserequired>",
            "    <responsefieldlines>15</responsefieldlines>",
            "    <minwordlimit></minwordlimit>",
            "    <maxwordlimit></maxwordlimit>",
            "    <attachments>0</attachments>",
            "    <attachmentsrequired>0</attachmentsrequired>",
            "    <maxbytes>0</maxbytes>",
            "    <filetypeslist></filetypeslist>",
            _texted("graderinfo", q.grader_info, fmt),
            _texted("responsetemplate", "", fmt),
        ]
    if q.type is QT.ORDERING:
        items = [
            f'    <answer fraction="{i}" format="{fmt}">\n      <text>{_text(item.text)}</text>\n'
            "    </answer>"
            for i, item in enumerate(q.items, start=1)
        ]
        return [
            "    <layouttype>VERTICAL</layouttype>",
            "    <selecttype>ALL</selecttype>",
            "    <selectcount>0</selectcount>",
            "    <gradingtype>ABSOLUTE_POSITION</gradingtype>",
            "    <showgrading>SHOW</showgrading>",
            "    <numberingstyle>none</numberingstyle>",
            *_combined(fmt),
            *items,
        ]
    return []
