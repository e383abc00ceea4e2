"""The package's import graph, measured: its depth, its edges, and the imports that hide the design.

    python scripts/import_graph.py            # a report; exit 1 when a rule is broken

Reads every module of ``fgsm_helpers`` with ``ast`` (nothing is imported) and reports:

* the edges (module -> package module it imports, at the top or inside a function) and the
  longest chain of them (the import depth, counted in modules: a -> b -> c is 3);
* every import of another module's private name (``from .seeds import _write_atomic``);
* every import inside a function that is not of an optional dependency marked with a comment
  on the same line or the line above (``# optional: ...``) and does not break a cycle.

The rules (``MAX_DEPTH``, no private import across modules, no unexplained function-level
import) are what ``tests/test_imports.py`` holds the package to.
"""

from __future__ import annotations

import ast
import sys
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "fgsm_helpers"
MAX_DEPTH = 8


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(current: str, is_package: bool, level: int, target: str | None) -> str:
    base = current.split(".")
    if not is_package:
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def imports(name: str, path: Path, known: dict[str, Path]) -> list[dict]:
    """Every import of a package module in ``path``: ``{"target", "names", "line", "in_function",
    "comment"}``."""
    source = path.read_text()
    lines = source.splitlines()
    tree = ast.parse(source)
    is_package = path.name == "__init__.py"
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.ImportFrom):
                if child.level:
                    target = _resolve(name, is_package, child.level, child.module)
                elif child.module and child.module.split(".")[0] == "fgsm_helpers":
                    target = child.module
                else:
                    target = None
                if target is not None:
                    names = [alias.name for alias in child.names]
                    # ``from . import paper`` imports the module fgsm_helpers.paper
                    submodules = [f"{target}.{n}" for n in names if f"{target}.{n}" in known]
                    for sub in submodules:
                        found.append(_entry(sub, [], child, in_function, lines))
                    rest = [n for n in names if f"{target}.{n}" not in known]
                    if rest or not submodules:
                        found.append(_entry(target, rest, child, in_function, lines))
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.split(".")[0] == "fgsm_helpers":
                        found.append(_entry(alias.name, [], child, in_function, lines))
            visit(child, inner)

    visit(tree, False)
    return [entry for entry in found if entry["target"] in known and entry["target"] != name]


def _entry(target, names, node, in_function, lines):
    here = lines[node.lineno - 1]
    above = lines[node.lineno - 2] if node.lineno > 1 else ""
    comment = ""
    for text in (here, above):
        if "#" in text:
            comment = text.split("#", 1)[1].strip()
            break
    return {
        "target": target,
        "names": names,
        "line": node.lineno,
        "in_function": in_function,
        "comment": comment,
    }


def graph() -> dict[str, list[dict]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def longest_chain(edges: dict[str, set[str]]) -> list[str]:
    """The longest simple chain of imports (a cycle is broken where it closes)."""

    @cache
    def from_node(node: str, visiting: frozenset) -> tuple[str, ...]:
        best: tuple[str, ...] = (node,)
        for target in sorted(edges.get(node, ())):
            if target in visiting:
                continue
            chain = (node, *from_node(target, visiting | {target}))
            if len(chain) > len(best):
                best = chain
        return best

    chains = [from_node(node, frozenset({node})) for node in edges]
    return list(max(chains, key=len)) if chains else []


def problems(found: dict[str, list[dict]]) -> dict[str, list[str]]:
    """Private names imported across modules, and function-level imports with no reason given."""
    private, hidden = [], []
    for module, entries in found.items():
        for entry in entries:
            where = f"{module}:{entry['line']} -> {entry['target']}"
            private += [
                f"{where} imports {n}"
                for n in entry["names"]
                if n.startswith("_") and not n.endswith("__")  # __version__ is public
            ]
            if entry["in_function"] and not entry["comment"]:
                hidden.append(f"{where} inside a function, with no comment saying why")
    return {"private": private, "hidden": hidden}


def report() -> tuple[str, bool]:
    found = graph()
    # The package's __init__ loads submodules on first use (by name), so it is not a real edge.
    edges = {
        module: {e["target"] for e in entries if module != "fgsm_helpers"}
        for module, entries in found.items()
    }
    chain = longest_chain(edges)
    issues = problems(found)
    n_edges = sum(len(t) for t in edges.values())
    lines = [
        f"{len(found)} modules, {n_edges} import edges",
        f"import depth: {len(chain)} (at most {MAX_DEPTH}): {' -> '.join(chain)}",
        f"private names imported across modules: {len(issues['private'])}",
        *["  " + line for line in issues["private"]],
        f"imports inside functions with no reason given: {len(issues['hidden'])}",
        *["  " + line for line in issues["hidden"]],
    ]
    ok = len(chain) <= MAX_DEPTH and not issues["private"] and not issues["hidden"]
    return "\n".join(lines), ok


if __name__ == "__main__":
    text, ok = report()
    print(text)
    sys.exit(0 if ok else 1)
