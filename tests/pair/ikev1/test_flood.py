"""A flood of Main Mode first messages (spoofed cookies and ports) against the responder:
at most HALF_OPEN_LIMIT SAs wait in phase 1, the rest are dropped and counted, the established
SA goes on, and once the half-open SAs give up a new peer is answered again."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from iked.events import ChildSaUp, DropReason
from iked.ikev1.core import HALF_OPEN_LIMIT
from racoon2.kernel import api
from racoon2.net import Endpoint

from .harness import A, pair, pump, side


def test_main_mode_flood_is_bounded_and_harmless(tmp_path: Path) -> None:
    a, b = pair(tmp_path)
    a.core.initiate("sel_out", 0.0)
    pump(a, b)
    (established,) = b.core.sas.values()
    # A template MM1 (HDR, SA) from a third core with A's configuration.
    c = side(tmp_path / "c", A, "192.0.2.2", b"c")
    c.core.initiate("sel_out", 0.0)
    c.collect()
    mm1 = c.outbox[0]
    extra = 100
    for i in range(HALF_OPEN_LIMIT + extra):
        cookie = i.to_bytes(4, "big") + b"\xf1\x00\xd0\x0d"
        b.core.receive_datagram(cookie + mm1.data[8:], mm1.remote,
                                Endpoint(ipaddress.ip_address(A), 10000 + i), 1.0)
    b.collect()
    assert len(b.core.sas) == 1 + HALF_OPEN_LIMIT
    assert b.core.dropped[DropReason.HALF_OPEN] == extra
    # The established SA is untouched: a rekey of its IPsec SA still goes through.
    out = next(s for s in a.installed if str(s.dst) == "192.0.2.2")
    assert a.core.kernel_event(api.Expire(out.key, hard=False), 2.0)
    pump(a, b, now=2.0)
    assert len(b.of(ChildSaUp)) == 2
    # Nobody answers the half-open SAs' MM2: they give up and leave nothing behind.
    now = 2.0
    while len(b.core.sas) > 1 and now < 600:
        now = max(now + 1.0, b.core.next_timer() or now)
        b.core.handle_timer(now)
        b.collect()
    assert list(b.core.sas.values()) == [established]
    b.core.receive_datagram(b"\x99" * 8 + mm1.data[8:], mm1.remote,
                            Endpoint(ipaddress.ip_address(A), 9999), now)
    assert len(b.core.sas) == 2 and b.core.dropped[DropReason.HALF_OPEN] == extra
