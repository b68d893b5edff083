"""Question texts shown safely in their text format (``Question.text_format``).

Texts come from teachers and from imported files (GIFT ``[html]``, Moodle XML), so they
are untrusted. Each format becomes ``Markup`` the templates can print:

* ``html``: sanitised by ``nh3`` (the Rust ``ammonia`` library) with an allowlist:
  basic formatting, lists, tables, links and images. Everything else is removed:
  ``<script>``/``<style>`` with their content, other tags (their text kept), every
  attribute not listed below (``on*`` handlers, ``style``, ``class``, ``id``), and URLs
  that are not ``http``, ``https``, ``mailto`` or relative (``javascript:``, ``data:``,
  ``vbscript:``, ``data:`` ...). Links get ``rel="noopener noreferrer nofollow"``. Images
  are kept only when embedded (``data:image/png|jpeg|gif|webp;base64``): the content
  security policy (``img-src 'self' data:``) blocks other sites' images anyway, and a
  same-site ``src`` could make the reader's browser call one of our own URLs.
* ``markdown``: rendered by ``markdown-it-py`` (CommonMark, with tables and
  strikethrough; raw HTML allowed), then sanitised exactly like ``html``.
* ``plain`` and ``moodle`` (Moodle's auto-format): escaped, line breaks kept as ``<br>``.
  Moodle's auto-format would also let HTML through; here it is shown as typed.

``rich_text`` gives block content (for a ``<div>``); ``inline_text`` phrasing content
only (for a ``<label>``, ``<legend>`` or heading: no paragraphs, lists or tables);
``plain_text`` the bare text (for an ``<option>``, a title or a table cell summary).
They are the Jinja filters ``rich``, ``inline`` and ``plain`` (``register``).
"""

from __future__ import annotations

import re
from functools import lru_cache
from html import unescape
from urllib.parse import urlsplit

import nh3
from jinja2 import Environment
from markdown_it import MarkdownIt
from markupsafe import Markup, escape

INLINE_TAGS = frozenset(
    {
        "a", "abbr", "b", "br", "cite", "code", "del", "em", "i", "img", "ins", "kbd",
        "mark", "q", "s", "samp", "small", "span", "strong", "sub", "sup", "u", "var",
    }
)  # fmt: skip
BLOCK_TAGS = INLINE_TAGS | frozenset(
    {
        "blockquote", "caption", "col", "colgroup", "dd", "div", "dl", "dt", "figcaption",
        "figure", "h3", "h4", "h5", "h6", "hr", "li", "ol", "p", "pre", "table", "tbody",
        "td", "tfoot", "th", "thead", "tr", "ul",
    }
)  # fmt: skip
ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "img": {"src", "alt", "title", "width", "height"},
    "ol": {"start"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "*": {"lang", "dir"},
}
# "data" only for images (``_attribute_filter``): PNG, JPEG, GIF or WebP, never SVG.
URL_SCHEMES = {"http", "https", "mailto", "data"}
IMAGE_DATA_RE = re.compile(r"data:image/(?:png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]*\Z", re.I)
# Tags after which the bare text needs a space ("<p>a</p><p>b</p>" is "a b").
_BLOCK_BOUNDARY_RE = re.compile(
    r"<(/?)(p|div|br|li|tr|td|th|h[1-6]|table|ul|ol|dl|dt|dd|blockquote|pre|hr|caption)\b",
    re.I,
)
LINK_REL = "noopener noreferrer nofollow"
# Removed with their content, not only their tags.
DROPPED_WITH_CONTENT = {
    "script",
    "style",
    "template",
    "noscript",
    "iframe",
    "object",
    "svg",
    "math",
}
# A text over this many characters is shown as plain text: sanitising is linear, but the
# limits already keep question texts far below it (domain/limits.py).
MAX_RICH_CHARS = 200_000


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    """Links to the web or an address; images only embedded (``data:image/...``)."""
    scheme = urlsplit(value.strip()).scheme.lower()
    if tag == "img" and attribute == "src":
        return value if IMAGE_DATA_RE.match(value.strip()) else None
    if scheme == "data":
        return None
    return value


def _clean(html: str, tags: frozenset[str]) -> str:
    attributes = {k: v for k, v in ATTRIBUTES.items() if k == "*" or k in tags}
    return nh3.clean(
        html,
        tags=set(tags),
        clean_content_tags=DROPPED_WITH_CONTENT - tags,
        attributes=attributes,
        attribute_filter=_attribute_filter,
        url_schemes=URL_SCHEMES,
        link_rel=LINK_REL,
        strip_comments=True,
    )


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def _lines(text: str) -> Markup:
    """Escaped text with its line breaks as ``<br>``."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return Markup("<br>\n").join(escape(line) for line in lines)


def rich_text(text: str | None, text_format: str | None = "moodle") -> Markup:
    """``text`` as safe HTML block content, read in ``text_format``."""
    if not text:
        return Markup("")
    if len(text) > MAX_RICH_CHARS:
        return _lines(text)
    if text_format == "html":
        return Markup(_clean(text, BLOCK_TAGS))  # noqa: S704 - sanitised by nh3
    if text_format == "markdown":
        return Markup(_clean(_markdown().render(text), BLOCK_TAGS))  # noqa: S704 - sanitised
    return _lines(text)


def inline_text(text: str | None, text_format: str | None = "moodle") -> Markup:
    """``text`` as safe phrasing content (no blocks), read in ``text_format``."""
    if not text:
        return Markup("")
    if len(text) > MAX_RICH_CHARS:
        return _lines(text)
    if text_format == "html":
        return Markup(_clean(text, INLINE_TAGS).strip())  # noqa: S704 - sanitised by nh3
    if text_format == "markdown":
        html = _markdown().renderInline(text)
        return Markup(_clean(html, INLINE_TAGS).strip())  # noqa: S704 - sanitised by nh3
    return _lines(text)


def plain_text(text: str | None, text_format: str | None = "moodle") -> str:
    """The bare text of ``text`` (tags removed for html and markdown), to be escaped by
    the template like any string."""
    if not text:
        return ""
    if text_format not in ("html", "markdown") or len(text) > MAX_RICH_CHARS:
        return text
    html = _markdown().render(text) if text_format == "markdown" else text
    html = _BLOCK_BOUNDARY_RE.sub(r" <\1\2", html)
    cleaned = nh3.clean(html, tags=set(), clean_content_tags=set(DROPPED_WITH_CONTENT))
    return " ".join(unescape(cleaned).split())


def register(env: Environment) -> None:
    """Add the filters ``rich``, ``inline`` and ``plain`` to a Jinja environment:
    ``{{ q.prompt | rich(q.text_format) }}``."""
    env.filters["rich"] = rich_text
    env.filters["inline"] = inline_text
    env.filters["plain"] = plain_text
