"""Query-string and form values parsed the one way: ASCII digits only, bounded.

``str.isdigit()`` accepts superscripts ("²") that ``int()`` then refuses, and other
scripts' digits that ``int()`` reads; every numeric parameter of the web pages goes through
``positive_int`` instead, so odd input falls back to the default and never becomes a 500.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request

# No page number or position needs more digits; a longer value is not a number we serve.
_MAX_DIGITS = 9


def parse_positive_int(raw: str | None, default: int, *, maximum: int) -> int:
    """``raw`` as an int in ``1..maximum`` if it is 1-9 ASCII digits, else ``default``."""
    if raw is None or not (0 < len(raw) <= _MAX_DIGITS) or not (raw.isascii() and raw.isdigit()):
        return default
    return max(1, min(int(raw), maximum))


def positive_int(request: Request, name: str, default: int = 1, *, maximum: int) -> int:
    """The query parameter ``name`` parsed by ``parse_positive_int``."""
    return parse_positive_int(request.query_params.get(name), default, maximum=maximum)


def with_query(url: str, name: str, value: str) -> str:
    """``url`` with ``name=value`` appended, ``value`` percent-encoded (a Location header
    must be Latin-1, and a raw ``&`` or ``#`` in the value would change the URL)."""
    return f"{url}{'&' if '?' in url else '?'}{name}={quote(value, safe='')}"
