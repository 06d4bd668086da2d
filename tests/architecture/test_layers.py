"""Imports run one way, down the layers of docs/architecture.md.

Each part of the package is a layer; a module may import from its own layer and the layers
below it, never from one above (also not inside a function, and not for type hints only). Inside
the parts that are packages of several modules, a module never imports a module that imports it
back (no cycles).
"""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = {"engine": "pyksqlite", "grammar": "pyksqlite.grammar", "shell": "pyksqlite.shell"}

# Lowest first. A module of layer i may import modules of layers 0..i.
# connect (connectors) sits on the runtime, whose scheduler runs its tasks beside the queries,
# and under the facade, whose statements create and describe them.
LAYERS = ["grammar", "common", "log", "serde", "state", "expressions", "catalog", "operators",
          "planner", "runtime", "connect", "facade", "udf", "shell"]


def modules() -> dict[str, Path]:
    found = {}
    for folder, package in FOLDERS.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            name = ".".join((package, *parts))
            found[name[: -len(".__init__")] if name.endswith(".__init__") else name] = path
    return found


def imports(path: Path, known: set[str]) -> set[str]:
    """Modules of the package that `path` imports, anywhere in the file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in known else node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name in known}


def layer(module: str) -> str:
    parts = module.split(".")
    if parts[1:2] in (["grammar"], ["shell"]):
        return parts[1]
    return parts[1] if len(parts) > 1 else "facade"   # the package root re-exports the facade


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(path, set(known)) - {name} for name, path in known.items()}


def test_every_module_belongs_to_a_layer():
    assert {layer(name) for name in modules()} <= set(LAYERS)


def test_imports_go_down_the_layers():
    rank = {name: index for index, name in enumerate(LAYERS)}
    upward = [f"{source} ({layer(source)}) imports {target} ({layer(target)})"
              for source, targets in sorted(graph().items()) for target in sorted(targets)
              if rank[layer(target)] > rank[layer(source)]]
    assert not upward, "\n".join(upward)


def test_no_import_cycles():
    edges = graph()
    cycles = set()
    for start in edges:
        stack, seen = [(start, (start,))], set()
        while stack:
            node, path = stack.pop()
            for target in edges[node]:
                if target == start:
                    cycles.add(" -> ".join((*path, start)))
                elif target not in seen and len(path) < 6:
                    seen.add(target)
                    stack.append((target, (*path, target)))
    by_members = defaultdict(list)
    for cycle in cycles:
        by_members[frozenset(cycle.split(" -> "))].append(cycle)
    assert not by_members, "\n".join(sorted(min(c) for c in by_members.values()))
