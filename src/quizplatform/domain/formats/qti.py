"""IMS QTI 2.1 content packages (pure functions, no I/O): a zip with an
``imsmanifest.xml`` listing one ``imsqti_item_xmlv2p1`` resource per question.

Reading: the zip is opened by ``qti_package`` (zip bombs, too many files and names
outside the package are refused before anything is decompressed), then the manifest and
each item it lists are parsed by the hardened parser of ``xml_safety`` (no DOCTYPE, no
entities). Questions come in the manifest's order; each item is read by ``qti_items``.
An item whose interaction the platform lacks is listed by file in a ``FormatError``, or
with ``skip_unsupported`` left out and listed as a warning. The quiz's title is the
``assessmentTest``'s, if the package has one. A bare ``assessmentItem`` XML file (not
zipped) is read as a quiz of one question.

Writing: ``imsmanifest.xml``, one item per question (``items/qNNN.xml``) and an
``assessmentTest`` (``test.xml``) that lists them in order, titled like the quiz. Tags
are the resource's LOM keywords in the manifest; the category is the item's ``label``.
The zip is deterministic (fixed timestamps).
"""

from __future__ import annotations

import posixpath

from quizplatform.domain.formats.errors import (
    FormatError,
    ParseIssue,
    Unsupported,
    stop_if_too_many,
)
from quizplatform.domain.formats.qti_items import ItemError, read_item
from quizplatform.domain.formats.qti_package import open_package, write_package
from quizplatform.domain.formats.qti_write import QTI_NS, attr, esc, write_item
from quizplatform.domain.formats.xml_safety import Node, parse_xml
from quizplatform.domain.limits import Budget, QuizTooLarge
from quizplatform.domain.questions import Question, QuizContent, validate_question

DEFAULT_QUIZ_TITLE = "Imported quiz"
MANIFEST = "imsmanifest.xml"
ITEM_TYPE = "imsqti_item_xmlv2p1"
TEST_TYPE = "imsqti_test_xmlv2p1"
_CP_NS = "http://www.imsglobal.org/xsd/imscp_v1p1"
_LOM_NS = "http://ltsc.ieee.org/xsd/LOM"
_WHAT = "QTI files"


def _decode(data: bytes, name: str, budget: Budget) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise FormatError([ParseIssue(line, "the file is not UTF-8 text", name)]) from exc
    budget.check_size(text)
    return text


def _parse(data: bytes, name: str, budget: Budget) -> Node:
    return parse_xml(_decode(data, name, budget), budget, what=_WHAT, namespaces=True, file=name)


def read_qti(
    data: bytes, budget: Budget | None = None, skip_unsupported: bool = False
) -> tuple[QuizContent, list[ParseIssue]]:
    """Read a QTI 2.1 package (or one item's XML); return the quiz and the warnings.
    Raise ``FormatError`` listing every problem by file and line, ``QuizTooLarge`` (a zip
    bomb, over the ``budget``) or ``DeadlineExceeded``."""
    budget = budget or Budget()
    if not data.startswith(b"PK"):
        if len(data) > budget.limits.import_chars * 4:
            raise QuizTooLarge(f"the file has {len(data):,} bytes; over the import limit")
        return _read_items(
            [(1, "item.xml", _parse(data, "item.xml", budget), [])],
            budget,
            skip_unsupported,
            DEFAULT_QUIZ_TITLE,
        )
    package = open_package(data, budget)
    if MANIFEST not in package.names:
        raise FormatError([ParseIssue(0, f"the package has no {MANIFEST}")])
    manifest = _parse(package.read(MANIFEST), MANIFEST, budget)
    resources = _resources(manifest)
    title = DEFAULT_QUIZ_TITLE
    issues: list[ParseIssue] = []
    items: list[tuple[int, str, Node, list[str]]] = []
    number = 0  # of the item resource: the question's number in messages
    for rtype, href, tags, line in resources:
        number += rtype == ITEM_TYPE
        if budget.deadline is not None:
            budget.deadline.check()
        if href is None:
            issues.append(ParseIssue(line, "a resource names no file", MANIFEST))
            continue
        try:
            if rtype == TEST_TYPE:
                test = _parse(package.read(href), href, budget)
                title = test.attrib.get("title", "").strip() or title
            else:
                items.append((number, href, _parse(package.read(href), href, budget), tags))
        except FormatError as exc:
            issues += [
                ParseIssue(i.line or line, i.message, i.file or MANIFEST) for i in exc.issues
            ]
        stop_if_too_many(issues, budget.limits.issues, line)
    return _read_items(items, budget, skip_unsupported, title, issues)


def _resources(manifest: Node) -> list[tuple[str, str | None, list[str], int]]:
    """The QTI resources of the manifest: (type, file, tags, line); other QTI versions
    are refused."""
    if manifest.tag != "manifest":
        raise FormatError(
            [
                ParseIssue(
                    manifest.line, f"the root element is <{manifest.tag}>, not <manifest>", MANIFEST
                )
            ]
        )
    found = []
    problems = []
    for holder in manifest.all("resources"):
        for r in holder.all("resource"):
            rtype = r.attrib.get("type", "")
            if rtype.startswith("imsqti_") and rtype not in (ITEM_TYPE, TEST_TYPE):
                problems.append(
                    ParseIssue(
                        r.line,
                        f"resource type {rtype!r} is not QTI 2.1; only QTI 2.1 is read",
                        MANIFEST,
                    )
                )
                continue
            if rtype not in (ITEM_TYPE, TEST_TYPE):
                continue
            href = r.attrib.get("href") or next(
                (f.attrib.get("href") for f in r.all("file") if f.attrib.get("href")), None
            )
            if href is not None:
                href = posixpath.normpath(href.split("#")[0]).lstrip("/")
            found.append((rtype, href, _keywords(r), r.line))
    if problems:
        raise FormatError(problems)
    return found


def _keywords(resource: Node) -> list[str]:
    return [
        s.text.strip()
        for n in resource.iter()
        if n.tag == "keyword"
        for s in n.all("string")
        if s.text.strip()
    ]


def _read_items(
    items: list[tuple[int, str, Node, list[str]]],
    budget: Budget,
    skip: bool,
    title: str,
    issues: list[ParseIssue] | None = None,
) -> tuple[QuizContent, list[ParseIssue]]:
    """The questions of the parsed ``items``; raise ``FormatError`` listing ``issues``
    (found before, e.g. files that do not parse) and every problem of the items."""
    issues = list(issues or [])
    warnings: list[ParseIssue] = []
    questions: list[Question] = []
    for number, name, root, tags in items:
        budget.next_question(root.line)
        try:
            q = read_item(root)
        except Unsupported as exc:
            message = f"question {number}: {exc}"
            if skip:
                warnings.append(ParseIssue(root.line, message + "; skipped", name))
            else:
                issues.append(ParseIssue(root.line, message, name))
            continue
        except ItemError as exc:
            issues.append(ParseIssue(exc.line, f"question {number}: {exc.message}", name))
            continue
        q.tags = tags
        for problem in validate_question(q):
            issues.append(ParseIssue(root.line, f"question {number}: {problem}", name))
        questions.append(q)
        stop_if_too_many(issues, budget.limits.issues, root.line)
    if issues:
        raise FormatError(issues)
    return QuizContent(title=title, questions=questions), warnings


# --------------------------------------------------------------------------- writing


def _manifest(names: list[tuple[str, str, list[str]]]) -> bytes:
    resources = []
    for identifier, href, tags in names:
        keywords = "".join(f"<keyword><string>{esc(t)}</string></keyword>" for t in tags)
        meta = (
            f'<metadata><lom xmlns="{_LOM_NS}"><general>{keywords}</general></lom></metadata>'
            if tags
            else ""
        )
        resources.append(
            f'    <resource identifier="{identifier}" type="{ITEM_TYPE}" href="{href}">'
            f'{meta}<file href="{href}"/></resource>'
        )
    resources.append(
        f'    <resource identifier="test" type="{TEST_TYPE}" href="test.xml">'
        + "".join(f'<dependency identifierref="{i}"/>' for i, _, _ in names)
        + '<file href="test.xml"/></resource>'
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<manifest xmlns="{_CP_NS}" identifier="manifest">\n'
        "  <organizations/>\n  <resources>\n"
        + "\n".join(resources)
        + "\n  </resources>\n</manifest>\n"
    ).encode()


def _test(title: str, names: list[tuple[str, str, list[str]]]) -> bytes:
    refs = "".join(f'<assessmentItemRef identifier="{i}" href="{href}"/>' for i, href, _ in names)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<assessmentTest xmlns="{QTI_NS}" identifier="test" title="{attr(title)}">'
        '<testPart identifier="part" navigationMode="nonlinear" submissionMode="simultaneous">'
        f'<assessmentSection identifier="section" title="{attr(title)}" visible="true">'
        f"{refs}</assessmentSection></testPart></assessmentTest>\n"
    ).encode()


def write_qti(quiz: QuizContent) -> bytes:
    """Write a quiz as a QTI 2.1 content package (zip bytes); raise
    ``UnsupportedQuestion``."""
    names = [(f"q{n:03d}", f"items/q{n:03d}.xml", q.tags) for n, q in enumerate(quiz.questions, 1)]
    files = [(MANIFEST, _manifest(names)), ("test.xml", _test(quiz.title, names))]
    for (identifier, href, _), (n, q) in zip(names, enumerate(quiz.questions, 1), strict=True):
        files.append((href, write_item(q, identifier, n)))
    return write_package(files)
