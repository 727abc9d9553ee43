"""IKEv1 fragmentation (iked/ikev1/fragment.py): the Vendor ID as libreswan and strongSwan
sent it (tests/vectors/captures/ikev1-main-psk), the fragment messages' layout (strongSwan's
message.c: the whole message's header, one type-132 payload each), and what reassembly adds
to the shared table (the LAST flag); the table's limits under hostile input, and that nothing
costs more than one pass (CVE-2016-10396), are tests/unit/iked/test_reassembly.py's.

Examples per property come from the profile in tests/conftest.py (10,000 under CI).
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from isakmp_captures import CAPTURES, messages

from iked.ikev1 import fragment
from iked.ikev1.fragment import Drop, Limits, Reassembly
from racoon2.ikev1.constants import PayloadType
from racoon2.ikev1.message import decode, decode_header
from racoon2.ikev1.payloads import Fragment, VendorId

CAPTURED = messages(CAPTURES / "ikev1-main-psk")
PEER = ("192.0.2.1", 4500)


def test_vendor_id_is_the_captured_one() -> None:
    libreswan, strongswan = ([p.data for p in decode(CAPTURED[i]).payloads
                              if isinstance(p, VendorId)] for i in (0, 1))
    assert fragment.VENDOR_ID.hex() == "4048b7d56ebce88525e7de7f00d6c2d3"
    assert fragment.VENDOR_ID in libreswan                      # 16 octets, as Windows
    assert fragment.VENDOR_ID + bytes.fromhex("80000000") in strongswan  # with capabilities
    assert fragment.supported(libreswan) and fragment.supported(strongswan)
    assert not fragment.supported([bytes(16)])


def test_split_layout_and_round_trip() -> None:
    whole = CAPTURED[4]  # Main Mode message 5, encrypted
    parts = fragment.split(whole, 0x0102, size=60)
    assert len(parts) > 1 and all(len(p) <= 60 for p in parts)
    h = decode_header(whole)
    r = Reassembly()
    out = None
    for i, raw in enumerate(parts, 1):
        m = decode(raw)
        assert (m.cookie_i, m.cookie_r, m.exchange, m.message_id, m.flags) == \
            (h.cookie_i, h.cookie_r, h.exchange, h.message_id, 0)
        assert decode_header(raw).next_payload == PayloadType.FRAGMENT == 132
        (f,) = m.payloads
        assert isinstance(f, Fragment) and (f.fragment_id, f.number) == (0x0102, i)
        assert f.last == (i == len(parts))
        out = r.add(PEER, f.fragment_id, f.number, f.last, f.data, now=0).whole
    assert out == whole and r.pending == 0 and r.held == 0


def test_split_leaves_small_messages_alone() -> None:
    assert fragment.split(CAPTURED[0], 1) == (CAPTURED[0],)
    with pytest.raises(ValueError, match="no room"):
        fragment.split(CAPTURED[0], 1, size=30)
    with pytest.raises(ValueError, match="more than 255"):
        fragment.split(CAPTURED[0] + bytes(3000), 1, size=37)


def test_any_order_and_duplicates() -> None:
    data = [bytes([n]) * 10 for n in range(1, 9)]
    order = list(range(1, 9)) * 2
    random.Random(3).shuffle(order)
    r = Reassembly()
    done = [res.whole for n in order
            if (res := r.add(PEER, 5, n, n == 8, data[n - 1], 0)).whole is not None]
    assert done == [b"".join(data)]


def test_numbers_and_the_last_flag() -> None:
    """What IKEv1 adds to the shared table's bounds (tests/unit/iked/test_reassembly.py):
    numbers from 1 within the limit, none beyond the one flagged last, one last."""
    r = Reassembly(Limits(max_fragments=4))
    assert r.add(PEER, 1, 5, False, b"x", 0).drop is Drop.NUMBER
    assert r.add(PEER, 1, 0, False, b"x", 0).drop is Drop.NUMBER
    assert r.add(PEER, 1, 2, True, b"x", 0).drop is None
    assert r.add(PEER, 1, 3, False, b"x", 0).drop is Drop.AFTER_LAST
    assert r.add(PEER, 1, 1, True, b"x", 0).drop is Drop.SECOND_LAST
    assert r.add(PEER, 1, 1, False, b"y", 0).whole == b"yx"


def test_a_host_s_cookies_share_its_address_bound() -> None:
    r = Reassembly(Limits(per_address=2))
    for cookie in range(3):
        r.add((PEER, cookie), 1, 1, False, b"x", 0, PEER[0])
    assert r.pending == 2


def test_last_below_a_held_number_drops_the_message() -> None:
    r = Reassembly()
    assert r.add(PEER, 1, 3, False, b"c", 0).drop is None
    assert r.add(PEER, 1, 2, True, b"b", 0).drop is Drop.AFTER_LAST
    assert r.pending == 0


@given(st.binary(min_size=29, max_size=600), st.integers(60, 400), st.randoms())
def test_split_then_reassemble_in_any_order(body: bytes, size: int, rnd: random.Random
                                            ) -> None:
    whole = CAPTURED[4][:28] + body
    whole = whole[:24] + len(whole).to_bytes(4, "big") + whole[28:]
    raw = fragment.split(whole, 9, size)
    if len(whole) <= size:
        assert raw == (whole,)
        return
    parts = [decode(p).payloads[0] for p in raw]
    rnd.shuffle(parts)
    r = Reassembly(Limits(max_fragments=255))
    got = [res.whole for f in parts if isinstance(f, Fragment)
           and (res := r.add(PEER, f.fragment_id, f.number, f.last, f.data, 0)).whole]
    assert got == [whole]
