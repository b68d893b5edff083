"""Static assets under content-hashed names, precompressed once at start-up.

``app.css`` is served as ``/static/app.<hash>.css`` with a year-long immutable cache
header: a changed file gets a new name, so browsers never need to revalidate. Each file
is compressed with gzip and brotli when the instance starts; a request gets the smallest
encoding it accepts.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

import brotli
from starlette.responses import Response

from quizplatform.web.compression import negotiate

STATIC_DIR = Path(__file__).parent / "static"
IMMUTABLE = "public, max-age=31536000, immutable"
_SERVED_SUFFIXES = (".css", ".js", ".svg", ".png", ".ico", ".woff2")
_COMPRESSIBLE = (".css", ".js", ".svg")


@dataclass(frozen=True)
class Asset:
    """One static file in every encoding it is served in."""

    name: str  # as written in templates: "app.css"
    hashed_name: str  # as served: "app.1a2b3c4d5e.css"
    media_type: str
    encodings: dict[str, bytes]  # "identity", "gzip", "br" -> body

    def body_for(self, accept_encoding: str) -> tuple[bytes, str | None]:
        """The body to send and its Content-Encoding (None: identity)."""
        choice = negotiate(accept_encoding, available=tuple(self.encodings))
        if choice is None:
            return self.encodings["identity"], None
        return self.encodings[choice], choice


def hashed_name(name: str, content: bytes) -> str:
    """``app.css`` -> ``app.<first 10 hex of sha256>.css``."""
    digest = hashlib.sha256(content).hexdigest()[:10]
    stem, dot, suffix = name.rpartition(".")
    return f"{stem}.{digest}.{suffix}" if dot else f"{name}.{digest}"


def load_asset(path: Path, name: str) -> Asset:
    content = path.read_bytes()
    encodings = {"identity": content}
    if name.endswith(_COMPRESSIBLE):
        encodings.update(_smaller_encodings(content))
    media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if media_type.startswith("text/") or media_type.endswith("javascript"):
        media_type += "; charset=utf-8"
    return Asset(name, hashed_name(name, content), media_type, encodings)


@functools.lru_cache(maxsize=128)
def _smaller_encodings(content: bytes) -> dict[str, bytes]:
    """Brotli and gzip of ``content``, each only when smaller.

    Memoised by content (a pure function, so safe to share): an instance builds its app
    once, but a process that builds many (the test suite builds one per test) spent most
    of each build in brotli at quality 10.
    """
    compressed = {
        "br": brotli.compress(content, quality=10),
        "gzip": gzip.compress(content, compresslevel=9, mtime=0),
    }
    return {k: v for k, v in compressed.items() if len(v) < len(content)}


class StaticAssets:
    """Every file of the static folder, hashed and compressed once (per app instance)."""

    def __init__(self, directory: Path = STATIC_DIR) -> None:
        self.by_name: dict[str, Asset] = {}
        self.by_hashed: dict[str, Asset] = {}
        for path in sorted(directory.rglob("*")):
            if not path.is_file() or not path.name.endswith(_SERVED_SUFFIXES):
                continue
            name = path.relative_to(directory).as_posix()
            asset = load_asset(path, name)
            self.by_name[name] = asset
            self.by_hashed[asset.hashed_name] = asset

    def url(self, name: str) -> str:
        """The URL of ``name`` (KeyError for a file that does not exist: a template bug)."""
        return f"/static/{self.by_name[name].hashed_name}"

    def response(self, hashed: str, accept_encoding: str) -> Response | None:
        """The response for ``/static/<hashed>``, or None when there is no such file."""
        asset = self.by_hashed.get(hashed)
        if asset is None:
            return None
        body, encoding = asset.body_for(accept_encoding)
        headers = {
            "Cache-Control": IMMUTABLE,
            "ETag": f'"{asset.hashed_name}-{encoding or "identity"}"',
        }
        if len(asset.encodings) > 1:
            headers["Vary"] = "Accept-Encoding"
        if encoding is not None:
            headers["Content-Encoding"] = encoding
        return Response(body, headers=headers, media_type=asset.media_type)

    def compressed_size(self, name: str) -> int:
        """Bytes on the wire for a browser that accepts brotli (for budgets)."""
        asset = self.by_name[name]
        return len(asset.body_for("br, gzip")[0])
