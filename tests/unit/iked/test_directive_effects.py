"""Directives that iked once parsed and then ignored or tripped over (issue 15 §2): each has
its effect now, checked on two in-memory cores (the pair helpers of test_ikev2_pair)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pki import make_ca
from test_ikev2_certs import cert_edit, write_pki
from test_ikev2_pair import A, B, Side, make_side, pump

from iked.events import ChildSaUp, DropReason, IkeSaUp, NegotiationFailed
from iked.ikev2 import create_child, ike_rekey
from iked.ikev2.settings import ChildSettings, child_settings, peer_settings
from racoon2.config import loads
from racoon2.config.files import read_secret
from racoon2.crypto import transforms as tt
from racoon2.ikev2.constants import NotifyType
from racoon2.ikev2.payloads import Notify, Transform
from racoon2.kernel import api
from racoon2.net import Endpoint

AUTH = "kmp_auth_method { psk; };"


def sides(tmp: Path, a_edit: tuple[tuple[str, str], ...] = (),
          b_edit: tuple[tuple[str, str], ...] = (), psk: bytes = b"secret-psk"
          ) -> dict[str, Side]:
    return {"a": make_side(tmp / "a", "192.0.2.1", "192.0.2.2", b"a", edit=a_edit, psk=psk),
            "b": make_side(tmp / "b", "192.0.2.2", "192.0.2.1", b"b", edit=b_edit, psk=psk)}


def failures(side: Side) -> list[NegotiationFailed]:
    return [e for e in side.events if isinstance(e, NegotiationFailed)]


# -- 1. infinite ---------------------------------------------------------------------------


@pytest.mark.parametrize(("written", "hard_bytes"), [("infinite", 0), ("1 MB", 1 << 20)])
def test_infinite_byte_lifetime_is_no_kernel_limit(tmp_path: Path, written: str,
                                                   hard_bytes: int) -> None:
    life = (("ipsec_sa_lifetime_time 1 hour;",
             f"ipsec_sa_lifetime_time infinite; ipsec_sa_lifetime_byte {written};"),
            ("kmp_sa_lifetime_time 8 hours;",
             "kmp_sa_lifetime_time infinite; kmp_sa_nego_time_limit infinite; "
             "kmp_sa_lifetime_byte infinite; dpd_delay infinite;"))
    pair = sides(tmp_path, life, life)
    assert pair["a"].core.initiate("peer_out", 0.0) is not None
    pump(pair)
    for side in pair.values():
        assert any(isinstance(e, ChildSaUp) for e in side.events), failures(side)
        for sa in side.installed:
            assert (sa.lifetime.hard_add_seconds, sa.lifetime.soft_add_seconds) == (0, 0)
            assert sa.lifetime.hard_bytes == hard_bytes
            assert sa.lifetime.soft_bytes == hard_bytes * 8 // 10
        (ike,) = side.core.sas.values()
        assert ike.deadline_life is None and ike.deadline_dpd is None
        assert ike.peer.lifetime == ike.peer.nego_limit == 0.0


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
    (sent,) = side.core.datagrams_to_send()
    assert sent.remote == Endpoint(B, port)


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
    pump(pair)
    refused = default_kmp == "kink"
    assert pair["b"].core.dropped[DropReason.NO_REMOTE] == (1 if refused else 0)
    assert any(isinstance(e, IkeSaUp) for e in pair["b"].events) is not refused


# -- 5. times_per_send ---------------------------------------------------------------------


def test_times_per_send_sends_each_packet_n_times(tmp_path: Path) -> None:
    side = make_side(tmp_path, "192.0.2.1", "192.0.2.2", b"a",
                     edit=((AUTH, AUTH + " times_per_send 3;"),))
    side.core.initiate("peer_out", 0.0)
    sent = side.core.datagrams_to_send()
    assert len(sent) == 3 and len({d.data for d in sent}) == 1
    side.core.handle_timer(1.0)  # the retransmission: three copies again
    assert len(side.core.datagrams_to_send()) == 3


# -- 6. the pre-shared key is the file's raw bytes ---------------------------------------


def test_psk_keeps_its_trailing_newline(tmp_path: Path) -> None:
    key = tmp_path / "k.psk"
    key.write_bytes(b"key\r\n")
    key.chmod(0o600)
    text = (f'remote r {{ acceptable_kmp {{ ikev2; }}; ikev2 {{ my_id fqdn "a.example"; '
            f'pre_shared_key "{key}"; kmp_enc_alg {{ aes128_cbc; }}; kmp_hash_alg {{ '
            'hmac_sha2_256; }; kmp_dh_group { modp2048; }; }; };')
    config = loads(text, str(tmp_path / "racoon2.conf"))
    assert peer_settings(config, config.remote("r"), read_secret).psk == b"key\r\n"


def test_psk_with_newline_against_the_same_key_without_it_fails(tmp_path: Path) -> None:
    """A peer that reads the same key bytes without the newline (as strongSwan would, given
    the bytes) no longer agrees: the newline is part of the key."""
    pair = {"a": make_side(tmp_path / "a", "192.0.2.1", "192.0.2.2", b"a", psk=b"k3y\n"),
            "b": make_side(tmp_path / "b", "192.0.2.2", "192.0.2.1", b"b", psk=b"k3y")}
    pair["a"].core.initiate("peer_out", 0.0)
    pump(pair)
    assert "pre-shared keys differ" in failures(pair["b"])[0].reason


# -- 7. only the configured groups make a key exchange --------------------------------------


MODP768 = tt.by_id(tt.TransformType.KE, 1)
MODP2048 = tt.by_id(tt.TransformType.KE, 14)


def up_pair(tmp_path: Path) -> dict[str, Side]:
    pfs = ((AUTH, AUTH + " need_pfs on;"),)
    pair = sides(tmp_path, pfs, pfs)
    pair["a"].core.initiate("peer_out", 0.0)
    pump(pair)
    assert all(any(isinstance(e, IkeSaUp) for e in s.events) for s in pair.values())
    return pair


def answers(side: Side) -> list[Any]:
    """Spy on the inner payloads the (only) IKE SA of ``side`` seals."""
    (sa,) = side.core.sas.values()
    seen: list[Any] = []
    seal = sa.seal

    def spy(*args: Any, **kw: Any) -> bytes:
        seen.append(args[3])
        return seal(*args, **kw)

    sa.seal = spy  # type: ignore[method-assign]
    return seen


@pytest.mark.parametrize("also_2048", [False, True])
def test_child_pfs_with_an_unconfigured_group_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, also_2048: bool) -> None:
    """A's CREATE_CHILD_SA carries a MODP768 KE (its proposal offers MODP768, and MODP2048
    too with ``also_2048``): B, configured for MODP2048 only, answers NO_PROPOSAL_CHOSEN, or
    INVALID_KE_PAYLOAD naming MODP2048 when the proposal offers it (RFC 7296 §1.3)."""
    pair = up_pair(tmp_path)
    monkeypatch.setattr(create_child, "_pfs_group", lambda sa: MODP768)
    proposals = ChildSettings.proposals
    monkeypatch.setattr(ChildSettings, "proposals", lambda self, spi, pfs=(): proposals(
        self, spi, (*pfs, MODP2048) if pfs and also_2048 else pfs))
    seen = answers(pair["b"])
    old_in = next(s for s in pair["a"].installed if s.dst == A)
    assert pair["a"].core.kernel_event(api.Expire(old_in.key, hard=False), 10.0)
    pump(pair, now=10.0)
    assert len(pair["b"].installed) == 2  # nothing new installed
    (notes,) = seen
    want = NotifyType.INVALID_KE_PAYLOAD if also_2048 else NotifyType.NO_PROPOSAL_CHOSEN
    assert [(n.type, n.data) for n in notes if isinstance(n, Notify)] == [
        (want, b"\x00\x0e" if also_2048 else b"")]
    assert failures(pair["a"])[-1].reason == want.name
    assert failures(pair["b"])[-1].reason == "KE payload of group 1"


def test_ike_rekey_with_an_unconfigured_group_is_refused(tmp_path: Path) -> None:
    """The IKE SA rekey offers MODP2048 with a MODP768 KE payload: INVALID_KE_PAYLOAD(14)
    (this was already right: the group is taken from the chosen proposal)."""
    pair = up_pair(tmp_path)
    (sa,) = pair["a"].core.sas.values()
    assert sa.crypto is not None
    # A's own record of its suite says MODP768: its rekey request makes that KE.
    sa.crypto = replace(sa.crypto, chosen=replace(sa.crypto.chosen, transforms=tuple(
        Transform(t.type, 1) if t.type == tt.TransformType.KE else t
        for t in sa.crypto.chosen.transforms)))
    seen = answers(pair["b"])
    assert ike_rekey.start(sa, 10.0)
    pump(pair, now=10.0)
    notes = seen[0]  # then A gives up and deletes the IKE SA: B answers that too
    assert [(n.type, n.data) for n in notes if isinstance(n, Notify)] == [
        (NotifyType.INVALID_KE_PAYLOAD, b"\x00\x0e")]


def test_child_settings_of_infinite_lifetimes(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[3] / "samples" / "ikev2-transport.conf"
            ).read_text().replace("ipsec_sa_lifetime_time 1 hour;",
                                  "ipsec_sa_lifetime_time infinite; "
                                  "ipsec_sa_lifetime_byte infinite;")
    config = loads(text, "racoon2.conf")
    child = child_settings(config, config.policies[0], lambda spec: ())
    assert (child.lifetime_seconds, child.lifetime_bytes) == (0, 0)
