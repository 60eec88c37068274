"""The import graph of ``torsoseg`` (read with ``ast``, function-local imports included) keeps the layout of
DESIGN.md: base modules <- stage packages <- cli, with no package cycles."""

from __future__ import annotations

import ast
from pathlib import Path

import torsoseg

ROOT = Path(torsoseg.__file__).parent
#: Floors, lowest first. A unit is a subpackage or a top-level module of ``torsoseg``.
BASE = {"organs", "organ_display", "imagecheck", "imageio", "fileio", "paths", "dataset", "plans",
        "model_folder", "__init__"}
LOWER_STAGES = {"network", "preprocessing", "planning"}
UPPER_STAGES = {"training", "inference", "evaluation", "dataset_conversion", "phantom"}
FLOOR = {**{u: 0 for u in BASE}, **{u: 1 for u in LOWER_STAGES}, **{u: 2 for u in UPPER_STAGES}, "cli": 3}
#: Imports within one floor that are allowed: DESIGN.md's planning -> preprocessing, and planning -> network
#: (the planner sizes the U-Net with the arithmetic estimate of ``network/estimate.py``; no cycle).
SIDEWAYS = {("planning", "preprocessing"), ("planning", "network")}


def _unit(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "torsoseg":
        return None
    return parts[1] if len(parts) > 1 and parts[1] in FLOOR else "__init__"


def import_graph() -> dict[str, dict[str, set[str]]]:
    """unit -> imported unit -> the files that import it."""
    graph: dict[str, dict[str, set[str]]] = {}
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        unit = rel.parts[0].removesuffix(".py")
        pkg = ".".join(("torsoseg", *rel.parts[:-1]))
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                    base = ".".join([*up, base]).rstrip(".")
                names = [f"{base}.{a.name}" if base == "torsoseg" else base for a in node.names]
            for name in names:
                target = _unit(name)
                if target is not None and target != unit:
                    graph.setdefault(unit, {}).setdefault(target, set()).add(str(rel))
    return graph


def test_every_unit_has_a_floor():
    units = {p.name.removesuffix(".py") for p in ROOT.iterdir()
             if p.suffix == ".py" or (p / "__init__.py").is_file()}
    assert units - set(FLOOR) == set(), "place new modules/packages in FLOOR"


def test_imports_flow_down_only():
    bad = [
        f"{u} -> {t} ({', '.join(sorted(files))})"
        for u, targets in import_graph().items()
        for t, files in targets.items()
        if FLOOR[t] > FLOOR[u] or (FLOOR[t] == FLOOR[u] and FLOOR[u] > 0 and (u, t) not in SIDEWAYS)
    ]
    assert bad == []


def test_no_package_cycles():
    graph = {u: set(t) for u, t in import_graph().items()}
    cycles = []
    for start in graph:
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for nxt in graph.get(node, ()):
                if nxt == start:
                    cycles.append(" -> ".join([*path, start]))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))
    assert cycles == []


def test_inference_never_imports_training_and_nothing_imports_cli():
    graph = import_graph()
    assert "training" not in graph.get("inference", {})
    assert [u for u, t in graph.items() if "cli" in t and u != "cli"] == []
