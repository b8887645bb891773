"""The layering the README promises, checked on the source: ``kit`` knows no resource, dialects know no resource.

A generic module that imports a resource cannot be reused by the next resource and drags the resource's imports into
every other one; this fails the build the moment such an import is written (also inside a function or under
``TYPE_CHECKING``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "metadock"
RESOURCES = ("auth", "api_keys", "users", "tenants", "payloads", "metadatas", "console")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name for name in names if name.startswith("metadock")}


def _forbidden(layer: str, package: Path = PACKAGE) -> list[str]:
    problems = []
    banned = tuple(f"metadock.{name}" for name in (*RESOURCES, "context", "app", "cli"))
    for path in sorted((package / layer).rglob("*.py")):
        for name in sorted(_imports(path)):
            if name.startswith(banned):
                problems.append(f"{path.relative_to(package.parent)} imports {name}")
    return problems


def test_kit_imports_no_resource_and_no_dialect() -> None:
    problems = _forbidden("kit")
    problems += [
        f"{path.relative_to(PACKAGE.parent)} imports {name}"
        for path in sorted((PACKAGE / "kit").rglob("*.py"))
        for name in sorted(_imports(path))
        if name.startswith("metadock.dialects")
    ]
    assert problems == []


def test_dialects_import_no_resource() -> None:
    assert _forbidden("dialects") == []


def test_settings_import_nothing_of_the_domain() -> None:
    assert _imports(PACKAGE / "settings.py") == set()


@pytest.mark.parametrize("layer", ["kit", "dialects"])
def test_the_check_sees_a_forbidden_import(layer: str, tmp_path: Path) -> None:
    """The check itself can fail: a module importing a resource, even lazily, is reported."""
    fake = tmp_path / "metadock"
    (fake / layer).mkdir(parents=True)
    (fake / layer / "leaky.py").write_text("def f():\n    from metadock.payloads.store import PayloadStore\n")
    assert _forbidden(layer, fake) == [f"metadock/{layer}/leaky.py imports metadock.payloads.store"]
