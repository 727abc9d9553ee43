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


def nist_rsp(path: str) -> list[dict[str, str]]:
    """Records of a NIST CAVP .rsp file from the cryptography_vectors package.

    ``[Name = value]`` section headers and ``Name = value`` blocks without a Count (such as a
    CCM file's shared Key) are copied into every following record; a record ends at a blank
    line.
    """
    import cryptography_vectors

    records: list[dict[str, str]] = []
    context: dict[str, str] = {}
    current: dict[str, str] = {}
    with cryptography_vectors.open_vector_file(path, "r") as f:
        lines = [*f.read().splitlines(), ""]
    for raw in lines:
        line = raw.strip()
        if line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            if "=" in line:
                name, _, value = line[1:-1].partition("=")
                context[name.strip()] = value.strip()
            else:
                context["section"] = line[1:-1]
            continue
        if not line:
            if any(name.lower() == "count" for name in current):
                records.append({**context, **current})
            else:
                context.update(current)
            current = {}
            continue
        name, _, value = line.partition("=")
        if name.strip() == "Key" or name.strip().lower() == "count" or current:
            current[name.strip()] = value.strip()
        else:
            context[name.strip()] = value.strip()
    return records
