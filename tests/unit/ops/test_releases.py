"""ReleaseStore: installing copies of the app from a checkout, reuse, status history."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from quizplatform.ops.process import OpsError
from quizplatform.ops.releases import STATUSES, ReleaseStore

PYPROJECT = '[project]\nname = "quizplatform"\nversion = "1.4.2"\n'


def make_checkout(root: Path, marker: str = "one") -> Path:
    """A minimal checkout: src/quizplatform (with caches to leave behind), config/, pyproject."""
    package = root / "src" / "quizplatform"
    (package / "ops").mkdir(parents=True)
    (package / "__init__.py").write_text(f'MARKER = "{marker}"\n')
    (package / "cli.py").write_text("def main() -> None: ...\n")
    (package / "ops" / "__init__.py").write_text("")
    (package / "ops" / "stack.py").write_text("X = 1\n")
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "cli.cpython-311.pyc").write_bytes(b"\0compiled")
    (package / "ops" / "__pycache__").mkdir()
    (package / "ops" / "__pycache__" / "stack.cpython-311.pyc").write_bytes(b"\0compiled")
    (package / "stray.pyc").write_bytes(b"\0")
    (root / "config").mkdir()
    (root / "config" / "staging.toml").write_text('[app]\nname = "staging"\n')
    (root / "config" / "__pycache__").mkdir()
    (root / "config" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    (root / "pyproject.toml").write_text(PYPROJECT)
    return root


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    return make_checkout(tmp_path / "checkout")


@pytest.fixture
def store(tmp_path: Path) -> ReleaseStore:
    return ReleaseStore(tmp_path / "stack" / "releases")


def relative_files(directory: Path) -> set[str]:
    return {str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file()}


def test_install_copies_the_package_and_config(checkout: Path, store: ReleaseStore) -> None:
    release = store.install(checkout)

    assert re.fullmatch(r"1\.4\.2\+[0-9a-f]{8}", release.version), release.version
    assert release.path == store.root / release.version
    assert release.status == "installed"
    assert release.source == str(checkout.resolve())
    assert release.commit == "unknown"  # tmp_path is no git checkout
    assert release.installed_at > 0
    assert release.history == [{"at": release.installed_at, "status": "installed"}]

    assert release.code_dir == release.path / "app"
    assert relative_files(release.code_dir / "quizplatform") == {
        "__init__.py",
        "cli.py",
        "ops/__init__.py",
        "ops/stack.py",
    }
    assert (release.code_dir / "quizplatform" / "__init__.py").read_text() == 'MARKER = "one"\n'
    assert relative_files(release.path / "config") == {"staging.toml"}
    assert not list(release.path.rglob("__pycache__"))
    assert not list(release.path.rglob("*.pyc"))


def test_release_json_holds_the_metadata(checkout: Path, store: ReleaseStore) -> None:
    release = store.install(checkout)
    meta = json.loads((release.path / "release.json").read_text())
    assert meta["version"] == release.version
    assert meta["status"] == "installed"
    assert meta["source"] == str(checkout.resolve())
    assert "path" not in meta
    assert store.get(release.version) == release
    assert not list(store.root.glob(".*.partial"))


def test_install_from_a_directory_holding_the_package(tmp_path: Path, store: ReleaseStore) -> None:
    source = tmp_path / "flat"
    (source / "quizplatform").mkdir(parents=True)
    (source / "quizplatform" / "__init__.py").write_text("")
    (source / "quizplatform" / "cli.py").write_text("")
    release = store.install(source)
    assert release.version.startswith("0.0.0+")  # no pyproject.toml
    assert (release.code_dir / "quizplatform" / "cli.py").exists()
    assert (release.path / "config").is_dir()
    assert not list((release.path / "config").iterdir())


def test_installing_identical_content_again_reuses_the_release(
    checkout: Path, store: ReleaseStore
) -> None:
    first = store.install(checkout)
    (checkout / "src" / "quizplatform" / "__pycache__" / "new.pyc").write_bytes(b"\1")
    again = store.install(checkout)
    assert again == first
    assert [r.version for r in store.list()] == [first.version]


def test_changed_code_gives_a_new_version(checkout: Path, store: ReleaseStore) -> None:
    first = store.install(checkout)
    (checkout / "src" / "quizplatform" / "cli.py").write_text("def main() -> int: return 1\n")
    second = store.install(checkout)
    assert second.version != first.version
    assert second.version.startswith("1.4.2+")
    assert {r.version for r in store.list()} == {first.version, second.version}


def test_another_version_name_with_the_same_content(checkout: Path, store: ReleaseStore) -> None:
    first = store.install(checkout)
    named = store.install(checkout, version="v2-hotfix")
    assert named.version == "v2-hotfix"
    assert named.path == store.root / "v2-hotfix"
    assert (named.code_dir / "quizplatform" / "cli.py").exists()
    assert {r.version for r in store.list()} == {first.version, "v2-hotfix"}


def test_same_version_name_with_different_content_is_refused(
    tmp_path: Path, store: ReleaseStore
) -> None:
    one = make_checkout(tmp_path / "one", marker="one")
    two = make_checkout(tmp_path / "two", marker="two")
    store.install(one, version="v1")
    with pytest.raises(OpsError, match=r"release v1 exists with different code.*--version"):
        store.install(two, version="v1")
    code = store.get("v1").code_dir / "quizplatform" / "__init__.py"
    assert code.read_text() == 'MARKER = "one"\n'
    assert store.install(one, version="v1").version == "v1"


def test_get_unknown_lists_the_installed_ones(checkout: Path, store: ReleaseStore) -> None:
    with pytest.raises(OpsError, match=r"no release 'nope' installed \(installed: none\)"):
        store.get("nope")
    release = store.install(checkout)
    with pytest.raises(OpsError, match=re.escape(f"(installed: {release.version})")):
        store.get("nope")


def test_set_status_records_history(checkout: Path, store: ReleaseStore) -> None:
    version = store.install(checkout).version
    store.set_status(version, "candidate")
    store.set_status(version, "rolled-back", "p99 too high")

    release = store.get(version)
    assert release.status == "rolled-back"
    assert [h["status"] for h in release.history] == ["installed", "candidate", "rolled-back"]
    assert "note" not in release.history[1]
    assert release.history[2]["note"] == "p99 too high"
    times = [float(str(h["at"])) for h in release.history]
    assert times == sorted(times)
    assert not (release.path / "release.tmp").exists()


def test_set_status_rejects_unknown_status(checkout: Path, store: ReleaseStore) -> None:
    version = store.install(checkout).version
    before = (store.root / version / "release.json").read_text()
    with pytest.raises(ValueError, match="unknown release status 'deployed'"):
        store.set_status(version, "deployed")
    assert (store.root / version / "release.json").read_text() == before
    for status in STATUSES:
        store.set_status(version, status)
    assert store.get(version).status == STATUSES[-1]


def test_set_status_of_unknown_release(store: ReleaseStore) -> None:
    with pytest.raises(OpsError, match="no release 'ghost'"):
        store.set_status("ghost", "active")


def test_list_is_ordered_by_installed_at(checkout: Path, store: ReleaseStore) -> None:
    assert store.list() == []
    for name in ("b", "a", "c"):
        store.install(checkout, version=name)
    assert [r.version for r in store.list()] == ["b", "a", "c"]
    # Order comes from installed_at, not from names or directory order.
    for name, at in (("a", 300.0), ("b", 100.0), ("c", 200.0)):
        meta = store.root / name / "release.json"
        data = json.loads(meta.read_text())
        data["installed_at"] = at
        meta.write_text(json.dumps(data))
    assert [r.version for r in store.list()] == ["b", "c", "a"]


def test_list_ignores_directories_without_release_json(checkout: Path, store: ReleaseStore) -> None:
    release = store.install(checkout)
    (store.root / ".v9.partial" / "app").mkdir(parents=True)
    (store.root / "junk").mkdir()
    assert [r.version for r in store.list()] == [release.version]


def test_source_without_a_package_leaves_nothing(tmp_path: Path, store: ReleaseStore) -> None:
    source = tmp_path / "empty"
    (source / "src" / "quizplatform").mkdir(parents=True)
    (source / "src" / "quizplatform" / "__init__.py").write_text("")  # no cli.py
    with pytest.raises(OpsError, match="holds no quizplatform package"):
        store.install(source)
    assert not store.root.exists() or not list(store.root.iterdir())
    assert store.list() == []


def test_failed_copy_leaves_no_release_directory(
    tmp_path: Path, checkout: Path, store: ReleaseStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import quizplatform.ops.releases as releases

    # The package is copied, then copying config/ fails half way through the install.
    missing = tmp_path / "vanished-config"
    monkeypatch.setattr(releases, "_find_config", lambda _source, _package: missing)
    with pytest.raises(OpsError, match="failed"):
        store.install(checkout, version="v1")
    assert not (store.root / "v1").exists()
    assert [p.name for p in store.root.iterdir() if not p.name.startswith(".")] == []
    assert store.list() == []
    with pytest.raises(OpsError):
        store.get("v1")

    monkeypatch.undo()
    release = store.install(checkout, version="v1")  # the leftover staging is no obstacle
    assert (release.code_dir / "quizplatform" / "cli.py").exists()
    assert (release.path / "config" / "staging.toml").exists()
    assert not list(store.root.glob(".*.partial"))


def test_reinstall_with_a_mypy_cache_inside_the_package(
    checkout: Path, store: ReleaseStore
) -> None:
    cache = checkout / "src" / "quizplatform" / ".mypy_cache"
    cache.mkdir()
    (cache / "cli.data.json").write_text("{}")
    first = store.install(checkout)
    assert not (first.code_dir / "quizplatform" / ".mypy_cache").exists()
    assert store.install(checkout) == first
