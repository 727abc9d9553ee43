"""IKEv1 fragmentation between two cores in memory: Main Mode with 4096-bit RSA certificates
outgrows 1280 octets, so MM5 and MM6 travel as Fragment payloads (type 132)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from iked.events import ChildSaUp, Dropped, IkeSaUp
from iked.ikev1 import fragment
from iked.ikev1.fragment_exchange import Fragments
from racoon2.ikev1.message import Message, decode, encode
from racoon2.ikev1.payloads import Fragment, VendorId
from racoon2.net import Endpoint

from .harness import MM, A, pair, pump
from .test_main_mode import pki


def test_main_mode_with_big_certificates_fragments(tmp_path: Path) -> None:
    files = pki(tmp_path, "rsa4096")
    a, b = pair(tmp_path, a={"cert": files["a"]}, b={"cert": files["b"]})
    a.core.initiate("sel_out", 0.0)
    wire: list[tuple[str, int, bool]] = []
    pump(a, b, wire=wire)
    for s in (a, b):
        assert len(s.of(IkeSaUp)) == 1 and len(s.of(ChildSaUp)) == 1
        assert not [e for e in s.events if isinstance(e, Dropped)]
        (sa,) = s.core.sas.values()
        assert fragment.supported(sa.peer_vendor_ids)
    # MM1, MM3 whole; MM5 in fragments (in the clear, flags clear); the same for B.
    for who in "ab":
        assert sum(1 for x in wire if x == (who, MM, False)) >= 4, wire


REMOTE = Endpoint(ipaddress.ip_address(A), 500)


def test_reassembly_out_of_order_and_bounded() -> None:
    f = Fragments()
    whole = encode(Message(b"\x01" * 8, bytes(8), MM, 0, (VendorId(bytes(3000)),)))
    msgs = [decode(p) for p in fragment.split(whole, 7)]
    assert len(msgs) == 3
    for m in reversed(msgs[1:]):
        assert f.incoming(m, REMOTE, 0.0) == (None, None)  # kept, more to come
    assert f.incoming(msgs[0], REMOTE, 0.0) == (whole, None)
    # A fragment numbered beyond the 64 a message may have is refused (no CPU, no memory).
    (p,) = msgs[0].payloads
    assert isinstance(p, Fragment)
    far = Message(msgs[0].cookie_i, msgs[0].cookie_r, MM, 0,
                  (Fragment(8, 65, p.data, p.flags),))
    got, problem = f.incoming(far, REMOTE, 0.0)
    assert got is None and problem is not None and "beyond the limit" in problem
