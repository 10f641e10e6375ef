"""The layers of ARCHITECTURE.md: every kgx module imports only from its own layer or below.

The check reads the source (every `import` statement, including the lazy ones inside functions),
so it needs no optional dependency and runs in a second.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIRS = {"kgx": ROOT / "kgx", "kgx.extractors": ROOT / "extractors",
                "kgx.graphdb": ROOT / "graphdb", "kgx.retrieval": ROOT / "retrieval"}

LAYERS: list[tuple[str, set[str], bool]] = [
    # (name, top-level parts of kgx, may the parts import each other)
    ("foundation", {"errors", "ids", "models", "lazy", "jsonfiles", "chunking", "batching",
                    "normalization",
                    "formats", "tabular", "ingest", "resolution", "run_failures", "embeddings",
                    "hardware"},
     True),
    ("backends", {"llm", "graphdb"}, False),
    ("components", {"extractors", "retrieval", "lifecycle", "export"}, False),
    ("workflows", {"pipeline", "engine", "ray_engine", "ray_calls", "ray_cluster", "ray_workers",
                   "sync", "evaluation", "kb", "distill", "harvest"}, True),
    # "": the package root, kgx/__init__; bulk_import runs the Neo4j tooling of kgx.testing
    ("front ends", {"cli", "serve", "testing", "bulk_import", ""}, True),
]

EXCEPTIONS = {
    # The student extractor parses the reply format the student was trained on (kgx.distill.format).
    ("kgx.extractors.student", "distill"),
}


def _layer_of(part: str) -> int:
    for index, (_, parts, _) in enumerate(LAYERS):
        if part in parts:
            return index
    raise AssertionError(f"kgx.{part} is in no layer of tests/test_architecture.py: add it "
                         "there and to ARCHITECTURE.md")


def _module_name(path: Path) -> tuple[str, str]:
    """(dotted module name, dotted name of the package its relative imports start from)."""
    for prefix, folder in sorted(PACKAGE_DIRS.items(), key=lambda item: -len(str(item[1]))):
        if folder in path.parents:
            parts = [prefix, *path.relative_to(folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                return ".".join(parts[:-1]), ".".join(parts[:-1])
            return ".".join(parts), ".".join(parts[:-1])
    raise AssertionError(path)


def _imports(path: Path) -> set[str]:
    _, package = _module_name(path)
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level:
            base = package.split(".")[:len(package.split(".")) - node.level + 1]
            found.add(".".join(base + ([node.module] if node.module else [])))
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return {name for name in found if name == "kgx" or name.startswith("kgx.")}


def _part(module: str) -> str:
    """The top-level part of kgx a module belongs to ("" for the root package)."""
    return module.split(".")[1] if "." in module else ""


def _sources() -> list[Path]:
    return sorted(p for folder in PACKAGE_DIRS.values() for p in folder.rglob("*.py"))


def test_architecture_every_module_imports_only_its_layer_or_below():
    wrong = []
    for path in _sources():
        module, _ = _module_name(path)
        part = _part(module)
        layer = _layer_of(part)
        for target in _imports(path):
            target_part = _part(target)
            target_layer = _layer_of(target_part)
            if target_part == part or (module, target_part) in EXCEPTIONS:
                continue
            if target_layer > layer or (target_layer == layer and not LAYERS[layer][2]):
                wrong.append(f"{module} ({LAYERS[layer][0]}) imports {target} "
                             f"({LAYERS[target_layer][0]})")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("forbidden", ["kgx.distill", "kgx.extractors", "kgx.evaluation"])
def test_architecture_llm_layer_imports_no_consumer(forbidden):
    offenders = [str(path.relative_to(ROOT)) for path in (ROOT / "kgx" / "llm").rglob("*.py")
                 if any(name == forbidden or name.startswith(forbidden + ".")
                        for name in _imports(path))]
    assert not offenders


def test_architecture_check_sees_lazy_and_relative_imports():
    source = ROOT / "extractors" / "llm_facts.py"
    imports = _imports(source)
    assert "kgx.extractors.prompts" in imports  # `from .prompts import ...`
    assert any(name.startswith("kgx.llm") for name in imports)
