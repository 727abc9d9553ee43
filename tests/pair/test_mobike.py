"""MOBIKE (RFC 4555) between two IKEv2 cores: A, the initiator, loses its address and moves
the IKE SA and its tunnel-mode CHILD_SA (UPDATE_SA_ADDRESSES with NAT detection and COOKIE2);
B, the responder, follows, first on a plain path, then behind a NAT that appears."""

from __future__ import annotations

import asyncio
import ipaddress
from pathlib import Path

from iked.events import IkeSaMoved, KernelFailed
from iked.ikev2.core import IkeCore
from racoon2.config import loads
from racoon2.config.files import read_secret
from racoon2.crypto.rng import DeterministicRng
from racoon2.ikev2.constants import ExchangeType, NotifyType
from racoon2.kernel import api
from racoon2.kernel.memory import MemoryBackend
from racoon2.net import Address, Endpoint
from racoon2.spmif.commands import Migrate

from . import internals
from .harness import (
    Msg,
    Side,
    decode,
    exchange,
    ike_sas,
    of,
    perform_requests,
    settle,
    side_config,
    spi_in,
)

ip = ipaddress.ip_address
INFO, CREATE = ExchangeType.INFORMATIONAL, ExchangeType.CREATE_CHILD_SA
NAT_D = [NotifyType.NAT_DETECTION_SOURCE_IP, NotifyType.NAT_DETECTION_DESTINATION_IP]
NETS = {"192.0.2.1": "198.51.100.0/28", "192.0.2.2": "198.51.100.16/28"}


def _side(tmp: Path, me: str, peer: str, seed: bytes, addresses: list[Address],
          mobike: str = "on") -> Side:
    """A tunnel between the hosts' networks whose SA ends are the IKE SA's; A (me
    192.0.2.1) speaks from whatever MY_IPV4 is, B accepts it from anywhere (IP_RW)."""
    edit = [('ike { "${MY_IP4}" port 500; "${MY_IP4}" port 4500; };',
             "ike { MY_IPV4 port 500; MY_IPV4 port 4500; };"),
            ('src "${MY_IP4}";', f'src "{NETS[me]}";'),
            ('dst "${PEER_IP4}";', f'dst "{NETS[peer]}";'),
            ('src "${PEER_IP4}";', f'src "{NETS[peer]}";'),
            ('dst "${MY_IP4}";', f'dst "{NETS[me]}";'),
            ("ipsec_mode transport;", "ipsec_mode tunnel;"),
            ("kmp_sa_lifetime_time 8 hours;", f"kmp_sa_lifetime_time 8 hours; mobike {mobike};")]
    if me == "192.0.2.2":
        edit.append(('peers_ipaddr "${PEER_IP4}" port 500;', "peers_ipaddr IP_RW;"))
    tmp.mkdir(exist_ok=True)
    text = side_config("ikev2-transport.conf", tmp, me, peer, edit=edit)
    core = IkeCore(loads(text, f"{tmp}/racoon2.conf"), DeterministicRng(seed), read_secret, 0.0,
                   local_addresses=lambda spec: list(addresses))
    core.tracing = True
    return Side(core, MemoryBackend(seed=seed[0]))


def _run(a: Side, b: Side, now: float, nat: dict[Endpoint, Endpoint] | None = None
         ) -> list[tuple[Endpoint, Endpoint, Msg]]:
    """Deliver everything until both are quiet; A's datagrams through ``nat`` (its inside
    endpoints mapped to outside ones, created on first use); the wire as B and A saw it."""
    wire: list[tuple[Endpoint, Endpoint, Msg]] = []
    public = ip("203.0.113.254")

    async def run() -> None:
        busy = True
        while busy:
            busy = False
            for side in (a, b):
                busy = await perform_requests(side, now) or busy
            for d in a.take():
                busy = True
                src = d.local
                if nat is not None:
                    src = nat.setdefault(d.local, Endpoint(public, 40000 + len(nat)))
                wire.append((src, d.remote, decode(d.data, a)))
                b.core.receive_datagram(d.data, d.remote, src, now)
            for d in b.take():
                busy = True
                dst = next((k for k, v in (nat or {}).items() if v == d.remote), d.remote)
                wire.append((d.local, dst, decode(d.data, b)))
                a.core.receive_datagram(d.data, dst, d.local, now)
        for side in (a, b):
            side.collect()

    asyncio.run(run())
    return wire


def test_initiator_moves_and_responder_follows_then_a_nat_appears(tmp_path: Path) -> None:
    here: list[Address] = [ip("192.0.2.1")]
    a = _side(tmp_path / "a", "192.0.2.1", "192.0.2.2", b"a", here)
    b = _side(tmp_path / "b", "192.0.2.2", "192.0.2.1", b"b", [ip("192.0.2.2")])
    a.core.initiate("peer_out", 0.0)
    wire = _run(a, b, 0.0)
    # IKE_AUTH both ways: N(MOBIKE_SUPPORTED) (RFC 4555 §3.2)
    assert all(NotifyType.MOBIKE_SUPPORTED in m.notifies for _, _, m in wire[2:4])
    (child,) = internals.negotiated_specs(b)[:1]
    assert (child.src, child.dst) == (ip("192.0.2.1"), ip("192.0.2.2"))

    # A's address goes: 192.0.2.1 -> 192.0.2.3.
    #   INFORMATIONAL  i -> r  HDR, SK { N(UPDATE_SA_ADDRESSES), N(NAT_DETECTION_*), N(COOKIE2) }
    #   INFORMATIONAL  i <- r  HDR, SK { N(COOKIE2), N(NAT_DETECTION_*) }          (§3.5)
    here[:] = [ip("192.0.2.3")]
    a.core.addresses_changed(1.0)
    wire = _run(a, b, 1.0)
    (src, dst, req), (_, _, resp) = [(s, d, m) for s, d, m in wire]
    assert (req.exchange, req.response, str(src)) == (INFO, False, "192.0.2.3[4500]")
    assert req.notifies == [NotifyType.UPDATE_SA_ADDRESSES, *NAT_D, NotifyType.COOKIE2]
    assert resp.notifies == [NotifyType.COOKIE2, *NAT_D]
    assert [m.notifies for m in (req, resp)]
    moves = {n: of(s, IkeSaMoved) for n, s in (("a", a), ("b", b))}
    assert [(str(e.old_local), str(e.local), e.nat) for e in moves["a"]] == [
        ("192.0.2.1[4500]", "192.0.2.3[4500]", "none")]
    assert [(str(e.old_remote), str(e.remote), e.nat) for e in moves["b"]] == [
        ("192.0.2.1[4500]", "192.0.2.3[4500]", "none")]
    # spmd migrates the tunnel's policies, and the kernel its SAs with them (spmif MIGRATE).
    assert b.asked[-1:] == [Migrate("peer_out", ip("192.0.2.2"), ip("192.0.2.1"),
                                    ip("192.0.2.2"), ip("192.0.2.3"))]
    assert a.asked[-1:] == [Migrate("peer_out", ip("192.0.2.1"), ip("192.0.2.2"),
                                    ip("192.0.2.3"), ip("192.0.2.2"))]
    inbound = next(s for s in internals.negotiated_specs(b) if s.dst == ip("192.0.2.2"))
    assert (inbound.src, inbound.encap) == (ip("192.0.2.3"), None)

    # A moves again, now behind a NAT: 192.0.2.4:4500 inside, 203.0.113.254:40000 outside.
    # Both see the NAT: ESP in UDP from now on, which MIGRATE cannot switch on, so B rekeys
    # the CHILD_SA and its new SAs are encapsulated.
    here[:] = [ip("192.0.2.4")]
    a.core.addresses_changed(2.0)
    wire = _run(a, b, 2.0, nat={})
    assert [(m.exchange, m.response) for _, _, m in wire][:2] == [(INFO, False), (INFO, True)]
    assert (CREATE, False) in [(m.exchange, m.response) for _, _, m in wire]
    last = of(b, IkeSaMoved)[-1]
    assert (str(last.remote), last.nat) == ("203.0.113.254[40000]", "the peer")
    assert of(a, IkeSaMoved)[-1].nat == "this host"
    encapsulated = [s for s in b.installed if s.encap is not None and s.proto is api.Proto.ESP]
    assert encapsulated and {s.encap for s in encapsulated} <= {
        api.Encap(40000, 4500), api.Encap(4500, 40000)}


def test_two_child_sas_of_a_policy_move_with_one_migrate(tmp_path: Path) -> None:
    """B rekeys the CHILD_SA and A moves before B's Delete of the old one arrives: A holds two
    CHILD_SAs of the policy when the UPDATE_SA_ADDRESSES answer comes, and asks spmd for one
    MIGRATE (a second would find the templates moved already and be refused).  The kernel
    moves the newest SAs; the old CHILD_SA keeps its ends, so B's Delete removes its SAs there.

        CREATE_CHILD_SA  a <- b  N(REKEY_SA), SA, Ni, TSi, TSr     (B's soft lifetime)
        CREATE_CHILD_SA  a -> b  SA, Nr, TSi, TSr
        INFORMATIONAL    a -> b  N(UPDATE_SA_ADDRESSES), N(NAT_D*), N(COOKIE2)
        INFORMATIONAL    a <- b  D(ESP) of the old CHILD_SA           (delivered last)
        INFORMATIONAL    a <- b  N(COOKIE2), N(NAT_D*)
    """
    here: list[Address] = [ip("192.0.2.1")]
    a = _side(tmp_path / "a", "192.0.2.1", "192.0.2.2", b"a", here)
    b = _side(tmp_path / "b", "192.0.2.2", "192.0.2.1", b"b", [ip("192.0.2.2")])
    a.core.initiate("peer_out", 0.0)
    _run(a, b, 0.0)
    (child,) = ike_sas(b)[0]["children"]
    key = api.SaKey(ip("192.0.2.1"), ip("192.0.2.2"), api.Proto.ESP, spi_in(child))
    assert b.core.kernel_event(api.Expire(key, hard=False), 1.0)
    settle(b, 1.0)
    assert exchange(b, a, 1.0).exchange is CREATE
    here[:] = [ip("192.0.2.3")]
    a.core.addresses_changed(1.0)
    assert len(ike_sas(a)[0]["children"]) == 2
    assert exchange(a, b, 1.0).exchange is CREATE
    assert exchange(a, b, 1.0).notifies[0] == NotifyType.UPDATE_SA_ADDRESSES
    b.outbox.rotate(1)  # the update's answer overtakes the Delete
    assert exchange(b, a, 1.0).notifies[0] == NotifyType.COOKIE2
    assert a.asked == [Migrate("peer_out", ip("192.0.2.1"), ip("192.0.2.2"),
                               ip("192.0.2.3"), ip("192.0.2.2"))]
    old, new = internals.children_specs(a)
    assert {s.src for s in old if s.dst == ip("192.0.2.2")} == {ip("192.0.2.1")}
    assert {s.src for s in new if s.dst == ip("192.0.2.2")} == {ip("192.0.2.3")}
    assert exchange(b, a, 1.0).exchange is INFO  # B's Delete of the old CHILD_SA
    assert not of(a, KernelFailed), of(a, KernelFailed)


def test_an_older_update_does_not_move_the_sa(tmp_path: Path) -> None:
    """RFC 4555 §3.6: only the UPDATE_SA_ADDRESSES with the highest message ID counts."""
    here: list[Address] = [ip("192.0.2.1")]
    a = _side(tmp_path / "a", "192.0.2.1", "192.0.2.2", b"a", here)
    b = _side(tmp_path / "b", "192.0.2.2", "192.0.2.1", b"b", [ip("192.0.2.2")])
    a.core.initiate("peer_out", 0.0)
    _run(a, b, 0.0)
    here[:] = [ip("192.0.2.3")]
    a.core.addresses_changed(1.0)
    _run(a, b, 1.0)
    assert internals.mobike_of(b).last_update == 2
    assert internals.mobike_reorder(b, 1) == []  # an older one: COOKIE2 only, no move
    assert len(of(b, IkeSaMoved)) == 1


def test_mobike_off_is_not_announced(tmp_path: Path) -> None:
    here: list[Address] = [ip("192.0.2.1")]
    a = _side(tmp_path / "a", "192.0.2.1", "192.0.2.2", b"a", here, mobike="off")
    b = _side(tmp_path / "b", "192.0.2.2", "192.0.2.1", b"b", [ip("192.0.2.2")])
    a.core.initiate("peer_out", 0.0)
    wire = _run(a, b, 0.0)
    assert not any(NotifyType.MOBIKE_SUPPORTED in m.notifies for _, _, m in wire)
    here[:] = [ip("192.0.2.3")]
    a.core.addresses_changed(1.0)
    assert _run(a, b, 1.0) == []  # no MOBIKE: nothing to tell
