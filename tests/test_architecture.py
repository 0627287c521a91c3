"""The package's shape: every module imports, no import cycles, and lower layers never import higher ones."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "genre_lightning"

# What each part of the package may import (besides itself): the flow is
# shared names -> audio -> data -> models -> training -> predict -> explain -> app, with the demo set beside
# data and the run folder between data and training.
# Where the bundled model's files are is a shared name too: prediction uses it, the models start from its
# network.
BASE = {"constants", "errors", "files", "tables", "pretrained"}
ALLOWED = {
    "__init__": set(),
    "constants": set(),
    "errors": set(),
    "files": set(),
    "tables": set(),
    "pretrained": set(),
    # train.py's config composed for the benchmarks and tests: Hydra alone
    "compose": set(),
    "performance": {"errors"},
    # scores of class probabilities and the report files made of them, for training and evaluation alike
    "metrics": BASE,
    "audio": BASE,
    "data": BASE | {"audio"},
    "demo": BASE | {"audio"},
    # models accumulate their epoch scores with the metrics' ConfusionCounts
    "models": BASE | {"metrics"},
    # the run folder: its layout (which prediction reads), and the records training keeps there (the split,
    # the scan's bad files and duplicates)
    "run_folder": BASE | {"data"},
    "training": BASE | {"performance", "metrics", "data", "models", "run_folder"},
    "predict": BASE | {"performance", "metrics", "audio", "data", "models", "run_folder"},
    # why an answer: the predict layer's ensemble and rows, the rendering's mel scale
    "explain": BASE | {"audio", "data", "predict"},
    # the web page: predictions through predict, examples from the demo synthesiser, the Why panel
    "app": BASE | {"performance", "audio", "data", "demo", "predict", "explain"},
}


def modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The package modules that ``name`` imports anywhere in its file (functions included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            # `from genre_lightning.training import sweeps` names a module, not an attribute
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names
            ]
        else:
            continue
        found |= {target for target in targets if target in known and target != name}
    return found


def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports(name, path, set(found)) for name, path in found.items()}


def part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


@pytest.mark.parametrize("name", sorted(modules()))
def test_every_module_imports(name):
    importlib.import_module(name)


def test_no_module_imports_one_that_imports_it_back():
    edges = graph()
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for target in sorted(edges[node]):
            if state.get(target) == "open":
                cycle = path[path.index(target) :] + [target]
                pytest.fail(f"import cycle: {' -> '.join(cycle)}")
            if target not in state:
                visit(target, [*path, target])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])


def test_lower_layers_never_import_higher_ones():
    wrong = [
        f"{name} imports {target}"
        for name, targets in graph().items()
        for target in sorted(targets)
        if part(target) != part(name) and part(target) not in ALLOWED[part(name)]
    ]
    assert not wrong, "\n".join(wrong)


def test_the_checks_see_a_cycle_and_a_wrong_way_import(tmp_path, monkeypatch):
    """The two checks above on a made-up package: they must fail where the real one must not."""
    fake = tmp_path / "genre_lightning"
    (fake / "data").mkdir(parents=True)
    (fake / "training").mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "data" / "__init__.py").write_text("")
    (fake / "training" / "__init__.py").write_text("")
    (fake / "data" / "a.py").write_text("from genre_lightning.training.b import x\n")
    (fake / "training" / "b.py").write_text("def f():\n    from genre_lightning.data import a\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", fake)
    with pytest.raises(pytest.fail.Exception, match="import cycle"):
        test_no_module_imports_one_that_imports_it_back()
    with pytest.raises(AssertionError, match="genre_lightning.data.a imports genre_lightning.training.b"):
        test_lower_layers_never_import_higher_ones()
