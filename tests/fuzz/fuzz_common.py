"""What the atheris targets share: the captured seed corpus and the command line."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

try:
    import atheris
except ImportError:  # pytest drives TestOneInput without it
    atheris = None

CAPTURES = Path(__file__).resolve().parents[1] / "vectors" / "captures"


def seeds(prefix: str) -> list[bytes]:
    """Every message of the captures whose directory starts with ``prefix``."""
    return [bytes.fromhex(r["hex"]) for d in sorted(CAPTURES.glob(f"{prefix}*"))
            for r in json.loads((d / "messages.json").read_text())]


def main(argv: list[str], corpus: Callable[[], list[bytes]],
         test_one_input: Callable[[bytes], None]) -> None:
    """libFuzzer's command line, or ``--write-corpus DIR`` to store the seeds there."""
    if argv[1:2] == ["--write-corpus"] and len(argv) == 3:
        out = Path(argv[2])
        out.mkdir(parents=True, exist_ok=True)
        for i, seed in enumerate(corpus()):
            (out / f"capture-{i:04d}").write_bytes(seed)
        return
    if atheris is None:
        sys.exit("atheris is not installed: .venv/bin/pip install atheris")
    atheris.instrument_all()
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()
