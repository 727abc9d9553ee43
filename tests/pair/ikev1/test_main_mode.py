"""Phase 1 Main Mode and Quick Mode between two IKEv1 cores in memory (RFC 2409 §5, §5.5)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pki import make_ca, pem, write_host

from iked.events import ChildSaDown, ChildSaUp, IkeSaDown, IkeSaUp, NegotiationFailed
from iked.ikev1 import informational, quick_mode
from iked.ikev1.core import RETIRE_DELAY
from racoon2.ikev1 import message
from racoon2.ikev1.constants import Doi, NotifyType, ProtocolId
from racoon2.ikev1.payloads import Notification
from racoon2.kernel import api

from .harness import AM, INFO, MM, QM, A, B, Side, flush, pair, pump, timer


def test_main_mode_then_quick_mode_transport(tmp_path: Path) -> None:
    a, b = pair(tmp_path)
    a.core.initiate("sel_out", 0.0)
    wire: list[tuple[str, int, bool]] = []
    pump(a, b, wire=wire)
    # MM1  a -> b  HDR, SA
    # MM2  a <- b  HDR, SA
    # MM3  a -> b  HDR, KE, Ni
    # MM4  a <- b  HDR, KE, Nr
    # MM5  a -> b  HDR*, IDii, HASH_I, N(INITIAL-CONTACT)
    # MM6  a <- b  HDR*, IDir, HASH_R
    # QM1  a -> b  HDR*, HASH(1), SA, Ni, IDci, IDcr
    # QM2  a <- b  HDR*, HASH(2), SA, Nr, IDci, IDcr
    # QM3  a -> b  HDR*, HASH(3)
    assert wire == [("a", MM, False), ("b", MM, False), ("a", MM, False), ("b", MM, False),
                    ("a", MM, True), ("b", MM, True),
                    ("a", QM, True), ("b", QM, True), ("a", QM, True)]
    for s in (a, b):
        assert len(s.of(IkeSaUp)) == 1 and not s.of(NegotiationFailed)
        (up,) = s.of(ChildSaUp)
        assert isinstance(up, ChildSaUp) and up.mode is api.Mode.TRANSPORT
    # Each side's outbound SA is the other's inbound one, keys included.
    ins = {s.spi: s for s in a.installed if str(s.dst) == "192.0.2.1"}
    for out in (s for s in b.installed if str(s.dst) == "192.0.2.1"):
        assert out == ins[out.spi] or (out.cipher == ins[out.spi].cipher and
                                       out.integrity == ins[out.spi].integrity)
    assert {s.spi for s in a.installed} == {s.spi for s in b.installed}
    a_in = next(s for s in a.installed if str(s.dst) == "192.0.2.1")
    b_out = next(s for s in b.installed if s.spi == a_in.spi)
    assert a_in.cipher == b_out.cipher and a_in.integrity == b_out.integrity


def test_tunnel_with_pfs(tmp_path: Path) -> None:
    a, b = pair(tmp_path, a={"src": "198.51.100.0/24", "dst": "203.0.113.0/24"},
                b={"src": "203.0.113.0/24", "dst": "198.51.100.0/24"}, tunnel=True, pfs=True)
    a.core.initiate("sel_out", 0.0)
    pump(a, b)
    for s in (a, b):
        (up,) = s.of(ChildSaUp)
        assert isinstance(up, ChildSaUp) and up.mode is api.Mode.TUNNEL
        assert "PFS" in up.algorithms
    assert {s.mode for s in a.installed} == {api.Mode.TUNNEL}


def test_aggressive_mode(tmp_path: Path) -> None:
    a, b = pair(tmp_path, aggressive=True)
    a.core.initiate("sel_out", 0.0)
    wire: list[tuple[str, int, bool]] = []
    pump(a, b, wire=wire)
    # AM1  a -> b  HDR, SA, KE, Ni, IDii
    # AM2  a <- b  HDR, SA, KE, Nr, IDir, HASH_R
    # AM3  a -> b  HDR*, HASH_I, N(INITIAL-CONTACT)
    assert wire[:3] == [("a", AM, False), ("b", AM, False), ("a", AM, True)]
    assert [w[1] for w in wire[3:]] == [QM, QM, QM]
    assert len(a.of(ChildSaUp)) == len(b.of(ChildSaUp)) == 1


def test_wrong_psk_fails_cleanly(tmp_path: Path) -> None:
    a, b = pair(tmp_path, b={"psk": b"another-secret"})
    a.core.initiate("sel_out", 0.0)
    pump(a, b)
    # MM5 does not decrypt with B's keys: B ends its half of phase 1, A retransmits MM5
    # until its retries run out.
    assert b.of(NegotiationFailed) and not b.of(IkeSaUp) and not b.core.sas
    for t in range(1, 20):
        timer(a, float(t * 10))
        pump(a, b, now=float(t * 10))
    assert a.of(NegotiationFailed) and not a.core.sas and not a.installed and not b.installed


def test_lost_messages_are_retransmitted(tmp_path: Path) -> None:
    a, b = pair(tmp_path)
    a.core.initiate("sel_out", 0.0)
    pump(a, b, lose=1)          # MM1 lost
    timer(a, 1.0)
    pump(a, b, now=1.0)
    assert len(a.of(ChildSaUp)) == len(b.of(ChildSaUp)) == 1


def test_delete_both_ways(tmp_path: Path) -> None:
    a, b = pair(tmp_path)
    a.core.initiate("sel_out", 0.0)
    pump(a, b)
    wire: list[tuple[str, int, bool]] = []
    a.core.shutdown(1.0)
    pump(a, b, now=1.0, wire=wire)
    # a -> b  HDR*, HASH(1), D(ESP, spi)
    # a -> b  HDR*, HASH(1), D(ISAKMP, CKY-I | CKY-R)
    assert wire == [("a", INFO, True), ("a", INFO, True)]
    assert b.of(ChildSaDown) and b.of(IkeSaDown) and not b.core.sas and not a.core.sas


def test_soft_expire_rekeys_and_deletes_the_old(tmp_path: Path) -> None:
    a, b = pair(tmp_path)
    a.core.initiate("sel_out", 0.0)
    pump(a, b)
    old = next(s for s in a.installed if str(s.dst) == "192.0.2.2")
    assert a.core.kernel_event(api.Expire(old.key, hard=False), 5.0)
    pump(a, b, now=5.0)
    ups = a.of(ChildSaUp)
    assert len(ups) == 2 and isinstance(ups[1], ChildSaUp) and ups[1].rekey
    assert len(b.of(ChildSaDown)) == 1  # the old one, after our Delete
    assert len(a.core.status()["isakmp_sas"][0]["children"]) == 1  # type: ignore[index]


def test_quick_mode_rekey_is_make_before_break(tmp_path: Path) -> None:
    """A rekey loses no packet: each side's first packet on a new SA finds the other's
    inbound SA in, and the peer's last packets on the old SA find ours still there.

    a -> b  HDR*, HASH(1), SA, Ni, IDci, IDcr   b: new inbound SA in before QM2 leaves
    a <- b  HDR*, HASH(2), SA, Nr, IDci, IDcr   a: new inbound, new outbound, old outbound out
    a -> b  HDR*, HASH(3)                       b: new outbound
    a -> b  HDR*, HASH(1), D(ESP, old spi)      a: old inbound kept RETIRE_GRACE longer
    """
    a, b = pair(tmp_path)
    a.core.initiate("sel_out", 0.0)
    pump(a, b)
    old_out = next(s for s in a.installed if str(s.dst) == B)
    old_in = next(s for s in a.installed if str(s.dst) == A)
    assert a.core.kernel_event(api.Expire(old_out.key, hard=False), 5.0)

    def keyed(s: Side) -> set[int]:
        return {k[2] for k, (_, _, larval) in s.kernel.sas.items() if not larval}

    def step(sender: Side, receiver: Side, now: float = 5.0) -> None:
        """The sender's kernel requests, then its one queued message."""
        flush(sender, now)
        d = sender.outbox.popleft()
        assert not sender.outbox
        receiver.core.receive_datagram(d.data, d.remote, d.local, now)

    step(a, b)                          # QM1
    step(b, a)                          # QM2: b's new inbound SA is in as it leaves
    new_in_b = keyed(b) - {old_in.spi, old_out.spi}
    assert len(new_in_b) == 1
    flush(a, 5.0)                       # both new SAs in, then the old outbound one out
    assert old_out.spi not in keyed(a) and old_in.spi in keyed(a) and len(keyed(a)) == 3
    pump(a, b, now=5.0)                 # HASH(3), the Delete: b has only the new pair
    assert keyed(b) == keyed(a) - {old_in.spi}
    timer(a, 5.0 + quick_mode.RETIRE_GRACE)
    pump(a, b, now=5.0 + quick_mode.RETIRE_GRACE)
    assert keyed(a) == keyed(b) and len(keyed(a)) == 2


def test_an_error_notify_after_qm2_ends_the_responders_quick_mode(tmp_path: Path) -> None:
    """The initiator refuses what QM2 chose (charon does when its kernel refuses the SAs):
    the responder, whose inbound SA is in since QM2, ends its Quick Mode on the notify and
    takes that SA out again.

    a -> b  HDR*, HASH(1), SA, Ni, IDci, IDcr
    a <- b  HDR*, HASH(2), SA, Nr, IDci, IDcr   (not delivered)
    a -> b  HDR*, HASH(1), N(NO-PROPOSAL-CHOSEN, b's SPI)
    """
    a, b = pair(tmp_path)
    a.core.initiate("sel_out", 0.0)
    held = None  # b's QM2, kept from a
    for _ in range(20):  # rounds of phase 1 and QM1
        for sender, receiver in ((a, b), (b, a)):
            flush(sender, 0.0)
            while sender.outbox and held is None:
                d = sender.outbox.popleft()
                if sender is b and message.decode_header(d.data).exchange == QM:
                    held = d
                else:
                    receiver.core.receive_datagram(d.data, d.remote, d.local, 0.0)
        if held is not None:
            break
    assert held is not None
    (task,) = next(iter(b.core.sas.values())).quick.values()
    assert task.child.spi_in in {k[2] for k, (_, _, larval) in b.kernel.sas.items()
                                 if not larval}
    sa_a = next(iter(a.core.sas.values()))
    informational.send(sa_a, (Notification(Doi.IPSEC, ProtocolId.IPSEC_ESP,
                                           NotifyType.NO_PROPOSAL_CHOSEN,
                                           task.child.spi_in.to_bytes(4, "big")),))
    pump(a, b)
    failed = [e for e in b.of(NegotiationFailed) if isinstance(e, NegotiationFailed)]
    assert failed and "the peer said NO_PROPOSAL_CHOSEN" in failed[-1].reason
    assert task.child.spi_in not in {k[2] for k in b.kernel.sas} and not b.of(ChildSaUp)


@pytest.mark.parametrize("delete_lost", [False, True])
def test_phase1_rekey_before_its_lifetime(tmp_path: Path, delete_lost: bool) -> None:
    a, b = pair(tmp_path, p1_life=100)
    a.core.initiate("sel_out", 0.0)
    pump(a, b)
    timer(a, 91.0)
    pump(a, b, now=91.0)
    # A second Main Mode; the IPsec SA moves under the new ISAKMP SA.  The first one is
    # deleted RETIRE_DELAY later, not at once: a peer that moves its IPsec SAs to the new
    # ISAKMP SA in a job of its own would lose them to a Delete that overtook that job
    # (strongSwan).
    assert len(a.of(IkeSaUp)) == 2 and not a.of(IkeSaDown) and not b.of(IkeSaDown)
    timer(a, 91.0 + RETIRE_DELAY / 2)
    assert not a.of(IkeSaDown)
    if delete_lost:
        # A's Delete is lost: B, the responder, took the second Main Mode for a new phase 1
        # and still holds its IPsec SA on the old ISAKMP SA when that one's lifetime ends;
        # the IPsec SA goes to the new one there too, and A hears of the old SA's end.
        timer(a, 91.0 + RETIRE_DELAY)
        a.outbox.clear()
        timer(b, 100.0)
        pump(a, b, now=100.0)
    else:
        timer(a, 91.0 + RETIRE_DELAY)
        pump(a, b, now=91.0 + RETIRE_DELAY)
    assert len(a.of(IkeSaDown)) == 1 and len(b.of(IkeSaDown)) == 1
    assert not a.of(ChildSaDown) and not b.of(ChildSaDown)
    for side in (a, b):
        sas = side.core.status()["isakmp_sas"]
        assert isinstance(sas, list) and len(sas) == 1 and len(sas[0]["children"]) == 1


def pki(tmp_path: Path, kind: str = "rsa") -> dict[str, tuple[str, str, str]]:
    """Per side ("a", "b"): (certificate, key, CA certificate) files from one fresh CA."""
    ca = make_ca()
    files = {}
    for name, ip in (("a", A), ("b", B)):
        d = tmp_path / f"pki-{name}"
        d.mkdir(parents=True)
        cert, key = write_host(str(d), kind, ip, ca)
        (d / "ca.pem").write_bytes(pem(ca[0]))
        files[name] = (cert, key, str(d / "ca.pem"))
    return files


def test_main_mode_with_rsa_certificates(tmp_path: Path) -> None:
    files = pki(tmp_path)
    a, b = pair(tmp_path, a={"cert": files["a"]}, b={"cert": files["b"]}, pfs=True)
    a.core.initiate("sel_out", 0.0)
    wire: list[tuple[str, int, bool]] = []
    pump(a, b, wire=wire)
    # MM1  a -> b  HDR, SA                       (auth method RSA signatures)
    # MM2  a <- b  HDR, SA
    # MM3  a -> b  HDR, KE, Ni, CR(CA DN)
    # MM4  a <- b  HDR, KE, Nr, CR(CA DN)
    # MM5  a -> b  HDR*, IDii, CERT, SIG_I, N(INITIAL-CONTACT)
    # MM6  a <- b  HDR*, IDir, CERT, SIG_R
    # QM1..QM3 as with a PSK
    assert [w[1] for w in wire] == [MM] * 6 + [QM] * 3
    for s in (a, b):
        assert not s.of(NegotiationFailed) and len(s.of(ChildSaUp)) == 1


def test_a_certificate_from_another_ca_is_refused(tmp_path: Path) -> None:
    files, other = pki(tmp_path / "one"), pki(tmp_path / "two")
    # B trusts only the second CA, whose certificate A does not have.
    b_files = (files["b"][0], files["b"][1], other["b"][2])
    a, b = pair(tmp_path, a={"cert": files["a"]}, b={"cert": b_files})
    a.core.initiate("sel_out", 0.0)
    pump(a, b)
    (failed,) = b.of(NegotiationFailed)
    assert isinstance(failed, NegotiationFailed) and "signature" in failed.reason
    assert not b.core.sas and not b.of(IkeSaUp)


def test_claim_shortens_a_longer_lifetime_with_responder_lifetime(tmp_path: Path) -> None:
    a, b = pair(tmp_path, a={"p2_life": 7200}, b={"p2_life": 3600, "check": "claim"})
    a.core.initiate("sel_out", 0.0)
    pump(a, b)
    # QM2  a <- b  HDR*, HASH(2), SA, Nr, IDci, IDcr, N(RESPONDER-LIFETIME 3600 s)
    for s in (a, b):
        assert {x.lifetime.hard_add_seconds for x in s.installed} == {3600}


def test_strict_refuses_a_longer_lifetime(tmp_path: Path) -> None:
    a, b = pair(tmp_path, a={"p2_life": 7200}, b={"p2_life": 3600, "check": "strict"})
    a.core.initiate("sel_out", 0.0)
    pump(a, b)
    assert any(isinstance(e, NegotiationFailed) and e.stage == "quick mode"
               for e in b.events)
    # b said N(NO-PROPOSAL-CHOSEN) naming a's SPI: a's Quick Mode ends at once.
    assert any(isinstance(e, NegotiationFailed) and "NO_PROPOSAL_CHOSEN" in e.reason
               for e in a.events)
    assert not a.core.status()["isakmp_sas"][0]["quick_modes"]  # type: ignore[index]
    assert not a.installed and not b.installed


def test_simultaneous_rekeys_leave_one_sa_pair(tmp_path: Path) -> None:
    """Both ends' soft lifetimes fire together: two Quick Modes make two new SA pairs; the one
    whose exchange had the lowest nonce is deleted by the end that began it, so one pair
    remains on both, the same, and a second collision settles alike (the SAs do not double
    with each lifetime)."""
    a, b = pair(tmp_path)
    a.core.initiate("sel_out", 0.0)
    pump(a, b)
    for round_ in (1, 2):
        now = 10.0 * round_
        for s in (a, b):
            (c,) = s.core.status()["isakmp_sas"][0]["children"]  # type: ignore[index]
            spec = next(x for x in reversed(s.installed) if x.spi == int(c["spi_in"], 16))
            assert s.core.kernel_event(api.Expire(spec.key, hard=False), now)
        pump(a, b, now=now)
        kids = [s.core.status()["isakmp_sas"][0]["children"] for s in (a, b)]  # type: ignore[index]
        assert len(kids[0]) == 1 and len(kids[1]) == 1, kids
        assert kids[0][0]["spi_in"] == kids[1][0]["spi_out"], kids
        assert kids[0][0]["spi_out"] == kids[1][0]["spi_in"], kids
        downs = [e for s in (a, b) for e in s.of(ChildSaDown)]
        assert sum(e.reason == "redundant rekey" for e in downs) == round_  # type: ignore[attr-defined]
