"""The simulator is a client: it uses only flowc's public helpers, never a wing's internals."""

from __future__ import annotations

import ast
from pathlib import Path

import flowc.simulator

ALLOWED = {
    "flowc", "flowc.model", "flowc.plugins", "flowc.runtime.codec", "flowc.runtime.frames",
    "flowc.runtime.signature",
}


def test_simulator_imports_only_public_helpers() -> None:
    package = Path(flowc.simulator.__file__).parent
    offenders: list[str] = []
    for path in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module if node.module in ALLOWED else f"{node.module}.{a.name}"
                         for a in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                if name.startswith("flowc") and not name.startswith("flowc.simulator") \
                        and name not in ALLOWED:
                    offenders.append(f"{path.name}: {name}")
    assert offenders == []
