"""The package's import graph: no cycles, layers import downwards only, and light imports stay light.

The graph is read from the source (every ``import`` and ``from ... import``, including those inside
functions and under ``TYPE_CHECKING``), so a lazy import cannot hide a cycle.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import seqrec

PACKAGE = Path(seqrec.__file__).parent

# Lower layers first; a module may import its own layer and the ones before it (docs/architecture.md).
LAYERS: list[tuple[str, ...]] = [
    ("seqrec.data",),
    ("seqrec.ranking",),
    ("seqrec.evaluation",),
    ("seqrec.models",),
    ("seqrec.experiment", "seqrec.tuning", "seqrec.testing"),
    ("seqrec.serving",),
    ("seqrec.walkthrough",),
    ("seqrec.cli", "seqrec.__main__"),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every seqrec module ``path`` imports (``from a import b`` counts ``a.b`` when that is a module)."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("seqrec"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("seqrec") and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {name: {other for other in imports_of(path) if other in modules and other != name} for name, path in modules.items()}


def package_edges(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """Module imports, without a package's own ``__init__`` re-exporting its submodules."""
    return {name: {t for t in targets if not name.startswith(t + ".") and not (t.startswith(name + ".") and _is_package(name))} for name, targets in edges.items()}


def _is_package(name: str) -> bool:
    return (PACKAGE.parent / name.replace(".", "/") / "__init__.py").exists()


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                return stack[stack.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def layer_of(module: str) -> int | None:
    for index, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return index
    return None


def test_the_package_has_no_import_cycle() -> None:
    cycle = find_cycle(package_edges(graph()))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_layers_import_downwards_only() -> None:
    upward = []
    for module, targets in package_edges(graph()).items():
        own = layer_of(module)
        for target in targets:
            other = layer_of(target)
            if own is not None and other is not None and other > own:
                upward.append(f"{module} -> {target}")
    assert not upward, "imports against the layer order:\n" + "\n".join(sorted(upward))


def test_every_module_has_a_layer() -> None:
    assert not [name for name in graph() if name != "seqrec" and layer_of(name) is None]


def _imported_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(result.stdout.split())


def test_importing_the_evaluation_does_not_import_torch() -> None:
    assert "torch" not in _imported_after("import seqrec.evaluation, seqrec.evaluation.protocol, seqrec.ranking")


def test_the_registry_imports_a_model_only_when_asked() -> None:
    loaded = _imported_after("from seqrec.models import REGISTRY; names = list(REGISTRY); REGISTRY['popularity']")
    assert "seqrec.models.popularity" in loaded
    assert "torch" not in loaded and "seqrec.models.neural.sasrec" not in loaded
