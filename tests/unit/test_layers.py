"""The package's layering, read from the source of every module (imports inside functions and under
TYPE_CHECKING included): what each layer may import, no import cycle, no module past 400 lines."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "stream_guard"
MAX_LINES = 400
OUTSIDE = ("faust", "mode", "redis", "aiokafka", "kafka", "yarl", "aiohttp",
           "confluent_kafka", "httpx", "httpx2", "authlib")   # the last: the Schema Registry client and its HTTP
# layer -> the other layers of the package it may import (errors.py is shared by all)
ALLOWED = {
    "core": set(),
    "adapters": {"core"},
    "views": {"core"},
    "offline": {"core", "adapters"},
    "runtime": {"core", "adapters", "views", "offline"},
    "cli": {"core", "adapters", "views", "offline", "runtime"},
}
# outside systems a layer may talk to directly
OUTSIDE_ALLOWED = {
    "core": set(),
    "views": set(),
    "offline": set(),
    "adapters": {"redis", "kafka", "aiohttp", "yarl", "confluent_kafka"},
    "runtime": set(OUTSIDE),
    "cli": set(OUTSIDE),
}


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = modules()


def imports(path: Path) -> Iterator[str]:
    """Every module `path` imports, anywhere in it."""
    tree = ast.parse(path.read_text(), str(path))
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parents = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parents + ([base] if base else []))
            yield base
            for alias in node.names:   # `from stream_guard.core import checks` imports a module
                if f"{base}.{alias.name}" in MODULES:
                    yield f"{base}.{alias.name}"


def own(name: str) -> str | None:
    """The package module an import names (the module itself, or the package it comes from)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in ALLOWED) else None


def graph() -> dict[str, set[str]]:
    return {name: {m for i in imports(path) if i.startswith("stream_guard") and (m := own(i)) and m != name}
            for name, path in MODULES.items()}


def may_import(mine: str, imported: str) -> bool:
    top = imported.split(".")[0]
    if top in OUTSIDE:
        return top in OUTSIDE_ALLOWED[mine]
    other = layer(own(imported) or "") if top == "stream_guard" else None
    return other in (None, mine) or other in ALLOWED[mine]


@pytest.mark.parametrize("name", sorted(MODULES))
def test_each_module_imports_only_what_its_layer_may(name: str) -> None:
    mine = layer(name)
    if mine is None:
        return   # stream_guard itself, __main__, errors
    wrong = [imported for imported in imports(MODULES[name]) if not may_import(mine, imported)]
    assert not wrong, f"{name} ({mine}) imports {sorted(set(wrong))}: the layer may import {sorted(ALLOWED[mine])}"


def test_no_import_cycle_even_inside_functions() -> None:
    edges, seen, cycles = graph(), set(), []

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            cycles.append(path[path.index(node):] + [node])
            return
        if node in seen:
            return
        seen.add(node)
        for nxt in sorted(edges.get(node, ())):
            visit(nxt, path + [node])

    for module in sorted(edges):
        visit(module, [])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_no_module_is_longer_than_400_lines() -> None:
    long = {name: n for name, path in MODULES.items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, f"split these modules (over {MAX_LINES} lines): {long}"


def test_the_layer_test_sees_every_layer_and_the_graph_it_checks() -> None:
    """Guards the guard: the walk finds modules of every layer and reads function-level imports."""
    assert {layer(m) for m in MODULES} >= set(ALLOWED)
    assert "stream_guard.core.engine" in graph()["stream_guard.offline.replay"]


def test_the_architecture_doc_names_every_module() -> None:
    doc = (PACKAGE.parent / "docs" / "architecture.md").read_text()
    missing = [name for name, path in MODULES.items()
               if path.name != "__init__.py" and path.stem != "__main__" and path.name not in doc]
    assert not missing, f"docs/architecture.md does not name {missing}"
