"""The layer rules of docs/architecture.md, read from the source with ``ast``.

Every ``import`` and ``from ... import`` in core/, audit/ and ui/ counts, also those inside
functions (the lazy imports) and under ``if TYPE_CHECKING:`` (a type named across a cycle
still ties the two modules together). ``from pkg import name`` counts as importing
``pkg.name`` when that is a module of ours, else ``pkg``.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "audit", "ui")

# What audit may take from core: plain types and helpers, never engines or models.
AUDIT_MAY_USE = {
    "core",
    "core.bundled",
    "core.dtype",  # hardware facts (does this CPU compute bf16?): cpuinfo flags, no models
    "core.errors",
    "core.hashing",
    "core.licence_facts",
    "core.paths",
    "core.recorder",
    "core.specs",
    "core.textfile",
    "core.vote",  # the one VoteRecord type and its style counts: pydantic and regexes only
}

# Cycles being broken on another branch; the lead removes each entry after the merge.
KNOWN_CYCLES: set[frozenset[str]] = set()


@dataclass(frozen=True)
class Import:
    source: str  # importing module
    target: str  # imported module (ours) or top-level name (third party)
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def our_modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


def _resolve(name: str, modules: dict[str, Path]) -> str:
    """The deepest module of ours that ``name`` names (or its top-level name if not ours)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return parts[0]


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> list[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found: list[Import] = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [_resolve(alias.name, modules) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                here = name.split(".") if is_package else name.split(".")[:-1]
                here = here[: len(here) - (node.level - 1)]
                base = ".".join([*here, base] if base else here)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                targets.append(full if full in modules else _resolve(base, modules))
        found.extend(
            Import(name, target, node.lineno) for target in dict.fromkeys(targets) if target != name
        )
    return found


def all_imports() -> list[Import]:
    modules = our_modules()
    return [imp for name, path in modules.items() for imp in imports_of(name, path, modules)]


def _top(name: str) -> str:
    return name.split(".")[0]


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def broken_rules(imports: list[Import]) -> list[str]:
    problems: list[str] = []
    for imp in imports:
        where = f"{imp.source} line {imp.line} imports {imp.target}"
        if _within(imp.source, "core") and _top(imp.target) in ("audit", "ui", "duckdb", "gradio"):
            problems.append(f"{where}: core never imports audit, ui, duckdb or gradio")
        if _within(imp.source, "audit"):
            if _top(imp.target) in ("ui", "gradio"):
                problems.append(f"{where}: audit never imports ui or gradio")
            elif _top(imp.target) == "core" and imp.target not in AUDIT_MAY_USE:
                problems.append(
                    f"{where}: audit takes only plain types from core "
                    f"({', '.join(sorted(AUDIT_MAY_USE - {'core'}))})"
                )
    return problems


def cycles(imports: list[Import]) -> list[list[str]]:
    """Strongly connected groups of two or more modules (Tarjan), each as one cycle path."""
    graph: dict[str, set[str]] = {}
    for imp in imports:
        if _top(imp.target) in PACKAGES:
            graph.setdefault(imp.source, set()).add(imp.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = set()
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.add(top)
                if top == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_path_through(group, graph) for group in groups]


def _path_through(group: set[str], graph: dict[str, set[str]]) -> list[str]:
    """One closed path a -> b -> ... -> a inside a strongly connected group."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        node = frontier.pop(0)
        for nxt in sorted(graph.get(node, set()) & group):
            if nxt == start:
                return [*paths[node], start]
            if nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                frontier.append(nxt)
    return sorted(group)


def test_every_package_keeps_to_its_layer():
    problems = broken_rules(all_imports())
    assert not problems, "\n".join(problems)


def test_no_import_cycles_among_core_audit_and_ui():
    found = [c for c in cycles(all_imports()) if frozenset(c) not in KNOWN_CYCLES]
    assert not found, "import cycles (one loop of each tangle):\n" + "\n".join(
        " -> ".join(c) for c in found
    )


def test_the_checker_sees_lazy_imports_cycles_and_crossings(tmp_path):
    """The rules catch what they should: an import inside a function and a two-module
    cycle."""
    modules = {"core.a": tmp_path / "a.py", "core.b": tmp_path / "b.py"}
    modules["core.a"].write_text("def f():\n    from core import b\n    import duckdb\n")
    modules["core.b"].write_text("from core.a import f\n")
    imports = [imp for n, p in modules.items() for imp in imports_of(n, p, modules)]
    assert {(i.source, i.target) for i in imports} == {
        ("core.a", "core.b"),
        ("core.a", "duckdb"),
        ("core.b", "core.a"),
    }
    assert cycles(imports) == [["core.a", "core.b", "core.a"]]
    assert broken_rules(imports) == [
        "core.a line 3 imports duckdb: core never imports audit, ui, duckdb or gradio"
    ]
