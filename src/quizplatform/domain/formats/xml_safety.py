"""Hardened XML parsing for the XML formats (Moodle XML, QTI): pure, no I/O.

The standard library's expat parses the text into a small tree of ``Node`` with every DTD
refused outright: a ``<!DOCTYPE`` (and so any entity declaration, the "billion laughs"
bomb, an external entity such as ``file:///etc/passwd``) is a ``FormatError`` before
anything is expanded. Elements nested deeper than ``MAX_DEPTH``, or more than
``MAX_ELEMENTS`` of them, are refused; the budget's deadline is checked while parsing.
With ``namespaces`` the tags are local names (``qti:assessmentItem`` is
``assessmentItem``), whatever their namespace.
"""

from __future__ import annotations

import xml.parsers.expat as expat
from dataclasses import dataclass, field

from quizplatform.domain.formats.errors import FormatError, ParseIssue
from quizplatform.domain.limits import Budget

MAX_DEPTH = 40
# 500 questions of 50 answers with feedback need about 120,000; a file of 2 MiB of <a/>
# would otherwise build 500,000 nodes.
MAX_ELEMENTS = 150_000
_DEADLINE_EVERY = 2000  # elements between deadline checks while parsing


@dataclass(slots=True)
class Node:
    """An element: its tag, attributes, line, children, and its text and children in
    document order (``seq``, for mixed content such as XHTML)."""

    tag: str
    attrib: dict[str, str]
    line: int
    children: list[Node] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)
    seq: list[Node | str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def child(self, tag: str) -> Node | None:
        for c in self.children:
            if c.tag == tag:
                return c
        return None

    def all(self, tag: str) -> list[Node]:
        return [c for c in self.children if c.tag == tag]

    def value(self, tag: str, default: str = "") -> str:
        """The stripped text of the child ``tag`` (Moodle's ``<x>value</x>``)."""
        c = self.child(tag)
        return c.text.strip() if c is not None else default

    def text_of(self, tag: str | None = None) -> str:
        """The stripped ``<text>`` of the child ``tag`` (or of this node)."""
        node = self.child(tag) if tag else self
        if node is None:
            return ""
        t = node.child("text")
        return t.text.strip() if t is not None else ""

    def iter(self) -> list[Node]:
        """This node and every node under it, in document order."""
        out: list[Node] = []
        stack = [self]
        while stack:
            node = stack.pop()
            out.append(node)
            stack.extend(reversed(node.children))
        return out


class _Refused(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def parse_xml(
    text: str,
    budget: Budget,
    *,
    what: str = "Moodle XML files",
    namespaces: bool = False,
    file: str | None = None,
) -> Node:
    """Parse ``text`` into its root ``Node``; raise ``FormatError`` (one issue, in
    ``file``) for a DOCTYPE, an entity declaration, XML that is not well-formed, or a tree
    too deep or too large. ``what`` names the files in the DOCTYPE message."""
    parser = expat.ParserCreate(namespace_separator=" ") if namespaces else expat.ParserCreate()
    parser.buffer_text = True
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    stack: list[Node] = []
    root: list[Node] = []
    count = [0]

    def refuse_dtd(*_: object) -> None:
        raise _Refused(
            parser.CurrentLineNumber,
            f"the file has a DOCTYPE (a document type declaration); {what} have "
            "none, and files with one are refused for safety (entities, external files)",
        )

    def refuse_entity(*_: object) -> None:
        raise _Refused(parser.CurrentLineNumber, "entity declarations are refused")

    def start(tag: str, attrib: dict[str, str]) -> None:
        if namespaces:
            tag = tag.rsplit(" ", 1)[-1]
            attrib = {k.rsplit(" ", 1)[-1]: v for k, v in attrib.items()}
        node = Node(tag, attrib, parser.CurrentLineNumber)
        if len(stack) >= MAX_DEPTH:
            raise _Refused(node.line, f"elements are nested more than {MAX_DEPTH} deep")
        count[0] += 1
        if count[0] > MAX_ELEMENTS:
            raise _Refused(node.line, f"the file has more than {MAX_ELEMENTS:,} elements")
        if count[0] % _DEADLINE_EVERY == 0 and budget.deadline is not None:
            budget.deadline.check()
        if stack:
            stack[-1].children.append(node)
            stack[-1].seq.append(node)
        else:
            root.append(node)
        stack.append(node)

    def end(_tag: str) -> None:
        stack.pop()

    def chars(data: str) -> None:
        if stack:
            stack[-1].parts.append(data)
            stack[-1].seq.append(data)

    parser.StartDoctypeDeclHandler = refuse_dtd
    parser.EntityDeclHandler = refuse_entity
    parser.UnparsedEntityDeclHandler = refuse_entity
    parser.ExternalEntityRefHandler = refuse_entity  # type: ignore[assignment]
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    try:
        parser.Parse(text, True)
    except _Refused as exc:
        raise FormatError([ParseIssue(exc.line, exc.message, file)]) from None
    except expat.ExpatError as exc:
        message = f"the file is not well-formed XML: {expat.ErrorString(exc.code)}"
        raise FormatError([ParseIssue(exc.lineno, message, file)]) from None
    return root[0]


_ILLEGAL = str.maketrans({c: None for c in [*range(0, 9), 11, 12, *range(14, 32), 0xFFFE, 0xFFFF]})


def clean_xml_text(s: str) -> str:
    """``s`` without the characters XML 1.0 cannot hold (control characters other than
    tab, newline and carriage return)."""
    return s.translate(_ILLEGAL)
