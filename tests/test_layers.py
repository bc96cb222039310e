"""The package's layers, kept by reading every module's imports (AST, imports inside functions
included): no import cycle between files, and no import against the layer order.

The order, lowest first (a module may import its own package and any lower layer; siblings on
one layer do not import each other). `rtmotion/README.md` says the same in words.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "rtmotion"

#: Each layer: the top-level rooms of `rtmotion` (packages or single modules) on it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("__init__", "errors"),
    ("types", "atomic", "progress", "devices", "lazy", "engine_request", "timing"),
    ("io", "models"),
    ("runtime",),
    ("pose",),
    ("kernels",),
    ("synthetic",),
    ("subject",),
    ("export",),
    ("pipeline",),
    ("train", "eval", "serve"),
    ("commands",),
    ("cli",),
    ("__main__",),
)
LAYER_OF = {room: i for i, rooms in enumerate(LAYERS) for room in rooms}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _room(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    return parts[1]


def _resolve(name: str) -> str | None:
    """The project module a dotted import name lands in (the longest existing prefix)."""
    parts = name.split(".")
    while parts:
        cand = ".".join(parts)
        if cand in MODULES:
            return cand
        parts.pop()
    return None


def imports_of(module: str) -> set[str]:
    """Project modules `module` imports anywhere in its file (top level or inside functions)."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_pkg = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_pkg else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            # `from pkg import sub` imports the submodule when there is one.
            names = [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in MODULES else prefix
                     for a in node.names]
        else:
            continue
        for n in names:
            if n == "rtmotion" or n.startswith("rtmotion."):
                target = _resolve(n)
                if target and target != module:
                    out.add(target)
    return out


GRAPH = {m: imports_of(m) for m in MODULES}


def test_every_room_has_a_layer() -> None:
    rooms = {_room(m) for m in MODULES}
    assert rooms <= set(LAYER_OF), f"add these to LAYERS: {sorted(rooms - set(LAYER_OF))}"


def test_no_import_against_the_layers() -> None:
    bad = []
    for mod, targets in GRAPH.items():
        src = _room(mod)
        for t in targets:
            dst = _room(t)
            if dst == src or dst == "__init__":
                continue
            if LAYER_OF[dst] >= LAYER_OF[src]:
                bad.append(f"{mod} (layer {LAYER_OF[src]}) imports {t} (layer {LAYER_OF[dst]})")
    assert not bad, "imports against the layer order:\n" + "\n".join(sorted(bad))


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle() -> None:
    # A package's __init__ re-exporting its own modules is not a cycle of the design: leave the
    # edges from a package __init__ down into its own package out.
    graph = {m: {t for t in ts if not (MODULES[m].name == "__init__.py" and t.startswith(m + "."))}
             for m, ts in GRAPH.items()}
    cycles = _cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


@pytest.mark.parametrize("room", ["subject", "runtime", "export", "pipeline", "eval"])
def test_inference_never_imports_training(room: str) -> None:
    bad = sorted(f"{m} -> {t}" for m, ts in GRAPH.items() if _room(m) == room
                 for t in ts if _room(t) == "train")
    assert not bad, "\n".join(bad)
