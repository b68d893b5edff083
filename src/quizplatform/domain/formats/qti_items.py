"""Reading one IMS QTI 2.1 ``assessmentItem`` as a question (pure functions).

An item has one interaction; which one gives the type: ``choiceInteraction``
(``maxChoices="1"``: single choice, else multiple; two choices ``true``/``false``: true or
false), ``textEntryInteraction`` (``baseType="float"``: numeric, else short answer),
``orderInteraction``, ``matchInteraction`` and ``associateInteraction`` (matching),
``extendedTextInteraction`` (essay); none: a description. Any other interaction
(hotspot, slider, upload, drawing, inline choice, gap match, ...) or several in one item
is ``Unsupported``.

Items this platform wrote (``toolName="quizplatform"``) are read exactly back: plain
texts, weights in percent. Other tools' items: the item body's XHTML (without the
interaction) and the interaction's ``<prompt>`` are the prompt, as HTML; mapping values
are points, turned into percent of the item's maximum (``SCORE``'s ``normalMaximum``,
else the mapping's ``upperBound``, else the best response's score); without a mapping
the ``correctResponse`` gets full credit.
"""

from __future__ import annotations

import math

from quizplatform.domain.formats.errors import Unsupported
from quizplatform.domain.formats.qti_write import TOOL, TRUE_FALSE_CLASS, esc
from quizplatform.domain.formats.xml_safety import Node
from quizplatform.domain.questions import (
    TEXT_FORMATS,
    Choice,
    Item,
    NumericAnswer,
    Pair,
    Question,
    QuestionType,
    TextAnswer,
)

QT = QuestionType
SUPPORTED = frozenset(
    {
        "choiceInteraction",
        "textEntryInteraction",
        "orderInteraction",
        "matchInteraction",
        "associateInteraction",
        "extendedTextInteraction",
    }
)


class ItemError(ValueError):
    """A problem in an item (not an unsupported interaction), with its line."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def html_of(seq: list[Node | str], skip: frozenset[str] = frozenset()) -> str:
    """Mixed XML content as HTML text (elements of ``skip`` left out)."""
    out: list[str] = []
    for part in seq:
        if isinstance(part, str):
            out.append(esc(part))
            continue
        if part.tag in skip:
            continue
        attrs = "".join(
            f' {k}="{esc(v).replace(chr(34), "&quot;")}"'
            for k, v in part.attrib.items()
            if " " not in k
        )
        inner = html_of(part.seq, skip)
        out.append(f"<{part.tag}{attrs}>{inner}</{part.tag}>" if inner else f"<{part.tag}{attrs}/>")
    return "".join(out)


def _float(raw: str | None, line: int, what: str) -> float:
    try:
        x = float((raw or "").strip())
    except ValueError:
        x = math.nan
    if not math.isfinite(x):
        raise ItemError(line, f"{what} {str(raw)[:40]!r} is not a number")
    return x


class _Item:
    def __init__(self, root: Node) -> None:
        self.root = root
        self.ours = root.attrib.get("toolName") == TOOL
        body = root.child("itemBody")
        if body is None:
            raise ItemError(root.line, "the item has no <itemBody>")
        self.body = body
        self.feedback = {
            f.attrib.get("identifier", ""): self.text(f) for f in root.all("modalFeedback")
        }

    def text(self, node: Node) -> str:
        return node.text if self.ours else html_of(node.seq).strip()

    def declaration(self, identifier: str) -> Node:
        for d in self.root.all("responseDeclaration"):
            if d.attrib.get("identifier") == identifier:
                return d
        raise ItemError(self.root.line, f"no <responseDeclaration> for {identifier!r}")

    def max_points(self) -> float | None:
        for o in self.root.all("outcomeDeclaration"):
            if o.attrib.get("identifier") == "SCORE" and "normalMaximum" in o.attrib:
                return _float(o.attrib["normalMaximum"], o.line, "normalMaximum")
        return None


def _correct(decl: Node) -> list[str]:
    c = decl.child("correctResponse")
    return [v.text.strip() for v in c.all("value")] if c is not None else []


def _mapping(decl: Node) -> tuple[list[tuple[str, float, bool]], float | None]:
    m = decl.child("mapping")
    if m is None:
        return [], None
    rows = [
        (
            e.attrib.get("mapKey", ""),
            _float(e.attrib.get("mappedValue"), e.line, "mappedValue"),
            e.attrib.get("caseSensitive", "true").lower() in ("true", "1"),
        )
        for e in m.all("mapEntry")
    ]
    upper = m.attrib.get("upperBound")
    return rows, _float(upper, m.line, "upperBound") if upper is not None else None


def read_item(root: Node) -> Question:
    """The question of the item ``root``; raise ``Unsupported`` (an interaction the
    platform lacks) or ``ItemError``."""
    if root.tag != "assessmentItem":
        raise ItemError(root.line, f"the root element is <{root.tag}>, not <assessmentItem>")
    item = _Item(root)
    found = [n for n in item.body.iter() if n.tag.endswith("Interaction")]
    for n in found:
        if n.tag not in SUPPORTED:
            raise Unsupported(f"line {n.line}: the interaction <{n.tag}> is not supported")
    if len(found) > 1:
        names = ", ".join(sorted({n.tag for n in found}))
        raise Unsupported(f"an item with {len(found)} interactions ({names}) is not supported")
    q = Question(QT.DESCRIPTION, "", points=0.0, title=root.attrib.get("title") or None)
    q.category = root.attrib.get("label") if item.ours else None
    _prompt(item, q, found[0] if found else None)
    q.feedback = item.feedback.get("GENERAL")
    points = item.max_points()
    if found:
        _READ[found[0].tag](item, found[0], q, points)
    elif points is not None:
        q.points = points
    return q


def _prompt(item: _Item, q: Question, interaction: Node | None) -> None:
    for node in item.body.iter():
        classes = node.attrib.get("class", "").split()
        if item.ours and "qp-prompt" in classes:
            q.prompt = node.text
            fmt = next((c[10:] for c in classes if c.startswith("qp-format-")), "html")
            q.text_format = fmt if fmt in TEXT_FORMATS else "html"
        if node.tag == "rubricBlock" and node.attrib.get("view", "") in ("scorer", "tutor"):
            inner = node.child("div") if item.ours else None
            q.grader_info = inner.text if inner is not None else html_of(node.seq).strip()
    if item.ours:
        return
    skip = frozenset({*SUPPORTED, "rubricBlock"})
    text = html_of(item.body.seq, skip).strip()
    prompt = interaction.child("prompt") if interaction is not None else None
    if prompt is not None:
        text = (text + "\n" + html_of(prompt.seq).strip()).strip()
    q.prompt, q.text_format = text, "html"


def _weights(
    item: _Item, values: list[float], points: float | None, best: float
) -> tuple[list[float], float]:
    """Weights in percent and the points, from mapping values (ours: percent)."""
    if item.ours:
        return values, points if points is not None else 1.0
    top = points if points is not None else best
    if top <= 0:
        return [0.0 for _ in values], points or 0.0
    return [max(-100.0, min(100.0, v / top * 100)) for v in values], top


def _choices(node: Node) -> list[Node]:
    return [c for c in node.iter() if c.tag == "simpleChoice"]


def _choice(item: _Item, node: Node, q: Question, points: float | None) -> None:
    decl = item.declaration(node.attrib.get("responseIdentifier", "RESPONSE"))
    choices = _choices(node)
    ids = [c.attrib.get("identifier", "") for c in choices]
    correct = set(_correct(decl))
    rows, upper = _mapping(decl)
    single = node.attrib.get("maxChoices", "1") == "1"
    tf = TRUE_FALSE_CLASS in node.attrib.get("class", "").split() or (
        not item.ours and sorted(i.lower() for i in ids) == ["false", "true"] and single
    )
    if tf and len(correct) == 1:
        q.type = QT.TRUE_FALSE
        q.answer = next(iter(correct)).lower() == "true"
        q.right_feedback = item.feedback.get("CORRECT")
        q.wrong_feedback = item.feedback.get("INCORRECT")
        q.points = points if points is not None else 1.0
        return
    q.type = QT.SINGLE_CHOICE if single else QT.MULTIPLE_CHOICE
    if rows:
        mapped = {k: v for k, v, _ in rows}
        values = [mapped.get(i, 0.0) for i in ids]
        best = max(values) if single else sum(v for v in values if v > 0)
        weights, q.points = _weights(item, values, points, upper or best)
    else:
        share = 100.0 if single else 100.0 / max(len(correct), 1)
        weights = [share if i in correct else 0.0 for i in ids]
        q.points = points if points is not None else 1.0
    q.options = [
        Choice(item.text(c), w, item.feedback.get(f"FB_{i}"))
        for c, i, w in zip(choices, ids, weights, strict=True)
    ]


def _text_entry(item: _Item, node: Node, q: Question, points: float | None) -> None:
    decl = item.declaration(node.attrib.get("responseIdentifier", "RESPONSE"))
    q.other_feedback = item.feedback.get("OTHER")
    if decl.attrib.get("baseType") in ("float", "integer"):
        _numeric(item, decl, q, points)
        return
    q.type = QT.SHORT_ANSWER
    rows, upper = _mapping(decl)
    if rows:
        values = [v for _, v, _ in rows]
        weights, q.points = _weights(item, values, points, upper or max(values))
        q.case_sensitive = any(case for _, _, case in rows)
        q.text_answers = [
            TextAnswer(k, w, item.feedback.get(f"FB_A{i}"))
            for i, ((k, _, _), w) in enumerate(zip(rows, weights, strict=True), 1)
        ]
    else:
        q.case_sensitive = True
        q.text_answers = [TextAnswer(v) for v in _correct(decl)]
        q.points = points if points is not None else 1.0


def _numeric(item: _Item, decl: Node, q: Question, points: float | None) -> None:
    q.type = QT.NUMERIC
    q.points = points if points is not None else 1.0
    processing = item.root.child("responseProcessing")
    branches = [
        b
        for c in (processing.all("responseCondition") if processing is not None else [])
        for b in c.children
        if b.tag in ("responseIf", "responseElseIf")
    ]
    for i, branch in enumerate(branches, 1):
        answer = _numeric_branch(item, branch, q.points)
        if answer is not None:
            answer.feedback = item.feedback.get(f"FB_A{i}")
            q.numeric_answers.append(answer)
    if not q.numeric_answers:
        for v in _correct(decl):
            q.numeric_answers.append(NumericAnswer(_float(v, decl.line, "correct response")))
        rows, _ = _mapping(decl)
        for key, value, _ in rows:
            x = _float(key, decl.line, "mapKey")
            if value > 0 and all(a.value != x for a in q.numeric_answers):
                q.numeric_answers.append(NumericAnswer(x))


def _numeric_branch(item: _Item, branch: Node, points: float) -> NumericAnswer | None:
    equal = branch.child("equal")
    score = next(
        (s for s in branch.all("setOutcomeValue") if s.attrib.get("identifier") == "SCORE"), None
    )
    value = equal.child("baseValue") if equal is not None else None
    if equal is None or value is None or score is None:
        return None
    tolerance = 0.0
    if equal.attrib.get("toleranceMode", "exact") == "absolute":
        raw = equal.attrib.get("tolerance", "0").split()
        tolerance = _float(raw[-1] if raw else "0", equal.line, "tolerance")
    elif equal.attrib.get("toleranceMode", "exact") != "exact":
        raise ItemError(equal.line, "only exact and absolute tolerances are supported")
    product = score.child("product")
    if item.ours and product is not None and product.all("baseValue"):
        weight = _float(product.all("baseValue")[0].text, product.line, "weight")
    else:
        given = score.child("baseValue")
        got = _float(given.text if given is not None else "0", score.line, "score")
        weight = got / points * 100 if points > 0 else 100.0
    return NumericAnswer(_float(value.text, value.line, "value"), tolerance, weight)


def _match(item: _Item, node: Node, q: Question, points: float | None) -> None:
    q.type = QT.MATCHING
    q.points = points if points is not None else 1.0
    decl = item.declaration(node.attrib.get("responseIdentifier", "RESPONSE"))
    sets = node.all("simpleMatchSet")
    if len(sets) != 2:
        raise ItemError(node.line, "a matchInteraction needs two <simpleMatchSet>")
    left = {
        c.attrib.get("identifier", ""): item.text(c) for c in sets[0].all("simpleAssociableChoice")
    }
    rights = [
        (c.attrib.get("identifier", ""), item.text(c))
        for c in sets[1].all("simpleAssociableChoice")
    ]
    right = dict(rights)
    pairs = [v.split() for v in _correct(decl)]
    pairs = [e for e in pairs if len(e) == 2 and e[0] in left and e[1] in right]
    if item.ours:  # one right per pair, in the pairs' order, distractors among them
        by_right = {r: lf for lf, r in pairs}
        q.pairs = [Pair(left[by_right[r]] if r in by_right else "", t) for r, t in rights]
        return
    q.pairs = [Pair(left[lf], right[r]) for lf, r in pairs]
    used = {r for _, r in pairs}
    q.pairs += [Pair("", t) for r, t in rights if r not in used]


def _associate(item: _Item, node: Node, q: Question, points: float | None) -> None:
    q.type = QT.MATCHING
    q.points = points if points is not None else 1.0
    decl = item.declaration(node.attrib.get("responseIdentifier", "RESPONSE"))
    texts = {
        c.attrib.get("identifier", ""): item.text(c)
        for c in node.iter()
        if c.tag == "simpleAssociableChoice"
    }
    used: set[str] = set()
    for value in _correct(decl):
        ends = value.split()
        if len(ends) == 2 and all(e in texts for e in ends):
            q.pairs.append(Pair(texts[ends[0]], texts[ends[1]]))
            used.update(ends)
    q.pairs += [Pair("", t) for i, t in texts.items() if i not in used]


def _order(item: _Item, node: Node, q: Question, points: float | None) -> None:
    q.type = QT.ORDERING
    q.points = points if points is not None else 1.0
    decl = item.declaration(node.attrib.get("responseIdentifier", "RESPONSE"))
    texts = {c.attrib.get("identifier", ""): item.text(c) for c in _choices(node)}
    order = _correct(decl)
    if sorted(order) != sorted(texts):
        raise ItemError(node.line, "the correct order must list every choice once")
    q.items = [Item(texts[i]) for i in order]


def _essay(item: _Item, node: Node, q: Question, points: float | None) -> None:
    q.type = QT.ESSAY
    q.points = points if points is not None else 1.0


_READ = {
    "choiceInteraction": _choice,
    "textEntryInteraction": _text_entry,
    "orderInteraction": _order,
    "matchInteraction": _match,
    "associateInteraction": _associate,
    "extendedTextInteraction": _essay,
}
