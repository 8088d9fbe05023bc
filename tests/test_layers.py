"""The layers import only downward and in no circle.

hcml (the domain core) -> resources -> assets -> sensors -> hcml_dagster (the code location), and
hcml -> realtime (the service). The core must import without Dagster or the web stack (the realtime image has no
Dagster; batch jobs have no FastAPI), which only a real import shows; who imports whom is read from the source's
AST, every `import` statement at any depth (a lazy import inside a function is still a dependency).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("hcml", "realtime", "resources", "assets", "sensors", "hcml_dagster")
# package -> the first-party packages it must never import (each layer imports only the ones below it)
FORBIDDEN = {
    "hcml": {"realtime", "resources", "assets", "sensors", "hcml_dagster"},
    "realtime": {"resources", "assets", "sensors", "hcml_dagster"},
    "resources": {"realtime", "assets", "sensors", "hcml_dagster"},
    "assets": {"realtime", "sensors", "hcml_dagster"},
    "sensors": {"realtime", "hcml_dagster"},
}
NOT_IN_CORE = ("dagster", "fastapi", "starlette", "realtime")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in the file, relative ones made absolute; `from a import b` names both
    `a` and `a.b`."""
    parts = path.relative_to(REPO).with_suffix("").parts
    package = parts[:-1]  # the package a module (or an __init__) sits in: where `.` points
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
            module = ".".join(filter(None, (base, node.module)))
            out.append((node.lineno, module))
            out += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return out


def _first_party(name: str) -> str | None:
    """The longest first-party module that `name` falls in (None for third-party modules)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def test_no_layer_imports_upward():
    wrong = []
    for module, path in MODULES.items():
        banned = FORBIDDEN.get(module.split(".")[0], set())
        for line, target in _imports(path):
            if target.split(".")[0] in banned:
                wrong.append(f"{path.relative_to(REPO)}:{line} imports {target}")
    assert not wrong, "imports against the layering:\n" + "\n".join(sorted(set(wrong)))


def test_no_import_cycles():
    graph = {module: set() for module in MODULES}
    for module, path in MODULES.items():
        for _, target in _imports(path):
            resolved = _first_party(target)
            if resolved and resolved != module and not module.startswith(resolved + "."):
                graph[module].add(resolved)
    cycles = _strongly_connected(graph)
    assert not cycles, "modules that import each other (directly or round a circle):\n" + "\n".join(
        " <-> ".join(c) for c in cycles
    )


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's components with more than one module (iterative: no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_core_imports_without_dagster_or_the_web_stack():
    """Import every hcml.* module in one fresh interpreter and list the top-level packages that got loaded."""
    core = sorted(m for m in MODULES if m == "hcml" or m.startswith("hcml."))
    script = (
        "import importlib, json, sys\n"
        f"for name in {core!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert "hcml" in loaded and len(core) > 50  # the check ran over the real package
    assert not loaded & set(NOT_IN_CORE), f"importing hcml.* loaded {sorted(loaded & set(NOT_IN_CORE))}"
