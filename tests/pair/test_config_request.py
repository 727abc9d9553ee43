"""iked as a configuration client against iked's own responder (RFC 7296 §2.19, §3.15):
``request { }`` becomes a CFG_REQUEST in IKE_AUTH, the CFG_REPLY of ``provide { addresspool }``
the source of the CHILD_SA's traffic selector and the hooks' INTERNAL_* variables."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from iked.events import AddressLeased, ChildSaUp, IkeSaDown, NegotiationFailed
from iked.hooks import phase2_env
from racoon2.ikev2.constants import CfgType, ExchangeType, NotifyType
from racoon2.ikev2.constants import PayloadType as P
from racoon2.ikev2.payloads import CP

from . import internals
from .harness import Msg, exchanges, make_side, of, pump

ip = ipaddress.ip_address
INIT, AUTH = ExchangeType.IKE_SA_INIT, ExchangeType.IKE_AUTH
INFO = ExchangeType.INFORMATIONAL
HANDSHAKE = [(INIT, False), (INIT, True), (AUTH, False), (AUTH, True)]
POOL = "addresspool pool { 198.51.100.10 - 198.51.100.20; };\n"
#: A: a client whose side of the policy is any address until the responder leases one.
CLIENT = (("kmp_auth_method { psk; };", "kmp_auth_method { psk; };\n\t\trequest { ip4; dns; "
           "application_version; };"),
          ('src "${MY_IP4}";', 'src "0.0.0.0/0";'), ('dst "${MY_IP4}";', 'dst "0.0.0.0/0";'))
#: B: a responder leasing from a pool; the client's side of its policy is IP_RW.
SERVER = (("kmp_auth_method { psk; };", "kmp_auth_method { psk; };\n\t\tprovide { addresspool "
           "pool; dns { 192.0.2.53; 2001:db8::53; }; application_version \"r2 test\"; };"),
          ('peers_ipaddr "${PEER_IP4}" port 500;', "peers_ipaddr IP_RW;"),
          ('dst "${PEER_IP4}"', "dst IP_RW"), ('src "${PEER_IP4}"', "src IP_RW"),
          ("ipsec esp_sha256 {", POOL + "ipsec esp_sha256 {"))


def cp_types(m: Msg) -> list[int]:
    """The CFG types of the message's configuration payloads."""
    return [p.cfg_type for p in m.payloads if isinstance(p, CP)]


def test_client_gets_an_address_from_ikeds_pool(tmp_path: Path) -> None:
    a = make_side(tmp_path / "a", "192.0.2.1", "192.0.2.2", b"a", edit=CLIENT)
    b = make_side(tmp_path / "b", "192.0.2.2", "192.0.2.1", b"b", edit=SERVER)
    pair = {"a": a, "b": b}
    assert a.core.initiate("peer_out", 0.0) is not None
    wire: list[Msg] = []
    # IKE_SA_INIT  i -> r  and  i <- r
    # IKE_AUTH     i -> r  HDR, SK { IDi, AUTH, CP(CFG_REQUEST), N(USE_TRANSPORT_MODE), SAi2,
    #                                TSi, TSr }
    # IKE_AUTH     i <- r  HDR, SK { IDr, AUTH, CP(CFG_REPLY: 198.51.100.10, ...),
    #                                N(USE_TRANSPORT_MODE), SAr2, TSi, TSr }
    pump(pair, record=wire)
    assert exchanges(wire) == HANDSHAKE
    assert P.CP in wire[2].types and cp_types(wire[2]) == [CfgType.CFG_REQUEST], wire[2].draw()
    assert cp_types(wire[3]) == [CfgType.CFG_REPLY], wire[3].draw()
    (leased,) = of(a, AddressLeased)
    assert leased.addresses == (ip("198.51.100.10"),) and leased.remote == ip("192.0.2.2")
    (up,) = of(a, ChildSaUp)
    # The CHILD_SA's source is the leased address, not the 0.0.0.0/0 of the policy.
    assert up.local_ts == "198.51.100.10/32"
    env = dict(phase2_env(up.hook))
    assert (env["INTERNAL_ADDR4"], env["INTERNAL_DNS4"], env["INTERNAL_DNS6"],
            env["APPLICATION_VERSION"], env["INTERNAL_ADDR6"]) == (
        "198.51.100.10", "192.0.2.53", "2001:db8::53", "r2 test", "")
    assert env["LOCAL_NET_ADDR"] == "198.51.100.10" and env["LOCAL_NET_PREFIXLEN"] == "32"
    (b_up,) = of(b, ChildSaUp)
    b_env = dict(phase2_env(b_up.hook))
    assert b_env["INTERNAL4_ADDR"] == b_env["INTERNAL_ADDR"] == "198.51.100.10"
    # A rekey of the CHILD_SA keeps the leased source.
    assert internals.child_local_ts(a) == ["198.51.100.10/32"]
    a.core.shutdown(1.0)
    wire = []
    # INFORMATIONAL  i -> r  HDR, SK { D }   and  i <- r  HDR, SK { }
    pump(pair, 1.0, record=wire)
    assert exchanges(wire) == [(INFO, False), (INFO, True)]
    assert any(isinstance(e, IkeSaDown) for e in a.events)


def test_responder_without_a_pool_is_reported(tmp_path: Path) -> None:
    a = make_side(tmp_path / "a", "192.0.2.1", "192.0.2.2", b"a", edit=CLIENT)
    b = make_side(tmp_path / "b", "192.0.2.2", "192.0.2.1", b"b")
    pump_pair = {"a": a, "b": b}
    a.core.initiate("peer_out", 0.0)
    wire: list[Msg] = []
    # IKE_SA_INIT  i -> r  and  i <- r
    # IKE_AUTH     i -> r  HDR, SK { IDi, AUTH, CP(CFG_REQUEST), N(USE_TRANSPORT_MODE), SAi2,
    #                                TSi (0.0.0.0/0), TSr }
    # IKE_AUTH     i <- r  HDR, SK { IDr, AUTH, N(TS_UNACCEPTABLE) }   no CP: nothing to lease
    pump(pump_pair, record=wire)
    assert cp_types(wire[2]) == [CfgType.CFG_REQUEST] and not cp_types(wire[3]), wire[3].draw()
    assert wire[3].notifies == [NotifyType.MOBIKE_SUPPORTED, NotifyType.TS_UNACCEPTABLE]
    failed = of(a, NegotiationFailed)
    assert any("leased us no address" in e.reason for e in failed)
    assert not any(isinstance(e, AddressLeased) for e in a.events)
