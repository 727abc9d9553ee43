"""Atheris target: the IKEv1 engine (iked.ikev1.core), not only its codec.

One responder core with an ISAKMP SA and an IPsec SA up (tests/pair/ikev1's in-memory pair,
made once) receives every input as a datagram from its peer, as it is and behind the SA's
cookies (so that it reaches the phase 1 and Quick Mode code, not only the cookie lookup).
Nothing may escape as an exception, the drop counters (iked.events.DropReason) only grow,
and the established SA survives: no input without its keys can end it.  Seeds: the
datagrams the responder received while the pair came up.  Run it as

    .venv/bin/python tests/fuzz/fuzz_ikev1_engine.py -runs=10000
    .venv/bin/python tests/fuzz/fuzz_ikev1_engine.py /tmp/ikev1-engine -max_total_time=3600

tests/unit/test_fuzz_targets.py runs TestOneInput without atheris.
"""

from __future__ import annotations

import functools
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the pair harness

from fuzz_common import main as run  # noqa: E402
from pair.ikev1.harness import Side, established  # noqa: E402

from iked.ikev1.sa import IsakmpSa, State  # noqa: E402


@functools.cache
def _established() -> tuple[Side, IsakmpSa, list[bytes]]:
    """B, the responder of an established pair, its ISAKMP SA and the datagrams it
    received."""
    _, b, seen = established(Path(tempfile.mkdtemp(prefix="racoon2-fuzz-ikev1-")))
    (sa,) = b.core.sas.values()
    assert seen, "the pair did not come up"
    return b, sa, seen


def seeds() -> list[bytes]:
    """What the responder received while the pair came up: the starting corpus."""
    return _established()[2]


def TestOneInput(data: bytes) -> None:
    """One fuzz input, as it is and after the established SA's cookies."""
    b, sa, _ = _established()
    for datagram in (data, sa.cookie_i + sa.cookie_r + data[16:]):
        before = sum(b.core.dropped.values())
        b.core.receive_datagram(datagram, sa.local, sa.remote, 1.0)
        b.collect()
        b.outbox.clear()
        b.events.clear()
        assert sum(b.core.dropped.values()) >= before
        assert sa in b.core.sas.values() and sa.state is State.ESTABLISHED


def main(argv: list[str]) -> None:
    """libFuzzer's command line, or ``--write-corpus DIR`` to store the seeds there."""
    run(argv, seeds, TestOneInput)


if __name__ == "__main__":
    main(sys.argv)
