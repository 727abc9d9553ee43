"""kinkd's decision modules stay pure: no event loop, sockets, clocks or randomness of their
own (the house rule for sans-I/O cores), so their tests need neither a KDC nor a clock."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

KINKD = Path(__file__).resolve().parents[3] / "kinkd"
PURE = ["drops", "exchange", "keymat", "message", "policy", "responder", "sas", "settings",
        "tickets"]
FORBIDDEN = {"asyncio", "socket", "time", "random", "secrets"}


@pytest.mark.parametrize("name", PURE)
def test_a_pure_module_imports_no_io(name: str) -> None:
    tree = ast.parse((KINKD / f"{name}.py").read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert not imported & FORBIDDEN
