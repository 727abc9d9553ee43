"""The reassembly table IKEv1 and IKEv2 share (iked/reassembly.py): every bound it keeps,
tested once here; what the protocols add (IKEv1's LAST flag, IKEv2's Total Fragments) is in
tests/unit/ikev1/test_ikev1_fragment.py and tests/unit/ikev2/test_fragments.py.

Examples per property come from the profile in tests/conftest.py (10,000 under CI).
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from iked.reassembly import Drop, Limits, Table

Key = tuple[str, int]


def _add(t: Table[Key, None], peer: str, mid: int, number: int, data: bytes, now: float,
         total: int = 2, address: str = "192.0.2.1") -> tuple[bytes | None, Drop | None, int]:
    """A protocol in miniature: a message of ``total`` fragments, numbered from 1."""
    evicted = t.expire(now)
    key = (peer, mid)
    partial = t.get(key)
    if partial is None:
        partial, gone = t.start(key, peer, address, now)
        evicted += gone
        if partial is None:
            return None, Drop.MEMORY, evicted
        partial.total = total
    drop = t.store(key, partial, number, data)
    return (None if drop else t.complete(key, partial)), drop, evicted


def test_any_order_completes_and_a_duplicate_keeps_the_first_copy() -> None:
    t: Table[Key, None] = Table(Limits())
    assert _add(t, "p", 1, 3, b"c", 0, total=3) == (None, None, 0)
    assert _add(t, "p", 1, 1, b"a", 0, total=3) == (None, None, 0)
    assert _add(t, "p", 1, 1, b"X", 0, total=3) == (None, None, 0)
    assert t.held == 2
    assert _add(t, "p", 1, 2, b"b", 0, total=3) == (b"abc", None, 0)
    assert (t.pending, t.held) == (0, 0)


def test_octets_per_message() -> None:
    t: Table[Key, None] = Table(Limits(max_bytes=100))
    _add(t, "p", 1, 1, b"a" * 60, 0)
    assert _add(t, "p", 1, 2, b"a" * 60, 0)[1] is Drop.TOO_BIG
    assert (t.pending, t.held) == (0, 0)  # the message is given up


def test_messages_and_octets_in_all() -> None:
    t: Table[Key, None] = Table(Limits(messages=3, total_bytes=250))
    for peer in "abc":
        assert _add(t, peer, 1, 1, b"x" * 80, 0, address=peer)[1] is None
    assert _add(t, "d", 1, 1, b"x", 0, address="d")[1] is Drop.MEMORY  # messages
    assert _add(t, "a", 1, 2, b"x" * 5, 0)[0] is not None
    assert _add(t, "e", 1, 1, b"x" * 100, 0, address="e")[1] is Drop.MEMORY  # 160 + 100
    assert (t.held, t.pending) == (160, 2)  # the refused message left no empty entry


def test_a_peer_and_an_address_hold_a_bounded_share() -> None:
    """A peer's new message evicts its own oldest; many peers of one host (half-open IKE
    SAs, each with keys after IKE_SA_INIT) evict that host's oldest, not another host's."""
    t: Table[Key, None] = Table(Limits(per_peer=2, per_address=3))
    assert _add(t, "other", 1, 1, b"o", 0, address="198.51.100.7")[2] == 0
    assert [_add(t, "p", mid, 1, b"x", 0)[2] for mid in range(3)] == [0, 0, 1]
    assert t.of_peer("p") == [("p", 1), ("p", 2)]
    for peer in "qrst":
        _add(t, peer, 1, 1, b"y", 0)
    assert t.pending == 4 and t.held == 4
    assert _add(t, "other", 1, 2, b"p", 0, address="198.51.100.7")[0] == b"op"
    t.forget_peer("t")
    assert t.pending == 2


def test_half_assembled_messages_time_out() -> None:
    t: Table[Key, None] = Table(Limits(timeout=30.0))
    _add(t, "a", 1, 1, b"a", 0.0)
    _add(t, "b", 1, 1, b"b", 10.0)
    assert t.expire(29.0) == 0
    assert _add(t, "c", 1, 1, b"c", 30.0)[2] == 1  # a went; b and c remain
    assert t.expire(40.0) == 1 and t.pending == 1 and t.held == 1


@given(st.lists(st.integers(0, (1 << 24) - 1), max_size=40))
def test_hostile_fragments_never_break_the_limits(stream: list[int]) -> None:
    # each integer packs one fragment's fields (one draw each keeps 10,000 examples quick):
    # peer 0-7 on address peer % 3, message 0-5, number 1-4 of 4, 0-80 octets, 0-6 s later
    lim = Limits(max_bytes=200, per_peer=3, per_address=4, messages=8, total_bytes=600,
                 timeout=20)
    t: Table[Key, None] = Table(lim)
    now = 0
    for x in stream:
        peer, mid, number = x & 7, (x >> 3 & 7) % 6, (x >> 6 & 3) + 1
        size, step = (x >> 11 & 127) % 81, (x >> 18 & 7) % 7
        now += step
        whole, _, _ = _add(t, str(peer), mid, number, bytes([number]) * size, now, total=4,
                           address=str(peer % 3))
        if whole is not None:
            assert len(whole) <= lim.max_bytes
        t.check()
    t.expire(now + lim.timeout)
    assert (t.pending, t.held) == (0, 0)
