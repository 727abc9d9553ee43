"""RFC 9370 §2.2.4 for CHILD_SAs: CREATE_CHILD_SA rekeys with PFS and additional key
exchanges (IKE_FOLLOWUP_KE), two cores in memory, either side rekeying (simultaneous rekeys:
tests/pair/test_addke_collisions.py).

KEYMAT is checked against an independent computation: prf+(SK_d, g^ir (new) | Ni | Nr |
SK(1)) (RFC 7296 §2.17, RFC 9370 §2.2.4) written out with ``cryptography``'s HMAC-SHA2-256, and
cut into the ESP keys the kernel got (initiator to responder first; the sample's
AES-CBC-256 and HMAC-SHA2-256-128).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.hmac import HMAC

from iked.events import ChildSaUp, NegotiationFailed
from iked.ikev2.sa import IkeSa
from racoon2.crypto import keymat
from racoon2.ikev2.constants import ExchangeType, NotifyType
from racoon2.ikev2.constants import PayloadType as P
from racoon2.ikev2.payloads import KE, Notify, first
from racoon2.kernel import api

from .harness import Msg, Side, ike_sas, of, pump, two_sides

CREATE, FOLLOWUP = ExchangeType.CREATE_CHILD_SA, ExchangeType.IKE_FOLLOWUP_KE
INFO = ExchangeType.INFORMATIONAL
ADDITIONAL = NotifyType.ADDITIONAL_KEY_EXCHANGE
GROUP = "kmp_dh_group { modp2048; };"
#: Curve25519 for the IKE SA and every PFS exchange, then ML-KEM-768; 40-octet nonces, which
#: no key generation draws, so the collision test can force them; RFC 7383 off, so that each
#: message is one datagram.
PQ = ((GROUP, "kmp_dh_group { curve25519; }; kmp_addke1 mlkem768; need_pfs on; "
       "nonce_size 40; fragmentation off;"),)


def _hmac(key: bytes, data: bytes) -> bytes:
    h = HMAC(key, hashes.SHA256())
    h.update(data)
    return h.finalize()


def _prf_plus(key: bytes, seed: bytes, size: int) -> bytes:
    """RFC 7296 §2.13: T1 = prf(K, S | 0x01), Tn = prf(K, Tn-1 | S | n)."""
    out, t, n = b"", b"", 1
    while len(out) < size:
        t = _hmac(key, t + seed + bytes([n]))
        out, n = out + t, n + 1
    return out[:size]


def inbound(side: Side) -> api.SaKey:
    (sa,) = ike_sas(side)
    (child,) = sa["children"]
    peer = side.core.config.interface.ike[0].address  # type: ignore[union-attr]
    other = next(s.src for s in side.installed if s.dst == peer)
    return api.SaKey(other, peer, api.Proto.ESP, int(child["spi_in"], 16))


def up(tmp_path: Path) -> dict[str, Side]:
    pair = two_sides(tmp_path, PQ, PQ)
    pair["a"].core.initiate("peer_out", 0.0)
    pump(pair)
    assert all(len(ike_sas(s)) == 1 and ike_sas(s)[0]["children"] for s in pair.values())
    return pair


@pytest.mark.parametrize("rekeyer", ["a", "b"])
def test_child_sa_rekey_with_followup_exchange(tmp_path: Path, rekeyer: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    pair = up(tmp_path)
    derived: list[tuple[Any, ...]] = []
    real = keymat.child_keymat
    monkeypatch.setattr(keymat, "child_keymat", lambda *a: derived.append(a) or real(*a))
    side = pair[rekeyer]
    assert side.core.kernel_event(api.Expire(inbound(side), hard=False), 10.0)
    wire: list[Msg] = []
    # CREATE_CHILD_SA  -->  HDR, SK { N(REKEY_SA), N(USE_TRANSPORT_MODE), SA (KE, ADDKE1),
    #                                  Ni, KEi (Curve25519), TSi, TSr }
    # CREATE_CHILD_SA  <--  HDR, SK { N(USE_TRANSPORT_MODE), SA, Nr, KEr, TSi, TSr,
    #                                  N(ADDITIONAL_KEY_EXCHANGE)(link) }
    # IKE_FOLLOWUP_KE  -->  HDR, SK { KEi(1) (ML-KEM-768), N(ADDITIONAL_KEY_EXCHANGE)(link) }
    # IKE_FOLLOWUP_KE  <--  HDR, SK { KEr(1) }
    # INFORMATIONAL    -->  HDR, SK { D (the old CHILD_SA) }, and its answer
    pump(pair, now=10.0, record=wire)
    assert [(m.exchange, m.response, m.types) for m in wire] == [
        (CREATE, False, [P.NOTIFY, P.NOTIFY, P.SA, P.NONCE, P.KE, P.TSI, P.TSR]),
        (CREATE, True, [P.NOTIFY, P.SA, P.NONCE, P.KE, P.TSI, P.TSR, P.NOTIFY]),
        (FOLLOWUP, False, [P.KE, P.NOTIFY]), (FOLLOWUP, True, [P.KE]),
        (INFO, False, [P.DELETE]), (INFO, True, [P.DELETE])], [m.draw() for m in wire]
    assert wire[1].notifies[-1] == ADDITIONAL
    link = first(wire[1].payloads[-1:], Notify)
    assert link is not None and first(wire[2].payloads, Notify) == link
    assert [first(m.payloads, KE).group for m in wire[2:4]] == [36, 36]  # type: ignore[union-attr]
    # Neither side installed the new CHILD_SA before the last follow-up.
    for s in pair.values():
        assert [e.rekey for e in of(s, ChildSaUp)] == [False, True]
        (sa,) = ike_sas(s)
        (child,) = sa["children"]
        assert child["key_exchanges"] == ["CURVE25519", "ML_KEM_768"]
        assert of(s, ChildSaUp)[1].hook.key_exchanges == ("CURVE25519", "ML_KEM_768")
        assert not of(s, NegotiationFailed)

    # KEYMAT = prf+(SK_d, g^ir | Ni | Nr | SK(1)) (RFC 9370 §2.2.4), alike on both sides;
    # its cut into the ESP keys is what the kernel got.
    assert len(derived) == 2 and derived[0][1:] == derived[1][1:]
    _, sk_d, ni, nr, size, g_ir, more = derived[0]
    assert len(g_ir) == 32 and [len(k) for k in more] == [32]
    stream = _prf_plus(sk_d, g_ir + ni + nr + b"".join(more), size)
    initiator = pair[rekeyer]
    out = next(s for s in reversed(initiator.installed) if s.src == inbound(initiator).dst)
    assert out.cipher is not None and out.integrity is not None
    e, i = len(out.cipher.key), len(out.integrity.key)  # AES-CBC-256, HMAC-SHA2-256-128
    assert size == 2 * (e + i) == 128
    assert (out.cipher.key, out.integrity.key) == (stream[:e], stream[e:e + i])


def test_followup_refused_leaves_the_old_child_sa(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The responder refuses the IKE_FOLLOWUP_KE (a KE payload of another method): nothing
    is installed, the old CHILD_SA stays on both sides, the IKE SA stays up."""
    pair = up(tmp_path)
    a = pair["a"]
    real_send = IkeSa.seal

    def seal(self: IkeSa, exchange_: int, mid: int, response: bool, inner: Any) -> bytes:
        if exchange_ == FOLLOWUP and not response:
            inner = tuple(KE(37, p.data) if isinstance(p, KE) else p for p in inner)
        return real_send(self, exchange_, mid, response, inner)  # type: ignore[arg-type]

    monkeypatch.setattr(IkeSa, "seal", seal)
    assert a.core.kernel_event(api.Expire(inbound(a), hard=False), 10.0)
    wire: list[Msg] = []
    pump(pair, now=10.0, record=wire)
    assert (FOLLOWUP, True) in [(m.exchange, m.response) for m in wire]
    answer = next(m for m in wire if m.exchange == FOLLOWUP and m.response)
    assert answer.notifies == [NotifyType.INVALID_SYNTAX]
    assert of(a, NegotiationFailed)[0].reason == "ML_KEM_768: peer answered INVALID_SYNTAX"
    assert "without a KE payload of ML_KEM_768" in of(pair["b"], NegotiationFailed)[0].reason
    for s in pair.values():
        assert [e.rekey for e in of(s, ChildSaUp)] == [False]
        assert ike_sas(s)[0]["state"] == "established" and len(ike_sas(s)[0]["children"]) == 1


SECOND = ("policy peer_transport {", """
selector peer_out2 { direction outbound; src "${MY_IP4}"; dst "${PEER_IP4}";
    upper_layer_protocol udp; policy_index peer_udp; };
selector peer_in2 { direction inbound; src "${PEER_IP4}"; dst "${MY_IP4}";
    upper_layer_protocol udp; policy_index peer_udp; };
policy peer_udp { action auto_ipsec; remote_index peer; ipsec_mode transport;
    ipsec_index { esp_sha256; }; ipsec_level require; };
policy peer_transport {""")


def test_new_child_sa_with_followup_exchange(tmp_path: Path) -> None:
    """A second policy's CHILD_SA over the IKE SA: CREATE_CHILD_SA with PFS, then the
    IKE_FOLLOWUP_KE; both sides install it after the last exchange."""
    pair = two_sides(tmp_path, (*PQ, SECOND), (*PQ, SECOND))
    a, b = pair["a"], pair["b"]
    a.core.initiate("peer_out", 0.0)
    pump(pair)
    assert a.core.initiate("peer_out2", 5.0) is not None
    wire: list[Msg] = []
    # CREATE_CHILD_SA  -->  HDR, SK { N(USE_TRANSPORT_MODE), SA, Ni, KEi, TSi, TSr }
    # CREATE_CHILD_SA  <--  HDR, SK { N(USE_TRANSPORT_MODE), SA, Nr, KEr, TSi, TSr,
    #                                  N(ADDITIONAL_KEY_EXCHANGE)(link) }
    # IKE_FOLLOWUP_KE  -->  HDR, SK { KEi(1), N(ADDITIONAL_KEY_EXCHANGE)(link) }
    # IKE_FOLLOWUP_KE  <--  HDR, SK { KEr(1) }
    pump(pair, now=5.0, record=wire)
    assert [(m.exchange, m.response) for m in wire] == [
        (CREATE, False), (CREATE, True), (FOLLOWUP, False), (FOLLOWUP, True)], \
        [m.draw() for m in wire]
    for s in (a, b):
        (sa,) = ike_sas(s)
        assert sorted(c["policy"] for c in sa["children"]) == ["peer_transport", "peer_udp"]
        udp = next(c for c in sa["children"] if c["policy"] == "peer_udp")
        assert udp["key_exchanges"] == ["CURVE25519", "ML_KEM_768"]
        assert not of(s, NegotiationFailed)


def test_child_sa_rekey_with_three_followups(tmp_path: Path) -> None:
    """iked ↔ iked, three additional key exchanges (ML-KEM-768, ML-KEM-1024, ECP-256): the
    IKE SA makes three IKE_INTERMEDIATE, the CHILD_SA rekey three IKE_FOLLOWUP_KE, each link
    handed on by the responder's previous answer."""
    three = ((GROUP, "kmp_dh_group { curve25519; }; kmp_addke1 mlkem768; "
              "kmp_addke2 mlkem1024; kmp_addke3 ecp256; need_pfs on; fragmentation off;"),)
    pair = two_sides(tmp_path, three, three)
    pair["a"].core.initiate("peer_out", 0.0)
    pump(pair)
    b = pair["b"]
    assert b.core.kernel_event(api.Expire(inbound(b), hard=False), 10.0)
    wire: list[Msg] = []
    pump(pair, now=10.0, record=wire)
    followups = [m for m in wire if m.exchange == FOLLOWUP]
    assert [(m.response, first(m.payloads, KE).group) for m in followups] == [  # type: ignore[union-attr]
        (False, 36), (True, 36), (False, 37), (True, 37), (False, 19), (True, 19)]
    links = [first(m.payloads, Notify) for m in followups]
    assert links[1] is not None and links[2] == links[1] and links[3] is not None
    assert links[4] == links[3] != links[1] and links[5] is None
    for s in pair.values():
        (sa,) = ike_sas(s)
        assert sa["key_exchanges"] == ["CURVE25519", "ML_KEM_768", "ML_KEM_1024", "ECP_256"]
        (child,) = sa["children"]
        assert child["key_exchanges"] == ["CURVE25519", "ML_KEM_768", "ML_KEM_1024",
                                          "ECP_256"]
