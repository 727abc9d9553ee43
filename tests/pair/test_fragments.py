"""RFC 7383 IKE fragmentation between two cores: IKE_AUTH with 4096-bit RSA certificates in
576-octet fragments, IKE_INTERMEDIATE's ML-KEM-1024 (RFC 9242 §3), retransmission of every
fragment (§2.6.1), the responder's answer again on a retransmitted fragment 1 (§2.6.2), and
forged or flooding fragments that leave the established IKE SA as it was."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from pki import make_ca

from iked.events import Datagram, IkeSaUp
from iked.ikev2 import fragments, informational
from iked.ikev2.sa import IkeSa
from iked.ikev2.tasks import Kind, Task
from racoon2.crypto.encr import Encr, pad_ikev2
from racoon2.crypto.integ import integ_for
from racoon2.ikev2 import message
from racoon2.ikev2.constants import ExchangeType, NotifyType
from racoon2.ikev2.payloads import SKF

from .certs import cert_edit, write_pki
from .harness import Msg, Side, exchange, ike_sas, make_side, of, pump, settle, two_sides

INIT, INTER, AUTH = ExchangeType.IKE_SA_INIT, ExchangeType.IKE_INTERMEDIATE, ExchangeType.IKE_AUTH
INFO = ExchangeType.INFORMATIONAL
FRAG = NotifyType.IKEV2_FRAGMENTATION_SUPPORTED
#: 576-octet IPv4 datagrams: 548 octets of IKE message (RFC 7383 §2.5.1).
SIZE = fragments.message_size(576, ipv6=False, natt=False)


def _size(size: int) -> tuple[str, str]:
    # the sample's ikev2 block gets the fragment size
    return ("kmp_dh_group { modp2048; };", f"kmp_dh_group {{ modp2048; }}; fragment_size {size};")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4096-bit RSA keys and certificates of one CA for A and B (made once: slow)."""
    d = tmp_path_factory.mktemp("pki")
    ca = make_ca()
    for n, me in (("a", "192.0.2.1"), ("b", "192.0.2.2")):
        write_pki(d / n, "rsa4096", me, ca)
    return d


def rsa4096_pair(tmp_path: Path, pki: Path, size_a: int = 576, size_b: int = 576,
                 off_b: bool = False) -> dict[str, Side]:
    """A and B with the certificates of ``pki`` and the fragment sizes given."""
    sides = {}
    for n, me, peer, size in (("a", "192.0.2.1", "192.0.2.2", size_a),
                              ("b", "192.0.2.2", "192.0.2.1", size_b)):
        edit = (*cert_edit(pki / n), _size(size))
        if off_b and n == "b":
            edit += (("fragment_size", "fragmentation off; fragment_size"),)
        sides[n] = make_side(tmp_path / n, me, peer, n.encode(), edit=edit)
    return sides


def messages(wire: Sequence[Msg]) -> list[tuple[ExchangeType, bool, int]]:
    """Each message once (its fragment 1): exchange, response, how many datagrams."""
    return [(m.exchange, m.response, m.fragment[1] if m.fragment else 1)
            for m in wire if m.fragment in (None,) or (m.fragment and m.fragment[0] == 1)]


def _sa(side: Side) -> IkeSa:
    (sa,) = side.core.sas.values()
    return sa


@pytest.fixture(scope="module")
def established(tmp_path_factory: pytest.TempPathFactory, pki: Path
                ) -> tuple[dict[str, Side], list[Msg]]:
    """One IKE SA between 4096-bit RSA hosts, fragment size 576 both ways (kept for every
    test that only reads it or adds to it)."""
    sides = rsa4096_pair(tmp_path_factory.mktemp("frag"), pki)
    sides["a"].core.initiate("peer_out", 0.0)
    wire: list[Msg] = []
    pump(sides, record=wire)
    return sides, wire


def test_rsa4096_ike_auth_goes_in_576_octet_fragments(
        established: tuple[dict[str, Side], list[Msg]]) -> None:
    sides, wire = established
    # IKE_SA_INIT  i -> r  HDR, SAi1, KEi, Ni, N(SIGNATURE_HASH_ALGORITHMS),
    #                      N(IKEV2_FRAGMENTATION_SUPPORTED), N(NAT_DETECTION_*)
    # IKE_SA_INIT  i <- r  HDR, SAr1, KEr, Nr, N(IKEV2_FRAGMENTATION_SUPPORTED), ..., CERTREQ
    # IKE_AUTH     i -> r  HDR, SKF(1/n) { IDi, CERT, CERTREQ, AUTH, N, SAi2, TSi, TSr }, ...
    #                      SKF(n/n)      (each fragment sealed on its own)
    # IKE_AUTH     i <- r  HDR, SKF(1/m) { IDr, CERT, AUTH, N, SAr2, TSi, TSr }, ... SKF(m/m)
    assert all(FRAG in m.notifies for m in wire[:2])
    got = messages(wire)
    assert [(e, r) for e, r, _ in got] == [(INIT, False), (INIT, True), (AUTH, False),
                                           (AUTH, True)]
    assert got[2][2] >= 3 and got[3][2] >= 3, got  # a 4096-bit certificate and signature
    for m in wire[2:]:
        assert m.fragment is not None and len(m.data) <= SIZE, (m.fragment, len(m.data))
        outer = message.decode(m.data)
        skf = outer.payloads[-1]
        assert isinstance(skf, SKF)
        # §2.5: the first inner payload's type in fragment 1 only
        assert (skf.first_inner != 0) == (skf.number == 1)
    for side in sides.values():
        assert len(of(side, IkeSaUp)) == 1 and len(side.installed) == 2
        assert side.core.status()["fragments"] == {"pending": 0, "held": 0}


def test_unfragmented_when_the_peer_does_not_announce_it(tmp_path: Path, pki: Path) -> None:
    sides = rsa4096_pair(tmp_path, pki, off_b=True)
    sides["a"].core.initiate("peer_out", 0.0)
    wire: list[Msg] = []
    pump(sides, record=wire)
    assert FRAG in wire[0].notifies and FRAG not in wire[1].notifies
    assert messages(wire)[2:] == [(AUTH, False, 1), (AUTH, True, 1)]
    assert all(m.fragment is None for m in wire) and len(wire[2].data) > SIZE
    assert all(len(of(s, IkeSaUp)) == 1 for s in sides.values())


def _auth_request(tmp_path: Path, pki: Path) -> tuple[dict[str, Side], list[Datagram]]:
    """The 4096-bit pair after IKE_SA_INIT: A's IKE_AUTH request's fragments, taken from
    its outbox (not delivered)."""
    sides = rsa4096_pair(tmp_path, pki)
    a, b = sides["a"], sides["b"]
    a.core.initiate("peer_out", 0.0)
    exchange(a, b)
    exchange(b, a)
    settle(a)
    sent = list(a.outbox)
    a.outbox.clear()
    return sides, sent


def test_a_lost_fragment_resends_them_all(tmp_path: Path, pki: Path) -> None:
    sides, sent = _auth_request(tmp_path, pki)
    a, b = sides["a"], sides["b"]
    # IKE_AUTH  i -> r  SKF(1/n) ... SKF(n/n), fragment 2 lost: B keeps the rest, waits
    for d in sent[:1] + sent[2:]:
        b.core.receive_datagram(d.data, d.remote, d.local, 0.0)
    settle(b)
    assert not b.outbox and b.core.fragments.pending == 1
    # the retransmission (interval_to_send 1 s) sends every fragment again (§2.6.1)
    a.core.handle_timer(1.0)
    settle(a, 1.0)
    assert [d.data for d in a.outbox] == [d.data for d in sent]
    pump(sides, now=1.0)
    assert all(len(of(s, IkeSaUp)) == 1 for s in sides.values())
    assert b.core.status()["fragments"] == {"pending": 0, "held": 0}


def test_a_retransmitted_request_is_answered_on_its_fragment_1(tmp_path: Path, pki: Path) -> None:
    sides, request = _auth_request(tmp_path, pki)
    b = sides["b"]
    for d in request:
        b.core.receive_datagram(d.data, d.remote, d.local, 0.0)
    settle(b)
    answer = [d.data for d in b.take()]  # lost: A retransmits
    assert len(answer) >= 3
    # the other fragments get nothing back; fragment 1 gets the whole answer again (§2.6.2)
    for d in request[1:]:
        b.core.receive_datagram(d.data, d.remote, d.local, 1.0)
    assert b.take() == []
    b.core.receive_datagram(request[0].data, request[0].remote, request[0].local, 1.0)
    assert [d.data for d in b.take()] == answer


def test_ml_kem_1024_intermediate_is_fragmented(tmp_path: Path) -> None:
    """RFC 9242 §3: the 1568-octet ML-KEM-1024 key does not fit 1280 octets; IntAuth is
    computed as if each message were whole, so IKE_AUTH's AUTH verifies on both sides."""
    conf = (("kmp_dh_group { modp2048; };",
             "kmp_dh_group { curve25519; }; kmp_addke1 mlkem1024;"),)
    pair = two_sides(tmp_path, conf, conf)
    pair["a"].core.initiate("peer_out", 0.0)
    wire: list[Msg] = []
    pump(pair, record=wire)
    got = messages(wire)
    assert [(e, r) for e, r, _ in got] == [(INIT, False), (INIT, True), (INTER, False),
                                           (INTER, True), (AUTH, False), (AUTH, True)]
    assert got[2][2] == got[3][2] == 2, got  # 1280 octets: each KE in two fragments
    for side in pair.values():
        (up,) = of(side, IkeSaUp)
        assert up.key_exchanges == ("CURVE25519", "ML_KEM_1024")


def _seal_piece(sa: IkeSa, mid: int, number: int, total: int, plain: bytes) -> bytes:
    """One fragment of an INFORMATIONAL request of ``sa``'s (the initiator) with the numbers
    the test chooses, sealed with its keys: what only a peer holding them can send."""
    assert sa.crypto is not None
    sk, k, integ = sa.crypto.sk, sa.crypto.keys, sa.crypto.sk.integ
    assert integ is not None
    padded = pad_ikev2(plain, sk.encr.block_size)
    iv = sa.host.rng.random_bytes(sk.encr.iv_size)
    blank = SKF(41 if number == 1 else 0, number, total,
                iv + bytes(len(padded) + integ.icv_size))
    draft = message.encode(sa.header(INFO, mid, False, (blank,)))
    head = draft[: len(draft) - len(blank.data)]
    ct, _ = Encr(sk.encr).encrypt(k.sk_ei, iv, padded)
    return head + iv + ct + integ_for(integ.ident).compute(k.sk_ai, head + iv + ct)


def test_forged_and_flooding_fragments_leave_the_sa_as_it_was(
        established: tuple[dict[str, Side], list[Msg]]) -> None:
    sides, _ = established
    a, b = sides["a"], sides["b"]
    sa_a, sa_b = _sa(a), _sa(b)
    before = ike_sas(b)
    mid = sa_b.tasks.window.peer_next

    def deliver(data: bytes, now: float) -> None:
        b.core.receive_datagram(data, sa_b.local, sa_b.remote, now)

    # garbage: fragments of the SA with a flipped ICV bit, and of an unknown SPI
    good = _seal_piece(sa_a, mid, 1, 2, bytes(400))
    for n in range(200):
        forged = bytearray(good)
        forged[-1 - n % 16] ^= 1
        deliver(bytes(forged), 2.0)
        deliver(bytes(forged[:8]) + bytes(8) + bytes(forged[16:]), 2.0)
    dropped = b.core.status()["dropped"]
    assert isinstance(dropped, dict)
    assert dropped["bad_icv"] >= 200 and dropped["unknown_spi"] >= 200, dropped
    assert b.core.fragments.held == 0
    assert len(b.take()) <= 10  # INVALID_IKE_SPI answers to the unknown SPI, rate-limited
    # a flood with the keys: 63 of 64 fragments of 500 octets, three times over, with other
    # Total Fragments between (fewer: dropped; more than 64: dropped), the third time under
    # a Message ID the window does not expect: one message's worth at most is ever held
    peak = 0
    for rnd in range(3):
        for total in (64, 32, 65):
            for n in range(1, min(total, 64)):
                deliver(_seal_piece(sa_a, mid + 5 * (rnd == 2), n, total, bytes(500)), 3.0)
                peak = max(peak, b.core.fragments.held)
    status = b.core.status()
    print(f"\nflood: 3 x 157 valid fragments of 500 octets; reassembly peak {peak} octets, "
          f"after: {status['fragments']}; dropped: {status['dropped']}")
    assert 63 * 500 <= peak <= fragments.DEFAULT_LIMITS.max_bytes
    assert status["fragments"] == {"pending": 1, "held": 63 * 500}
    assert isinstance(status["dropped"], dict) and status["dropped"]["fragment"] >= 2 * 63
    # the IKE SA is as it was, and still answers: a liveness check goes through
    assert [(s["sa"], s["state"], s["children"]) for s in ike_sas(b)] == [
        (s["sa"], s["state"], s["children"]) for s in before]
    sa_a.deadline_dpd = None  # due now, and asked whatever ESP counters say
    sa_a.tasks.want(Task(Kind.DPD, reason=informational.HINTED), 4.0)
    wire: list[Msg] = []
    pump(sides, now=4.0, record=wire)
    assert [(m.exchange, m.response) for m in wire] == [(INFO, False), (INFO, True)]
    assert b.core.fragments.pending == 0  # the newer message ID ended the half-assembled one
