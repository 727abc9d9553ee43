"""Directives that iked once parsed and then ignored or tripped over (issue 15 §2): each has
its effect now, checked on in-memory cores (the settings alone: tests/unit/iked)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pki import make_ca

from iked.events import ChildSaUp, DropReason, IkeSaUp, NegotiationFailed
from racoon2.crypto import transforms as tt
from racoon2.ikev2.constants import ExchangeType, NotifyType
from racoon2.ikev2.payloads import KE, Notify
from racoon2.kernel import api
from racoon2.net import Endpoint

from . import internals
from .certs import cert_edit, write_pki
from .harness import A, B, Msg, Side, decode, exchange, exchanges, make_side, of, pump, two_sides

AUTH = "kmp_auth_method { psk; };"
INIT, CREATE = ExchangeType.IKE_SA_INIT, ExchangeType.CREATE_CHILD_SA
INFO = ExchangeType.INFORMATIONAL


def failures(side: Side) -> list[NegotiationFailed]:
    """The side's NegotiationFailed events."""
    return of(side, NegotiationFailed)


# -- 1. infinite ---------------------------------------------------------------------------


@pytest.mark.parametrize(("written", "hard_bytes"), [("infinite", 0), ("1 MB", 1 << 20)])
def test_infinite_byte_lifetime_is_no_kernel_limit(tmp_path: Path, written: str,
                                                   hard_bytes: int) -> None:
    life = (("ipsec_sa_lifetime_time 1 hour;",
             f"ipsec_sa_lifetime_time infinite; ipsec_sa_lifetime_byte {written};"),
            ("kmp_sa_lifetime_time 8 hours;",
             "kmp_sa_lifetime_time infinite; kmp_sa_nego_time_limit infinite; "
             "kmp_sa_lifetime_byte infinite; dpd_delay infinite;"))
    pair = two_sides(tmp_path, life, life)
    assert pair["a"].core.initiate("peer_out", 0.0) is not None
    # IKE_SA_INIT  i -> r  and  i <- r;  IKE_AUTH  i -> r  and  i <- r
    pump(pair)
    for side in pair.values():
        assert any(isinstance(e, ChildSaUp) for e in side.events), failures(side)
        for sa in side.installed:
            assert (sa.lifetime.hard_add_seconds, sa.lifetime.soft_add_seconds) == (0, 0)
            assert sa.lifetime.hard_bytes == hard_bytes
            assert sa.lifetime.soft_bytes == hard_bytes * 8 // 10
        life_deadline, dpd_deadline, _ = internals.deadlines(side)
        assert life_deadline is None and dpd_deadline is None
        lifetime, nego_limit = internals.peer_limits(side)
        assert lifetime == nego_limit == 0.0


# -- 3. peers_kmp_port ---------------------------------------------------------------------


@pytest.mark.parametrize(("ipaddr", "port"), [('"192.0.2.2"', 4501),
                                              ('"192.0.2.2" port 1500', 1500)])
def test_peers_kmp_port_is_the_initiators_destination(tmp_path: Path, ipaddr: str,
                                                      port: int) -> None:
    """peers_kmp_port when peers_ipaddr names no port (that port wins, then -t's 500)."""
    side = make_side(tmp_path, "192.0.2.1", "192.0.2.2", b"a", edit=(
        ('peers_ipaddr "${PEER_IP4}" port 500;',
         f"peers_ipaddr {ipaddr}; peers_kmp_port 4501;"),))
    assert side.core.initiate("peer_out", 0.0) is not None
    # IKE_SA_INIT  i -> r  HDR, SAi1, KEi, Ni, N(NAT_DETECTION_*)   to 192.0.2.2, that port
    (sent,) = side.take()
    assert sent.remote == Endpoint(B, port)
    assert decode(sent.data, side).exchange is INIT


# -- 4. acceptable_kmp ---------------------------------------------------------------------


def test_initiates_only_when_ikev2_comes_first(tmp_path: Path) -> None:
    side = make_side(tmp_path, "192.0.2.1", "192.0.2.2", b"a", edit=(
        ("acceptable_kmp { ikev2; };", "acceptable_kmp { kink; ikev2; };"),))
    assert side.core.initiate("peer_out", 0.0) is None
    fail = side.core.next_event()
    assert isinstance(fail, NegotiationFailed)
    assert fail.reason == ("remote peer initiates with kink (the first of its acceptable_kmp), "
                           "not ikev2")
    assert not side.core.datagrams_to_send()


@pytest.mark.parametrize("default_kmp", ["kink", "ikev2"])
def test_responder_refuses_a_default_remote_without_ikev2(tmp_path: Path,
                                                         default_kmp: str) -> None:
    """B's remote for A accepts only kink; its default remote (certificates: the default
    section has no pre-shared key) answers IKEv2 only when its acceptable_kmp allows it."""
    ca = make_ca()
    for n, ip in (("a", "192.0.2.1"), ("b", "192.0.2.2")):
        write_pki(tmp_path / n, "ecdsa", ip, ca)
    b = tmp_path / "b"
    default = (f"default {{ remote {{ acceptable_kmp {{ {default_kmp}; }}; ikev2 {{ "
               'my_id ipaddr "192.0.2.2"; kmp_enc_alg { aes128_cbc; }; kmp_hash_alg { '
               "hmac_sha2_256; }; kmp_dh_group { modp2048; }; kmp_auth_method { rsasig; }; "
               f'my_public_key x509pem "{b}/host.pem" "{b}/host.key"; '
               f'peers_public_key x509pem "{b}/ca.pem"; }}; }}; }};')
    pair = {"a": make_side(tmp_path / "a", "192.0.2.1", "192.0.2.2", b"a",
                           edit=cert_edit(tmp_path / "a")),
            "b": make_side(b, "192.0.2.2", "192.0.2.1", b"b", edit=(
                ("acceptable_kmp { ikev2; };", "acceptable_kmp { kink; };"),
                ("resolver { resolver off; };", "resolver { resolver off; };\n" + default)))}
    pair["a"].core.initiate("peer_out", 0.0)
    refused = default_kmp == "kink"
    # IKE_SA_INIT  i -> r  HDR, SAi1, KEi, Ni, N(SIGNATURE_HASH_ALGORITHMS), N(NAT_DETECTION_*)
    #                      B: no remote for A that speaks ikev2 (kink): dropped, or (ikev2) on:
    assert exchange(pair["a"], pair["b"]).exchange is INIT
    # IKE_SA_INIT  i <- r  HDR, SAr1, KEr, Nr, N(SIGNATURE_HASH_ALGORITHMS), CERTREQ, N(NAT_D*)
    # IKE_AUTH     i -> r  HDR, SK { IDi, CERT, CERTREQ, AUTH, ... }
    # IKE_AUTH     i <- r  HDR, SK { IDr, CERT, AUTH, ... }
    wire: list[Msg] = []
    pump(pair, record=wire)
    assert exchanges(wire) == ([] if refused else [(INIT, True), (ExchangeType.IKE_AUTH, False),
                                                   (ExchangeType.IKE_AUTH, True)])
    assert pair["b"].core.dropped[DropReason.NO_REMOTE] == (1 if refused else 0)
    assert any(isinstance(e, IkeSaUp) for e in pair["b"].events) is not refused


# -- 5. times_per_send ---------------------------------------------------------------------


def test_times_per_send_sends_each_packet_n_times(tmp_path: Path) -> None:
    side = make_side(tmp_path, "192.0.2.1", "192.0.2.2", b"a",
                     edit=((AUTH, AUTH + " times_per_send 3;"),))
    side.core.initiate("peer_out", 0.0)
    # IKE_SA_INIT  i -> r  HDR, SAi1, KEi, Ni, N(NAT_DETECTION_*)   x 3
    sent = side.take()
    assert len(sent) == 3 and len({d.data for d in sent}) == 1
    assert decode(sent[0].data, side).exchange is INIT
    side.core.handle_timer(1.0)  # the retransmission: three copies again
    assert len(side.take()) == 3


# -- 6. the pre-shared key is the file's raw bytes ---------------------------------------


def test_psk_with_newline_against_the_same_key_without_it_fails(tmp_path: Path) -> None:
    """A peer that reads the same key bytes without the newline (as strongSwan would, given
    the bytes) no longer agrees: the newline is part of the key."""
    pair = two_sides(tmp_path, psk=b"k3y\n", b_psk=b"k3y")
    pair["a"].core.initiate("peer_out", 0.0)
    wire: list[Msg] = []
    # IKE_SA_INIT  i -> r  and  i <- r
    # IKE_AUTH     i -> r  HDR, SK { IDi, AUTH (prf of "k3y\n"), ... }
    # IKE_AUTH     i <- r  HDR, SK { N(AUTHENTICATION_FAILED) }
    pump(pair, record=wire)
    assert wire[-1].notifies == [NotifyType.AUTHENTICATION_FAILED], wire[-1].draw()
    assert "pre-shared keys differ" in failures(pair["b"])[0].reason


# -- 7. only the configured groups make a key exchange --------------------------------------


MODP768 = tt.by_id(tt.TransformType.KE, 1)
MODP2048 = tt.by_id(tt.TransformType.KE, 14)


def up_pair(tmp_path: Path) -> dict[str, Side]:
    pfs = ((AUTH, AUTH + " need_pfs on;"),)
    pair = two_sides(tmp_path, pfs, pfs)
    pair["a"].core.initiate("peer_out", 0.0)
    pump(pair)  # IKE_SA_INIT, IKE_AUTH
    assert all(any(isinstance(e, IkeSaUp) for e in s.events) for s in pair.values())
    return pair


def from_b(wire: list[Msg]) -> list[Msg]:
    """The messages B sent: B is the IKE SA's responder, so they lack the I flag."""
    return [m for m in wire if not m.initiator]


@pytest.mark.parametrize("also_2048", [False, True])
def test_child_pfs_with_an_unconfigured_group_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, also_2048: bool) -> None:
    """A's CREATE_CHILD_SA carries a MODP768 KE (its proposal offers MODP768, and MODP2048
    too with ``also_2048``): B, configured for MODP2048 only, answers NO_PROPOSAL_CHOSEN, or
    INVALID_KE_PAYLOAD naming MODP2048 when the proposal offers it (RFC 7296 §1.3), and A
    then tries again at once with MODP2048."""
    pair = up_pair(tmp_path)
    internals.child_pfs_offers(monkeypatch, MODP768, MODP2048 if also_2048 else None)
    old_in = next(s for s in pair["a"].installed if s.dst == A)
    assert pair["a"].core.kernel_event(api.Expire(old_in.key, hard=False), 10.0)
    wire: list[Msg] = []
    # CREATE_CHILD_SA  i -> r  HDR, SK { N(REKEY_SA), N(USE_TRANSPORT_MODE), SA, Ni,
    #                                    KEi (MODP768), TSi, TSr }
    # CREATE_CHILD_SA  i <- r  HDR, SK { N(NO_PROPOSAL_CHOSEN) }
    #                      or  HDR, SK { N(INVALID_KE_PAYLOAD: 14) }
    pump(pair, now=10.0, record=wire)
    assert exchanges(wire)[:2] == [(CREATE, False), (CREATE, True)]
    answer = from_b(wire)[0]
    if also_2048:
        # CREATE_CHILD_SA  i -> r  HDR, SK { N(REKEY_SA), ..., KEi (MODP2048), ... }: accepted
        retry = wire[2]
        assert (retry.exchange, retry.response) == (CREATE, False)
        assert [p.group for p in retry.payloads if isinstance(p, KE)] == [14], retry.draw()
        assert len(pair["b"].installed) == 4 and len(pair["b"].kernel.sas) == 2
    else:
        assert exchanges(wire) == [(CREATE, False), (CREATE, True)]
        assert len(pair["b"].installed) == 2  # nothing new installed
    want = NotifyType.INVALID_KE_PAYLOAD if also_2048 else NotifyType.NO_PROPOSAL_CHOSEN
    assert [(n.type, n.data) for n in answer.payloads if isinstance(n, Notify)] == [
        (want, b"\x00\x0e" if also_2048 else b"")], answer.draw()
    assert failures(pair["a"])[-1].reason == want.name
    assert failures(pair["b"])[-1].reason == "KE payload of group 1"


def test_ike_rekey_with_an_unconfigured_group_is_refused(tmp_path: Path) -> None:
    """The IKE SA rekey offers MODP2048 with a MODP768 KE payload: INVALID_KE_PAYLOAD(14)
    (this was already right: the group is taken from the chosen proposal)."""
    pair = up_pair(tmp_path)
    # A's own record of its suite says MODP768: its rekey request makes that KE.
    assert internals.rekey_ike_with_ke(pair["a"], 1, 10.0)
    wire: list[Msg] = []
    # CREATE_CHILD_SA  i -> r  HDR, SK { SA (MODP2048), Ni, KEi (MODP768) }
    # CREATE_CHILD_SA  i <- r  HDR, SK { N(INVALID_KE_PAYLOAD: 14) }
    # then A gives up and deletes the IKE SA, and B answers that too:
    # INFORMATIONAL    i -> r  HDR, SK { D }
    # INFORMATIONAL    i <- r  HDR, SK { }
    pump(pair, now=10.0, record=wire)
    assert exchanges(wire) == [(CREATE, False), (CREATE, True), (INFO, False), (INFO, True)]
    answer = from_b(wire)[0]
    assert [(n.type, n.data) for n in answer.payloads if isinstance(n, Notify)] == [
        (NotifyType.INVALID_KE_PAYLOAD, b"\x00\x0e")], answer.draw()
