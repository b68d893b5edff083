"""The IMS QTI 2.1 reader on hand-written items after the spec's examples, its refusals
(unsupported interactions, broken packages, XML and zip bombs) and the writer."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import pytest

from quizplatform.domain.formats import FORMAT_INFO, FormatError, Imported, read_quiz, write_quiz
from quizplatform.domain.formats.detect import detect_format
from quizplatform.domain.formats.qti_package import MAX_ENTRIES
from quizplatform.domain.limits import Budget, QuizLimits, QuizTooLarge
from quizplatform.domain.questions import (
    Choice,
    Item,
    NumericAnswer,
    Pair,
    Question,
    QuestionType,
    QuizContent,
    TextAnswer,
)

QT = QuestionType
FIXTURES = Path(__file__).parents[3] / "fixtures" / "qti"
ITEM = "imsqti_item_xmlv2p1"


def manifest(hrefs: list[str], rtype: str = ITEM) -> str:
    resources = "".join(
        f'<resource identifier="r{i}" type="{rtype}" href="{h}"><file href="{h}"/></resource>'
        for i, h in enumerate(hrefs)
    )
    return (
        '<?xml version="1.0"?><manifest xmlns="http://www.imsglobal.org/xsd/imscp_v1p1" '
        f'identifier="m"><organizations/><resources>{resources}</resources></manifest>'
    )


def package(files: dict[str, str | bytes], hrefs: list[str] | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("imsmanifest.xml", manifest(hrefs if hrefs is not None else list(files)))
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


def of(*names: str) -> bytes:
    return package({f"items/{n}.xml": (FIXTURES / f"{n}.xml").read_bytes() for n in names})


def read(data: bytes, **kw: object) -> Imported:
    return read_quiz("qti", data, **kw)  # type: ignore[arg-type]


def one(name: str) -> Question:
    imported = read(of(name))
    assert imported.warnings == []
    [q] = imported.quiz.questions
    return q


def test_registered_as_a_binary_zip_format() -> None:
    info = FORMAT_INFO["qti"]
    assert (info.media_type, info.extension, info.binary) == ("application/zip", "qti.zip", True)
    assert detect_format(write_quiz("qti", QuizContent("t"))) == "qti"


def test_single_choice_from_the_spec() -> None:
    q = one("choice")
    assert q.type is QT.SINGLE_CHOICE and q.title == "Unattended Luggage"
    assert q.prompt == "<p>Look at the text in the picture.</p>\nWhat does it say?"
    assert q.text_format == "html" and q.points == 1.0
    assert [(o.text[:12], o.weight) for o in q.options] == [
        ("You must sta", 100.0),
        ("Do not let s", 0.0),
        ("Remember you", 0.0),
    ]


def test_multiple_choice_with_a_mapping_gets_weights_of_the_upper_bound() -> None:
    q = one("choice_multiple")
    assert q.type is QT.MULTIPLE_CHOICE and q.points == 2.0
    weights = {o.text: o.weight for o in q.options}
    assert weights == {
        "Hydrogen": 50.0,
        "Helium": 0.0,
        "Carbon": 0.0,
        "Oxygen": 50.0,
        "Nitrogen": 0.0,
        "Chlorine": -50.0,
    }


def test_text_entry_is_a_short_answer_with_its_mapping() -> None:
    q = one("text_entry")
    assert q.type is QT.SHORT_ANSWER and q.case_sensitive and q.points == 1.0
    assert q.text_answers == [TextAnswer("York", 100.0), TextAnswer("york", 50.0)]
    assert "<blockquote>" in q.prompt and "textEntryInteraction" not in q.prompt


def test_float_text_entry_is_numeric_with_the_tolerance_of_its_processing() -> None:
    q = one("numeric")
    assert q.type is QT.NUMERIC and q.points == 2.0
    assert q.numeric_answers == [NumericAnswer(299792.0, 100.0, 100.0)]


def test_order_matching_associate_and_essay() -> None:
    order = one("order")
    assert order.type is QT.ORDERING
    assert order.items == [
        Item("Michael Schumacher"),
        Item("Rubens Barrichello"),
        Item("Jenson Button"),
    ]
    match = one("match")
    assert match.type is QT.MATCHING
    assert match.pairs == [  # a right matched twice is in two pairs
        Pair("Capulet", "Romeo and Juliet"),
        Pair("Demetrius", "A Midsummer-Night's Dream"),
        Pair("Lysander", "A Midsummer-Night's Dream"),
        Pair("Prospero", "The Tempest"),
        Pair("", "Hamlet"),
    ]
    assert match.pairs[-1].distractor
    assoc = one("associate")
    assert assoc.type is QT.MATCHING
    assert [(p.left, p.right) for p in assoc.pairs] == [
        ("Antonio", "Prospero"),
        ("Capulet", "Montague"),
        ("Demetrius", "Lysander"),
    ]
    essay = one("extended_text")
    assert essay.type is QT.ESSAY and essay.points == 10.0
    assert essay.grader_info == "<p>Award full marks for a postcard in the past tense.</p>"
    assert "Write Sam a postcard" in essay.prompt and "Award" not in essay.prompt


def test_a_package_keeps_the_manifest_order() -> None:
    imported = read(of("order", "choice", "extended_text"))
    types = [q.type for q in imported.quiz.questions]
    assert types == [QT.ORDERING, QT.SINGLE_CHOICE, QT.ESSAY]
    assert imported.quiz.title == "Imported quiz"


def test_an_unsupported_interaction_is_reported_by_file_not_dropped() -> None:
    with pytest.raises(FormatError) as exc:
        read(of("choice", "hotspot", "order"))
    [issue] = exc.value.issues
    assert issue.file == "items/hotspot.xml"
    assert "hotspotInteraction" in issue.message and "question 2" in issue.message


def test_skip_unsupported_leaves_it_out_with_a_warning() -> None:
    imported = read(of("choice", "hotspot", "order"), skip_unsupported=True)
    assert [q.type for q in imported.quiz.questions] == [QT.SINGLE_CHOICE, QT.ORDERING]
    [warning] = imported.warnings
    assert warning.file == "items/hotspot.xml" and "skipped" in warning.message


def test_two_interactions_in_one_item_are_unsupported() -> None:
    text = (
        (FIXTURES / "choice.xml")
        .read_text()
        .replace("</itemBody>", '<extendedTextInteraction responseIdentifier="R2"/></itemBody>')
    )
    with pytest.raises(FormatError, match="2 interactions"):
        read(package({"a.xml": text}))


def test_malformed_manifest_missing_manifest_and_missing_item() -> None:
    broken = io.BytesIO()
    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr("imsmanifest.xml", "<manifest><resources>")
    with pytest.raises(FormatError) as exc:
        read(broken.getvalue())
    assert exc.value.issues[0].file == "imsmanifest.xml"
    assert "not well-formed" in exc.value.issues[0].message
    none = io.BytesIO()
    with zipfile.ZipFile(none, "w") as archive:
        archive.writestr("items/a.xml", "<assessmentItem/>")
    with pytest.raises(FormatError, match=r"no imsmanifest\.xml"):
        read(none.getvalue())
    with pytest.raises(FormatError) as missing:
        read(package({}, ["items/gone.xml"]))
    assert missing.value.issues[0].file == "items/gone.xml"
    assert "no such file" in missing.value.issues[0].message


def test_not_a_zip_and_qti_1_2() -> None:
    with pytest.raises(FormatError, match="not a readable zip"):
        read(b"PK\x03\x04 not really a zip")
    old = io.BytesIO()
    with zipfile.ZipFile(old, "w") as archive:
        archive.writestr("imsmanifest.xml", manifest(["a.xml"], "imsqti_xmlv1p2"))
        archive.writestr("a.xml", "<questestinterop/>")
    with pytest.raises(FormatError, match=r"only QTI 2\.1"):
        read(old.getvalue())


def _billion_laughs() -> str:
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    ]
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE assessmentItem [' + "".join(entities) + "]>\n"
        '<assessmentItem identifier="x" title="&lol9;"/>'
    )


def test_a_doctype_or_entity_bomb_inside_an_item_is_refused() -> None:
    started = time.perf_counter()
    with pytest.raises(FormatError) as exc:
        read(package({"items/bomb.xml": _billion_laughs()}))
    assert time.perf_counter() - started < 1
    assert exc.value.issues[0].file == "items/bomb.xml"
    assert "DOCTYPE" in exc.value.issues[0].message
    external = '<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><assessmentItem title="&x;"/>'
    with pytest.raises(FormatError, match="DOCTYPE"):
        read(package({"a.xml": external}))


def zip_bomb(size: int = 200 * 1024 * 1024) -> bytes:
    """One member of ``size`` zero bytes, deflated (about 0.1% of it), written in chunks."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("imsmanifest.xml", manifest(["items/bomb.xml"]))
        with archive.open("items/bomb.xml", "w", force_zip64=True) as member:
            chunk = b"\x00" * (1024 * 1024)
            for _ in range(size // len(chunk)):
                member.write(chunk)
    return out.getvalue()


def test_a_zip_bomb_is_refused_quickly_before_decompressing() -> None:
    bomb = zip_bomb()
    assert len(bomb) < 1_000_000
    started = time.perf_counter()
    with pytest.raises(QuizTooLarge) as exc:
        read(bomb)
    assert time.perf_counter() - started < 2
    assert "items/bomb.xml" in exc.value.message
    assert "uncompressed" in exc.value.message or "compressed" in exc.value.message


def test_a_highly_compressed_member_under_the_size_limit_is_refused_by_its_ratio() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("imsmanifest.xml", manifest(["a.xml"]))
        archive.writestr("a.xml", b" " * 1_000_000)
    with pytest.raises(QuizTooLarge, match=r"compressed .* times"):
        read(out.getvalue())


def test_a_lying_declared_size_is_caught_by_the_bounded_read() -> None:
    data = package({"a.xml": (FIXTURES / "choice.xml").read_bytes()})
    small = Budget(QuizLimits(import_chars=100))  # 400 bytes per package
    with pytest.raises(QuizTooLarge):
        read(data, budget=small)


def test_too_many_entries() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("imsmanifest.xml", manifest([]))
        for i in range(MAX_ENTRIES + 1):
            archive.writestr(f"f{i}", b"")
    with pytest.raises(QuizTooLarge, match="files; the limit is"):
        read(out.getvalue())


@pytest.mark.parametrize("name", ["../evil.xml", "/etc/passwd", "a/../../b.xml", "c:\\x.xml"])
def test_names_outside_the_package_are_refused(name: str) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("imsmanifest.xml", manifest([name]))
        archive.writestr(zipfile.ZipInfo(name), b"<assessmentItem/>")
    with pytest.raises(FormatError) as exc:
        read(out.getvalue())
    assert "outside the package" in str(exc.value)


def test_a_bare_item_file_is_read_as_one_question() -> None:
    imported = read((FIXTURES / "order.xml").read_bytes())
    assert [q.type for q in imported.quiz.questions] == [QT.ORDERING]


def test_the_question_limit_holds_across_items() -> None:
    data = of("choice", "order", "match")
    with pytest.raises(QuizTooLarge):
        read(data, budget=Budget(QuizLimits(questions=2)))


def test_writer_is_deterministic_and_lists_every_item_in_the_manifest() -> None:
    quiz = QuizContent(
        "My quiz",
        questions=[
            Question(QT.TRUE_FALSE, "Sky is blue", answer=True, tags=["sky"], category="Nature"),
            Question(QT.SINGLE_CHOICE, "2+2?", options=[Choice("4", 100), Choice("5")]),
        ],
    )
    out = write_quiz("qti", quiz)
    assert out == write_quiz("qti", quiz)
    with zipfile.ZipFile(io.BytesIO(out)) as archive:
        names = archive.namelist()
        text = archive.read("imsmanifest.xml").decode()
        assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in archive.infolist())
    assert names == ["imsmanifest.xml", "test.xml", "items/q001.xml", "items/q002.xml"]
    assert text.count('type="imsqti_item_xmlv2p1"') == 2 and "<string>sky</string>" in text
    again = read(out).quiz
    assert again.title == "My quiz" and again.questions == quiz.questions


def _item(decl: str, body: str, extra: str = "") -> str:
    return (
        '<assessmentItem xmlns="http://www.imsglobal.org/xsd/imsqti_v2p1" identifier="i" '
        f'title="T">{decl}<itemBody><p>Q?</p>{body}</itemBody>{extra}</assessmentItem>'
    )


def test_two_choices_true_and_false_are_a_true_false_question() -> None:
    text = _item(
        '<responseDeclaration identifier="RESPONSE" cardinality="single" baseType="identifier">'
        "<correctResponse><value>false</value></correctResponse></responseDeclaration>",
        '<choiceInteraction responseIdentifier="RESPONSE" maxChoices="1">'
        '<simpleChoice identifier="true">Yes</simpleChoice>'
        '<simpleChoice identifier="false">No</simpleChoice></choiceInteraction>',
    )
    [q] = read(package({"a.xml": text})).quiz.questions
    assert (q.type, q.answer) == (QT.TRUE_FALSE, False)


def test_multiple_choice_without_mapping_shares_the_credit() -> None:
    text = _item(
        '<responseDeclaration identifier="RESPONSE" cardinality="multiple" baseType="identifier">'
        "<correctResponse><value>a</value><value>c</value></correctResponse>"
        "</responseDeclaration>",
        '<choiceInteraction responseIdentifier="RESPONSE" maxChoices="0">'
        '<simpleChoice identifier="a">A <b>bold</b></simpleChoice>'
        '<simpleChoice identifier="b">B</simpleChoice>'
        '<simpleChoice identifier="c">C</simpleChoice></choiceInteraction>',
    )
    [q] = read(package({"a.xml": text})).quiz.questions
    assert [(o.text, o.weight) for o in q.options] == [
        ("A <b>bold</b>", 50.0),
        ("B", 0.0),
        ("C", 50.0),
    ]


def test_numeric_from_a_mapping_and_a_bad_number_is_an_error_with_its_file() -> None:
    decl = (
        '<responseDeclaration identifier="RESPONSE" cardinality="single" baseType="integer">'
        '<mapping><mapEntry mapKey="{key}" mappedValue="1"/></mapping></responseDeclaration>'
    )
    body = '<p><textEntryInteraction responseIdentifier="RESPONSE"/></p>'
    [q] = read(package({"a.xml": _item(decl.replace("{key}", "42"), body)})).quiz.questions
    assert q.type is QT.NUMERIC and q.numeric_answers == [NumericAnswer(42.0)]
    with pytest.raises(FormatError) as exc:
        read(package({"b.xml": _item(decl.replace("{key}", "many"), body)}))
    assert exc.value.issues[0].file == "b.xml" and "not a number" in str(exc.value)


def test_a_bare_item_with_a_doctype_is_refused() -> None:
    with pytest.raises(FormatError, match="DOCTYPE"):
        read(_billion_laughs().encode())


def test_every_problem_of_every_item_is_listed() -> None:
    bad = _item("", '<orderInteraction responseIdentifier="RESPONSE"/>')
    with pytest.raises(FormatError) as exc:
        read(package({"a.xml": bad, "b.xml": "<assessmentItem>", "c.xml": bad}))
    assert sorted(i.file or "" for i in exc.value.issues) == ["a.xml", "b.xml", "c.xml"]


@pytest.mark.parametrize(
    "name",
    [
        "choice",
        "choice_multiple",
        "text_entry",
        "numeric",
        "order",
        "match",
        "associate",
        "extended_text",
    ],
)
def test_other_tools_items_round_trip_qti_to_qti(name: str) -> None:
    first = read(of(name)).quiz
    again = read(write_quiz("qti", first)).quiz
    assert again.questions == first.questions
