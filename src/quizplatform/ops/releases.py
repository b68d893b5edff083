"""Releases: installed copies of the app under ``<stack>/releases/<version>``.

A release holds its own copy of the ``quizplatform`` package (``app/``) and its
``config/``; instances run it with ``PYTHONPATH=<release>/app`` on the stack's Python
environment, so the third-party dependencies are shared and installing a release takes
well under a second. ``release.json`` keeps the metadata and the deploy history.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import time
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from quizplatform.ops.process import OpsError, restrict_modes

STATUSES = ("installed", "candidate", "active", "previous", "retired", "rolled-back", "failed")
_SKIPPED_DIRS = {"__pycache__", ".mypy_cache"}
_IGNORE = shutil.ignore_patterns(*_SKIPPED_DIRS, "*.pyc")
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,99}")


@dataclass
class Release:
    """One installed release and its metadata."""

    version: str
    path: Path
    commit: str = "unknown"
    source: str = ""
    installed_at: float = 0.0
    status: str = "installed"
    history: list[dict[str, object]] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)

    @property
    def code_dir(self) -> Path:
        return self.path / "app"

    def metadata(self) -> dict[str, object]:
        data = asdict(self)
        data.pop("path")
        return data


class ReleaseStore:
    """The releases of one stack."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def install(self, source: Path, version: str | None = None) -> Release:
        """Copy the app from ``source`` (a checkout with ``src/quizplatform`` or a
        directory holding ``quizplatform/``) into a new release; reuse an identical one."""
        package = _find_package(source)
        digest = _digest(package)
        version = version or f"{_package_version(source, package)}+{digest[:8]}"
        if not _VERSION.fullmatch(version):
            raise OpsError(f"release version {version!r}: use letters, digits and . _ + -")
        target = self.root / version
        if (target / "release.json").exists():
            existing = self.get(version)
            if _digest(existing.code_dir / "quizplatform") != digest:
                raise OpsError(
                    f"release {version} exists with different code: choose another --version"
                )
            return existing
        staging = self.root / f".{version}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        try:
            (staging / "app").mkdir(parents=True)
            shutil.copytree(package, staging / "app" / "quizplatform", ignore=_IGNORE)
            config = _find_config(source, package)
            if config is not None:
                shutil.copytree(config, staging / "config", ignore=_IGNORE)
            else:
                (staging / "config").mkdir()
        except (OSError, shutil.Error) as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise OpsError(f"installing release {version} from {source} failed: {exc}") from exc
        release = Release(
            version=version,
            path=target,
            commit=_git_commit(source),
            source=str(source.resolve()),
            installed_at=time.time(),
        )
        release.history.append({"at": release.installed_at, "status": "installed"})
        (staging / "release.json").write_text(json.dumps(release.metadata(), indent=2))
        restrict_modes(staging)  # copied from a checkout: 0644 files, 0755 directories
        staging.replace(target)  # a release appears whole or not at all
        return release

    def get(self, version: str) -> Release:
        """The installed release ``version`` (OpsError when unknown)."""
        meta = self.root / version / "release.json"
        if not meta.exists():
            known = ", ".join(r.version for r in self.list()) or "none"
            raise OpsError(f"no release {version!r} installed (installed: {known})")
        data = json.loads(meta.read_text())
        return Release(path=self.root / version, **data)

    def list(self) -> list[Release]:
        """Every installed release, oldest first."""
        if not self.root.exists():
            return []
        releases = [self.get(p.name) for p in self.root.iterdir() if (p / "release.json").exists()]
        return sorted(releases, key=lambda r: r.installed_at)

    def set_status(self, version: str, status: str, note: str = "") -> None:
        """Record a status change in the release's history."""
        if status not in STATUSES:
            raise ValueError(f"unknown release status {status!r}")
        release = self.get(version)
        release.status = status
        entry: dict[str, object] = {"at": time.time(), "status": status}
        if note:
            entry["note"] = note
        release.history.append(entry)
        meta = release.path / "release.json"
        tmp = meta.with_suffix(".tmp")
        tmp.write_text(json.dumps(release.metadata(), indent=2))
        tmp.replace(meta)


def _find_package(source: Path) -> Path:
    for candidate in (source / "src" / "quizplatform", source / "quizplatform", source):
        if (candidate / "__init__.py").exists() and (candidate / "cli.py").exists():
            return candidate
    raise OpsError(f"{source} holds no quizplatform package (src/quizplatform or quizplatform/)")


def _find_config(source: Path, package: Path) -> Path | None:
    for candidate in (
        source / "config",
        package.parent / "config",
        package.parent.parent / "config",
    ):
        if candidate.is_dir():
            return candidate
    return None


def _digest(package: Path) -> str:
    sha = hashlib.sha256()
    for path in sorted(package.rglob("*")):
        parts = set(path.relative_to(package).parts)
        if path.is_file() and not parts & _SKIPPED_DIRS and path.suffix != ".pyc":
            sha.update(str(path.relative_to(package)).encode())
            sha.update(path.read_bytes())
    return sha.hexdigest()


def _package_version(source: Path, package: Path) -> str:
    for pyproject in (source / "pyproject.toml", package.parent.parent / "pyproject.toml"):
        if pyproject.exists():
            try:
                return str(tomllib.loads(pyproject.read_text())["project"]["version"])
            except (KeyError, tomllib.TOMLDecodeError):
                break
    return "0.0.0"


def _git_commit(source: Path) -> str:
    try:
        done = subprocess.run(  # noqa: S603 - fixed argv
            ["git", "-C", str(source), "rev-parse", "--short", "HEAD"],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except OSError:
        return "unknown"
    return done.stdout.strip() or "unknown"
