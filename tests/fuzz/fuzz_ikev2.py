"""Atheris target: the IKEv2 codec (racoon2.ikev2.message) on arbitrary bytes.

Every input must give a message or a ParseError, both as a whole message and as a decrypted
inner chain (first octet: the first payload's type); whatever decodes must survive
re-encoding.  Run it with libFuzzer's options, for instance

    .venv/bin/python tests/fuzz/fuzz_ikev2.py -runs=10000
    .venv/bin/python tests/fuzz/fuzz_ikev2.py --write-corpus /tmp/ikev2-corpus
    .venv/bin/python tests/fuzz/fuzz_ikev2.py /tmp/ikev2-corpus -max_total_time=3600

tests/unit/test_fuzz_targets.py runs TestOneInput without atheris.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from racoon2.errors import ParseError
from racoon2.ikev2.message import decode, decode_chain, encode, encode_chain

try:
    import atheris
except ImportError:  # pytest drives TestOneInput without it
    atheris = None

CAPTURES = Path(__file__).resolve().parents[1] / "vectors" / "captures"


def seeds() -> list[bytes]:
    """Every captured IKEv2 message: the starting corpus."""
    return [bytes.fromhex(r["hex"]) for d in sorted(CAPTURES.glob("ikev2-*"))
            for r in json.loads((d / "messages.json").read_text())]


def TestOneInput(data: bytes) -> None:
    """One fuzz input: a message, then an inner chain; the codec's invariants hold."""
    try:
        msg = decode(data)
    except ParseError:
        pass
    else:
        # reserved octets are ignored on receipt and sent as zero: equal up to them
        assert decode(encode(msg)) == msg
    if not data:
        return
    try:
        payloads = decode_chain(data[1:], data[0])
    except ParseError:
        return
    first, chain = encode_chain(payloads)
    assert decode_chain(chain, first) == payloads


def main(argv: list[str]) -> None:
    """libFuzzer's command line, or ``--write-corpus DIR`` to store the seeds there."""
    if argv[1:2] == ["--write-corpus"] and len(argv) == 3:
        out = Path(argv[2])
        out.mkdir(parents=True, exist_ok=True)
        for i, seed in enumerate(seeds()):
            (out / f"capture-{i:04d}").write_bytes(seed)
        return
    if atheris is None:
        sys.exit("atheris is not installed: .venv/bin/pip install atheris")
    atheris.instrument_all()
    atheris.Setup(argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
