"""The ring rule of DESIGN.md, checked from the source: core imports only the stdlib, and
numpy for the array math of the fleet index."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "src" / "pciplane" / "core"
#: Third-party packages core may import (DESIGN.md: "numpy allowed for array math").
ALLOWED = frozenset({"numpy"})


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_core_imports_only_stdlib_numpy_and_core() -> None:
    offenders = {}
    for path in sorted(CORE.rglob("*.py")):
        bad = {
            name
            for name in _imports(path)
            if not name.startswith("pciplane.core")
            and name.split(".")[0] not in sys.stdlib_module_names
            and name.split(".")[0] not in ALLOWED
            and name != "__future__"
        }
        if bad:
            offenders[path.name] = sorted(bad)
    assert offenders == {}
