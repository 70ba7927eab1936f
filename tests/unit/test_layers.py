"""The package's shape: imports flow one way, and docs/architecture.md names every part of the tree.

Layers, lowest first; a module may import only from layers below its own (and from its own package).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "inhouse"
LAYERS = [
    {"types", "errors", "files"},
    {"__init__", "protocols", "config"},
    {"text", "guard", "store"},
    {"ingest", "retrieve", "models", "verify", "dbfile"},
    {"answer"},
    {"evals", "apps.__init__", "apps.recommend", "apps.commerce", "apps.finance", "tune", "consortium"},
    {"server"},
    {"redteam"},
    {"cli"},
]
LEVEL = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def _part(parts: list[str]) -> str:
    """The top-level part of a dotted path under inhouse (apps.X counts as its own part)."""
    if not parts:
        return "__init__"
    head = parts[0].removesuffix(".py")
    return f"apps.{parts[1].removesuffix('.py')}" if head == "apps" and len(parts) > 1 else head


def _imports() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for f in SRC.rglob("*.py"):
        here = _part(list(f.relative_to(SRC).parts))
        for node in ast.walk(ast.parse(f.read_text("utf-8"))):
            names = ([node.module] if isinstance(node, ast.ImportFrom) and node.module else
                     [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            for name in names:
                if name == "inhouse" or name.startswith("inhouse."):
                    there = _part(name.split(".")[1:])
                    if there != here:
                        found.setdefault(here, set()).add(there)
    return found


def test_every_part_has_a_layer():
    parts = {_part(list(p.relative_to(SRC).parts)) for p in SRC.rglob("*.py")}
    assert parts <= set(LEVEL), f"give these a layer in LAYERS: {sorted(parts - set(LEVEL))}"


def test_imports_flow_down_the_layers():
    upward = sorted(f"{a} imports {b}" for a, bs in _imports().items() for b in bs if LEVEL[b] >= LEVEL[a])
    assert upward == [], "imports must flow to lower layers (see LAYERS):\n" + "\n".join(upward)


def test_architecture_doc_names_every_part():
    doc = (ROOT / "docs" / "architecture.md").read_text("utf-8")
    missing = []
    for p in sorted(SRC.iterdir()):
        if p.name.startswith(("_", ".")) or p.suffix not in ("", ".py") or p.name.endswith(".egg-info"):
            continue
        names = [f"`{p.name}/" if p.is_dir() else f"`{p.name}`"]
        if p.name == "apps":
            names = [f"`apps/{q.name}/" for q in p.iterdir() if q.is_dir() and not q.name.startswith("_")]
        missing += [n for n in names if n not in doc]
    assert missing == [], f"docs/architecture.md does not describe: {missing}"
