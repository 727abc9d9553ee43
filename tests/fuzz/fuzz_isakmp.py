"""Atheris target: the ISAKMP/IKEv1 codec (racoon2.ikev1.message) on arbitrary bytes.

Every input must give a message or a ParseError, both as a whole message and as a decrypted
body (first octet: the first payload's type); whatever decodes must re-encode byte for byte.
Run it with libFuzzer's options, for instance

    .venv/bin/python tests/fuzz/fuzz_isakmp.py -runs=10000
    .venv/bin/python tests/fuzz/fuzz_isakmp.py --write-corpus /tmp/isakmp-corpus
    .venv/bin/python tests/fuzz/fuzz_isakmp.py /tmp/isakmp-corpus -max_total_time=3600

tests/unit/test_fuzz_targets.py runs TestOneInput without atheris.
"""

from __future__ import annotations

import sys

from fuzz_common import main as run
from fuzz_common import seeds as captured

from racoon2.errors import ParseError
from racoon2.ikev1.message import decode, decode_plaintext, encode, encode_chain


def seeds() -> list[bytes]:
    """Every captured IKEv1 message: the starting corpus."""
    return captured("ikev1-")


def TestOneInput(data: bytes) -> None:
    """One fuzz input: a message, then a decrypted body; the codec's invariants hold."""
    try:
        msg = decode(data)
    except ParseError:
        pass
    else:
        assert encode(msg) == data
    if not data:
        return
    try:
        payloads, padding = decode_plaintext(data[1:], data[0])
    except ParseError:
        return
    first, chain = encode_chain(payloads)
    assert first == data[0] and chain + padding == data[1:]


def main(argv: list[str]) -> None:
    """libFuzzer's command line, or ``--write-corpus DIR`` to store the seeds there."""
    run(argv, seeds, TestOneInput)


if __name__ == "__main__":
    main(sys.argv)
