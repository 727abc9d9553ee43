"""Load the crypto known-answer vector files under tests/vectors/crypto/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "crypto"


def load(name: str) -> Any:
    """The parsed JSON vector file ``name``."""
    return json.loads((VECTORS / name).read_text())


def h(text: str) -> bytes:
    """Hex (spaces allowed) to bytes."""
    return bytes.fromhex(text.replace(" ", "").replace("\n", ""))
