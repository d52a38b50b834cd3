"""The import graph between top-level packages has no upward arrows (issue 10, item 3).

Imports are read with `ast` from every module, including those made inside functions
(commands import their implementations lazily, and those count too).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

LAYERS: list[set[str]] = [
    {"devicecare"},  # the foundation: contracts, settings, errors, migrations, MQTT client
    {"agent", "ingest", "notifier", "deviceconfig", "care"},
    {"api"},
    {"devstack"},  # the development stack
    {"simulator"},
    {"detectors"},  # its lab backtests on the simulator
    {"demo", "dashboards", "triagelab"},  # seeded from the simulator
    {"cli"},  # the command line, which composes every package's commands
]
"""Lowest first: a package may import only from its own layer's package and lower layers."""

SERVICES = {"agent", "ingest", "notifier", "deviceconfig", "care", "api", "detectors"}
"""What runs in production; none of it may import the development stack."""

RANK = {package: rank for rank, layer in enumerate(LAYERS) for package in layer}


def _imports(package: str) -> list[tuple[str, str]]:
    """(module file, imported top-level package) for every absolute import in `package`."""
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            found += [(str(path.relative_to(ROOT)), name.split(".")[0]) for name in names]
    return found


def test_every_top_level_package_has_a_layer() -> None:
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "bench"}
    assert packages == set(RANK), "add the package to LAYERS"


def test_no_import_points_upward() -> None:
    upward = [
        f"{where} imports {target}"
        for package in RANK
        for where, target in _imports(package)
        if target in RANK and target != package and RANK[target] >= RANK[package]
    ]
    assert upward == []


def test_no_service_imports_the_development_stack() -> None:
    found = [
        where for package in SERVICES for where, target in _imports(package) if target == "devstack"
    ]
    assert found == []
