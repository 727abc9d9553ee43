"""Malformed and unexpected IKEv1 messages are dropped and counted; the SAs go on."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iked.events import ChildSaUp, Dropped, DropReason
from racoon2.ikev1.constants import FLAG_ENCRYPTION, ExchangeType
from racoon2.kernel import api

from .harness import established, pair, pump


def test_garbage_is_dropped_and_counted_without_harm(tmp_path: Path) -> None:
    a, b = pair(tmp_path)
    a.core.initiate("sel_out", 0.0)
    pump(a, b)
    (sa,) = b.core.sas.values()
    here, there = sa.local, sa.remote
    head = sa.cookie_i + sa.cookie_r

    def hdr(exchange: int, flags: int, mid: int, body: bytes, cookies: bytes = head) -> bytes:
        # HDR (RFC 2408 §3.1): an encrypted body announces a HASH first, a clear one nothing.
        return cookies + struct.pack("!BBBBII", 8 if body else 0, 0x10, exchange, flags, mid,
                                     28 + len(body)) + body

    bad = [
        b"\x00" * 10,                                          # shorter than a header
        hdr(ExchangeType.QUICK_MODE, FLAG_ENCRYPTION, 7, b"x" * 5)[:-2],  # Length lies
        hdr(ExchangeType.INFORMATIONAL, 0, 0, b"", b"\x01" * 16),  # unknown cookies
        hdr(ExchangeType.QUICK_MODE, FLAG_ENCRYPTION, 7, b"\x55" * 32),  # does not decrypt
        hdr(ExchangeType.INFORMATIONAL, FLAG_ENCRYPTION, 9, b"\x11" * 48),
        hdr(ExchangeType.MAIN_MODE, 0, 0, b""),                # phase 1 when established
        hdr(ExchangeType.QUICK_MODE, 0, 3, b""),               # Quick Mode in the clear
        hdr(ExchangeType.TRANSACTION, FLAG_ENCRYPTION, 11, b"\x22" * 16),
    ]
    for data in bad:
        b.core.receive_datagram(data, here, there, 1.0)
    b.collect()
    drops = [e for e in b.events if isinstance(e, Dropped)]
    assert len(drops) == len(bad)
    assert sum(b.core.dropped.values()) == len(bad)
    assert {DropReason.MALFORMED, DropReason.UNKNOWN_SPI, DropReason.BAD_ICV,
            DropReason.UNEXPECTED} <= set(b.core.dropped)
    assert b.core.status()["dropped"]
    # The SA is untouched: a rekey of its IPsec SA still goes through.
    out = next(s for s in a.installed if str(s.dst) == "192.0.2.2")
    assert a.core.kernel_event(api.Expire(out.key, hard=False), 2.0)
    pump(a, b, now=2.0)
    assert len(b.of(ChildSaUp)) == 2 and len(b.core.sas) == 1



# Each example builds a pair (two Diffie-Hellman exchanges): 150, not CI's 10,000.
@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_the_engine_survives_hostile_datagrams(tmp_path_factory: pytest.TempPathFactory,
                                               data: st.DataObject) -> None:
    """Fuzzing the engine, not only the codec: the real messages of the exchange with octets
    flipped, cut or appended, and arbitrary bytes under the SA's cookies, reach B's core;
    nothing escapes as an exception, and A's IPsec SA with B still rekeys."""
    a, b, seen = established(tmp_path_factory.mktemp("fuzz"))
    (sa,) = b.core.sas.values()
    for _ in range(data.draw(st.integers(1, 4))):
        base = data.draw(st.sampled_from(seen) | st.binary(max_size=64).map(
            lambda tail: sa.cookie_i + sa.cookie_r + tail))
        raw = bytearray(base[:data.draw(st.integers(0, len(base)))] +
                        data.draw(st.binary(max_size=16)))
        for pos in data.draw(st.lists(st.integers(0, 200), max_size=3)):
            if pos < len(raw):
                raw[pos] ^= 0x5A
        b.core.receive_datagram(bytes(raw), sa.local, sa.remote, 1.0)
    b.collect()
    out = next(s for s in a.installed if str(s.dst) == "192.0.2.2")
    assert a.core.kernel_event(api.Expire(out.key, hard=False), 2.0)
    pump(a, b, now=2.0)
    assert len(b.of(ChildSaUp)) == 2
