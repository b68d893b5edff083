"""Which format a quiz file is in, from its first bytes and (as a hint) its file name.

Pure and cheap: it looks at the start of the file (``SNIFF_BYTES``) for the strong signs
(a zip package, an XML root element, a JSON object) and scans the text for the weak ones
(Aiken's ``ANSWER:`` lines, GIFT's answer blocks). It never parses the whole file: the
reader does that, and reports what is wrong by line. It names only formats that are
registered (``FORMAT_INFO``), so a zip is "qti" only once QTI is.

Order: a zip package, XML, a JSON object; then a file name that names one text format
(``.gift``); then Aiken, then GIFT; then any other file name hint (``.xml``, ``.zip``,
``.json``, ``.txt``...); else ``None`` (the caller asks for the format).
"""

from __future__ import annotations

import re
from collections.abc import Collection

from quizplatform.domain.formats import FORMAT_INFO

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header; an empty archive
SNIFF_BYTES = 8192
_BOMS = (b"\xef\xbb\xbf",)
# Root elements of the XML formats: Moodle's <quiz>, QTI items, tests, manifests.
_XML_ROOTS = {
    "quiz": "moodle_xml",
    "assessmentItem": "qti",
    "assessmentTest": "qti",
    "questestinterop": "qti",
    "manifest": "qti",
}
# File name endings beyond each format's export extension (FORMAT_INFO[fmt].extension).
_EXTENSIONS = {
    ".gift": "gift",
    ".aiken": "aiken",
    ".json": "json",
    ".xml": "moodle_xml",
    ".zip": "qti",
    ".qti": "qti",
}
# A name ending that says exactly which text format the file is in.
_DECISIVE = frozenset({"gift", "aiken"})
_AIKEN_ANSWER = re.compile(r"^[ \t]*ANSWER:[ \t]*[A-Z][ \t]*\r?$", re.M)
_AIKEN_OPTION = re.compile(r"^[ \t]*[A-Z][.)][ \t]+\S", re.M)
# An answer block: "{" ... "}" on one or more lines (escaped braces \{ do not count).
_GIFT_BLOCK = re.compile(r"(?<!\\)\{[^{}]{0,20000}(?<!\\)\}")
_XML_NAME = re.compile(r"[A-Za-z_][\w.\-]*(?::[A-Za-z_][\w.\-]*)?")


def detect_format(
    data: bytes, filename: str | None = None, registered: Collection[str] | None = None
) -> str | None:
    """The format ``data`` is most likely in, among ``registered`` (default: every
    registered format), or None when nothing says."""
    if registered is None:
        registered = FORMAT_INFO

    def known(fmt: str | None) -> str | None:
        return fmt if fmt is not None and fmt in registered else None

    by_name = _by_filename(filename, registered)
    if data.startswith(ZIP_MAGIC):
        return known("qti")
    head = _head_text(data)
    if head.startswith("<"):
        return known(_xml_format(head))
    if re.match(r"\{\s*(\"|\}|$)", head):
        return known("json")
    if by_name in _DECISIVE:
        return by_name
    text = _text(data)
    if known("aiken") and _AIKEN_ANSWER.search(text) and _AIKEN_OPTION.search(text):
        return "aiken"
    if _GIFT_BLOCK.search(text):
        return known("gift")
    return by_name


def _by_filename(filename: str | None, registered: Collection[str]) -> str | None:
    """The format a file name's ending names (``quiz.gift.txt``, ``bank.xml``)."""
    if not filename:
        return None
    name = filename.strip().lower().rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    # The longest matching ending wins: "x.gift.txt" is GIFT, not any ".txt".
    endings = [
        ("." + info.extension.lower(), fmt)
        for fmt, info in FORMAT_INFO.items()
        if fmt in registered and info.extension
    ]
    endings += [(end, fmt) for end, fmt in _EXTENSIONS.items() if fmt in registered]
    matches = sorted(
        ((end, fmt) for end, fmt in endings if name.endswith(end)), key=lambda e: -len(e[0])
    )
    if not matches:
        return None
    best = [fmt for end, fmt in matches if len(end) == len(matches[0][0])]
    return best[0] if len(set(best)) == 1 else None


def _head_text(data: bytes) -> str:
    """The start of the file as text, without a byte order mark and leading white space."""
    head = data[:SNIFF_BYTES]
    for bom in _BOMS:
        head = head.removeprefix(bom)
    return head.decode("utf-8", errors="replace").lstrip(" \t\r\n\x00\ufeff")


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _xml_format(head: str) -> str | None:
    """The format of an XML file by its root element (past the prolog, comments and a
    doctype); an XML declaration with an unknown root is taken as Moodle XML, whose reader
    then says what it expected."""
    rest = head
    declared = rest.startswith("<?xml")
    for _ in range(50):  # a prolog of more than 50 items is not a quiz file
        rest = rest.lstrip()
        for start, end in (("<?", "?>"), ("<!--", "-->"), ("<!", ">")):
            if rest.startswith(start):
                at = rest.find(end, len(start))
                rest = rest[at + len(end) :] if at >= 0 else ""
                break
        else:
            break
    match = _XML_NAME.match(rest[1:]) if rest.startswith("<") else None
    if match:
        local = match.group(0).rsplit(":", 1)[-1]
        if local in _XML_ROOTS:
            return _XML_ROOTS[local]
    return "moodle_xml" if declared else None
