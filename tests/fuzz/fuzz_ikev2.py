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

import sys

from fuzz_common import main as run
from fuzz_common import seeds as captured

from racoon2.errors import ParseError
from racoon2.ikev2.message import decode, decode_chain, encode, encode_chain


def seeds() -> list[bytes]:
    """Every captured IKEv2 message: the starting corpus."""
    return captured("ikev2-")


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
    run(argv, seeds, TestOneInput)


if __name__ == "__main__":
    main(sys.argv)
