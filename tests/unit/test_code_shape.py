"""The shape rules of docs/architecture.md that import-linter cannot check: modules stay
readable, and services speak in typed objects rather than bare JSON dictionaries."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "quizplatform"
MAX_LINES = 750

# A dictionary of anything, spelled any of these ways, in a public signature of a service.
UNTYPED = ("dict[str, Any]", "Dict[str, Any]", "Mapping[str, Any]", "MutableMapping[str, Any]")


def _modules(under: Path) -> Iterator[Path]:
    for path in sorted(under.rglob("*.py")):
        if "migrations" not in path.parts:
            yield path


def test_no_module_is_longer_than_the_limit() -> None:
    long = {
        str(path.relative_to(SRC)): n
        for path in _modules(SRC)
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}, f"split these along their seams (limit {MAX_LINES} lines): {long}"


def _aliases(tree: ast.Module) -> set[str]:
    """Module-level names bound to an untyped dictionary (``Row = dict[str, Any]``)."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and any(u in ast.unparse(value) for u in UNTYPED):
            names.add(target.id)
    return names


def _public_functions(tree: ast.Module) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    """Public functions and public methods of public classes."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if not node.name.startswith("_"):
                yield node
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                    not item.name.startswith("_") or item.name == "__init__"
                ):
                    yield item


def _untyped_signatures(source: str, name: str) -> list[str]:
    tree = ast.parse(source)
    aliases = _aliases(tree)
    found = []
    for function in _public_functions(tree):
        arguments = function.args
        annotations = [
            a.annotation
            for a in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs)
            if a.annotation is not None
        ]
        if function.returns is not None:
            annotations.append(function.returns)
        for annotation in annotations:
            text = ast.unparse(annotation)
            words = set(text.replace("[", " ").replace("]", " ").replace(",", " ").split())
            if any(u in text for u in UNTYPED) or words & aliases:
                found.append(f"{name}:{function.lineno} {function.name}: {text}")
    return found


def test_no_public_service_signature_takes_or_returns_an_untyped_dictionary() -> None:
    found = [
        line
        for path in _modules(SRC / "services")
        for line in _untyped_signatures(path.read_text(), str(path.relative_to(SRC)))
    ]
    assert found == [], "services take and return typed objects:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("def view(self) -> dict[str, Any]: ...", 1),
        ("async def page(q: str) -> tuple[list[dict[str, Any]], int]: ...", 1),
        ("Row = dict[str, Any]\ndef rows() -> list[Row]: ...", 1),
        ("def update(changes: Mapping[str, Any]) -> None: ...", 1),
        ("def _private() -> dict[str, Any]: ...", 0),
        ("def typed(changes: QuizChanges) -> QuizDocument: ...", 0),
    ],
)
def test_the_signature_check_sees_every_spelling(source: str, expected: int) -> None:
    assert len(_untyped_signatures(source, "probe.py")) == expected
