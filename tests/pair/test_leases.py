"""Dual-stack leases between iked's own client and responder (RFC 7296 §2.19, §3.15): an IPv4
and an IPv6 address and DNS of both families in one IKE SA, both in the CHILD_SA's selectors
and the hooks; the same addresses for a client that comes back (after a Delete, or restarted
with INITIAL_CONTACT, RFC 7296 §2.4) while another client meanwhile gets others."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from iked.events import AddressLeased, ChildSaUp
from iked.hooks import phase2_env
from racoon2.ikev2.constants import CfgAttribute as A
from racoon2.ikev2.constants import ExchangeType
from racoon2.ikev2.payloads import CP

from .harness import Msg, Side, make_side, of, pump

ip = ipaddress.ip_address
AUTH = ExchangeType.IKE_AUTH
POOLS = ("addresspool rw4 { 198.51.100.10 - 198.51.100.20; };\n"
         "addresspool rw6 { 2001:db8:1::10 - 2001:db8:1::20; };\n")
#: A client asking for an address of each family and DNS; any source until it has them.
CLIENT = (("kmp_auth_method { psk; };", "kmp_auth_method { psk; };\n\t\trequest { ip; dns; };"
           "\n\t\tinitial_contact on;"),
          ('src "${MY_IP4}";', "src IP_ANY;"), ('dst "${MY_IP4}";', "dst IP_ANY;"))
#: The server: two pools, DNS of both families, anyone with the key (no peers_id).
SERVER = (("kmp_auth_method { psk; };", "kmp_auth_method { psk; };\n\t\tprovide { addresspool "
           "{ rw4; rw6; }; dns { 192.0.2.53; 2001:db8::53; }; lease_time 1 hour; };"),
          ('peers_id ipaddr "${PEER_IP4}";', ""),
          ('peers_ipaddr "${PEER_IP4}" port 500;', "peers_ipaddr IP_RW;"),
          ('dst "${PEER_IP4}"', "dst IP_RW"), ('src "${PEER_IP4}"', "src IP_RW"),
          ("ipsec esp_sha256 {", POOLS + "ipsec esp_sha256 {"))


def client(tmp: Path, addr: str, seed: bytes) -> Side:
    return make_side(tmp, addr, "192.0.2.2", seed, edit=CLIENT)


def connect(c: Side, server: Side, now: float) -> tuple[Msg, tuple[ipaddress.IPv4Address |
                                                                ipaddress.IPv6Address, ...]]:
    """``c`` brings its IKE SA up: the IKE_AUTH response, and what it was leased."""
    assert c.core.initiate("peer_out", now) is not None
    wire: list[Msg] = []
    # IKE_SA_INIT  i -> r  and  i <- r
    # IKE_AUTH     i -> r  HDR, SK { IDi, [N(INITIAL_CONTACT)], AUTH, CP(CFG_REQUEST: ADDR
    #                                DNS ADDR6 DNS6), N(USE_TRANSPORT_MODE), SAi2, TSi, TSr }
    # IKE_AUTH     i <- r  HDR, SK { IDr, AUTH, CP(CFG_REPLY: ADDR ADDR6 DNS DNS6), ... }
    pump({"c": c, "s": server}, now, record=wire)
    (answer,) = [m for m in wire if m.exchange is AUTH and m.response]
    return answer, of(c, AddressLeased)[-1].addresses


def test_both_families_and_the_same_addresses_on_reconnect(tmp_path: Path) -> None:
    server = make_side(tmp_path / "s", "192.0.2.2", "192.0.2.1", b"s", edit=SERVER)
    alice = client(tmp_path / "a", "192.0.2.1", b"a")
    answer, got = connect(alice, server, 0.0)
    (cp,) = [p for p in answer.payloads if isinstance(p, CP)]
    assert [t for t, _ in cp.attributes] == [A.INTERNAL_IP4_ADDRESS, A.INTERNAL_IP6_ADDRESS,
                                             A.INTERNAL_IP4_DNS, A.INTERNAL_IP6_DNS,
                                             A.INTERNAL_IP4_SUBNET]
    # The split-tunnel subnet is the server's side of its policy (no provide subnet).
    assert cp.attributes[-1][1] == ip("192.0.2.2").packed + bytes([255] * 4)
    assert got == (ip("198.51.100.10"), ip("2001:db8:1::10"))
    (up,) = of(alice, ChildSaUp)
    assert up.local_ts == "198.51.100.10/32, 2001:db8:1::10/128"
    (s_up,) = of(server, ChildSaUp)
    env = dict(phase2_env(s_up.hook))
    assert (env["INTERNAL4_ADDR"], env["INTERNAL6_ADDR"]) == ("198.51.100.10", "2001:db8:1::10")
    assert "INTERNAL_ADDR" not in env  # two leases: the family variables only
    # spmd is asked for a policy pair of the IPv4 lease (the server's own side is IPv4).
    assert [str(op.dst) for op in server.asked] == ["198.51.100.10/32"]

    # Alice leaves (INFORMATIONAL Delete); Carol comes and gets the next addresses: Alice's
    # stay reserved for her.
    alice.core.shutdown(10.0)
    pump({"a": alice, "s": server}, 10.0)
    assert not server.core.sas
    carol = client(tmp_path / "c", "192.0.2.3", b"c")
    assert connect(carol, server, 20.0)[1] == (ip("198.51.100.11"), ip("2001:db8:1::11"))
    # Alice is back within the hour: her addresses again.
    alice = client(tmp_path / "a2", "192.0.2.1", b"A")
    assert connect(alice, server, 30.0)[1] == got
    # She restarts without a Delete; her INITIAL_CONTACT ends the old IKE SA first, so the
    # new one is given the same addresses, not the next free ones.
    alice = client(tmp_path / "a3", "192.0.2.1", b"B")
    assert connect(alice, server, 40.0)[1] == got
    assert len(server.core.sas) == 2  # Carol's and Alice's newest
    leases = server.core.status()["leases"]
    assert isinstance(leases, dict) and {e["address"]: e["online"] for e in leases["rw4"]} == {
        "198.51.100.10": True, "198.51.100.11": True}
