"""RFC 9370 additional key exchanges in RFC 9242 IKE_INTERMEDIATE exchanges, two cores in memory.

The key update (RFC 9370 §2.2.2) and the IntAuth in IKE_AUTH's AUTH (RFC 9242 §3.3.2) are
checked against an independent computation from the wire: the test decrypts the
IKE_INTERMEDIATE messages itself (AES-CBC with the recorded SK_e), builds IntAuth from their
octets with hmac, and recomputes the initiator's PSK AUTH.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from iked.events import IkeSaUp, NegotiationFailed
from iked.ikev2 import ike_intermediate
from iked.ikev2.sa import IkeSa
from iked.ikev2.tasks import Kind, Task
from racoon2.crypto import keymat
from racoon2.ikev2 import message
from racoon2.ikev2.constants import ExchangeType, NotifyType
from racoon2.ikev2.constants import PayloadType as P
from racoon2.ikev2.payloads import KE, SK, Auth, IDi, Notify, encode_body, first
from racoon2.kernel import api

from . import internals
from .harness import A, Msg, exchange, exchanges, ike_sas, of, pump, two_sides

INIT, AUTH = ExchangeType.IKE_SA_INIT, ExchangeType.IKE_AUTH
INTER = ExchangeType.IKE_INTERMEDIATE
IES = NotifyType.INTERMEDIATE_EXCHANGE_SUPPORTED
NAT_D = [NotifyType.NAT_DETECTION_SOURCE_IP, NotifyType.NAT_DETECTION_DESTINATION_IP]
GROUP = ("kmp_dh_group { modp2048; };", "kmp_dh_group { curve25519; };")
PSK = b"secret-psk"


def addke(*lines: str) -> tuple[tuple[str, str], ...]:
    """The sample's edit: Curve25519 first, then these kmp_addkeN directives; RFC 7383
    fragmentation off, so that every message of these exchanges is one datagram
    (tests/pair/test_fragments.py fragments them)."""
    return ((GROUP[0], GROUP[1] + " fragmentation off; " + " ".join(lines)),)


def _prf_plus(key: bytes, seed: bytes, size: int) -> bytes:
    out, t, n = b"", b"", 1
    while len(out) < size:
        t = hmac.new(key, t + seed + bytes([n]), hashlib.sha256).digest()
        out, n = out + t, n + 1
    return out[:size]


def _decrypt(sk_e: bytes, data: bytes) -> bytes:
    """The inner payloads of an AES-CBC/HMAC-SHA2-256-128 protected message, by hand."""
    sk = message.decode(data).payloads[-1]
    assert isinstance(sk, SK)
    iv, ct = sk.data[:16], sk.data[16:-16]
    d = Cipher(algorithms.AES(sk_e), modes.CBC(iv)).decryptor()
    plain = d.update(ct) + d.finalize()
    return plain[: len(plain) - plain[-1] - 1]


def _int_auth_octets(data: bytes, plain: bytes) -> bytes:
    """IntAuth_A | IntAuth_P (RFC 9242 §3.3.2), lengths as if SK held only ``plain``."""
    sk = message.decode(data).payloads[-1]
    assert isinstance(sk, SK)
    head = bytearray(data[: len(data) - len(sk.data)])
    head[24:28] = struct.pack("!I", len(head) + len(plain))
    head[-2:] = struct.pack("!H", 4 + len(plain))
    return bytes(head) + plain


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """Every key set an SA takes and every SKEYSEED(n) input, in order, per SA object."""
    seen: dict[str, list[Any]] = {"keys": [], "seeds": []}
    real_set, real_seed = IkeSa.set_crypto, keymat.intermediate_skeyseed

    def set_crypto(self: IkeSa, *args: Any) -> None:
        seen["keys"].append((self, args[3]))
        real_set(self, *args)

    def seed(*args: Any) -> bytes:
        seen["seeds"].append(args)
        return real_seed(*args)

    monkeypatch.setattr(IkeSa, "set_crypto", set_crypto)
    monkeypatch.setattr(ike_intermediate.keymat, "intermediate_skeyseed", seed)
    return seen


def test_curve25519_then_mlkem768(tmp_path: Path, recorded: dict[str, list[Any]]) -> None:
    pair = two_sides(tmp_path, addke("kmp_addke1 mlkem768;"), addke("kmp_addke1 mlkem768;"))
    a, b = pair["a"], pair["b"]
    assert a.core.initiate("peer_out", 0.0) is not None
    # IKE_SA_INIT  i -> r  HDR, SAi1 (ADDKE1 ML_KEM_768), KEi (Curve25519), Ni,
    #                      N(INTERMEDIATE_EXCHANGE_SUPPORTED), N(NAT_D), N(NAT_D)
    m = exchange(a, b)
    assert m.types == [P.SA, P.KE, P.NONCE, P.NOTIFY, P.NOTIFY, P.NOTIFY], m.draw()
    assert m.notifies == [IES, *NAT_D]
    init_request = m.data
    # IKE_SA_INIT  i <- r  HDR, SAr1 (ADDKE1 ML_KEM_768), KEr, Nr,
    #                      N(INTERMEDIATE_EXCHANGE_SUPPORTED), N(NAT_D), N(NAT_D)
    m = exchange(b, a)
    assert m.notifies == [IES, *NAT_D], m.draw()
    nonce_r = m.payloads[2].data  # type: ignore[attr-defined]
    # IKE_INTERMEDIATE  i -> r  HDR(mid 1), SK { KEi(1): the ML-KEM-768 encapsulation key }
    req = exchange(a, b)
    assert (req.exchange, req.message_id, req.response, req.types) == (INTER, 1, False, [P.KE])
    ke = first(req.payloads, KE)
    assert ke is not None and ke.group == 36 and len(ke.data) == 1184
    # IKE_INTERMEDIATE  i <- r  HDR(mid 1), SK { KEr(1): the ML-KEM-768 ciphertext }
    resp = exchange(b, a)
    assert (resp.exchange, resp.message_id, resp.response) == (INTER, 1, True)
    ke = first(resp.payloads, KE)
    assert ke is not None and ke.group == 36 and len(ke.data) == 1088
    # IKE_AUTH  i -> r  HDR(mid 2), SK { IDi, AUTH, N(USE_TRANSPORT_MODE), SAi2, TSi, TSr }
    auth = exchange(a, b)
    assert (auth.exchange, auth.message_id) == (AUTH, 2), auth.draw()
    # IKE_AUTH  i <- r  HDR(mid 2), SK { IDr, AUTH, N(USE_TRANSPORT_MODE), SAr2, TSi, TSr }
    m = exchange(b, a)
    assert (m.exchange, m.message_id, m.response) == (AUTH, 2, True)
    pump(pair)
    assert len(of(a, IkeSaUp)) == len(of(b, IkeSaUp)) == 1
    assert [s["key_exchanges"] for s in (*ike_sas(a), *ike_sas(b))] == \
        [["CURVE25519", "ML_KEM_768"]] * 2
    # ... and so do the IkeSaUp events (the log line, phase1_up's KEY_EXCHANGES).
    assert [e.key_exchanges for e in (*of(a, IkeSaUp), *of(b, IkeSaUp))] == \
        [("CURVE25519", "ML_KEM_768")] * 2

    # The key update, independently (RFC 9370 §2.2.2): SKEYSEED(1) = prf(SK_d(0), SK(1) |
    # Ni | Nr), then prf+(SKEYSEED(1), Ni | Nr | SPIi | SPIr) cut as RFC 7296 §2.14.
    initiator = next(sa for sa, _ in recorded["keys"] if sa.initiator)
    k0, k1 = [k for sa, k in recorded["keys"] if sa is initiator]
    _prf, sk_d, shared, ni, nr = recorded["seeds"][0]
    assert sk_d == k0.sk_d and nr == nonce_r and len(shared) == 32
    seed = hmac.new(k0.sk_d, shared + ni + nr, hashlib.sha256).digest()
    stream = _prf_plus(seed, ni + nr + initiator.spi_i + initiator.spi_r, 3 * 32 + 2 * 32 + 2 * 32)
    assert stream == k1.sk_d + k1.sk_ai + k1.sk_ar + k1.sk_ei + k1.sk_er + k1.sk_pi + k1.sk_pr

    # IntAuth (RFC 9242 §3.3.2) from the wire, decrypted with IKE_SA_INIT's keys.
    int_i = hmac.new(k0.sk_pi, _int_auth_octets(req.data, _decrypt(k0.sk_ei, req.data)),
                     hashlib.sha256).digest()
    int_r = hmac.new(k0.sk_pr, _int_auth_octets(resp.data, _decrypt(k0.sk_er, resp.data)),
                     hashlib.sha256).digest()
    # AUTH = prf(prf(PSK, "Key Pad for IKEv2"), RealMessage1 | Nr | prf(SK_pi, IDi') |
    #            IntAuth_i | IntAuth_r | IKE_AUTH_MID), with the updated SK_pi.
    idi = first(auth.payloads, IDi)
    au = first(auth.payloads, Auth)
    assert idi is not None and au is not None
    octets = init_request + nr + hmac.new(k1.sk_pi, encode_body(idi), hashlib.sha256).digest()
    octets += int_i + int_r + struct.pack("!I", 2)
    pad = hmac.new(PSK, b"Key Pad for IKEv2", hashlib.sha256).digest()
    assert au.data == hmac.new(pad, octets, hashlib.sha256).digest()


def test_three_additional_exchanges(tmp_path: Path) -> None:
    conf = addke("kmp_addke1 mlkem768;", "kmp_addke2 mlkem1024;", "kmp_addke3 ecp256;")
    pair = two_sides(tmp_path, conf, conf)
    a, b = pair["a"], pair["b"]
    assert a.core.initiate("peer_out", 0.0) is not None
    wire: list[Msg] = []
    pump(pair, record=wire)
    # IKE_SA_INIT, then IKE_INTERMEDIATE with mid 1, 2, 3 (KE of ADDKE1, 2, 3 in order),
    # then IKE_AUTH with mid 4 (RFC 9242 §3.2).
    assert exchanges(wire) == [(INIT, False), (INIT, True), *[(INTER, False), (INTER, True)] * 3,
                               (AUTH, False), (AUTH, True)]
    assert [m.message_id for m in wire] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    groups = [first(m.payloads, KE).group for m in wire[2:8]]  # type: ignore[union-attr]
    assert groups == [36, 36, 37, 37, 19, 19]
    # ML-KEM-1024: a 1568-byte encapsulation key, a 1568-byte ciphertext.
    assert [len(first(m.payloads, KE).data) for m in wire[4:6]] == [1568, 1568]  # type: ignore[union-attr]
    assert len(of(a, IkeSaUp)) == len(of(b, IkeSaUp)) == 1
    assert ike_sas(a)[0]["key_exchanges"] == ["CURVE25519", "ML_KEM_768", "ML_KEM_1024",
                                              "ECP_256"]
    assert ike_sas(a)[0]["children"] and ike_sas(b)[0]["children"]


def test_responder_refuses_the_additional_exchange(tmp_path: Path) -> None:
    pair = two_sides(tmp_path, addke("kmp_addke1 mlkem1024;"), addke("kmp_addke1 mlkem768;"))
    a, b = pair["a"], pair["b"]
    assert a.core.initiate("peer_out", 0.0) is not None
    exchange(a, b)
    # IKE_SA_INIT  i <- r  HDR, N(NO_PROPOSAL_CHOSEN): ADDKE1 has no method in common
    m = exchange(b, a)
    assert (m.exchange, m.response, m.notifies) == (INIT, True, [NotifyType.NO_PROPOSAL_CHOSEN])
    failed = of(b, NegotiationFailed)
    assert failed and "ADDKE1 ML_KEM_1024" in failed[0].received
    assert "ADDKE1 ML_KEM_768" in failed[0].configured
    assert of(a, NegotiationFailed) and not of(a, IkeSaUp)


def test_addke_none_accepted_by_a_responder_without_it(tmp_path: Path) -> None:
    pair = two_sides(tmp_path, addke("kmp_addke1 { mlkem768; none; };"), addke())
    a, b = pair["a"], pair["b"]
    assert a.core.initiate("peer_out", 0.0) is not None
    wire: list[Msg] = []
    pump(pair, record=wire)
    # The responder picks NONE for ADDKE1: no IKE_INTERMEDIATE, IKE_AUTH has mid 1.
    assert exchanges(wire) == [(INIT, False), (INIT, True), (AUTH, False), (AUTH, True)]
    assert wire[2].message_id == 1
    assert len(of(a, IkeSaUp)) == len(of(b, IkeSaUp)) == 1
    assert ike_sas(a)[0]["key_exchanges"] == ["CURVE25519"]


def test_initiator_without_addke_meets_a_responder_that_allows_none(tmp_path: Path) -> None:
    pair = two_sides(tmp_path, addke(), addke("kmp_addke1 { mlkem768; none; };"))
    wire: list[Msg] = []
    assert pair["a"].core.initiate("peer_out", 0.0) is not None
    pump(pair, record=wire)
    assert exchanges(wire) == [(INIT, False), (INIT, True), (AUTH, False), (AUTH, True)]
    assert IES not in wire[0].notifies and IES not in wire[1].notifies
    assert len(of(pair["b"], IkeSaUp)) == 1


CREATE, FOLLOWUP = ExchangeType.CREATE_CHILD_SA, ExchangeType.IKE_FOLLOWUP_KE
INFO = ExchangeType.INFORMATIONAL
ADDITIONAL = NotifyType.ADDITIONAL_KEY_EXCHANGE


@pytest.mark.parametrize("rekeyer", ["a", "b"])
def test_ike_sa_rekey_with_followup_exchanges(tmp_path: Path, rekeyer: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    conf = addke("kmp_addke1 mlkem768;", "kmp_addke2 mlkem1024;")
    pair = two_sides(tmp_path, conf, conf)
    seeds: list[tuple[tuple[Any, ...], bytes]] = []
    real = keymat.rekey_skeyseed

    def seed(*args: Any) -> bytes:
        seeds.append((args, real(*args)))
        return seeds[-1][1]

    monkeypatch.setattr(keymat, "rekey_skeyseed", seed)
    pair["a"].core.initiate("peer_out", 0.0)
    pump(pair)  # IKE_SA_INIT, IKE_INTERMEDIATE x2, IKE_AUTH
    internals.never_expires(pair["b" if rekeyer == "a" else "a"])
    wire: list[Msg] = []
    now = 0.0
    while (t := min(filter(None, (s.core.next_timer() for s in pair.values())),
                    default=None)) is not None and t <= 8 * 3600:
        now = t  # DPD probes every hour, then at 8 h the rekey (RFC 9370 §2.2.4):
        for side in pair.values():
            side.core.handle_timer(now)
        # CREATE_CHILD_SA  -->  HDR, SK { SA, Ni, KEi }
        # CREATE_CHILD_SA  <--  HDR, SK { SA, Nr, KEr, N(ADDITIONAL_KEY_EXCHANGE)(link1) }
        # IKE_FOLLOWUP_KE  -->  HDR, SK { KEi(1), N(ADDITIONAL_KEY_EXCHANGE)(link1) }
        # IKE_FOLLOWUP_KE  <--  HDR, SK { KEr(1), N(ADDITIONAL_KEY_EXCHANGE)(link2) }
        # IKE_FOLLOWUP_KE  -->  HDR, SK { KEi(2), N(ADDITIONAL_KEY_EXCHANGE)(link2) }
        # IKE_FOLLOWUP_KE  <--  HDR, SK { KEr(2) }
        # INFORMATIONAL    -->  HDR, SK { D }         the old IKE SA
        pump(pair, now=now, record=wire)
    rekey = [m for m in wire if m.types]
    assert [(m.exchange, m.response, m.types, m.notifies) for m in rekey] == [
        (CREATE, False, [P.SA, P.NONCE, P.KE], []),
        (CREATE, True, [P.SA, P.NONCE, P.KE, P.NOTIFY], [ADDITIONAL]),
        (FOLLOWUP, False, [P.KE, P.NOTIFY], [ADDITIONAL]),
        (FOLLOWUP, True, [P.KE, P.NOTIFY], [ADDITIONAL]),
        (FOLLOWUP, False, [P.KE, P.NOTIFY], [ADDITIONAL]),
        (FOLLOWUP, True, [P.KE], []),
        (INFO, False, [P.DELETE], [])], [m.draw() for m in rekey]
    link1, link2 = (first(m.payloads, Notify).data for m in rekey[1:4:2])  # type: ignore[union-attr]
    assert first(rekey[2].payloads, Notify).data == link1  # type: ignore[union-attr]
    assert first(rekey[4].payloads, Notify).data == link2 != link1  # type: ignore[union-attr]
    assert [first(m.payloads, KE).group for m in rekey[2:6]] == [36, 36, 37, 37]  # type: ignore[union-attr]
    # RFC 9370 §2.2.4: SKEYSEED = prf(SK_d (old), SK(0) | Ni | Nr | SK(1) | SK(2)), SK(0)
    # Curve25519's 32 octets, SK(1) and SK(2) the two ML-KEM secrets of 32, on both sides
    # alike; written out with hmac.
    assert len(seeds) == 2 and seeds[0] == seeds[1]
    (_, sk_d, sk0, ni, nr, more), got = seeds[0]
    assert [len(k) for k in (sk0, *more)] == [32, 32, 32]
    assert got == hmac.new(sk_d, sk0 + ni + nr + b"".join(more), hashlib.sha256).digest()
    for side in pair.values():
        (new,) = ike_sas(side)
        assert len(new["children"]) == 1
        assert [u.rekey_of is not None for u in of(side, IkeSaUp)] == [False, True]
        assert of(side, IkeSaUp)[1].key_exchanges == ("CURVE25519", "ML_KEM_768",
                                                      "ML_KEM_1024")
        assert new["key_exchanges"] == ["CURVE25519", "ML_KEM_768", "ML_KEM_1024"]
    # The successor's keys work: a CHILD_SA rekey over it.
    child_in = next(s for s in pair["a"].installed if s.dst == A)
    assert pair["a"].core.kernel_event(api.Expire(child_in.key, hard=False), 9 * 3600)
    wire = []
    pump(pair, now=9 * 3600, record=wire)
    assert [(m.exchange, m.response) for m in wire] == [
        (CREATE, False), (CREATE, True), (INFO, False), (INFO, True)]


def test_followup_without_a_rekey_gets_state_not_found(tmp_path: Path) -> None:
    pair = two_sides(tmp_path, addke("kmp_addke1 mlkem768;"), addke("kmp_addke1 mlkem768;"))
    pair["a"].core.initiate("peer_out", 0.0)
    pump(pair)
    sa = internals._the_sa(pair["a"])
    # IKE_FOLLOWUP_KE  i -> r  HDR, SK { KEi, N(ADDITIONAL_KEY_EXCHANGE)(a link b never gave) }
    sa.tasks.request(Task(Kind.REKEY_IKE), FOLLOWUP, (
        KE(36, bytes(1184)), Notify(0, ADDITIONAL, b"", b"no-such-link")), 1.0)
    wire: list[Msg] = []
    pump(pair, now=1.0, record=wire)
    # IKE_FOLLOWUP_KE  i <- r  HDR, SK { N(STATE_NOT_FOUND) }
    assert [(m.exchange, m.response, m.notifies) for m in wire] == [
        (FOLLOWUP, False, [ADDITIONAL]), (FOLLOWUP, True, [NotifyType.STATE_NOT_FOUND])]
    assert len(ike_sas(pair["b"])) == 1 and ike_sas(pair["b"])[0]["state"] == "established"


def test_lost_intermediate_response_is_answered_again(tmp_path: Path) -> None:
    """The responder updated its keys after answering; the initiator's retransmission, under
    the old keys, is answered from the response cache (RFC 7296 §2.1), not opened again."""
    pair = two_sides(tmp_path, addke("kmp_addke1 mlkem768;"), addke("kmp_addke1 mlkem768;"))
    a, b = pair["a"], pair["b"]
    a.core.initiate("peer_out", 0.0)
    exchange(a, b)
    exchange(b, a)
    # IKE_INTERMEDIATE  i -> r  HDR(mid 1), SK { KEi(1) }
    req = exchange(a, b)
    # IKE_INTERMEDIATE  i <- r  HDR(mid 1), SK { KEr(1) }   lost
    (lost,) = b.take()
    a.core.handle_timer(a.core.next_timer() or 1.0)
    # IKE_INTERMEDIATE  i -> r  the same request again; the same response again
    again = exchange(a, b, 1.0)
    assert again.data == req.data
    assert exchange(b, a, 1.0).data == lost.data
    wire: list[Msg] = []
    pump(pair, now=1.0, record=wire)
    assert exchanges(wire) == [(AUTH, False), (AUTH, True)]
    assert len(of(a, IkeSaUp)) == len(of(b, IkeSaUp)) == 1
