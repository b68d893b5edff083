"""Question texts in their text format: XSS attempts are neutralised, formatting survives."""

from __future__ import annotations

import re

import pytest
from jinja2 import Environment
from markupsafe import Markup

from quizplatform.web.rich_text import inline_text, plain_text, register, rich_text

ATTACKS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    '<img src=x onerror="alert(1)">',
    '<img src="javascript:alert(1)">',
    '<a href="javascript:alert(1)">x</a>',
    '<a href="JaVaScRiPt:alert(1)">x</a>',
    '<a href="jav&#x09;ascript:alert(1)">x</a>',
    '<a href=" javascript:alert(1)">x</a>',
    '<a href="vbscript:msgbox(1)">x</a>',
    '<a href="data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;">x</a>',
    '<iframe src="https://evil.example"></iframe>',
    '<object data="x.swf"></object><embed src="x.swf">',
    '<div style="width: expression(alert(1))">x</div>',
    '<div style="background:url(javascript:alert(1))">x</div>',
    "<style>body{background:url(javascript:alert(1))}</style>",
    '<svg onload="alert(1)"><script>alert(1)</script></svg>',
    '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
    "<math><mtext><img src=x onerror=alert(1)></mtext></math>",
    '<img src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+">',
    '<form action="https://evil.example"><input name=p><button>go</button></form>',
    '<meta http-equiv="refresh" content="0;url=https://evil.example">',
    '<base href="https://evil.example/">',
    '<p onmouseover="alert(1)">x</p>',
    "<!--<img src=x onerror=alert(1)>-->",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    '<a href="https://ok.example" target="_blank">x</a>',
    "<<script>script>alert(1)<</script>/script>",
]
# What must never reach the page: dangerous elements, and inside any tag an event
# handler, a style, a target or a script URL. (The same words as text are harmless.)
DANGEROUS_TAG = re.compile(
    r"<\s*/?\s*(script|iframe|object|embed|style|svg|math|form|input|meta|base|link|noscript)\b",
    re.IGNORECASE,
)
DANGEROUS_IN_TAG = re.compile(
    r"\son\w+\s*=|javascript|vbscript|data:text|data:image/svg|expression|style\s*=|xlink"
    r"|target\s*=",
    re.IGNORECASE,
)
TAG = re.compile(r"<[^>]*>")


class _Danger:
    @staticmethod
    def search(html: str) -> str | None:
        if m := DANGEROUS_TAG.search(html):
            return m.group(0)
        for tag in TAG.findall(html):
            if DANGEROUS_IN_TAG.search(tag):
                return tag
        return None


DANGER = _Danger()


@pytest.mark.parametrize("attack", ATTACKS)
@pytest.mark.parametrize("fmt", ["html", "markdown"])
def test_html_attacks_are_neutralised(attack: str, fmt: str) -> None:
    for render in (rich_text, inline_text):
        out = render(attack, fmt)
        assert isinstance(out, Markup)
        assert not DANGER.search(str(out)), (fmt, render.__name__, out)


@pytest.mark.parametrize("attack", ATTACKS)
@pytest.mark.parametrize("fmt", ["plain", "moodle", None, "unknown"])
def test_plain_formats_escape_everything(attack: str, fmt: str | None) -> None:
    out = str(rich_text(attack, fmt))
    assert "<" not in out.replace("<br>", "")
    assert out.replace("<br>\n", "\n") == str(Markup.escape(attack))


@pytest.mark.parametrize(
    "attack",
    [
        "[x](javascript:alert(1))",
        "[x](JAVASCRIPT:alert(1))",
        "[x](javascript&#58;alert(1))",
        "![x](javascript:alert(1))",
        "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "<javascript:alert(1)>",
        "[x][1]\n\n[1]: javascript:alert(1)",
        "Raw <script>alert(1)</script> HTML",
        'Raw <img src=x onerror="alert(1)"> HTML',
        "<div onclick=alert(1)>*md*</div>",
        '<a href="javascript:alert(1)">**x**</a>',
    ],
)
def test_markdown_attacks_are_neutralised(attack: str) -> None:
    for render in (rich_text, inline_text):
        out = str(render(attack, "markdown"))
        assert not DANGER.search(out), out


def test_html_formatting_survives() -> None:
    html = (
        "<p>Which planet is <b>red</b>, <i>not</i> <strong>blue</strong>?</p>"
        '<ul><li>one</li><li>two</li></ul><ol start="3"><li>three</li></ol>'
        '<table><thead><tr><th scope="col">a</th></tr></thead>'
        '<tbody><tr><td colspan="2">1</td></tr></tbody></table>'
        "<pre><code>x = 1</code></pre><p>H<sub>2</sub>O and x<sup>2</sup></p>"
        '<a href="https://example.org/page" title="t">link</a>'
        '<img src="data:image/png;base64,iVBORw0KGgo=" alt="dot">'
    )
    out = str(rich_text(html, "html"))
    for kept in (
        "<b>red</b>", "<i>not</i>", "<strong>blue</strong>", "<li>one</li>", 'start="3"',
        'scope="col"', 'colspan="2"', "<pre><code>x = 1</code></pre>", "<sub>2</sub>",
        "<sup>2</sup>", 'href="https://example.org/page"', 'title="t"',
        'rel="noopener noreferrer nofollow"', 'src="data:image/png;base64,iVBORw0KGgo="',
        'alt="dot"',
    ):  # fmt: skip
        assert kept in out, kept


def test_images_only_when_embedded() -> None:
    out = str(
        rich_text(
            '<img src="https://tracker.example/p.gif"><img src="/api/v1/me">'
            '<img src="//evil.example/x.png"><img src="data:image/gif;base64,R0lGOD=">',
            "html",
        )
    )
    assert "tracker" not in out and "/api/v1/me" not in out and "evil" not in out
    assert 'src="data:image/gif;base64,R0lGOD="' in out


def test_markdown_formatting_survives() -> None:
    md = "Who's buried in **Grant's tomb**?\n\n- *one*\n- `two`\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n[docs](https://example.org) ~~old~~"  # noqa: E501
    out = str(rich_text(md, "markdown"))
    for kept in (
        "<strong>Grant's tomb</strong>", "<em>one</em>", "<code>two</code>", "<table>",
        "<td>2</td>", '<a href="https://example.org" rel="noopener noreferrer nofollow">docs</a>',
        "<s>old</s>",
    ):  # fmt: skip
        assert kept in out, kept
    # Safe raw HTML inside markdown is kept, like Moodle's markdown.
    assert "<b>x</b>" in str(rich_text("a <b>x</b>", "markdown"))


def test_plain_and_moodle_keep_line_breaks() -> None:
    assert rich_text("a < b\nc & d", "plain") == Markup("a &lt; b<br>\nc &amp; d")
    assert rich_text("line 1\r\nline 2", "moodle") == Markup("line 1<br>\nline 2")
    assert rich_text("", "html") == Markup("")
    assert rich_text(None, "html") == Markup("")


def test_inline_has_no_blocks() -> None:
    out = str(inline_text("<p>a</p><ul><li>b</li></ul><table><tr><td>c</td></tr></table>", "html"))
    assert not re.search(r"<(p|ul|li|table|tr|td)\b", out)
    assert "a" in out and "b" in out and "c" in out
    assert str(inline_text("**a**\n\n- b", "markdown")).startswith("<strong>a</strong>")


def test_plain_text_is_bare() -> None:
    assert plain_text("<p>Which is <b>red</b>?</p><p>Mars</p>", "html") == "Which is red? Mars"
    assert plain_text("# Title\n\n**bold** & co", "markdown") == "Title bold & co"
    assert plain_text("a <b> c", "plain") == "a <b> c"  # escaped later by the template
    assert plain_text("<script>alert(1)</script>x", "html") == "x"


def test_huge_and_nested_input_is_handled() -> None:
    nested = "<div>" * 20_000 + "x" + "</div>" * 20_000
    assert "x" in str(rich_text(nested, "html"))
    deep = rich_text("> " * 5_000 + "x", "markdown")  # markdown-it stops at its nesting limit
    assert isinstance(deep, Markup)
    huge = "<b>" + "a" * 300_000 + "</b>"
    out = str(rich_text(huge, "html"))  # over the limit: shown as plain text
    assert out.startswith("&lt;b&gt;")


def test_registered_filters_escape_in_templates() -> None:
    env = Environment(autoescape=True)
    register(env)
    template = env.from_string(
        "{{ t | rich(f) }}|{{ t | inline(f) }}|<option>{{ t | plain(f) }}</option>"
    )
    out = template.render(t="<b>x</b><script>alert(1)</script> & <i>y</i>", f="html")
    assert out == "<b>x</b> &amp; <i>y</i>|<b>x</b> &amp; <i>y</i>|<option>x &amp; y</option>"
    out = template.render(t="<b>x</b>", f="plain")
    assert out == "&lt;b&gt;x&lt;/b&gt;|&lt;b&gt;x&lt;/b&gt;|<option>&lt;b&gt;x&lt;/b&gt;</option>"
