"""The zip side of IMS QTI 2.1 content packages (pure: the zip is read from bytes in
memory): a guarded reader that refuses zip bombs before decompressing anything, and a
deterministic writer.

Guards, from the central directory before any member is decompressed: at most
``MAX_ENTRIES`` members; no member name that climbs out of the package (``..``, an
absolute path, a drive letter, a backslash); no encrypted member; the declared
uncompressed sizes at most the import limit each and in total (``Budget``: 4 bytes per
character of ``import_chars``); a compression ratio of at most ``MAX_RATIO`` for members
over ``RATIO_FROM`` bytes. Declared sizes are not trusted: a member is read with a
bounded read (at most its limit + 1 bytes) and refused past it.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

from quizplatform.domain.formats.errors import FormatError, ParseIssue
from quizplatform.domain.limits import Budget, QuizTooLarge

MAX_ENTRIES = 2000
MAX_RATIO = 200  # XML compresses 5-30 times; 1000 times is a bomb
RATIO_FROM = 64 * 1024  # small members may compress better (a file of blanks)
_CHUNK = 64 * 1024
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def _bad(message: str, file: str | None = None) -> FormatError:
    return FormatError([ParseIssue(0, message, file)])


def _unsafe_name(name: str) -> bool:
    parts = name.split("/")
    return (
        name.startswith("/")
        or "\\" in name
        or "\x00" in name
        or (len(name) > 1 and name[1] == ":")
        or any(part == ".." for part in parts)
    )


@dataclass
class Package:
    """An opened package whose members can be read with ``read`` (bounded)."""

    archive: zipfile.ZipFile
    names: set[str]
    limit: int  # bytes, per member and in total
    read_total: int = 0

    def read(self, name: str) -> bytes:
        """The member ``name``'s bytes; raise ``FormatError`` if it is missing and
        ``QuizTooLarge`` past the limit (whatever its declared size)."""
        if name not in self.names:
            raise _bad("the package has no such file", name)
        left = self.limit - self.read_total
        out = bytearray()
        try:
            with self.archive.open(name) as member:
                while len(out) <= left:
                    chunk = member.read(min(_CHUNK, left + 1 - len(out)))
                    if not chunk:
                        break
                    out += chunk
        except (zipfile.BadZipFile, OSError, NotImplementedError, EOFError) as exc:
            raise _bad(f"the file cannot be read from the zip: {exc}", name) from None
        if len(out) > left:
            raise QuizTooLarge(
                f"{name}: the package's files hold more than {self.limit:,} bytes "
                "uncompressed (the import limit)"
            )
        self.read_total += len(out)
        return bytes(out)


def open_package(data: bytes, budget: Budget) -> Package:
    """Open ``data`` as a zip package after checking its central directory; raise
    ``FormatError`` (not a zip, unsafe names, encrypted) or ``QuizTooLarge`` (a bomb)."""
    limit = budget.limits.import_chars * 4
    if len(data) > limit:
        raise QuizTooLarge(f"the package has {len(data):,} bytes; the limit is {limit:,}")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise _bad(f"the file is not a readable zip package: {exc}") from None
    if len(infos) > MAX_ENTRIES:
        raise QuizTooLarge(f"the package has {len(infos):,} files; the limit is {MAX_ENTRIES:,}")
    total = 0
    issues: list[ParseIssue] = []
    for info in infos:
        name = info.filename
        if _unsafe_name(name):
            issues.append(ParseIssue(0, "a file name outside the package is refused", name))
        elif info.flag_bits & 0x1:
            issues.append(ParseIssue(0, "encrypted files are refused", name))
        total += info.file_size
        if info.file_size > limit or total > limit:
            raise QuizTooLarge(
                f"{name}: the package's files would take more than {limit:,} bytes "
                "uncompressed (the import limit); nothing was decompressed"
            )
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > RATIO_FROM and ratio > MAX_RATIO:
            raise QuizTooLarge(
                f"{name}: compressed {ratio:,.0f} times (a zip bomb?); the limit is "
                f"{MAX_RATIO} times; nothing was decompressed"
            )
    if issues:
        raise FormatError(issues)
    names = {i.filename for i in infos if not i.is_dir()}
    return Package(archive, names, limit)


def write_package(files: list[tuple[str, bytes]]) -> bytes:
    """A zip of ``files`` (name, bytes) in that order, deflated, with fixed timestamps
    and permissions so the same files always give the same bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in files:
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return out.getvalue()
