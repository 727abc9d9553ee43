"""Atheris target: RFC 7383 reassembly (iked.ikev2.fragments) on arbitrary fragment streams.

The input is a stream of IKEv2 messages back to back (each one's Length field says where the
next begins; the first octet of each also advances the clock); every SKF message among them
goes into one :class:`~iked.ikev2.fragments.Reassembly` as the ICV-checked fragment of the IKE
SA its SPIs name, its ciphertext standing in for the plaintext.  Whatever comes, the bounds
hold (:meth:`iked.reassembly.Table.check`, nothing left once the timeout passed), and
a completed message holds the fragment that completed it, led by its fragment 1.  Run it as
tests/fuzz/fuzz_ikev2.py says.
"""

from __future__ import annotations

import struct
import sys

from fuzz_common import main as run
from fuzz_common import seeds as captured

from iked.ikev2.fragments import Limits, Reassembly
from racoon2.errors import ParseError
from racoon2.ikev2.message import HEADER, decode
from racoon2.ikev2.payloads import SKF

#: Small bounds, so that short inputs reach them.
LIMITS = Limits(max_fragments=8, max_bytes=2000, per_peer=2, messages=4, total_bytes=5000,
                timeout=30.0)


def seeds() -> list[bytes]:
    """strongSwan's fragments (fragment_size 200), all in one stream, then one per message."""
    frags = [m for m in captured("ikev2-psk-fragmented") if m[16] == 53]
    return [b"".join(frags), *frags]


def TestOneInput(data: bytes) -> None:
    """One fuzz input: a stream of fragments; reassembly keeps its bounds."""
    box = Reassembly(LIMITS)
    off, now = 0, 0.0
    while off + HEADER.size <= len(data):
        (length,) = struct.unpack_from("!I", data, off + 24)
        chunk = data[off:off + max(length, HEADER.size)]
        off += max(length, HEADER.size)
        now += chunk[0] / 8
        try:
            msg = decode(chunk)
        except ParseError:
            continue
        skf = msg.payloads[-1] if msg.payloads else None
        if not isinstance(skf, SKF):
            continue
        got = box.add(msg.spi_r, msg, skf.data, now)
        if got.whole is not None:
            # completed by this fragment: it is in there, and fragment 1 leads
            assert got.first is not None and skf.data in got.whole
            first = got.first.payloads[-1]
            assert isinstance(first, SKF) and first.number == 1 and first.total == skf.total
            assert len(got.whole) <= LIMITS.max_bytes
        box.check()
    box.expire(now + LIMITS.timeout)
    assert box.pending == 0 and box.held == 0


def main(argv: list[str]) -> None:
    """libFuzzer's command line, or ``--write-corpus DIR`` to store the seeds there."""
    run(argv, seeds, TestOneInput)


if __name__ == "__main__":
    main(sys.argv)
