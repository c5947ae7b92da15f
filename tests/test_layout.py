"""The layout holds: the shared core (gudang/) imports no room and not the launcher.

Read from the source's import graph (every ``import``, also those inside functions), so a
lazy import cannot hide a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = "gudang"
# The rooms and the launcher: the core is what every one of them stands on.
ABOVE_THE_CORE = {"api", "services", "firmware_bridge", "gudang_ops"}


def imported_modules(path: Path) -> set[str]:
    """Every module a source file imports, absolute names, lazy imports included."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the file's package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            names.add(module)
            # ``from pkg import mod`` imports pkg.mod when mod is a module (harmless if not)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def import_graph(package: str) -> dict[str, set[str]]:
    """Module name -> the modules it imports, for every module of one package."""
    graph = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        graph[name] = imported_modules(path)
    return graph


def test_the_shared_core_imports_no_room_and_not_the_launcher() -> None:
    graph = import_graph(CORE)
    assert len(graph) >= 6, graph  # the core was found: wire, settings, mqtt, influx, barcodes
    offending = {
        module: sorted(n for n in imports if n.split(".")[0] in ABOVE_THE_CORE)
        for module, imports in graph.items()
    }
    assert {m: v for m, v in offending.items() if v} == {}


def test_the_graph_sees_lazy_and_relative_imports() -> None:
    # The check above is only as good as the graph: the launcher imports every room, some
    # of them inside functions, and the graph must see that.
    launcher = import_graph("gudang_ops")
    assert "api.app" in launcher["gudang_ops.cli"]  # imported inside a function
    assert "firmware_bridge.simulated_station" in launcher["gudang_ops.stack"]
    assert "gudang.wire" in launcher["gudang_ops.provision"]
    protocols = import_graph("firmware_bridge")
    assert "firmware_bridge.protocols.base" in protocols["firmware_bridge.protocols.sma"]
    assert "firmware_bridge.protocols.sma" in protocols["firmware_bridge.protocols"]
