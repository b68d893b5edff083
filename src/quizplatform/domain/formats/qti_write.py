"""Writing one question as an IMS QTI 2.1 ``assessmentItem`` (pure functions).

Items are marked ``toolName="quizplatform"``: the reader then knows that texts are plain
strings (the prompt in ``<div class="qp-prompt qp-format-<text format>">``), that
mapping values are weights in percent, and which ``modalFeedback`` holds which feedback.
Scores still follow QTI's semantics: the response processing multiplies the percent by
``points / 100``, ``SCORE``'s ``normalMaximum`` is the question's points.
"""

from __future__ import annotations

from quizplatform.domain.formats.errors import UnsupportedQuestion
from quizplatform.domain.formats.xml_safety import clean_xml_text
from quizplatform.domain.questions import Question, QuestionType

QT = QuestionType
QTI_NS = "http://www.imsglobal.org/xsd/imsqti_v2p1"
TOOL = "quizplatform"
_XSD = "http://www.imsglobal.org/xsd/qti/qtiv2p1/imsqti_v2p1.xsd"
MATCH_CORRECT = "http://www.imsglobal.org/question/qti_v2p1/rptemplates/match_correct"
TRUE_FALSE_CLASS = "qp-true-false"


def esc(s: str) -> str:
    """``s`` as XML character data (a carriage return kept as ``&#13;``)."""
    s = clean_xml_text(s)
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


def attr(s: str) -> str:
    """``s`` as an attribute value between double quotes, white space kept exactly."""
    return esc(s).replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;")


def num(x: float) -> str:
    """A float as ``xsd:double`` text that reads back equal."""
    if x == int(x) and abs(x) < 1e15 and str(x) != "-0.0":
        return str(int(x))
    return repr(float(x))


def _value(v: str) -> str:
    return f"<value>{esc(v)}</value>"


def _declaration(cardinality: str, base: str, correct: list[str], mapping: str = "") -> str:
    values = "".join(_value(v) for v in correct)
    correct_xml = f"<correctResponse>{values}</correctResponse>" if correct else ""
    return (
        f'  <responseDeclaration identifier="RESPONSE" cardinality="{cardinality}" '
        f'baseType="{base}">{correct_xml}{mapping}</responseDeclaration>'
    )


def _mapping(entries: list[tuple[str, float]], lower: str = "", case: bool | None = None) -> str:
    sensitive = "" if case is None else f' caseSensitive="{str(case).lower()}"'
    rows = "".join(
        f'<mapEntry mapKey="{attr(k)}" mappedValue="{num(w)}"{sensitive}/>' for k, w in entries
    )
    return f'<mapping defaultValue="0"{lower}>{rows}</mapping>'


def _score_by_mapping(points: float) -> str:
    return (
        '  <responseProcessing><setOutcomeValue identifier="SCORE"><product>'
        '<mapResponse identifier="RESPONSE"/>'
        f'<baseValue baseType="float">{num(points / 100)}</baseValue>'
        "</product></setOutcomeValue></responseProcessing>"
    )


def _feedback(identifier: str, text: str | None) -> str:
    if text is None:
        return ""
    return (
        f'  <modalFeedback outcomeIdentifier="FEEDBACK" identifier="{identifier}" '
        f'showHide="show">{esc(text)}</modalFeedback>'
    )


def write_item(q: Question, identifier: str, number: int) -> bytes:
    """``q`` as an ``assessmentItem`` document; raise ``UnsupportedQuestion``."""
    if q.type not in _BODIES:
        raise UnsupportedQuestion(f"question {number}: type {q.type} cannot be written as QTI")
    declarations, interaction, processing, feedbacks = _BODIES[q.type](q)
    label = f' label="{attr(q.category)}"' if q.category is not None else ""
    rubric = (
        '    <rubricBlock view="scorer"><div class="qp-grader-info">'
        f"{esc(q.grader_info)}</div></rubricBlock>"
        if q.grader_info is not None
        else ""
    )
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<assessmentItem xmlns="{QTI_NS}" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xsi:schemaLocation="{QTI_NS} {_XSD}" identifier="{identifier}" '
        f'title="{attr(q.title or "")}"{label} adaptive="false" timeDependent="false" '
        f'toolName="{TOOL}" toolVersion="1">',
        *declarations,
        '  <outcomeDeclaration identifier="SCORE" cardinality="single" baseType="float" '
        f'normalMaximum="{num(q.points)}"><defaultValue><value>0</value></defaultValue>'
        "</outcomeDeclaration>",
        '  <outcomeDeclaration identifier="FEEDBACK" cardinality="multiple" '
        'baseType="identifier"/>',
        "  <itemBody>",
        f'    <div class="qp-prompt qp-format-{attr(q.text_format)}">{esc(q.prompt)}</div>',
        interaction,
        rubric,
        "  </itemBody>",
        processing,
        _feedback("GENERAL", q.feedback),
        *feedbacks,
        "</assessmentItem>",
    ]
    return ("\n".join(line for line in lines if line) + "\n").encode()


Parts = tuple[list[str], str, str, list[str]]


def _choice(q: Question) -> Parts:
    single = q.type is QT.SINGLE_CHOICE
    ids = [f"C{i}" for i in range(1, len(q.options) + 1)]
    correct = [
        i
        for i, o in zip(ids, q.options, strict=True)
        if (o.weight >= 100 if single else o.weight > 0)
    ]
    mapping = _mapping(
        [(i, o.weight) for i, o in zip(ids, q.options, strict=True)],
        "" if single else ' lowerBound="0"',
    )
    choices = "".join(
        f'<simpleChoice identifier="{i}">{esc(o.text)}</simpleChoice>'
        for i, o in zip(ids, q.options, strict=True)
    )
    interaction = (
        f'    <choiceInteraction responseIdentifier="RESPONSE" shuffle="false" '
        f'maxChoices="{1 if single else 0}">{choices}</choiceInteraction>'
    )
    feedbacks = [_feedback(f"FB_{i}", o.feedback) for i, o in zip(ids, q.options, strict=True)]
    cardinality = "single" if single else "multiple"
    return (
        [_declaration(cardinality, "identifier", correct, mapping)],
        interaction,
        _score_by_mapping(q.points),
        feedbacks,
    )


def _true_false(q: Question) -> Parts:
    right = "true" if q.answer else "false"
    mapping = _mapping(
        [("true", 100.0 if q.answer else 0.0), ("false", 0.0 if q.answer else 100.0)]
    )
    interaction = (
        f'    <choiceInteraction class="{TRUE_FALSE_CLASS}" responseIdentifier="RESPONSE" '
        'shuffle="false" maxChoices="1"><simpleChoice identifier="true">True</simpleChoice>'
        '<simpleChoice identifier="false">False</simpleChoice></choiceInteraction>'
    )
    feedbacks = [_feedback("CORRECT", q.right_feedback), _feedback("INCORRECT", q.wrong_feedback)]
    return (
        [_declaration("single", "identifier", [right], mapping)],
        interaction,
        _score_by_mapping(q.points),
        feedbacks,
    )


def _short(q: Question) -> Parts:
    best = max(q.text_answers, key=lambda a: a.weight)
    mapping = _mapping([(a.text, a.weight) for a in q.text_answers], case=q.case_sensitive)
    interaction = (
        '    <p><textEntryInteraction responseIdentifier="RESPONSE" expectedLength="30"/></p>'
    )
    feedbacks = [_feedback(f"FB_A{i}", a.feedback) for i, a in enumerate(q.text_answers, 1)]
    feedbacks.append(_feedback("OTHER", q.other_feedback))
    return (
        [_declaration("single", "string", [best.text], mapping)],
        interaction,
        _score_by_mapping(q.points),
        feedbacks,
    )


def _numeric(q: Question) -> Parts:
    best = max(q.numeric_answers, key=lambda a: a.weight)
    branches = []
    for i, a in enumerate(q.numeric_answers):
        mode = (
            f'toleranceMode="absolute" tolerance="{num(a.tolerance)}"'
            if a.tolerance
            else 'toleranceMode="exact"'
        )
        tag = "responseIf" if i == 0 else "responseElseIf"
        branches.append(
            f'<{tag}><equal {mode}><variable identifier="RESPONSE"/>'
            f'<baseValue baseType="float">{num(a.value)}</baseValue></equal>'
            '<setOutcomeValue identifier="SCORE"><product>'
            f'<baseValue baseType="float">{num(a.weight)}</baseValue>'
            f'<baseValue baseType="float">{num(q.points / 100)}</baseValue>'
            "</product></setOutcomeValue></" + tag + ">"
        )
    processing = (
        "  <responseProcessing><responseCondition>"
        + "".join(branches)
        + "</responseCondition></responseProcessing>"
    )
    interaction = (
        '    <p><textEntryInteraction responseIdentifier="RESPONSE" expectedLength="15"/></p>'
    )
    feedbacks = [_feedback(f"FB_A{i}", a.feedback) for i, a in enumerate(q.numeric_answers, 1)]
    feedbacks.append(_feedback("OTHER", q.other_feedback))
    return (
        [_declaration("single", "float", [num(best.value)])],
        interaction,
        processing,
        feedbacks,
    )


def _matching(q: Question) -> Parts:
    lefts: list[str] = []
    rights: list[str] = []
    correct: list[str] = []
    for j, p in enumerate(q.pairs, 1):
        rights.append(
            f'<simpleAssociableChoice identifier="R{j}" matchMax="1">{esc(p.right)}'
            "</simpleAssociableChoice>"
        )
        if not p.distractor:
            i = len(lefts) + 1
            lefts.append(
                f'<simpleAssociableChoice identifier="L{i}" matchMax="1">{esc(p.left)}'
                "</simpleAssociableChoice>"
            )
            correct.append(f"L{i} R{j}")
    interaction = (
        '    <matchInteraction responseIdentifier="RESPONSE" shuffle="true" '
        f'maxAssociations="{len(lefts)}"><simpleMatchSet>{"".join(lefts)}</simpleMatchSet>'
        f"<simpleMatchSet>{''.join(rights)}</simpleMatchSet></matchInteraction>"
    )
    processing = f'  <responseProcessing template="{MATCH_CORRECT}"/>'
    return ([_declaration("multiple", "directedPair", correct)], interaction, processing, [])


def _ordering(q: Question) -> Parts:
    ids = [f"I{i}" for i in range(1, len(q.items) + 1)]
    choices = "".join(
        f'<simpleChoice identifier="{i}">{esc(item.text)}</simpleChoice>'
        for i, item in zip(ids, q.items, strict=True)
    )
    interaction = (
        f'    <orderInteraction responseIdentifier="RESPONSE" shuffle="true">{choices}'
        "</orderInteraction>"
    )
    processing = f'  <responseProcessing template="{MATCH_CORRECT}"/>'
    return ([_declaration("ordered", "identifier", ids)], interaction, processing, [])


def _essay(q: Question) -> Parts:
    interaction = '    <extendedTextInteraction responseIdentifier="RESPONSE" expectedLines="15"/>'
    return ([_declaration("single", "string", [])], interaction, "", [])


def _description(q: Question) -> Parts:
    return ([], "", "", [])


_BODIES = {
    QT.SINGLE_CHOICE: _choice,
    QT.MULTIPLE_CHOICE: _choice,
    QT.TRUE_FALSE: _true_false,
    QT.SHORT_ANSWER: _short,
    QT.NUMERIC: _numeric,
    QT.MATCHING: _matching,
    QT.ORDERING: _ordering,
    QT.ESSAY: _essay,
    QT.DESCRIPTION: _description,
}
